// The table of reference routines, and the row-checked entry points.
#include "quant/quant.h"

#include <array>
#include <limits>

#include "quant/formats.h"

namespace lathe::quant {

namespace {

constexpr std::array kTraits = {
    TypeTraits{TensorType::kF32, quantize_row_f32, dequantize_row_f32, TensorType::kF32,
               vec_dot_f32},
    TypeTraits{TensorType::kF16, quantize_row_f16, dequantize_row_f16, TensorType::kF16,
               vec_dot_f16},
    TypeTraits{TensorType::kBF16, quantize_row_bf16, dequantize_row_bf16, TensorType::kBF16,
               vec_dot_bf16},
    TypeTraits{TensorType::kQ8_0, quantize_row_q8_0, dequantize_row_q8_0, TensorType::kQ8_0,
               vec_dot_q8_0_q8_0},
    TypeTraits{TensorType::kQ4_0, quantize_row_q4_0, dequantize_row_q4_0, TensorType::kQ8_0,
               vec_dot_q4_0_q8_0},
    TypeTraits{TensorType::kQ4_1, quantize_row_q4_1, dequantize_row_q4_1, TensorType::kQ8_1,
               vec_dot_q4_1_q8_1},
    TypeTraits{TensorType::kIQ4_NL, quantize_row_iq4_nl, dequantize_row_iq4_nl, TensorType::kQ8_0,
               vec_dot_iq4_nl_q8_0},
    TypeTraits{TensorType::kIQ4_XS, quantize_row_iq4_xs, dequantize_row_iq4_xs, TensorType::kQ8_K,
               vec_dot_iq4_xs_q8_k},
    TypeTraits{TensorType::kQ4_K, quantize_row_q4_k, dequantize_row_q4_k, TensorType::kQ8_K,
               vec_dot_q4_k_q8_k},
    TypeTraits{TensorType::kQ6_K, quantize_row_q6_k, dequantize_row_q6_k, TensorType::kQ8_K,
               vec_dot_q6_k_q8_k},
    // Activation formats: produced and read back, but never the left side of a dot product.
    TypeTraits{TensorType::kQ8_1, quantize_row_q8_1, dequantize_row_q8_1, TensorType::kQ8_1,
               nullptr},
    TypeTraits{TensorType::kQ8_K, quantize_row_q8_k, dequantize_row_q8_k, TensorType::kQ8_K,
               nullptr},
};

// Checks the shape and returns the bytes of one row.
Expected<uint64_t> checked_row_bytes(const TypeTraits* traits, TensorType type, int64_t n_rows,
                                     int64_t n_per_row) {
  if (traits == nullptr) {
    return unsupported("tensor type ", tensor_type_name(type), " has no reference routines");
  }
  if (n_rows < 0 || n_per_row < 0) {
    return invalid_argument("negative shape: ", n_rows, " rows of ", n_per_row);
  }
  const uint32_t block = tensor_type_info(type).block_elems;
  if (n_per_row % block != 0) {
    return invalid_argument("row of ", n_per_row, " ", tensor_type_name(type),
                            " values is not a whole number of ", block, "-value blocks");
  }
  LATHE_ASSIGN_OR_RETURN(const uint64_t row_bytes,
                         tensor_row_bytes(type, static_cast<uint64_t>(n_per_row)));
  // The caller's buffers hold n_rows * n_per_row values; make sure that product is addressable.
  if (n_rows > 0 && static_cast<uint64_t>(n_per_row) >
                        static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) /
                            static_cast<uint64_t>(n_rows) / sizeof(float)) {
    return invalid_argument("tensor of ", n_rows, " rows of ", n_per_row, " values is too large");
  }
  return row_bytes;
}

}  // namespace

const TypeTraits* type_traits(TensorType type) {
  for (const TypeTraits& traits : kTraits) {
    if (traits.type == type) return &traits;
  }
  return nullptr;
}

bool is_supported(TensorType type) {
  return type_traits(type) != nullptr;
}

Status quantize_rows(TensorType type, const float* src, void* dst, int64_t n_rows,
                     int64_t n_per_row) {
  const TypeTraits* traits = type_traits(type);
  LATHE_ASSIGN_OR_RETURN(const uint64_t row_bytes,
                         checked_row_bytes(traits, type, n_rows, n_per_row));
  if (n_rows > 0 && n_per_row > 0 && (src == nullptr || dst == nullptr)) {
    return invalid_argument("quantize_rows: null buffer");
  }
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t row = 0; row < n_rows; ++row) {
    traits->quantize_row(src + row * n_per_row, out + static_cast<uint64_t>(row) * row_bytes,
                         n_per_row);
  }
  return Status();
}

Status dequantize_rows(TensorType type, const void* src, float* dst, int64_t n_rows,
                       int64_t n_per_row) {
  const TypeTraits* traits = type_traits(type);
  LATHE_ASSIGN_OR_RETURN(const uint64_t row_bytes,
                         checked_row_bytes(traits, type, n_rows, n_per_row));
  if (n_rows > 0 && n_per_row > 0 && (src == nullptr || dst == nullptr)) {
    return invalid_argument("dequantize_rows: null buffer");
  }
  const auto* in = static_cast<const uint8_t*>(src);
  for (int64_t row = 0; row < n_rows; ++row) {
    traits->dequantize_row(in + static_cast<uint64_t>(row) * row_bytes, dst + row * n_per_row,
                           n_per_row);
  }
  return Status();
}

}  // namespace lathe::quant
