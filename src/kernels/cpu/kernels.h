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

// Optional weight repacking for a weight type. A packed copy stores the rows in groups of
// `group_rows` (the last group padded with copies of the last row), each group laid out in the
// order the SIMD kernel reads it: per block, the scales of the group's rows side by side, then the
// quantized bytes interleaved row by row. It has exactly the file's bytes per row, so it costs
// one more copy of the weight (size(rows, k) bytes) and no more.
//
// The caller packs each weight once (pack may run on several threads, each on its own range of
// groups), then calls matmul with MatmulArgs::weights pointing at the packed copy and
// weight_row_bytes left at the file's row size. Row ranges given to that matmul must start on a
// multiple of group_rows. Results are bit-identical to the row-major kernel of the same table.
struct RepackKernels {
  int group_rows = 0;
  uint64_t (*size)(int64_t rows, uint64_t row_bytes) = nullptr;
  void (*pack)(const uint8_t* weights, uint64_t row_bytes, int64_t rows, int64_t k,
               int64_t group_begin, int64_t group_end, uint8_t* packed) = nullptr;
  MatmulFn matmul = nullptr;
  int64_t max_k = 0;  // longest row the packed matmul takes; longer rows must stay row-major

  bool usable(int64_t k) const { return pack != nullptr && k <= max_k; }
};

struct KernelTable {
  std::string isa = "scalar";
  std::array<RepackKernels, kTypeSlots> repack{};        // by weight type; empty: no packed layout
  std::array<MatmulFn, kTypeSlots> matmul{};             // by weight type
  std::array<QuantizeRowFn, kTypeSlots> quantize_row{};  // by activation (vec_dot) type
  std::array<DotFn, kTypeSlots> dot{};  // by weight type, activations in vec_dot_type
  std::array<DequantizeRowFn, kTypeSlots> dequantize_row{};
  std::array<TensorType, kTypeSlots> vec_dot_type{};

  MatmulFn matmul_for(TensorType t) const { return matmul[static_cast<size_t>(t)]; }
  QuantizeRowFn quantize_for(TensorType t) const { return quantize_row[static_cast<size_t>(t)]; }
  DotFn dot_for(TensorType t) const { return dot[static_cast<size_t>(t)]; }
  DequantizeRowFn dequantize_for(TensorType t) const {
    return dequantize_row[static_cast<size_t>(t)];
  }
  TensorType vec_dot_type_for(TensorType t) const { return vec_dot_type[static_cast<size_t>(t)]; }
  const RepackKernels& repack_for(TensorType t) const { return repack[static_cast<size_t>(t)]; }
};

enum class KernelLevel { kScalar, kAvx2, kAvx512, kBest };

// The scalar reference table (always available).
KernelTable reference_kernels();
// The best table this CPU runs, or a lower level when asked (for tests and comparisons).
KernelTable select_kernels(const CpuFeatures& cpu, KernelLevel level = KernelLevel::kBest);

}  // namespace lathe::kernels
