// F32, F16 and BF16 rows: element-wise conversions and dot products.
#include <cstring>

#include "quant/formats.h"
#include "quant/fp16.h"

namespace lathe::quant {

void quantize_row_f32(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void dequantize_row_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

float vec_dot_f32(int64_t n, const void* row, const void* activations) {
  const auto* x = static_cast<const float*>(row);
  const auto* y = static_cast<const float*>(activations);
  // Each product is rounded to f32 and the sum is kept in double, as in ggml's scalar path, so a
  // long row does not lose the small terms.
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * y[i]);
  return static_cast<float>(sum);
}

void quantize_row_f16(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_f16(src[i]);
}

void dequantize_row_f16(const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(in[i]);
}

float vec_dot_f16(int64_t n, const void* row, const void* activations) {
  const auto* x = static_cast<const uint16_t*>(row);
  const auto* y = static_cast<const uint16_t*>(activations);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(f16_to_f32(x[i]) * f16_to_f32(y[i]));
  return static_cast<float>(sum);
}

void quantize_row_bf16(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(src[i]);
}

void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(in[i]);
}

float vec_dot_bf16(int64_t n, const void* row, const void* activations) {
  const auto* x = static_cast<const uint16_t*>(row);
  const auto* y = static_cast<const uint16_t*>(activations);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    sum += static_cast<double>(bf16_to_f32(x[i]) * bf16_to_f32(y[i]));
  }
  return static_cast<float>(sum);
}

}  // namespace lathe::quant
