// The scalar reference for every tensor format lathe computes with: quantize (from f32),
// dequantize (to f32), and the dot product of a weight row with an activation row.
//
// These routines are the oracle. SIMD and CUDA kernels are tested against them, and the quantizers
// are bit-exact with llama.cpp's (llama-quantize --pure, no importance matrix).
#pragma once

#include <cstdint>

#include "core/status.h"
#include "core/tensor_type.h"

namespace lathe::quant {

// Reference routines of one tensor type. n is a count of elements, a multiple of the block size.
struct TypeTraits {
  TensorType type;
  // nullptr when lathe cannot produce this type.
  void (*quantize_row)(const float* src, void* dst, int64_t n);
  void (*dequantize_row)(const void* src, float* dst, int64_t n);
  // The format activations are converted to before a dot product with a row of this type
  // (llama.cpp's pairing: q4_0 and q8_0 with q8_0, q4_1 with q8_1, k-quants and iq4_xs with q8_K,
  // f16 with f16, bf16 with bf16, f32 with f32).
  TensorType vec_dot_type;
  // Dot product of one row of `type` with one row of `vec_dot_type`, both n elements long.
  // nullptr for the activation-only formats (q8_1, q8_K).
  float (*vec_dot)(int64_t n, const void* row, const void* activations);
};

// Supported: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, iq4_xs, q4_K, q6_K, and the activation
// formats q8_1 and q8_K. Block layouts are in quant/blocks.h, the f16/bf16 conversions in
// quant/fp16.h, and the per-format routines behind this table in quant/formats.h. Everything is
// stateless and may be called from many threads at once on disjoint outputs.

// nullptr when lathe cannot compute with the type.
const TypeTraits* type_traits(TensorType type);
bool is_supported(TensorType type);

// Quantizes n_rows rows of n_per_row values; checks that rows are whole blocks. dst receives
// n_rows * tensor_row_bytes(type, n_per_row) bytes, rows back to back. Non-finite inputs give
// unspecified bytes (llama.cpp rejects such tensors before quantizing).
Status quantize_rows(TensorType type, const float* src, void* dst, int64_t n_rows,
                     int64_t n_per_row);
Status dequantize_rows(TensorType type, const void* src, float* dst, int64_t n_rows,
                       int64_t n_per_row);

}  // namespace lathe::quant
