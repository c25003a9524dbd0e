// The CPU kernel table: one function per operation and tensor type, chosen once by CPUID.
//
// Every entry has a scalar reference (kernels/cpu/ref/); SIMD variants (kernels/cpu/x86/) are
// compiled once per instruction set and tested against the reference.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/cpu_features.h"
#include "core/tensor_type.h"

namespace lathe::kernels {

inline constexpr size_t kTypeSlots = 64;  // indexed by the TensorType id

// out[b * out_stride + r] = dot(weight row r, activation row b) (+ bias[r]) for every r in
// [row_begin, row_end) and every b in [0, n_b). Activations are already in the weight type's
// vec_dot_type. A kernel reads each weight row once for all n_b activation rows: that is what makes
// a batch of B rows cost about as much as one when the weights dominate the traffic.
struct MatmulArgs {
  const uint8_t* weights;
  uint64_t weight_row_bytes;
  int64_t k;  // elements per row
  const uint8_t* activations;
  uint64_t activation_row_bytes;
  int64_t n_b;
  float* out;
  int64_t out_stride;
  const float* bias;  // or null
};
using MatmulFn = void (*)(const MatmulArgs& args, int64_t row_begin, int64_t row_end);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);
using DotFn = float (*)(int64_t n, const void* row, const void* activations);
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);

struct KernelTable {
  std::string isa = "scalar";
  std::array<MatmulFn, kTypeSlots> matmul{};               // by weight type
  std::array<QuantizeRowFn, kTypeSlots> quantize_row{};    // by activation (vec_dot) type
  std::array<DotFn, kTypeSlots> dot{};                     // by weight type, activations in vec_dot_type
  std::array<DequantizeRowFn, kTypeSlots> dequantize_row{};
  std::array<TensorType, kTypeSlots> vec_dot_type{};

  MatmulFn matmul_for(TensorType t) const { return matmul[static_cast<size_t>(t)]; }
  QuantizeRowFn quantize_for(TensorType t) const { return quantize_row[static_cast<size_t>(t)]; }
  DotFn dot_for(TensorType t) const { return dot[static_cast<size_t>(t)]; }
  DequantizeRowFn dequantize_for(TensorType t) const {
    return dequantize_row[static_cast<size_t>(t)];
  }
  TensorType vec_dot_type_for(TensorType t) const { return vec_dot_type[static_cast<size_t>(t)]; }
};

enum class KernelLevel { kScalar, kAvx2, kAvx512, kBest };

// The scalar reference table (always available).
KernelTable reference_kernels();
// The best table this CPU runs, or a lower level when asked (for tests and comparisons).
KernelTable select_kernels(const CpuFeatures& cpu, KernelLevel level = KernelLevel::kBest);

}  // namespace lathe::kernels
