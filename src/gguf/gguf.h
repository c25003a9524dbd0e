// GGUF v2/v3 files: metadata values and tensor infos, read through bounds-checked views.
//
// The reader trusts nothing in the file: every count, length, offset and size is checked against
// the bytes that are actually there before it is used, so a truncated or hostile file yields one
// error that names what is wrong and where (the key or tensor, and the file offset). Memory use is
// bounded by a small multiple of the file's size whatever the file claims. docs/GGUF.md lists the
// rules the reader enforces and where they differ from llama.cpp's.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
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
// The reader accepts longer names than the writer produces (other tools may), up to this.
inline constexpr size_t kMaxReadTensorName = 4096;
// Arrays of arrays: how deep they may nest, and how many inner arrays one file may hold. Real
// models never use them (llama.cpp cannot read them at all), and each inner array costs far
// more memory than its 12 bytes in the file, so a hostile file could otherwise blow up memory.
inline constexpr int kMaxArrayNesting = 8;
inline constexpr uint64_t kMaxNestedArrays = uint64_t{1} << 20;

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
bool is_float_type(ValueType type);

// The GGUF type of a C++ scalar: value_type_of<uint32_t> == ValueType::kUint32.
template <typename T>
inline constexpr ValueType value_type_of = [] {
  if constexpr (std::is_same_v<T, uint8_t>)
    return ValueType::kUint8;
  else if constexpr (std::is_same_v<T, int8_t>)
    return ValueType::kInt8;
  else if constexpr (std::is_same_v<T, uint16_t>)
    return ValueType::kUint16;
  else if constexpr (std::is_same_v<T, int16_t>)
    return ValueType::kInt16;
  else if constexpr (std::is_same_v<T, uint32_t>)
    return ValueType::kUint32;
  else if constexpr (std::is_same_v<T, int32_t>)
    return ValueType::kInt32;
  else if constexpr (std::is_same_v<T, uint64_t>)
    return ValueType::kUint64;
  else if constexpr (std::is_same_v<T, int64_t>)
    return ValueType::kInt64;
  else if constexpr (std::is_same_v<T, float>)
    return ValueType::kFloat32;
  else if constexpr (std::is_same_v<T, double>)
    return ValueType::kFloat64;
  else if constexpr (std::is_same_v<T, bool>)
    return ValueType::kBool;
  else
    static_assert(sizeof(T) == 0, "not a GGUF scalar type");
}();

// One metadata value. Strings and numeric arrays are views into the file's bytes, which the
// owning File keeps alive.
class Value {
 public:
  Value() = default;

  // Values to hand to Writer::set_value. Strings and arrays made here view the caller's memory,
  // which must outlive the Value (the Writer copies the bytes when the value is set).
  template <typename T>
  static Value of(T scalar) {
    static_assert(sizeof(bool) == 1, "GGUF bools are one byte");
    Value v;
    v.type_ = value_type_of<T>;
    uint8_t raw[8] = {};
    std::memcpy(raw, &scalar, sizeof(T));
    v.set_scalar(raw);
    return v;
  }
  static Value of_string(std::string_view text);
  template <typename T>
  static Value of_array(std::span<const T> values) {
    return numeric_array(value_type_of<T>, values.size(),
                         {reinterpret_cast<const uint8_t*>(values.data()), values.size_bytes()});
  }
  static Value of_strings(std::vector<std::string_view> values);
  // Each element is itself an array (of any element type, including arrays).
  static Value of_arrays(std::vector<Value> arrays);

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

  // Element i of a numeric array, converted from the stored type (0 for an index past the end or
  // a non-numeric array).
  double numeric_at(uint64_t i) const;
  int64_t integer_at(uint64_t i) const;  // uint64 elements above INT64_MAX wrap: check first
  uint64_t unsigned_at(uint64_t i) const;

  // "uint32", "array[string]", "array[array[int32]]"
  std::string type_description() const;
  // Short human-readable rendering; long arrays are abbreviated after max_items.
  std::string to_display_string(size_t max_items = 8) const;

 private:
  friend class Parser;

  static Value numeric_array(ValueType element_type, uint64_t count,
                             std::span<const uint8_t> bytes);
  // Decodes a little-endian scalar of type_ from raw into u_, i_ and f_.
  void set_scalar(const uint8_t* raw);

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
  // Never empty: a file's 0-dimensional tensor reads as shape [1], as ggml treats it.
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the file's bytes; n_bytes of them are readable

  int64_t dim(size_t i) const { return i < shape.size() ? shape[i] : 1; }
  uint64_t row_bytes() const;  // bytes of one row of shape[0] elements
  uint64_t n_rows() const { return shape.empty() || shape[0] == 0 ? 0 : n_elements / shape[0]; }
  std::span<const uint8_t> bytes() const { return {data, static_cast<size_t>(n_bytes)}; }
  std::string shape_string() const;  // "[2048, 32000]"
};

class File {
 public:
  File() = default;
  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;

  static Expected<File> open(const std::string& path, FileLoadMode mode = FileLoadMode::kMmap);
  static Expected<File> parse(MappedFile bytes);
  // Parses bytes the caller owns and keeps alive, unchanged, for the File's lifetime. Fuzzing
  // uses it so that AddressSanitizer sees the exact end of the input.
  static Expected<File> parse_borrowed(std::span<const uint8_t> bytes,
                                       std::string name = "<memory>");

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  // The whole file's bytes.
  std::span<const uint8_t> bytes() const { return bytes_; }
  uint64_t file_size() const { return bytes_.size(); }
  // The mapping behind open() and parse(); an empty MappedFile for parse_borrowed().
  const MappedFile& mapped() const { return *file_; }
  const std::string& path() const { return path_; }

  const std::vector<KeyValue>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: a missing key or a value of another type is an error naming the key, e.g.
  // "key llama.block_count: expected uint32, found string".
  Expected<std::string_view> get_string(std::string_view key) const;
  Expected<uint32_t> get_u32(std::string_view key) const;
  Expected<uint64_t> get_u64(std::string_view key) const;
  Expected<int32_t> get_i32(std::string_view key) const;
  Expected<int64_t> get_i64(std::string_view key) const;
  Expected<float> get_f32(std::string_view key) const;
  Expected<double> get_f64(std::string_view key) const;
  Expected<bool> get_bool(std::string_view key) const;
  // Any integer type whose value fits in int64 (files disagree on the width of counts).
  Expected<int64_t> get_integer(std::string_view key) const;
  // Any integer or float type.
  Expected<double> get_number(std::string_view key) const;
  Expected<const Value*> get_array(std::string_view key, ValueType element_type) const;
  // array[float32] or array[float64], converted.
  Expected<std::vector<float>> get_f32_array(std::string_view key) const;
  // An array of any integer type whose elements fit in int64.
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

  // Lets the indexes be searched with a string_view without building a std::string.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using NameIndex = std::unordered_map<std::string, size_t, NameHash, std::equal_to<>>;

  static Expected<File> parse_into(File file);

  std::unique_ptr<MappedFile> file_;
  std::span<const uint8_t> bytes_;
  std::string path_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> metadata_;
  NameIndex metadata_index_;
  std::vector<TensorInfo> tensors_;
  NameIndex tensor_index_;
};

// Renders text taken from a file for an error message or a terminal: control bytes escaped and
// the text cut after max_chars with "...", so a hostile name can neither break a one-line error
// nor make it huge. Bytes of 0x80 and above pass through (UTF-8 names stay readable).
std::string printable(std::string_view text, size_t max_chars = 80);

}  // namespace lathe::gguf
