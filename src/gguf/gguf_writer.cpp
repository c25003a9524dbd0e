#include "gguf/gguf_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

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

uint64_t round_up(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

// Appends the body of a value: everything after its type tag.
void append_value_body(std::vector<uint8_t>& out, const Value& value) {
  switch (value.type()) {
    case ValueType::kString:
      append_string(out, value.as_string());
      return;
    case ValueType::kArray: {
      append_raw<uint32_t>(out, static_cast<uint32_t>(value.array_type()));
      append_raw<uint64_t>(out, value.array_size());
      if (value.array_type() == ValueType::kString) {
        for (auto s : value.array_strings()) append_string(out, s);
      } else if (value.array_type() == ValueType::kArray) {
        // Each element carries its own element type and count, but no type tag of its own: the
        // outer array's element type already says "array".
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
        const float f = static_cast<float>(value.as_f64());
        std::memcpy(&u, &f, 4);
      } else if (value.type() == ValueType::kFloat64) {
        const double f = value.as_f64();
        std::memcpy(&u, &f, 8);
      }
      append_bytes(out, &u, size);  // little-endian: the low bytes come first
      return;
    }
  }
}

// A Value made by hand may disagree with itself (a count that is not the number of elements);
// writing it would produce a file no reader can parse.
Status check_value(const Value& value, int depth) {
  if (static_cast<uint32_t>(value.type()) > static_cast<uint32_t>(ValueType::kFloat64)) {
    return invalid_argument("unknown value type ", static_cast<uint32_t>(value.type()));
  }
  if (value.type() != ValueType::kArray) return Status();
  if (depth >= kMaxArrayNesting) {
    return invalid_argument("arrays nested more than ", kMaxArrayNesting, " deep");
  }
  const ValueType element = value.array_type();
  if (static_cast<uint32_t>(element) > static_cast<uint32_t>(ValueType::kFloat64)) {
    return invalid_argument("unknown array element type ", static_cast<uint32_t>(element));
  }
  const uint64_t n = value.array_size();
  if (element == ValueType::kString) {
    if (value.array_strings().size() != n) {
      return invalid_argument("array[string] says ", n, " items but holds ",
                              value.array_strings().size());
    }
  } else if (element == ValueType::kArray) {
    if (value.array_values().size() != n) {
      return invalid_argument("array[array] says ", n, " items but holds ",
                              value.array_values().size());
    }
    for (const auto& inner : value.array_values()) {
      if (inner.type() != ValueType::kArray) {
        return invalid_argument("an array of arrays holds a ", value_type_name(inner.type()));
      }
      LATHE_RETURN_IF_ERROR(check_value(inner, depth + 1));
    }
  } else {
    const uint64_t size = value_type_size(element);
    if (value.array_bytes().size() / size != n || value.array_bytes().size() % size != 0) {
      return invalid_argument("array[", value_type_name(element), "] says ", n, " items but holds ",
                              value.array_bytes().size(), " bytes");
    }
    if (element == ValueType::kBool) {
      for (uint8_t b : value.array_bytes()) {
        if (b > 1) return invalid_argument("array[bool] holds the byte ", int(b));
      }
    }
  }
  return Status();
}

std::vector<uint8_t> encode_value(const Value& value) {
  std::vector<uint8_t> out;
  append_raw<uint32_t>(out, static_cast<uint32_t>(value.type()));
  append_value_body(out, value);
  return out;
}

}  // namespace

Writer::Writer(uint32_t alignment) {
  if (alignment != kDefaultAlignment) set_u32("general.alignment", alignment);
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

uint32_t Writer::alignment() const {
  auto it = index_.find("general.alignment");
  if (it == index_.end()) return kDefaultAlignment;
  const std::vector<uint8_t>& encoded = entries_[it->second].second;
  uint32_t type = 0;
  uint32_t value = 0;
  if (encoded.size() != 8) return 0;
  std::memcpy(&type, encoded.data(), 4);
  std::memcpy(&value, encoded.data() + 4, 4);
  return type == static_cast<uint32_t>(ValueType::kUint32) ? value : 0;
}

void Writer::set_u8(std::string_view key, uint8_t v) {
  set_value_unchecked(key, Value::of(v));
}
void Writer::set_i8(std::string_view key, int8_t v) {
  set_value_unchecked(key, Value::of(v));
}
void Writer::set_u16(std::string_view key, uint16_t v) {
  set_value_unchecked(key, Value::of(v));
}
void Writer::set_i16(std::string_view key, int16_t v) {
  set_value_unchecked(key, Value::of(v));
}
void Writer::set_u32(std::string_view key, uint32_t v) {
  set_value_unchecked(key, Value::of(v));
}
void Writer::set_i32(std::string_view key, int32_t v) {
  set_value_unchecked(key, Value::of(v));
}
void Writer::set_u64(std::string_view key, uint64_t v) {
  set_value_unchecked(key, Value::of(v));
}
void Writer::set_i64(std::string_view key, int64_t v) {
  set_value_unchecked(key, Value::of(v));
}
void Writer::set_f32(std::string_view key, float v) {
  set_value_unchecked(key, Value::of(v));
}
void Writer::set_f64(std::string_view key, double v) {
  set_value_unchecked(key, Value::of(v));
}
void Writer::set_bool(std::string_view key, bool v) {
  set_value_unchecked(key, Value::of(v));
}

void Writer::set_string(std::string_view key, std::string_view value) {
  set_value_unchecked(key, Value::of_string(value));
}

void Writer::set_string_array(std::string_view key, std::span<const std::string> values) {
  std::vector<std::string_view> views(values.begin(), values.end());
  set_value_unchecked(key, Value::of_strings(std::move(views)));
}

void Writer::set_string_array(std::string_view key, std::span<const std::string_view> values) {
  set_value_unchecked(
      key, Value::of_strings(std::vector<std::string_view>(values.begin(), values.end())));
}

void Writer::set_value_unchecked(std::string_view key, const Value& value) {
  put(key, encode_value(value));
}

Status Writer::set_value(std::string_view key, const Value& value) {
  Status status = check_value(value, 0);
  if (!status.ok()) return status.with_context(cat("key ", key));
  set_value_unchecked(key, value);
  return Status();
}

Status Writer::add_tensor(std::string_view name, TensorType type, std::span<const int64_t> shape) {
  if (name.empty() || name.size() > kMaxTensorName) {
    return invalid_argument("tensor name '", printable(name), "' must have 1 to ", kMaxTensorName,
                            " bytes");
  }
  if (shape.empty() || shape.size() > static_cast<size_t>(kMaxDims)) {
    return invalid_argument("tensor '", name, "' has ", shape.size(), " dimensions (1 to ",
                            kMaxDims, " allowed)");
  }
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t n_elements = 1;
  for (int64_t d : shape) {
    if (d < 0) return invalid_argument("tensor '", name, "' has a negative dimension");
    const auto ud = static_cast<uint64_t>(d);
    if (ud != 0 && n_elements > kMax / ud) {
      return invalid_argument("tensor '", name, "': the element count overflows int64");
    }
    n_elements *= ud;
  }
  const auto& info = tensor_type_info(type);
  if (shape[0] % info.block_elems != 0) {
    return invalid_argument("tensor '", name, "': rows of ", shape[0],
                            " elements are not a whole number of ", info.name, " blocks (",
                            info.block_elems, " elements each)");
  }
  const uint64_t n_blocks = n_elements / info.block_elems;
  if (n_blocks > kMax / info.block_bytes) {
    return invalid_argument("tensor '", name, "': the size in bytes overflows");
  }
  if (tensor_index_.count(std::string(name)) != 0) {
    return invalid_argument("tensor '", name, "' added twice");
  }
  tensor_index_.emplace(std::string(name), tensors_.size());
  PendingTensor t;
  t.name = std::string(name);
  t.type = type;
  t.shape.assign(shape.begin(), shape.end());
  t.n_bytes = n_blocks * info.block_bytes;
  t.offset = 0;
  tensors_.push_back(std::move(t));
  return Status();
}

Status Writer::layout(std::vector<PendingTensor>& tensors, uint32_t& alignment) const {
  alignment = this->alignment();
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    const auto it = index_.find("general.alignment");
    uint32_t type = 0;
    std::memcpy(&type, entries_[it->second].second.data(), 4);
    if (type != static_cast<uint32_t>(ValueType::kUint32)) {
      return invalid_argument("general.alignment must be a uint32, not a ",
                              value_type_name(static_cast<ValueType>(type)));
    }
    return invalid_argument("general.alignment ", alignment, " is not a power of two");
  }
  for (const auto& [key, encoded] : entries_) {
    if (key.empty()) return invalid_argument("a metadata key is empty");
  }
  tensors = tensors_;
  uint64_t offset = 0;
  for (auto& t : tensors) {
    t.offset = offset;
    constexpr uint64_t kLimit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    const uint64_t padded = round_up(t.n_bytes, alignment);
    if (padded < t.n_bytes || padded > kLimit || offset > kLimit - padded) {
      return invalid_argument("the tensors hold more than 2^63 bytes of data");
    }
    offset += padded;
  }
  return Status();
}

std::vector<uint8_t> Writer::header_bytes(const std::vector<PendingTensor>& tensors,
                                          uint32_t alignment) const {
  std::vector<uint8_t> out;
  append_raw<uint32_t>(out, kMagic);
  append_raw<uint32_t>(out, 3);
  append_raw<uint64_t>(out, tensors.size());
  append_raw<uint64_t>(out, entries_.size());
  for (const auto& [key, encoded] : entries_) {
    append_string(out, key);
    append_bytes(out, encoded.data(), encoded.size());
  }
  for (const auto& t : tensors) {
    append_string(out, t.name);
    append_raw<uint32_t>(out, static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) append_raw<uint64_t>(out, static_cast<uint64_t>(d));
    append_raw<uint32_t>(out, static_cast<uint32_t>(t.type));
    append_raw<uint64_t>(out, t.offset);
  }
  out.resize(round_up(out.size(), alignment), 0);
  return out;
}

Expected<TensorDataSink> Writer::begin(const std::string& path) const {
  std::vector<PendingTensor> tensors;
  uint32_t alignment = 0;
  LATHE_RETURN_IF_ERROR(layout(tensors, alignment));
  std::string temp_path = path + ".partial";
  std::FILE* file = std::fopen(temp_path.c_str(), "wb");
  if (file == nullptr) return io_error("cannot create ", temp_path, ": ", std::strerror(errno));
  const std::vector<uint8_t> header = header_bytes(tensors, alignment);
  if (std::fwrite(header.data(), 1, header.size(), file) != header.size()) {
    const int saved = errno;
    std::fclose(file);
    std::remove(temp_path.c_str());
    return io_error("cannot write ", temp_path, ": ", std::strerror(saved));
  }
  TensorDataSink sink(std::move(tensors), alignment, file, path, std::move(temp_path));
  // Leading zero-byte tensors are complete before any data arrives.
  LATHE_RETURN_IF_ERROR(sink.write({}));
  return sink;
}

Status Writer::check_data(std::string_view what,
                          std::span<const std::span<const uint8_t>> data) const {
  if (data.size() != tensors_.size()) {
    return invalid_argument(what, ": ", data.size(), " data buffers for ", tensors_.size(),
                            " tensors");
  }
  for (size_t k = 0; k < data.size(); ++k) {
    if (data[k].size() != tensors_[k].n_bytes) {
      return invalid_argument(what, ": tensor '", tensors_[k].name, "' needs ", tensors_[k].n_bytes,
                              " bytes, got ", data[k].size());
    }
  }
  return Status();
}

Status Writer::write_file(const std::string& path,
                          std::span<const std::span<const uint8_t>> data) const {
  LATHE_RETURN_IF_ERROR(check_data("write_file", data));
  LATHE_ASSIGN_OR_RETURN(TensorDataSink sink, begin(path));
  for (const auto& bytes : data) LATHE_RETURN_IF_ERROR(sink.write(bytes));
  return sink.finish();
}

Expected<std::vector<uint8_t>> Writer::write_bytes(
    std::span<const std::span<const uint8_t>> data) const {
  LATHE_RETURN_IF_ERROR(check_data("write_bytes", data));
  std::vector<PendingTensor> tensors;
  uint32_t alignment = 0;
  LATHE_RETURN_IF_ERROR(layout(tensors, alignment));
  std::vector<uint8_t> out = header_bytes(tensors, alignment);
  for (size_t k = 0; k < data.size(); ++k) {
    append_bytes(out, data[k].data(), data[k].size());
    out.resize(round_up(out.size(), alignment), 0);
  }
  return out;
}

// ---- TensorDataSink --------------------------------------------------------------------------

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
  // An unfinished file is incomplete; leaving it would let a later run load garbage.
  if (file_ != nullptr) (void)fail(Status());
}

Status TensorDataSink::fail(Status status) {
  if (file_ != nullptr) {
    std::fclose(file_);
    file_ = nullptr;
    std::remove(temp_path_.c_str());
  }
  return status;
}

Status TensorDataSink::pad_to_alignment() {
  static const uint8_t kZeros[64] = {};
  uint64_t padding = (alignment_ - written_in_tensor_ % alignment_) % alignment_;
  while (padding > 0) {
    const size_t n = padding > sizeof(kZeros) ? sizeof(kZeros) : padding;
    if (std::fwrite(kZeros, 1, n, file_) != n) {
      return fail(io_error("cannot write ", temp_path_, ": ", std::strerror(errno)));
    }
    padding -= n;
  }
  return Status();
}

Status TensorDataSink::write(std::span<const uint8_t> bytes) {
  if (finished_) return internal_error("write to a finished GGUF sink");
  if (file_ == nullptr) return invalid_argument("write to a GGUF sink that failed earlier");
  for (;;) {
    // Zero-byte tensors are complete without any data.
    while (tensor_ < tensors_.size() && tensors_[tensor_].n_bytes == 0) ++tensor_;
    if (bytes.empty()) break;
    if (tensor_ >= tensors_.size()) {
      return fail(invalid_argument("more tensor data than the ", tensors_.size(),
                                   " declared tensors hold (", bytes.size(), " bytes too many)"));
    }
    const auto& t = tensors_[tensor_];
    const uint64_t room = t.n_bytes - written_in_tensor_;
    const size_t n = bytes.size() < room ? bytes.size() : static_cast<size_t>(room);
    if (std::fwrite(bytes.data(), 1, n, file_) != n) {
      return fail(io_error("cannot write ", temp_path_, ": ", std::strerror(errno)));
    }
    written_in_tensor_ += n;
    bytes = bytes.subspan(n);
    if (written_in_tensor_ == t.n_bytes) {
      LATHE_RETURN_IF_ERROR(pad_to_alignment());
      ++tensor_;
      written_in_tensor_ = 0;
    }
  }
  return Status();
}

Status TensorDataSink::finish() {
  if (finished_) return internal_error("GGUF sink finished twice");
  if (file_ == nullptr) return invalid_argument("finish of a GGUF sink that failed earlier");
  if (tensor_ != tensors_.size()) {
    const auto& t = tensors_[tensor_];
    return fail(invalid_argument(
        "tensor '", t.name, "' is missing ", t.n_bytes - written_in_tensor_, " of its ", t.n_bytes,
        " bytes",
        tensor_ + 1 < tensors_.size()
            ? cat(" (and ", tensors_.size() - tensor_ - 1, " more tensors have no data)")
            : std::string()));
  }
  const bool flushed = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
  const int saved = errno;
  const int close_result = std::fclose(file_);
  file_ = nullptr;
  if (!flushed || close_result != 0) {
    std::remove(temp_path_.c_str());
    return io_error("cannot write ", temp_path_, ": ", std::strerror(flushed ? errno : saved));
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(temp_path_.c_str());
    return io_error("cannot rename ", temp_path_, " to ", path_, ": ", std::strerror(rename_errno));
  }
  finished_ = true;
  return Status();
}

}  // namespace lathe::gguf
