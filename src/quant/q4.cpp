// Q4_0 (symmetric, 4-bit, offset 8) and Q4_1 (4-bit with a per-block min): 32 weights per block.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "quant/blocks.h"
#include "quant/formats.h"
#include "quant/fp16.h"

namespace lathe::quant {

void quantize_row_q4_0(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ4_0*>(dst);
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* x = src + b * kQK4_0;
    // The value of largest magnitude, with its sign (the first one on ties): it maps to level -8,
    // the end of the asymmetric range [-8, 7] that has one more step, so its sign matters.
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].d = f32_to_f16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      // ggml truncates value + 8.5 (always >= 0 here), which is rounding half up after the shift.
      const int lo = truncate_clamped(x[j] * id + 8.5f, 0, 15);
      const int hi = truncate_clamped(x[j + kQK4_0 / 2] * id + 8.5f, 0, 15);
      blocks[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_0*>(src);
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    float* y = dst + b * kQK4_0;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = ((blocks[b].qs[j] & 0xf) - 8) * d;
      y[j + kQK4_0 / 2] = ((blocks[b].qs[j] >> 4) - 8) * d;
    }
  }
}

float vec_dot_q4_0_q8_0(int64_t n, const void* row, const void* activations) {
  const auto* x = static_cast<const BlockQ4_0*>(row);
  const auto* y = static_cast<const BlockQ8_0*>(activations);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      isum += ((x[b].qs[j] & 0xf) - 8) * y[b].qs[j];
      isum += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + kQK4_0 / 2];
    }
    sum += static_cast<float>(isum) * f16_to_f32(x[b].d) * f16_to_f32(y[b].d);
  }
  return sum;
}

void quantize_row_q4_1(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ4_1*>(dst);
  for (int64_t b = 0; b < n / kQK4_1; ++b) {
    const float* x = src + b * kQK4_1;
    float min = FLT_MAX;
    float max = -FLT_MAX;
    for (int j = 0; j < kQK4_1; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].d = f32_to_f16(d);
    blocks[b].m = f32_to_f16(min);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      const int lo = truncate_clamped((x[j] - min) * id + 0.5f, 0, 15);
      const int hi = truncate_clamped((x[j + kQK4_1 / 2] - min) * id + 0.5f, 0, 15);
      blocks[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void dequantize_row_q4_1(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_1*>(src);
  for (int64_t b = 0; b < n / kQK4_1; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    const float m = f16_to_f32(blocks[b].m);
    float* y = dst + b * kQK4_1;
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      y[j] = (blocks[b].qs[j] & 0xf) * d + m;
      y[j + kQK4_1 / 2] = (blocks[b].qs[j] >> 4) * d + m;
    }
  }
}

float vec_dot_q4_1_q8_1(int64_t n, const void* row, const void* activations) {
  const auto* x = static_cast<const BlockQ4_1*>(row);
  const auto* y = static_cast<const BlockQ8_1*>(activations);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK4_1; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      isum += (x[b].qs[j] & 0xf) * y[b].qs[j];
      isum += (x[b].qs[j] >> 4) * y[b].qs[j + kQK4_1 / 2];
    }
    // sum((q*d4 + m) * a*d8) = d4*d8*sum(q*a) + m * (d8*sum(a)), and the second factor is s.
    sum += f16_to_f32(x[b].d) * f16_to_f32(y[b].d) * static_cast<float>(isum) +
           f16_to_f32(x[b].m) * f16_to_f32(y[b].s);
  }
  return sum;
}

}  // namespace lathe::quant
