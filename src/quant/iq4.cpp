// IQ4_NL and IQ4_XS: 4-bit indices into the non-linear table kIQ4NLValues. IQ4_NL has one f16
// scale per 32 weights; IQ4_XS groups 8 such blocks into a 256-weight super-block with one f16
// scale and a 6-bit scale per block.
//
// Without an importance matrix llama.cpp weighs each weight's error by x^2, searches 15 candidate
// scales per block, and keeps the least-squares scale of the best candidate.
#include <algorithm>
#include <cmath>

#include "quant/blocks.h"
#include "quant/formats.h"
#include "quant/fp16.h"

namespace lathe::quant {

namespace {

constexpr int kIQ4Block = 32;
// Candidate inverse scales map the block's largest weight to kIQ4NLValues[0] + t, t in [-7, 7].
constexpr int kScaleTries = 7;

// The index of the table value nearest to x; a tie goes to the larger value, as in ggml.
int nearest_iq4_index(float x) {
  if (x <= kIQ4NLValues[0]) return 0;
  if (x >= kIQ4NLValues[15]) return 15;
  int upper = 1;  // the first value above x; exists because x < kIQ4NLValues[15]
  while (x >= kIQ4NLValues[upper]) ++upper;
  const float below = x - static_cast<float>(kIQ4NLValues[upper - 1]);
  const float above = static_cast<float>(kIQ4NLValues[upper]) - x;
  return below < above ? upper - 1 : upper;
}

// The scale of one block of 32 weights that minimizes sum x^2 * (x - d * value)^2 over the scales
// the search visits; 0 for a block of (near) zeros. The float operations and their order are
// llama.cpp's, because the chosen scale must match its output bit for bit.
float search_block_scale(const float* x) {
  float weight[kIQ4Block];
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < kIQ4Block; ++j) {
    weight[j] = x[j] * x[j];
    const float ax = std::fabs(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  if (amax < 1e-15f) return 0.0f;

  // Sums of w*q*x and w*q^2 for the levels that the inverse scale `id` picks.
  auto weighted_sums = [&](float id, float* sum_qx, float* sum_q2) {
    float qx = 0.0f;
    float q2 = 0.0f;
    for (int j = 0; j < kIQ4Block; ++j) {
      const float q = kIQ4NLValues[nearest_iq4_index(id * x[j])];
      qx += weight[j] * q * x[j];
      q2 += weight[j] * q * q;
    }
    *sum_qx = qx;
    *sum_q2 = q2;
  };

  // Start from the scale that maps the largest weight onto the table's first value, then take the
  // least-squares scale for the levels it picks.
  const float d0 = -max / static_cast<float>(kIQ4NLValues[0]);
  float sum_qx = 0.0f;
  float sum_q2 = 0.0f;
  weighted_sums(1.0f / d0, &sum_qx, &sum_q2);
  float d = sum_q2 > 0.0f ? sum_qx / sum_q2 : 0.0f;
  float best = d * sum_qx;  // the error reduction of the least-squares fit; larger is better
  for (int t = -kScaleTries; t <= kScaleTries; ++t) {
    const float id = static_cast<float>(t + kIQ4NLValues[0]) / max;
    weighted_sums(id, &sum_qx, &sum_q2);
    // sum_qx^2 / sum_q2 > best, without dividing.
    if (sum_q2 > 0.0f && sum_qx * sum_qx > best * sum_q2) {
      d = sum_qx / sum_q2;
      best = d * sum_qx;
    }
  }
  return d;
}

// Packs 32 indices: element j in the low nibble of qs[j] for j < 16, else the high nibble of
// qs[j - 16].
void pack_nibbles(const uint8_t* levels, uint8_t* qs) {
  for (int j = 0; j < kIQ4Block / 2; ++j) {
    qs[j] = static_cast<uint8_t>(levels[j] | (levels[j + kIQ4Block / 2] << 4));
  }
}

}  // namespace

void quantize_row_iq4_nl(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockIQ4_NL*>(dst);
  uint8_t levels[kQK4_NL];
  for (int64_t b = 0; b < n / kQK4_NL; ++b) {
    const float* x = src + b * kQK4_NL;
    const float d = search_block_scale(x);
    blocks[b].d = f32_to_f16(d);
    // The indices are chosen with the f32 scale, not the stored f16 one, as llama.cpp does.
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < kQK4_NL; ++j)
      levels[j] = static_cast<uint8_t>(nearest_iq4_index(id * x[j]));
    pack_nibbles(levels, blocks[b].qs);
  }
}

void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t b = 0; b < n / kQK4_NL; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    float* y = dst + b * kQK4_NL;
    for (int j = 0; j < kQK4_NL / 2; ++j) {
      y[j] = d * kIQ4NLValues[blocks[b].qs[j] & 0xf];
      y[j + kQK4_NL / 2] = d * kIQ4NLValues[blocks[b].qs[j] >> 4];
    }
  }
}

float vec_dot_iq4_nl_q8_0(int64_t n, const void* row, const void* activations) {
  const auto* x = static_cast<const BlockIQ4_NL*>(row);
  const auto* y = static_cast<const BlockQ8_0*>(activations);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK4_NL; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kQK4_NL / 2; ++j) {
      isum += y[b].qs[j] * kIQ4NLValues[x[b].qs[j] & 0xf];
      isum += y[b].qs[j + kQK4_NL / 2] * kIQ4NLValues[x[b].qs[j] >> 4];
    }
    sum += f16_to_f32(y[b].d) * f16_to_f32(x[b].d) * static_cast<float>(isum);
  }
  return sum;
}

void quantize_row_iq4_xs(const float* src, void* dst, int64_t n) {
  constexpr int kBlocks = kQK_K / kIQ4Block;
  auto* blocks = static_cast<BlockIQ4_XS*>(dst);
  float scales[kBlocks];
  uint8_t levels[kIQ4Block];
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    BlockIQ4_XS& out = blocks[b];

    // The block scale of largest magnitude, with its sign, sets the super-block scale so that it
    // maps to -32, the end of the 6-bit range [-32, 31] with one more step.
    float max_scale = 0.0f;
    float amax_scale = 0.0f;
    for (int ib = 0; ib < kBlocks; ++ib) {
      scales[ib] = search_block_scale(x + ib * kIQ4Block);
      if (std::fabs(scales[ib]) > amax_scale) {
        amax_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    const float d = -max_scale / 32.0f;  // -0.0 for an all-zero super-block, as in llama.cpp
    out.d = f32_to_f16(d);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;

    out.scales_h = 0;
    for (int ib = 0; ib < kBlocks; ++ib) {
      const int ls = std::max(-32, std::min(31, nearest_int(id * scales[ib])));
      // Indices are chosen with the f32 super-block scale times the 6-bit block scale.
      const float dl = d * static_cast<float>(ls);
      const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
      const float* xb = x + ib * kIQ4Block;
      for (int j = 0; j < kIQ4Block; ++j) {
        levels[j] = static_cast<uint8_t>(nearest_iq4_index(idl * xb[j]));
      }
      pack_nibbles(levels, out.qs + ib * kIQ4Block / 2);

      const int stored = ls + 32;
      if (ib % 2 == 0) {
        out.scales_l[ib / 2] = static_cast<uint8_t>(stored & 0xf);
      } else {
        out.scales_l[ib / 2] |= static_cast<uint8_t>((stored & 0xf) << 4);
      }
      out.scales_h |= static_cast<uint16_t>((stored >> 4) << (2 * ib));
    }
  }
}

namespace {

int iq4_xs_block_scale(const BlockIQ4_XS& block, int ib) {
  const int low = (block.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf;
  const int high = (block.scales_h >> (2 * ib)) & 3;
  return (low | (high << 4)) - 32;
}

}  // namespace

void dequantize_row_iq4_xs(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockIQ4_XS*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    for (int ib = 0; ib < kQK_K / kIQ4Block; ++ib) {
      const float dl = d * static_cast<float>(iq4_xs_block_scale(blocks[b], ib));
      const uint8_t* qs = blocks[b].qs + ib * kIQ4Block / 2;
      float* y = dst + b * kQK_K + ib * kIQ4Block;
      for (int j = 0; j < kIQ4Block / 2; ++j) {
        y[j] = dl * kIQ4NLValues[qs[j] & 0xf];
        y[j + kIQ4Block / 2] = dl * kIQ4NLValues[qs[j] >> 4];
      }
    }
  }
}

float vec_dot_iq4_xs_q8_k(int64_t n, const void* row, const void* activations) {
  const auto* x = static_cast<const BlockIQ4_XS*>(row);
  const auto* y = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = f16_to_f32(x[b].d) * y[b].d;
    for (int ib = 0; ib < kQK_K / kIQ4Block; ++ib) {
      const uint8_t* qs = x[b].qs + ib * kIQ4Block / 2;
      const int8_t* q8 = y[b].qs + ib * kIQ4Block;
      int32_t isum = 0;
      for (int j = 0; j < kIQ4Block / 2; ++j) {
        isum += q8[j] * kIQ4NLValues[qs[j] & 0xf];
        isum += q8[j + kIQ4Block / 2] * kIQ4NLValues[qs[j] >> 4];
      }
      sum += d * static_cast<float>(iq4_xs_block_scale(x[b], ib)) * static_cast<float>(isum);
    }
  }
  return sum;
}

}  // namespace lathe::quant
