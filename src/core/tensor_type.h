// The tensor type ids of GGUF (ggml's numbering) and the block geometry of each one.
//
// Every layer needs these facts: the GGUF reader to check sizes, the quant layer for layouts, the
// model loader to pick kernels. Whether lathe can compute with a type is a separate question,
// answered by the quant layer.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/status.h"

namespace lathe {

enum class TensorType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
  kNVFP4 = 40,
  kQ1_0 = 41,
  kQ2_0 = 42,
};

struct TensorTypeInfo {
  TensorType type;
  std::string_view name;   // ggml's lower-case name: "q4_0", "iq4_xs", "bf16"
  uint32_t block_elems;    // weights per block
  uint32_t block_bytes;    // bytes per block
};

// nullopt for ids that no GGUF file may carry (removed or never assigned).
std::optional<TensorTypeInfo> tensor_type_info(uint32_t id);
const TensorTypeInfo& tensor_type_info(TensorType type);

std::string_view tensor_type_name(TensorType type);

// Accepts ggml's names in either case: "Q4_0", "q8_0", "IQ4_XS", "bf16".
Expected<TensorType> parse_tensor_type(std::string_view name);

// Bytes of one row of n elements; error when n is not a whole number of blocks.
Expected<uint64_t> tensor_row_bytes(TensorType type, uint64_t n_elems);

}  // namespace lathe
