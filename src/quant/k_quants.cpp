// The k-quants Q4_K and Q6_K (256-weight super-blocks whose sub-block scales are themselves
// quantized against one f16 scale), and Q8_K, the activation format they are dotted with.
//
// Without an importance matrix llama.cpp quantizes these with its "_ref" routines, which search
// a few candidate scales per sub-block and keep the best least-squares fit. The float operations
// and their order below are llama.cpp's: the bytes must come out identical, and a different
// summation order changes which candidate wins in close cases.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/formats.h"
#include "quant/fp16.h"

namespace lathe::quant {

namespace {

// Blocks whose largest magnitude is below this are treated as all zero (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

}  // namespace

// ----- Q8_K

void quantize_row_q8_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    BlockQ8_K& out = blocks[b];
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&out, 0, sizeof(out));
      continue;
    }
    // Maps the largest magnitude to -127 (not -128), so that negating any q stays in int8: some
    // of llama.cpp's SIMD dot products rely on it.
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; ++j) {
      out.qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += out.qs[16 * g + j];
      out.bsums[g] = static_cast<int16_t>(sum);
    }
    out.d = 1.0f / iscale;
  }
}

void dequantize_row_q8_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    for (int j = 0; j < kQK_K; ++j) dst[b * kQK_K + j] = blocks[b].d * blocks[b].qs[j];
  }
}

// ----- Q4_K

namespace {

constexpr int kQ4KSub = 32;  // weights per sub-block

// Fits x ≈ scale * L - neg_min with L in [0, 15] for one sub-block, minimizing the weighted squared
// error (llama.cpp's make_qkx2_quants with nmax 15, rmin -1, rdelta 0.1, 20 steps). The min is
// never positive, so the fit always covers zero. Returns the scale; L gets the levels.
float fit_scale_and_min(const float* x, const float* weights, uint8_t* L, float* neg_min) {
  constexpr int kMaxLevel = 15;
  constexpr float kFirstStep = -1.0f;
  constexpr float kStep = 0.1f;
  constexpr int kSteps = 20;

  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < kQ4KSub; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + kQ4KSub, uint8_t{0});
    *neg_min = -min;
    return 0.0f;
  }

  float iscale = kMaxLevel / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < kQ4KSub; ++i) {
    L[i] = static_cast<uint8_t>(std::clamp(nearest_int(iscale * (x[i] - min)), 0, kMaxLevel));
    const float diff = scale * L[i] + min - x[i];
    best_error += weights[i] * (diff * diff);
  }

  // Try inverse scales that stretch the range to 14.0 .. 16.0 levels; for the levels each one
  // picks, solve the 2x2 least-squares system for scale and min.
  uint8_t candidate[kQ4KSub];
  for (int step = 0; step <= kSteps; ++step) {
    iscale = (kFirstStep + kStep * step + kMaxLevel) / (max - min);
    float sum_l = 0;
    float sum_l2 = 0;
    float sum_xl = 0;
    for (int i = 0; i < kQ4KSub; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, kMaxLevel);
      candidate[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0;
    for (int i = 0; i < kQ4KSub; ++i) {
      const float diff = this_scale * candidate[i] + this_min - x[i];
      error += weights[i] * (diff * diff);
    }
    if (error < best_error) {
      std::copy(candidate, candidate + kQ4KSub, L);
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  *neg_min = -min;
  return scale;
}

}  // namespace

void quantize_row_q4_k(const float* src, void* dst, int64_t n) {
  constexpr int kSubs = kQK_K / kQ4KSub;
  auto* blocks = static_cast<BlockQ4_K*>(dst);
  uint8_t L[kQK_K];
  float weights[kQ4KSub];
  float scales[kSubs];
  float mins[kSubs];
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    BlockQ4_K& out = blocks[b];

    float max_scale = 0;  // scales are positive: the min absorbs the offset
    float max_min = 0;
    for (int j = 0; j < kSubs; ++j) {
      const float* xs = x + kQ4KSub * j;
      // Weigh each error by |x| plus the sub-block's RMS: large weights matter more, but small
      // ones are not ignored.
      float sum_x2 = 0;
      for (int i = 0; i < kQ4KSub; ++i) sum_x2 += xs[i] * xs[i];
      const float rms = std::sqrt(sum_x2 / kQ4KSub);
      for (int i = 0; i < kQ4KSub; ++i) weights[i] = rms + std::fabs(xs[i]);
      scales[j] = fit_scale_and_min(xs, weights, L + kQ4KSub * j, &mins[j]);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }

    // 6-bit sub-block scales and mins against the two f16 super-block scales.
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < kSubs; ++j) {
      // Truncated to a byte before clamping, as llama.cpp does.
      const uint8_t ls =
          std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
      const uint8_t lm =
          std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
      if (j < 4) {
        out.scales[j] = ls;
        out.scales[j + 4] = lm;
      } else {
        out.scales[j + 4] = static_cast<uint8_t>((ls & 0xf) | ((lm & 0xf) << 4));
        out.scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
        out.scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
      }
    }
    out.d = f32_to_f16(max_scale / 63.0f);
    out.dmin = f32_to_f16(max_min / 63.0f);

    // Requantize with the scales as stored. A sub-block whose scale rounded to 0 keeps the levels
    // of its fit: they do not change the values, but they are in llama.cpp's bytes.
    const float d_all = f16_to_f32(out.d);
    const float dmin_all = f16_to_f32(out.dmin);
    for (int j = 0; j < kSubs; ++j) {
      uint8_t sc = 0;
      uint8_t m = 0;
      unpack_q4_k_scale_min(j, out.scales, &sc, &m);
      const float d = d_all * sc;
      if (d == 0.0f) continue;
      const float dm = dmin_all * m;
      for (int i = 0; i < kQ4KSub; ++i) {
        const int l = nearest_int((x[kQ4KSub * j + i] + dm) / d);
        L[kQ4KSub * j + i] = static_cast<uint8_t>(std::clamp(l, 0, 15));
      }
    }

    for (int k = 0; k < kQK_K / 64; ++k) {
      for (int i = 0; i < 32; ++i) {
        out.qs[32 * k + i] = static_cast<uint8_t>(L[64 * k + i] | (L[64 * k + 32 + i] << 4));
      }
    }
  }
}

void dequantize_row_q4_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ4_K& block = blocks[b];
    const float d = f16_to_f32(block.d);
    const float dmin = f16_to_f32(block.dmin);
    float* y = dst + b * kQK_K;
    for (int j = 0; j < kQK_K / kQ4KSub; ++j) {
      uint8_t sc = 0;
      uint8_t m = 0;
      unpack_q4_k_scale_min(j, block.scales, &sc, &m);
      const float scale = d * sc;
      const float offset = dmin * m;
      const uint8_t* qs = block.qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      for (int i = 0; i < kQ4KSub; ++i) {
        y[kQ4KSub * j + i] = scale * ((qs[i] >> shift) & 0xf) - offset;
      }
    }
  }
}

float vec_dot_q4_k_q8_k(int64_t n, const void* row, const void* activations) {
  const auto* x = static_cast<const BlockQ4_K*>(row);
  const auto* y = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    // sum(q8 * (d*sc*q4 - dmin*m)) = d * sum(sc * q8.q4) - dmin * sum(m * sum(q8)); Q8_K's bsums
    // hold the sums of q8 per 16, so the mins cost 16 multiplies instead of 256.
    int32_t scaled = 0;
    int32_t mins = 0;
    for (int j = 0; j < kQK_K / kQ4KSub; ++j) {
      uint8_t sc = 0;
      uint8_t m = 0;
      unpack_q4_k_scale_min(j, x[b].scales, &sc, &m);
      const uint8_t* qs = x[b].qs + 32 * (j / 2);
      const int8_t* q8 = y[b].qs + kQ4KSub * j;
      const int shift = 4 * (j % 2);
      int32_t dot = 0;
      for (int i = 0; i < kQ4KSub; ++i) dot += ((qs[i] >> shift) & 0xf) * q8[i];
      scaled += sc * dot;
      mins += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
    }
    sum += f16_to_f32(x[b].d) * y[b].d * static_cast<float>(scaled) -
           f16_to_f32(x[b].dmin) * y[b].d * static_cast<float>(mins);
  }
  return sum;
}

// ----- Q6_K

namespace {

constexpr int kQ6KSub = 16;

// Symmetric fit x ≈ scale * (L - 32) with L - 32 in [-32, 31] for one sub-block of 16, weighing
// errors by x^2 (llama.cpp's make_qx_quants with nmax 32 and rmse_type 1): tries 18 inverse scales
// around the one that maps the largest weight to -32 and keeps the best least-squares scale.
float fit_symmetric_scale(const float* x, int8_t* L) {
  constexpr int kLevels = 32;
  float max = 0;
  float amax = 0;
  for (int i = 0; i < kQ6KSub; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + kQ6KSub, int8_t{0});
    return 0.0f;
  }

  // Weighted sums of x*l and l*l for the levels an inverse scale picks; optionally stores levels.
  auto sums_for = [&](float iscale, float* sum_lx, float* sum_l2, int8_t* levels) {
    float lx = 0;
    float l2 = 0;
    for (int i = 0; i < kQ6KSub; ++i) {
      const int l = std::clamp(nearest_int(iscale * x[i]), -kLevels, kLevels - 1);
      if (levels) levels[i] = static_cast<int8_t>(l + kLevels);
      const float w = x[i] * x[i];
      lx += w * x[i] * l;
      l2 += w * l * l;
    }
    *sum_lx = lx;
    *sum_l2 = l2;
  };

  float sum_lx = 0;
  float sum_l2 = 0;
  sums_for(-kLevels / max, &sum_lx, &sum_l2, L);
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    const float iscale = -(kLevels + 0.1f * step) / max;
    sums_for(iscale, &sum_lx, &sum_l2, nullptr);
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      sums_for(iscale, &sum_lx, &sum_l2, L);
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

}  // namespace

void quantize_row_q6_k(const float* src, void* dst, int64_t n) {
  constexpr int kSubs = kQK_K / kQ6KSub;
  auto* blocks = static_cast<BlockQ6_K*>(dst);
  int8_t L[kQK_K];
  float scales[kSubs];
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    BlockQ6_K& out = blocks[b];

    float max_scale = 0;
    float max_abs_scale = 0;
    for (int j = 0; j < kSubs; ++j) {
      scales[j] = fit_symmetric_scale(x + kQ6KSub * j, L + kQ6KSub * j);
      if (std::fabs(scales[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&out, 0, sizeof(out));
      continue;
    }

    // 8-bit sub-block scales: the one of largest magnitude maps to -128.
    const float iscale = -128.0f / max_scale;
    out.d = f32_to_f16(1 / iscale);
    for (int j = 0; j < kSubs; ++j) {
      out.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
    }

    // Requantize with the stored scales; a sub-block whose scale is 0 keeps its fitted levels, as
    // in llama.cpp's bytes.
    const float d_all = f16_to_f32(out.d);
    for (int j = 0; j < kSubs; ++j) {
      const float d = d_all * out.scales[j];
      if (d == 0.0f) continue;
      for (int i = 0; i < kQ6KSub; ++i) {
        const int l = std::clamp(nearest_int(x[kQ6KSub * j + i] / d), -32, 31);
        L[kQ6KSub * j + i] = static_cast<int8_t>(l + 32);
      }
    }

    for (int half = 0; half < kQK_K / 128; ++half) {
      const int8_t* l = L + 128 * half;
      uint8_t* ql = out.ql + 64 * half;
      uint8_t* qh = out.qh + 32 * half;
      for (int i = 0; i < 32; ++i) {
        ql[i] = static_cast<uint8_t>((l[i] & 0xf) | ((l[i + 64] & 0xf) << 4));
        ql[i + 32] = static_cast<uint8_t>((l[i + 32] & 0xf) | ((l[i + 96] & 0xf) << 4));
        qh[i] = static_cast<uint8_t>((l[i] >> 4) | ((l[i + 32] >> 4) << 2) |
                                     ((l[i + 64] >> 4) << 4) | ((l[i + 96] >> 4) << 6));
      }
    }
  }
}

namespace {

// The 6-bit level (0..63) of weight i (0..255) of a Q6_K block.
int q6_k_level(const BlockQ6_K& block, int i) {
  const int half = i / 128;
  const int k = (i % 128) / 32;  // which of the four 32-weight groups of this half
  const int l = i % 32;
  const uint8_t low_byte = block.ql[64 * half + l + 32 * (k % 2)];
  const int low = (low_byte >> (4 * (k / 2))) & 0xf;
  const int high = (block.qh[32 * half + l] >> (2 * k)) & 3;
  return low | (high << 4);
}

}  // namespace

void dequantize_row_q6_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ6_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ6_K& block = blocks[b];
    const float d = f16_to_f32(block.d);
    for (int i = 0; i < kQK_K; ++i) {
      dst[b * kQK_K + i] = d * block.scales[i / kQ6KSub] * (q6_k_level(block, i) - 32);
    }
  }
}

float vec_dot_q6_k_q8_k(int64_t n, const void* row, const void* activations) {
  const auto* x = static_cast<const BlockQ6_K*>(row);
  const auto* y = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int32_t scaled = 0;
    for (int j = 0; j < kQK_K / kQ6KSub; ++j) {
      int32_t dot = 0;
      for (int i = kQ6KSub * j; i < kQ6KSub * (j + 1); ++i) {
        dot += (q6_k_level(x[b], i) - 32) * y[b].qs[i];
      }
      scaled += x[b].scales[j] * dot;
    }
    sum += f16_to_f32(x[b].d) * y[b].d * static_cast<float>(scaled);
  }
  return sum;
}

}  // namespace lathe::quant
