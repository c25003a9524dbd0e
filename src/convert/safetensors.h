// Reader for Hugging Face safetensors files: an 8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the raw data.
//
// Nothing in the header is trusted: the length, every offset, shape and dtype is checked against
// the file before use, so a truncated or hostile file yields one error naming the tensor and the
// problem. Tensors are views into the mapped file; converting rows to f32 copies only those rows.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"

namespace lathe::convert {

// The element types safetensors defines. Only the floating-point ones can be converted; the
// others are recognized so the error can say "I32 is not a weight type" rather than "unknown".
enum class StDtype { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool, kF8E4M3, kF8E5M2 };

std::string_view st_dtype_name(StDtype dtype);
size_t st_dtype_size(StDtype dtype);
bool st_dtype_is_float(StDtype dtype);  // F64, F32, F16, BF16: what read_rows_f32 converts

struct StTensor {
  std::string name;
  StDtype dtype = StDtype::kF32;
  // As stored (row-major, PyTorch order): shape[0] is the outermost dimension. Empty for a scalar.
  std::vector<int64_t> shape;
  int64_t n_elements = 0;
  std::span<const uint8_t> data;  // into the file; n_elements * dtype size bytes

  // A tensor seen as a matrix of rows of its last dimension (a vector is one row).
  int64_t n_cols() const { return shape.empty() ? 1 : shape.back(); }
  int64_t n_rows() const { return n_cols() == 0 ? 0 : n_elements / n_cols(); }
  std::string shape_string() const;  // "[2048, 128]"
};

// Headers larger than this are refused (the format's own reference reader uses the same limit),
// so a hostile length cannot make the JSON parser allocate without bound.
inline constexpr uint64_t kMaxSafetensorsHeader = 100u << 20;

class SafetensorsFile {
 public:
  static Expected<SafetensorsFile> open(const std::string& path);
  static Expected<SafetensorsFile> parse(MappedFile bytes, std::string name = "<memory>");

  const std::string& path() const { return path_; }
  const std::vector<StTensor>& tensors() const { return tensors_; }
  const StTensor* find(std::string_view name) const;
  // The "__metadata__" object (string values only, as the format requires).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  // shared_ptr so the tensors' spans stay valid when the SafetensorsFile is moved.
  std::shared_ptr<MappedFile> file_;
  std::vector<StTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// Rows [row_begin, row_begin + n_rows) of `tensor` (see StTensor::n_rows) converted to f32, written
// back to back into out (n_rows * n_cols values). Error for a non-float dtype or rows out of range.
Status read_rows_f32(const StTensor& tensor, int64_t row_begin, int64_t n_rows, float* out);

// All safetensors files of a Hugging Face model folder, seen as one set of tensors: the shards
// listed by model.safetensors.index.json, or else every *.safetensors file in the folder.
class SafetensorsSet {
 public:
  static Expected<SafetensorsSet> open_dir(const std::string& dir);
  // A set made of files already open (tests).
  static Expected<SafetensorsSet> from_files(std::vector<SafetensorsFile> files);

  const StTensor* find(std::string_view name) const;
  // Every tensor name, sorted.
  std::vector<std::string> names() const;
  // "__metadata__" entries of all files merged (safetensors records the names of tensors it
  // dropped as duplicates there: {"model.embed_tokens.weight": "lm_head.weight"}).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  size_t file_count() const { return files_.size(); }

 private:
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::map<std::string, const StTensor*, std::less<>> by_name_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace lathe::convert
