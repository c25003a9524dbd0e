// GGUF v2/v3 files: metadata values and tensor infos, read through bounds-checked views.
//
// The reader trusts nothing in the file: every count, length, offset and size is checked against
// the bytes that are actually there before it is used, so a truncated or hostile file yields one
// error that names what is wrong and where.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "core/tensor_type.h"

namespace lathe::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr int kMaxDims = 4;
inline constexpr size_t kMaxTensorName = 63;  // llama.cpp rejects names of 64 bytes or more

enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

std::string_view value_type_name(ValueType type);
// Bytes of one element of a fixed-size type; 0 for string and array.
size_t value_type_size(ValueType type);
bool is_integer_type(ValueType type);

// One metadata value. Strings and numeric arrays are views into the file's bytes, which the
// owning File keeps alive.
class Value {
 public:
  ValueType type() const { return type_; }

  // Scalars (valid for the matching type only; the File's getters check types for you).
  uint64_t as_u64() const { return u_; }
  int64_t as_i64() const { return i_; }
  double as_f64() const { return f_; }
  bool as_bool() const { return u_ != 0; }
  std::string_view as_string() const { return string_; }

  // Arrays.
  ValueType array_type() const { return array_type_; }
  uint64_t array_size() const { return array_size_; }
  // Raw little-endian elements of a numeric array.
  std::span<const uint8_t> array_bytes() const { return array_bytes_; }
  const std::vector<std::string_view>& array_strings() const { return strings_; }
  const std::vector<Value>& array_values() const { return values_; }

  // Element i of a numeric array as T, converting from the stored type; the caller has checked
  // that the array is numeric.
  double numeric_at(uint64_t i) const;
  int64_t integer_at(uint64_t i) const;

  // "uint32", "array[string]", "array[array[int32]]"
  std::string type_description() const;
  // Short human-readable rendering; long arrays are abbreviated after max_items.
  std::string to_display_string(size_t max_items = 8) const;

 private:
  friend class Parser;
  friend class Writer;

  ValueType type_ = ValueType::kUint8;
  // A scalar decoded three ways, so each getter is a plain read.
  uint64_t u_ = 0;
  int64_t i_ = 0;
  double f_ = 0;
  std::string_view string_;
  ValueType array_type_ = ValueType::kUint8;
  uint64_t array_size_ = 0;
  std::span<const uint8_t> array_bytes_;
  std::vector<std::string_view> strings_;
  std::vector<Value> values_;
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  TensorType type = TensorType::kF32;
  // ggml order: shape[0] is the row length (contiguous), shape[1] the number of rows, ...
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the file's bytes

  int64_t dim(size_t i) const { return i < shape.size() ? shape[i] : 1; }
  uint64_t row_bytes() const { return shape.empty() || shape[0] == 0 ? 0 : n_bytes / (n_elements / shape[0]); }
  std::string shape_string() const;  // "[2048, 32000]"
};

class File {
 public:
  File() = default;
  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;

  static Expected<File> open(const std::string& path, FileLoadMode mode = FileLoadMode::kMmap);
  static Expected<File> parse(MappedFile bytes);

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const MappedFile& mapped() const { return *file_; }
  const std::string& path() const { return file_->path(); }

  const std::vector<KeyValue>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: a missing key or a value of another type is an error naming the key, e.g.
  // "key llama.block_count: expected uint32, found string".
  Expected<std::string_view> get_string(std::string_view key) const;
  Expected<uint32_t> get_u32(std::string_view key) const;
  Expected<uint64_t> get_u64(std::string_view key) const;
  Expected<int32_t> get_i32(std::string_view key) const;
  Expected<float> get_f32(std::string_view key) const;
  Expected<bool> get_bool(std::string_view key) const;
  // Any integer type whose value fits in int64 (files disagree on the width of counts).
  Expected<int64_t> get_integer(std::string_view key) const;
  // Any integer or float type.
  Expected<double> get_number(std::string_view key) const;
  Expected<const Value*> get_array(std::string_view key, ValueType element_type) const;
  Expected<std::vector<float>> get_f32_array(std::string_view key) const;
  Expected<std::vector<int64_t>> get_integer_array(std::string_view key) const;
  Expected<std::vector<std::string_view>> get_string_array(std::string_view key) const;

  // The same, but a missing key gives `fallback` (a present key of the wrong type is still an
  // error: the file says something lathe does not understand).
  Expected<std::string_view> get_string_or(std::string_view key, std::string_view fallback) const;
  Expected<int64_t> get_integer_or(std::string_view key, int64_t fallback) const;
  Expected<double> get_number_or(std::string_view key, double fallback) const;
  Expected<bool> get_bool_or(std::string_view key, bool fallback) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  uint64_t tensor_data_bytes() const;

 private:
  friend class Parser;

  std::unique_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> metadata_;
  std::unordered_map<std::string, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace lathe::gguf
