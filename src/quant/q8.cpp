// Q8_0 and Q8_1: 32 int8 per block with an f16 scale. Q8_0 is both a weight format and the
// activation format for Q4_0, Q8_0 and IQ4_NL; Q8_1 is the activation format for Q4_1.
#include <algorithm>
#include <cmath>

#include "quant/blocks.h"
#include "quant/formats.h"
#include "quant/fp16.h"

namespace lathe::quant {

namespace {

// The block's scale: its largest magnitude maps to ±127. Returns d (f32, before f16 rounding) and
// writes qs. As in ggml, values are scaled by the inverse of the unrounded d (not of the stored
// f16) and rounded half away from zero (roundf), unlike the k-quants' ties-to-even nearest_int.
float quantize_q8_block(const float* x, int8_t* qs) {
  float amax = 0.0f;
  for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kQK8_0; ++j) {
    qs[j] = static_cast<int8_t>(truncate_clamped(std::round(x[j] * id), -128, 127));
  }
  return d;
}

}  // namespace

void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float d = quantize_q8_block(src + b * kQK8_0, blocks[b].qs);
    blocks[b].d = f32_to_f16(d);
  }
}

void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_0*>(src);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    for (int j = 0; j < kQK8_0; ++j) dst[b * kQK8_0 + j] = blocks[b].qs[j] * d;
  }
}

float vec_dot_q8_0_q8_0(int64_t n, const void* row, const void* activations) {
  const auto* x = static_cast<const BlockQ8_0*>(row);
  const auto* y = static_cast<const BlockQ8_0*>(activations);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kQK8_0; ++j) isum += x[b].qs[j] * y[b].qs[j];
    sum += static_cast<float>(isum) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
  }
  return sum;
}

void quantize_row_q8_1(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / kQK8_1; ++b) {
    const float d = quantize_q8_block(src + b * kQK8_1, blocks[b].qs);
    int32_t isum = 0;
    for (int j = 0; j < kQK8_1; ++j) isum += blocks[b].qs[j];
    blocks[b].d = f32_to_f16(d);
    // With the unrounded d, as ggml does; the dot product multiplies it by Q4_1's min.
    blocks[b].s = f32_to_f16(static_cast<float>(isum) * d);
  }
}

void dequantize_row_q8_1(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_1*>(src);
  for (int64_t b = 0; b < n / kQK8_1; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    for (int j = 0; j < kQK8_1; ++j) dst[b * kQK8_1 + j] = blocks[b].qs[j] * d;
  }
}

}  // namespace lathe::quant
