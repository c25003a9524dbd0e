#include "gguf/gguf_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lathe::gguf {

namespace {

// resize + memcpy rather than insert: GCC 12 warns falsely (-Wstringop-overflow) on insert.
void append_bytes(std::vector<uint8_t>& out, const void* data, size_t n) {
  if (n == 0) return;
  const size_t old = out.size();
  out.resize(old + n);
  std::memcpy(out.data() + old, data, n);
}

template <typename T>
void append_raw(std::vector<uint8_t>& out, const T& value) {
  append_bytes(out, &value, sizeof(T));
}

void append_string(std::vector<uint8_t>& out, std::string_view text) {
  append_raw<uint64_t>(out, text.size());
  append_bytes(out, text.data(), text.size());
}

template <typename T>
std::vector<uint8_t> encode_scalar(ValueType type, T value) {
  std::vector<uint8_t> out;
  append_raw<uint32_t>(out, static_cast<uint32_t>(type));
  append_raw<T>(out, value);
  return out;
}

template <typename T>
std::vector<uint8_t> encode_array(ValueType element_type, std::span<const T> values) {
  std::vector<uint8_t> out;
  append_raw<uint32_t>(out, static_cast<uint32_t>(ValueType::kArray));
  append_raw<uint32_t>(out, static_cast<uint32_t>(element_type));
  append_raw<uint64_t>(out, values.size());
  append_bytes(out, values.data(), values.size_bytes());
  return out;
}

// Appends the body of a value (no type tag for scalars is written here; callers add it).
void append_value_body(std::vector<uint8_t>& out, const Value& value) {
  switch (value.type()) {
    case ValueType::kString: append_string(out, value.as_string()); return;
    case ValueType::kArray: {
      append_raw<uint32_t>(out, static_cast<uint32_t>(value.array_type()));
      append_raw<uint64_t>(out, value.array_size());
      if (value.array_type() == ValueType::kString) {
        for (auto s : value.array_strings()) append_string(out, s);
      } else if (value.array_type() == ValueType::kArray) {
        for (const auto& inner : value.array_values()) append_value_body(out, inner);
      } else {
        append_bytes(out, value.array_bytes().data(), value.array_bytes().size());
      }
      return;
    }
    default: {
      const size_t size = value_type_size(value.type());
      uint64_t u = value.as_u64();
      if (value.type() == ValueType::kFloat32) {
        float f = static_cast<float>(value.as_f64());
        std::memcpy(&u, &f, 4);
      } else if (value.type() == ValueType::kFloat64) {
        double f = value.as_f64();
        std::memcpy(&u, &f, 8);
      }
      append_bytes(out, &u, size);  // little-endian: the low bytes come first
      return;
    }
  }
}

}  // namespace

Writer::Writer(uint32_t alignment) : alignment_(alignment == 0 ? kDefaultAlignment : alignment) {
  if (alignment_ != kDefaultAlignment) set_u32("general.alignment", alignment_);
}

void Writer::put(std::string_view key, std::vector<uint8_t> encoded) {
  auto it = index_.find(std::string(key));
  if (it != index_.end()) {
    entries_[it->second].second = std::move(encoded);
    return;
  }
  index_.emplace(std::string(key), entries_.size());
  entries_.emplace_back(std::string(key), std::move(encoded));
}

void Writer::remove(std::string_view key) {
  auto it = index_.find(std::string(key));
  if (it == index_.end()) return;
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(it->second));
  index_.clear();
  for (size_t k = 0; k < entries_.size(); ++k) index_.emplace(entries_[k].first, k);
}

void Writer::set_u8(std::string_view key, uint8_t v) { put(key, encode_scalar(ValueType::kUint8, v)); }
void Writer::set_i8(std::string_view key, int8_t v) { put(key, encode_scalar(ValueType::kInt8, v)); }
void Writer::set_u16(std::string_view key, uint16_t v) { put(key, encode_scalar(ValueType::kUint16, v)); }
void Writer::set_i16(std::string_view key, int16_t v) { put(key, encode_scalar(ValueType::kInt16, v)); }
void Writer::set_u32(std::string_view key, uint32_t v) { put(key, encode_scalar(ValueType::kUint32, v)); }
void Writer::set_i32(std::string_view key, int32_t v) { put(key, encode_scalar(ValueType::kInt32, v)); }
void Writer::set_u64(std::string_view key, uint64_t v) { put(key, encode_scalar(ValueType::kUint64, v)); }
void Writer::set_i64(std::string_view key, int64_t v) { put(key, encode_scalar(ValueType::kInt64, v)); }
void Writer::set_f32(std::string_view key, float v) { put(key, encode_scalar(ValueType::kFloat32, v)); }
void Writer::set_f64(std::string_view key, double v) { put(key, encode_scalar(ValueType::kFloat64, v)); }
void Writer::set_bool(std::string_view key, bool v) {
  put(key, encode_scalar<uint8_t>(ValueType::kBool, v ? 1 : 0));
}

void Writer::set_string(std::string_view key, std::string_view value) {
  std::vector<uint8_t> out;
  append_raw<uint32_t>(out, static_cast<uint32_t>(ValueType::kString));
  append_string(out, value);
  put(key, std::move(out));
}

void Writer::set_string_array(std::string_view key, std::span<const std::string> values) {
  std::vector<uint8_t> out;
  append_raw<uint32_t>(out, static_cast<uint32_t>(ValueType::kArray));
  append_raw<uint32_t>(out, static_cast<uint32_t>(ValueType::kString));
  append_raw<uint64_t>(out, values.size());
  for (const auto& s : values) append_string(out, s);
  put(key, std::move(out));
}

void Writer::set_string_array(std::string_view key, std::span<const std::string_view> values) {
  std::vector<uint8_t> out;
  append_raw<uint32_t>(out, static_cast<uint32_t>(ValueType::kArray));
  append_raw<uint32_t>(out, static_cast<uint32_t>(ValueType::kString));
  append_raw<uint64_t>(out, values.size());
  for (auto s : values) append_string(out, s);
  put(key, std::move(out));
}

void Writer::set_f32_array(std::string_view key, std::span<const float> values) {
  put(key, encode_array(ValueType::kFloat32, values));
}
void Writer::set_i32_array(std::string_view key, std::span<const int32_t> values) {
  put(key, encode_array(ValueType::kInt32, values));
}
void Writer::set_u32_array(std::string_view key, std::span<const uint32_t> values) {
  put(key, encode_array(ValueType::kUint32, values));
}
void Writer::set_u8_array(std::string_view key, std::span<const uint8_t> values) {
  put(key, encode_array(ValueType::kUint8, values));
}

void Writer::set_value(std::string_view key, const Value& value) {
  std::vector<uint8_t> out;
  append_raw<uint32_t>(out, static_cast<uint32_t>(value.type()));
  append_value_body(out, value);
  put(key, std::move(out));
}

Status Writer::add_tensor(std::string_view name, TensorType type, std::span<const int64_t> shape) {
  if (name.empty() || name.size() > kMaxTensorName) {
    return invalid_argument("tensor name '", name, "' must have 1 to ", kMaxTensorName, " bytes");
  }
  if (shape.empty() || shape.size() > static_cast<size_t>(kMaxDims)) {
    return invalid_argument("tensor '", name, "' has ", shape.size(), " dimensions (1 to ",
                            kMaxDims, " allowed)");
  }
  uint64_t n_elements = 1;
  for (int64_t d : shape) {
    if (d < 0) return invalid_argument("tensor '", name, "' has a negative dimension");
    n_elements *= static_cast<uint64_t>(d);
  }
  const auto& info = tensor_type_info(type);
  if (shape[0] % info.block_elems != 0) {
    return invalid_argument("tensor '", name, "': rows of ", shape[0],
                            " elements are not a whole number of ", info.name, " blocks");
  }
  if (!tensor_index_.emplace(std::string(name), tensors_.size()).second) {
    return invalid_argument("tensor '", name, "' added twice");
  }
  PendingTensor t;
  t.name = std::string(name);
  t.type = type;
  t.shape.assign(shape.begin(), shape.end());
  t.n_bytes = n_elements / info.block_elems * info.block_bytes;
  t.offset = data_bytes_;
  data_bytes_ += (t.n_bytes + alignment_ - 1) / alignment_ * alignment_;
  tensors_.push_back(std::move(t));
  return Status();
}

std::vector<uint8_t> Writer::header_bytes() const {
  std::vector<uint8_t> out;
  append_raw<uint32_t>(out, kMagic);
  append_raw<uint32_t>(out, 3);
  append_raw<uint64_t>(out, tensors_.size());
  append_raw<uint64_t>(out, entries_.size());
  for (const auto& [key, encoded] : entries_) {
    append_string(out, key);
    append_bytes(out, encoded.data(), encoded.size());
  }
  for (const auto& t : tensors_) {
    append_string(out, t.name);
    append_raw<uint32_t>(out, static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) append_raw<uint64_t>(out, static_cast<uint64_t>(d));
    append_raw<uint32_t>(out, static_cast<uint32_t>(t.type));
    append_raw<uint64_t>(out, t.offset);
  }
  while (out.size() % alignment_ != 0) out.push_back(0);
  return out;
}

Expected<TensorDataSink> Writer::begin(const std::string& path) const {
  std::string temp_path = path + ".partial";
  std::FILE* file = std::fopen(temp_path.c_str(), "wb");
  if (file == nullptr) return io_error("cannot create ", temp_path, ": ", std::strerror(errno));
  const std::vector<uint8_t> header = header_bytes();
  if (std::fwrite(header.data(), 1, header.size(), file) != header.size()) {
    std::fclose(file);
    std::remove(temp_path.c_str());
    return io_error("cannot write ", temp_path, ": ", std::strerror(errno));
  }
  return TensorDataSink(tensors_, alignment_, file, path, std::move(temp_path));
}

Status Writer::write_file(const std::string& path,
                          std::span<const std::span<const uint8_t>> data) const {
  if (data.size() != tensors_.size()) {
    return invalid_argument("write_file: ", data.size(), " data buffers for ", tensors_.size(),
                            " tensors");
  }
  LATHE_ASSIGN_OR_RETURN(TensorDataSink sink, begin(path));
  for (const auto& bytes : data) LATHE_RETURN_IF_ERROR(sink.write(bytes));
  return sink.finish();
}

Expected<std::vector<uint8_t>> Writer::write_bytes(
    std::span<const std::span<const uint8_t>> data) const {
  if (data.size() != tensors_.size()) {
    return invalid_argument("write_bytes: ", data.size(), " data buffers for ", tensors_.size(),
                            " tensors");
  }
  std::vector<uint8_t> out = header_bytes();
  for (size_t k = 0; k < data.size(); ++k) {
    if (data[k].size() != tensors_[k].n_bytes) {
      return invalid_argument("tensor '", tensors_[k].name, "' needs ", tensors_[k].n_bytes,
                              " bytes, got ", data[k].size());
    }
    append_bytes(out, data[k].data(), data[k].size());
    while (out.size() % alignment_ != 0) out.push_back(0);
  }
  return out;
}

TensorDataSink::TensorDataSink(std::vector<Writer::PendingTensor> tensors, uint32_t alignment,
                               std::FILE* file, std::string path, std::string temp_path)
    : tensors_(std::move(tensors)),
      alignment_(alignment),
      file_(file),
      path_(std::move(path)),
      temp_path_(std::move(temp_path)) {}

TensorDataSink::TensorDataSink(TensorDataSink&& other) noexcept
    : tensors_(std::move(other.tensors_)),
      alignment_(other.alignment_),
      file_(other.file_),
      path_(std::move(other.path_)),
      temp_path_(std::move(other.temp_path_)),
      tensor_(other.tensor_),
      written_in_tensor_(other.written_in_tensor_),
      finished_(other.finished_) {
  other.file_ = nullptr;
  other.finished_ = true;
}

TensorDataSink::~TensorDataSink() {
  if (file_ != nullptr) {
    std::fclose(file_);
    // An unfinished file is incomplete; leaving it would let a later run load garbage.
    if (!finished_) std::remove(temp_path_.c_str());
  }
}

Status TensorDataSink::pad_to_alignment() {
  static const uint8_t kZeros[64] = {};
  uint64_t padding = (alignment_ - written_in_tensor_ % alignment_) % alignment_;
  while (padding > 0) {
    const size_t n = padding > sizeof(kZeros) ? sizeof(kZeros) : padding;
    if (std::fwrite(kZeros, 1, n, file_) != n) {
      return io_error("cannot write ", temp_path_, ": ", std::strerror(errno));
    }
    padding -= n;
  }
  return Status();
}

Status TensorDataSink::write(std::span<const uint8_t> bytes) {
  if (file_ == nullptr || finished_) return internal_error("write to a finished GGUF sink");
  while (!bytes.empty()) {
    if (tensor_ >= tensors_.size()) {
      return invalid_argument("more tensor data than the ", tensors_.size(),
                              " declared tensors hold");
    }
    const auto& t = tensors_[tensor_];
    const uint64_t room = t.n_bytes - written_in_tensor_;
    const size_t n = bytes.size() < room ? bytes.size() : static_cast<size_t>(room);
    if (n > 0 && std::fwrite(bytes.data(), 1, n, file_) != n) {
      return io_error("cannot write ", temp_path_, ": ", std::strerror(errno));
    }
    written_in_tensor_ += n;
    bytes = bytes.subspan(n);
    if (written_in_tensor_ == t.n_bytes) {
      LATHE_RETURN_IF_ERROR(pad_to_alignment());
      ++tensor_;
      written_in_tensor_ = 0;
    }
  }
  // Zero-byte tensors complete without any data.
  while (tensor_ < tensors_.size() && tensors_[tensor_].n_bytes == 0) ++tensor_;
  return Status();
}

Status TensorDataSink::finish() {
  if (file_ == nullptr || finished_) return internal_error("GGUF sink finished twice");
  LATHE_RETURN_IF_ERROR(write({}));
  if (tensor_ != tensors_.size()) {
    return invalid_argument("tensor '", tensors_[tensor_].name, "' is missing ",
                            tensors_[tensor_].n_bytes - written_in_tensor_, " bytes of data");
  }
  const bool flushed = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
  const int close_result = std::fclose(file_);
  file_ = nullptr;
  if (!flushed || close_result != 0) {
    std::remove(temp_path_.c_str());
    return io_error("cannot write ", temp_path_, ": ", std::strerror(errno));
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    std::remove(temp_path_.c_str());
    return io_error("cannot rename ", temp_path_, " to ", path_, ": ", std::strerror(errno));
  }
  finished_ = true;
  return Status();
}

}  // namespace lathe::gguf
