// Writes GGUF v3 files that llama.cpp loads: metadata first, then tensor data streamed in order,
// so a model of any size is written with memory independent of its size.
//
// Layout (what llama.cpp's reader insists on): tensor data in the order the tensors were added,
// each starting at a multiple of the alignment, with zero padding between; the data section
// starts at the first multiple of the alignment after the tensor infos. The alignment is
// general.alignment when that key is set (a uint32 power of two), else 32.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/tensor_type.h"
#include "gguf/gguf.h"

namespace lathe::gguf {

class TensorDataSink;

class Writer {
 public:
  // A non-default alignment is recorded as general.alignment.
  explicit Writer(uint32_t alignment = kDefaultAlignment);

  // Setting a key that exists replaces its value in place (the order of keys is kept). Keys are
  // checked when the file is written: an empty key is an error there (llama.cpp rejects it).
  void set_u8(std::string_view key, uint8_t value);
  void set_i8(std::string_view key, int8_t value);
  void set_u16(std::string_view key, uint16_t value);
  void set_i16(std::string_view key, int16_t value);
  void set_u32(std::string_view key, uint32_t value);
  void set_i32(std::string_view key, int32_t value);
  void set_u64(std::string_view key, uint64_t value);
  void set_i64(std::string_view key, int64_t value);
  void set_f32(std::string_view key, float value);
  void set_f64(std::string_view key, double value);
  void set_bool(std::string_view key, bool value);
  void set_string(std::string_view key, std::string_view value);
  void set_string_array(std::string_view key, std::span<const std::string> values);
  void set_string_array(std::string_view key, std::span<const std::string_view> values);
  // Any numeric or bool element type: set_array<int16_t>(key, values).
  template <typename T>
  void set_array(std::string_view key, std::span<const T> values) {
    set_value_unchecked(key, Value::of_array<T>(values));
  }
  void set_f32_array(std::string_view key, std::span<const float> values) {
    set_array<float>(key, values);
  }
  void set_i32_array(std::string_view key, std::span<const int32_t> values) {
    set_array<int32_t>(key, values);
  }
  void set_u32_array(std::string_view key, std::span<const uint32_t> values) {
    set_array<uint32_t>(key, values);
  }
  void set_u8_array(std::string_view key, std::span<const uint8_t> values) {
    set_array<uint8_t>(key, values);
  }
  // Copies a value read from another file or made with Value::of*, nested arrays included.
  // Error (and nothing set) when the value is inconsistent, e.g. an array of arrays holding a
  // scalar, or nested deeper than readers accept.
  Status set_value(std::string_view key, const Value& value);
  void remove(std::string_view key);
  bool has(std::string_view key) const { return index_.count(std::string(key)) != 0; }
  size_t key_count() const { return entries_.size(); }

  // The alignment the file will use: general.alignment when it is set to a uint32, else 32.
  // (0 when general.alignment holds another type: writing then fails with a clear error.)
  uint32_t alignment() const;

  // Declares the next tensor. shape is in ggml order (shape[0] = row length).
  Status add_tensor(std::string_view name, TensorType type, std::span<const int64_t> shape);
  size_t tensor_count() const { return tensors_.size(); }
  uint64_t tensor_bytes(size_t index) const { return tensors_[index].n_bytes; }
  const std::string& tensor_name(size_t index) const { return tensors_[index].name; }

  // Writes the header and opens the data section; the sink then takes the tensors' bytes in the
  // order they were added. The file appears at `path` only when the sink finishes.
  Expected<TensorDataSink> begin(const std::string& path) const;

  // Whole file in one call, for small files: data[i] holds tensor i's bytes.
  Status write_file(const std::string& path, std::span<const std::span<const uint8_t>> data) const;
  // The same into memory (tests, fuzz seeds).
  Expected<std::vector<uint8_t>> write_bytes(std::span<const std::span<const uint8_t>> data) const;

 private:
  friend class TensorDataSink;

  struct PendingTensor {
    std::string name;
    TensorType type;
    std::vector<int64_t> shape;
    uint64_t n_bytes;
    uint64_t offset;  // filled in when the file is laid out
  };

  void put(std::string_view key, std::vector<uint8_t> encoded);
  void set_value_unchecked(std::string_view key, const Value& value);
  // Checks keys and alignment, and gives each tensor its offset.
  Status layout(std::vector<PendingTensor>& tensors, uint32_t& alignment) const;
  // One buffer per tensor, each of the tensor's size.
  Status check_data(std::string_view what, std::span<const std::span<const uint8_t>> data) const;
  std::vector<uint8_t> header_bytes(const std::vector<PendingTensor>& tensors,
                                    uint32_t alignment) const;

  std::vector<std::pair<std::string, std::vector<uint8_t>>> entries_;  // key, encoded type+value
  std::unordered_map<std::string, size_t> index_;
  std::vector<PendingTensor> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

// Receives tensor data for a file being written. Bytes may arrive in pieces of any size. After
// any error the partial file is deleted and every later call fails; a sink destroyed before
// finish() also deletes it, so an interrupted write never leaves a file that looks complete.
class TensorDataSink {
 public:
  TensorDataSink(TensorDataSink&& other) noexcept;
  TensorDataSink& operator=(TensorDataSink&&) = delete;
  ~TensorDataSink();

  Status write(std::span<const uint8_t> bytes);
  // Checks every declared byte arrived, flushes, and moves the file into place.
  Status finish();
  // The tensor the next byte belongs to.
  size_t current_tensor() const { return tensor_; }

 private:
  friend class Writer;
  TensorDataSink(std::vector<Writer::PendingTensor> tensors, uint32_t alignment, std::FILE* file,
                 std::string path, std::string temp_path);
  Status pad_to_alignment();
  // Closes and deletes the partial file, and passes `status` on.
  Status fail(Status status);

  std::vector<Writer::PendingTensor> tensors_;
  uint32_t alignment_;
  std::FILE* file_;
  std::string path_;
  std::string temp_path_;
  size_t tensor_ = 0;
  uint64_t written_in_tensor_ = 0;
  bool finished_ = false;
};

}  // namespace lathe::gguf
