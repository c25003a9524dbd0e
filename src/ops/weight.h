// A weight matrix as every layer sees it: the model binds it to bytes in the file, kernels and
// backends read it. It lives here, below both, so that neither the model nor a backend needs the
// other to name it.
#pragma once

#include <cstdint>
#include <string>

#include "core/mapped_file.h"
#include "core/tensor_type.h"

namespace lathe::ops {

// A 2-D weight: `rows` output features, each a row of `cols` input features in `type`.
// (GGUF shape [cols, rows].)
struct WeightMatrix {
  std::string name;
  TensorType type = TensorType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  uint64_t row_bytes = 0;
  const void* data = nullptr;
  // Where the bytes come from: the file's identity (MappedFile::identity, 0 when unknown) and the
  // offset in it. Equal (identity, offset, type, shape) means equal content, so a backend can keep
  // a converted copy across loads of the same file.
  uint64_t source_identity = 0;
  uint64_t source_offset = 0;
  // The mapping the bytes live in, when they may be dropped from memory once a backend has its
  // own copy (MappedFile::release); null otherwise.
  const MappedFile* source_mapping = nullptr;

  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_bytes; }
  uint64_t bytes() const { return row_bytes * static_cast<uint64_t>(rows); }
};

// One weight of a group that reads the same input (q/k/v, gate/up).
struct MatmulTarget {
  const WeightMatrix* weight;
  const float* bias;  // or null
  float* out;         // [n_rows, weight->rows]
};

}  // namespace lathe::ops
