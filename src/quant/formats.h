// The scalar reference routines of each format, one family per .cpp file. quant.cpp gathers them
// into the TypeTraits table; kernels and their tests may also call them directly.
//
// Every function takes n, a count of elements that is a whole number of the format's blocks (the
// callers in quant.cpp check it), and is a pure function of its inputs: no state, no allocation,
// safe to call from many threads on disjoint outputs.
#pragma once

#include <bit>
#include <cstdint>

namespace lathe::quant {

// Round to nearest, ties to even, the way ggml's quantizers round: adding 1.5 * 2^23 pushes the
// fraction out of the f32 mantissa, so the FPU's default rounding does the work. Valid for
// |value| < 2^22, which every caller guarantees by clamping or by construction; unlike a cast of
// an out-of-range float, it has no undefined behaviour for other inputs (it returns garbage).
inline int nearest_int(float value) {
  const float shifted = value + 12582912.0f;
  return static_cast<int>(std::bit_cast<uint32_t>(shifted) & 0x007fffffu) - 0x00400000;
}

// A float-to-int cast (truncation toward zero) for values expected in [lo, hi]: saturates outside
// and maps NaN to lo, so that non-finite input yields unspecified bytes instead of undefined
// behaviour. Identical to the plain cast for every value in range.
inline int truncate_clamped(float value, int lo, int hi) {
  if (!(value >= static_cast<float>(lo))) return lo;
  if (value >= static_cast<float>(hi)) return hi;
  return static_cast<int>(value);
}

// float_types.cpp. Dot products accumulate in double, as ggml's scalar path does.
void quantize_row_f32(const float* src, void* dst, int64_t n);
void dequantize_row_f32(const void* src, float* dst, int64_t n);
float vec_dot_f32(int64_t n, const void* row, const void* activations);
void quantize_row_f16(const float* src, void* dst, int64_t n);
void dequantize_row_f16(const void* src, float* dst, int64_t n);
float vec_dot_f16(int64_t n, const void* row, const void* activations);
void quantize_row_bf16(const float* src, void* dst, int64_t n);
void dequantize_row_bf16(const void* src, float* dst, int64_t n);
float vec_dot_bf16(int64_t n, const void* row, const void* activations);

// q8.cpp
void quantize_row_q8_0(const float* src, void* dst, int64_t n);
void dequantize_row_q8_0(const void* src, float* dst, int64_t n);
float vec_dot_q8_0_q8_0(int64_t n, const void* row, const void* activations);
void quantize_row_q8_1(const float* src, void* dst, int64_t n);
void dequantize_row_q8_1(const void* src, float* dst, int64_t n);

// q4.cpp
void quantize_row_q4_0(const float* src, void* dst, int64_t n);
void dequantize_row_q4_0(const void* src, float* dst, int64_t n);
float vec_dot_q4_0_q8_0(int64_t n, const void* row, const void* activations);
void quantize_row_q4_1(const float* src, void* dst, int64_t n);
void dequantize_row_q4_1(const void* src, float* dst, int64_t n);
float vec_dot_q4_1_q8_1(int64_t n, const void* row, const void* activations);

// iq4.cpp
void quantize_row_iq4_nl(const float* src, void* dst, int64_t n);
void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n);
float vec_dot_iq4_nl_q8_0(int64_t n, const void* row, const void* activations);
void quantize_row_iq4_xs(const float* src, void* dst, int64_t n);
void dequantize_row_iq4_xs(const void* src, float* dst, int64_t n);
float vec_dot_iq4_xs_q8_k(int64_t n, const void* row, const void* activations);

// k_quants.cpp
void quantize_row_q8_k(const float* src, void* dst, int64_t n);
void dequantize_row_q8_k(const void* src, float* dst, int64_t n);
void quantize_row_q4_k(const float* src, void* dst, int64_t n);
void dequantize_row_q4_k(const void* src, float* dst, int64_t n);
float vec_dot_q4_k_q8_k(int64_t n, const void* row, const void* activations);
void quantize_row_q6_k(const float* src, void* dst, int64_t n);
void dequantize_row_q6_k(const void* src, float* dst, int64_t n);
float vec_dot_q6_k_q8_k(int64_t n, const void* row, const void* activations);

}  // namespace lathe::quant
