#include <algorithm>
#include <cmath>
#include <limits>

#include "gguf/gguf.h"

namespace lathe::gguf {

namespace {

constexpr int kMaxArrayNesting = 8;

std::string hex(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[value & 0xf]);
    value >>= 4;
  } while (value != 0);
  return "0x" + out;
}

bool valid_value_type(uint32_t raw) { return raw <= static_cast<uint32_t>(ValueType::kFloat64); }

}  // namespace

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::kUint8: return "uint8";
    case ValueType::kInt8: return "int8";
    case ValueType::kUint16: return "uint16";
    case ValueType::kInt16: return "int16";
    case ValueType::kUint32: return "uint32";
    case ValueType::kInt32: return "int32";
    case ValueType::kFloat32: return "float32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "uint64";
    case ValueType::kInt64: return "int64";
    case ValueType::kFloat64: return "float64";
  }
  return "unknown";
}

size_t value_type_size(ValueType type) {
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool: return 1;
    case ValueType::kUint16:
    case ValueType::kInt16: return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32: return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64: return 8;
    case ValueType::kString:
    case ValueType::kArray: return 0;
  }
  return 0;
}

bool is_integer_type(ValueType type) {
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kUint16:
    case ValueType::kInt16:
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kUint64:
    case ValueType::kInt64: return true;
    default: return false;
  }
}

namespace {

// Decodes one little-endian scalar of `type` into the union's representation.
void decode_scalar(ValueType type, const uint8_t* p, uint64_t& u, int64_t& i, double& f) {
  u = 0;
  i = 0;
  f = 0;
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kBool: u = p[0]; i = static_cast<int64_t>(u); f = static_cast<double>(u); break;
    case ValueType::kInt8: { int8_t v; std::memcpy(&v, p, 1); i = v; f = v; u = static_cast<uint64_t>(i); break; }
    case ValueType::kUint16: { uint16_t v; std::memcpy(&v, p, 2); u = v; i = v; f = v; break; }
    case ValueType::kInt16: { int16_t v; std::memcpy(&v, p, 2); i = v; f = v; u = static_cast<uint64_t>(i); break; }
    case ValueType::kUint32: { uint32_t v; std::memcpy(&v, p, 4); u = v; i = v; f = v; break; }
    case ValueType::kInt32: { int32_t v; std::memcpy(&v, p, 4); i = v; f = v; u = static_cast<uint64_t>(i); break; }
    case ValueType::kUint64: { uint64_t v; std::memcpy(&v, p, 8); u = v; i = static_cast<int64_t>(v); f = static_cast<double>(v); break; }
    case ValueType::kInt64: { int64_t v; std::memcpy(&v, p, 8); i = v; f = static_cast<double>(v); u = static_cast<uint64_t>(v); break; }
    case ValueType::kFloat32: { float v; std::memcpy(&v, p, 4); f = v; break; }
    case ValueType::kFloat64: { double v; std::memcpy(&v, p, 8); f = v; break; }
    default: break;
  }
}

}  // namespace

double Value::numeric_at(uint64_t index) const {
  const size_t size = value_type_size(array_type_);
  if (size == 0 || index >= array_size_) return 0;
  uint64_t u;
  int64_t i;
  double f;
  decode_scalar(array_type_, array_bytes_.data() + index * size, u, i, f);
  return f;
}

int64_t Value::integer_at(uint64_t index) const {
  const size_t size = value_type_size(array_type_);
  if (size == 0 || index >= array_size_) return 0;
  uint64_t u;
  int64_t i;
  double f;
  decode_scalar(array_type_, array_bytes_.data() + index * size, u, i, f);
  if (array_type_ == ValueType::kFloat32 || array_type_ == ValueType::kFloat64) {
    return static_cast<int64_t>(f);
  }
  return i;
}

std::string Value::type_description() const {
  if (type_ != ValueType::kArray) return std::string(value_type_name(type_));
  if (array_type_ == ValueType::kArray) {
    std::string inner = values_.empty() ? "array" : values_.front().type_description();
    return "array[" + inner + "]";
  }
  return cat("array[", value_type_name(array_type_), "]");
}

namespace {

std::string quote(std::string_view text, size_t max_chars) {
  std::string out = "\"";
  size_t shown = 0;
  for (char c : text) {
    if (shown++ >= max_chars) {
      out += "...";
      break;
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += cat("\\x", hex(static_cast<unsigned char>(c)).substr(2));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string format_number(ValueType type, uint64_t u, int64_t i, double f) {
  switch (type) {
    case ValueType::kBool: return u ? "true" : "false";
    case ValueType::kUint8:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64: return std::to_string(u);
    case ValueType::kInt8:
    case ValueType::kInt16:
    case ValueType::kInt32:
    case ValueType::kInt64: return std::to_string(i);
    case ValueType::kFloat32:
    case ValueType::kFloat64: {
      std::ostringstream out;
      out.precision(type == ValueType::kFloat32 ? 7 : 15);
      out << f;
      return out.str();
    }
    default: return "?";
  }
}

}  // namespace

std::string Value::to_display_string(size_t max_items) const {
  switch (type_) {
    case ValueType::kString: return quote(string_, 200);
    case ValueType::kArray: {
      std::string out = "[";
      const uint64_t shown = std::min<uint64_t>(array_size_, max_items);
      for (uint64_t k = 0; k < shown; ++k) {
        if (k) out += ", ";
        if (array_type_ == ValueType::kString) {
          out += quote(strings_[k], 40);
        } else if (array_type_ == ValueType::kArray) {
          out += values_[k].to_display_string(max_items);
        } else {
          uint64_t u;
          int64_t i;
          double f;
          decode_scalar(array_type_, array_bytes_.data() + k * value_type_size(array_type_), u, i, f);
          out += format_number(array_type_, u, i, f);
        }
      }
      if (shown < array_size_) out += cat(", ... (", array_size_, " items)");
      out += "]";
      return out;
    }
    default: return format_number(type_, u_, i_, f_);
  }
}

std::string TensorInfo::shape_string() const {
  std::string out = "[";
  for (size_t k = 0; k < shape.size(); ++k) {
    if (k) out += ", ";
    out += std::to_string(shape[k]);
  }
  return out + "]";
}

// Reads the header, metadata and tensor infos from a byte range, checking each step.
class Parser {
 public:
  explicit Parser(const MappedFile& file) : base_(file.data()), size_(file.size()) {}

  Status parse(File& out);

 private:
  uint64_t remaining() const { return size_ - pos_; }

  Status need(uint64_t bytes, std::string_view what) const {
    if (bytes > remaining()) {
      return format_error("truncated file: ", what, " needs ", bytes, " bytes at offset ",
                          hex(pos_), " but only ", remaining(), " remain");
    }
    return Status();
  }

  template <typename T>
  Expected<T> read(std::string_view what) {
    LATHE_RETURN_IF_ERROR(need(sizeof(T), what));
    T value;
    std::memcpy(&value, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  Expected<std::string_view> read_string(std::string_view what) {
    const uint64_t at = pos_;
    LATHE_ASSIGN_OR_RETURN(uint64_t length, read<uint64_t>(what));
    if (length > remaining()) {
      return format_error(what, " at offset ", hex(at), " claims a length of ", length,
                          " bytes but only ", remaining(), " remain in the file");
    }
    std::string_view text(reinterpret_cast<const char*>(base_ + pos_), length);
    pos_ += length;
    return text;
  }

  Status read_value(Value& value, ValueType type, int depth, const std::string& what);

  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

Status Parser::read_value(Value& value, ValueType type, int depth, const std::string& what) {
  value.type_ = type;
  if (type == ValueType::kString) {
    LATHE_ASSIGN_OR_RETURN(value.string_, read_string(what));
    return Status();
  }
  if (type != ValueType::kArray) {
    const size_t size = value_type_size(type);
    LATHE_RETURN_IF_ERROR(need(size, what));
    decode_scalar(type, base_ + pos_, value.u_, value.i_, value.f_);
    if (type == ValueType::kBool && value.u_ > 1) {
      return format_error(what, " at offset ", hex(pos_), ": bool value ", value.u_,
                          " is neither 0 nor 1");
    }
    pos_ += size;
    return Status();
  }

  if (depth >= kMaxArrayNesting) {
    return format_error(what, " at offset ", hex(pos_), ": arrays nested more than ",
                        kMaxArrayNesting, " deep");
  }
  const uint64_t at = pos_;
  LATHE_ASSIGN_OR_RETURN(uint32_t raw_type, read<uint32_t>(what + " (array element type)"));
  if (!valid_value_type(raw_type)) {
    return format_error(what, " at offset ", hex(at), ": unknown array element type ", raw_type);
  }
  const auto element_type = static_cast<ValueType>(raw_type);
  LATHE_ASSIGN_OR_RETURN(uint64_t count, read<uint64_t>(what + " (array length)"));
  value.array_type_ = element_type;
  value.array_size_ = count;

  // The smallest encoding of one element bounds how many can fit in what is left, which keeps a
  // hostile count from turning into a huge allocation.
  const uint64_t min_element_bytes = element_type == ValueType::kString  ? 8
                                     : element_type == ValueType::kArray ? 12
                                                                         : value_type_size(element_type);
  if (count > remaining() / min_element_bytes) {
    return format_error(what, " at offset ", hex(at), ": array of ", count, " ",
                        value_type_name(element_type), " elements cannot fit in the ", remaining(),
                        " bytes left in the file");
  }

  if (element_type == ValueType::kString) {
    value.strings_.reserve(count);
    for (uint64_t k = 0; k < count; ++k) {
      LATHE_ASSIGN_OR_RETURN(std::string_view s, read_string(what));
      value.strings_.push_back(s);
    }
  } else if (element_type == ValueType::kArray) {
    value.values_.resize(count);
    for (uint64_t k = 0; k < count; ++k) {
      LATHE_RETURN_IF_ERROR(
          read_value(value.values_[k], ValueType::kArray, depth + 1, cat(what, "[", k, "]")));
    }
  } else {
    const uint64_t bytes = count * min_element_bytes;
    value.array_bytes_ = std::span<const uint8_t>(base_ + pos_, bytes);
    if (element_type == ValueType::kBool) {
      for (uint64_t k = 0; k < count; ++k) {
        if (base_[pos_ + k] > 1) {
          return format_error(what, " at offset ", hex(pos_ + k), ": bool value ",
                              int(base_[pos_ + k]), " is neither 0 nor 1");
        }
      }
    }
    pos_ += bytes;
  }
  return Status();
}

Status Parser::parse(File& out) {
  LATHE_ASSIGN_OR_RETURN(uint32_t magic, read<uint32_t>("magic"));
  if (magic != kMagic) {
    return format_error("not a GGUF file: the first 4 bytes are ", hex(magic),
                        ", expected \"GGUF\"");
  }
  LATHE_ASSIGN_OR_RETURN(uint32_t version, read<uint32_t>("version"));
  if (version == 1) {
    return unsupported("GGUF version 1 is not supported (its counts are 32-bit); re-convert the "
                       "model with a current converter");
  }
  if (version != 2 && version != 3) {
    if ((version & 0xffff) == 0 && version != 0) {
      return unsupported("this GGUF file is big-endian (version reads as ", hex(version),
                         "); lathe reads little-endian files only");
    }
    return unsupported("GGUF version ", version, " is not supported (lathe reads 2 and 3)");
  }
  out.version_ = version;

  LATHE_ASSIGN_OR_RETURN(uint64_t n_tensors, read<uint64_t>("tensor count"));
  LATHE_ASSIGN_OR_RETURN(uint64_t n_kv, read<uint64_t>("metadata count"));
  // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes, a tensor info at least
  // 8 + 4 + 4 + 8.
  if (n_kv > remaining() / 13) {
    return format_error("header claims ", n_kv, " metadata entries, more than the ",
                        remaining(), " bytes of the file can hold");
  }
  if (n_tensors > remaining() / 24) {
    return format_error("header claims ", n_tensors, " tensors, more than the ", remaining(),
                        " bytes of the file can hold");
  }

  out.metadata_.resize(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    KeyValue& kv = out.metadata_[k];
    const uint64_t at = pos_;
    LATHE_ASSIGN_OR_RETURN(std::string_view key, read_string(cat("metadata key #", k)));
    kv.key = std::string(key);
    const std::string what = cat("metadata '", kv.key, "'");
    LATHE_ASSIGN_OR_RETURN(uint32_t raw_type, read<uint32_t>(what + " (type)"));
    if (!valid_value_type(raw_type)) {
      return format_error(what, " at offset ", hex(at), ": unknown value type ", raw_type);
    }
    LATHE_RETURN_IF_ERROR(read_value(kv.value, static_cast<ValueType>(raw_type), 0, what));
    if (!out.metadata_index_.emplace(kv.key, k).second) {
      return format_error("duplicate metadata key '", kv.key, "' at offset ", hex(at));
    }
  }

  if (const Value* alignment = out.find("general.alignment")) {
    if (alignment->type() != ValueType::kUint32) {
      return format_error("key general.alignment: expected uint32, found ",
                          alignment->type_description());
    }
    const uint64_t a = alignment->as_u64();
    if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 24)) {
      return format_error("general.alignment is ", a, ", which is not a power of two up to 2^24");
    }
    out.alignment_ = static_cast<uint32_t>(a);
  }

  out.tensors_.resize(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    TensorInfo& t = out.tensors_[k];
    const uint64_t at = pos_;
    LATHE_ASSIGN_OR_RETURN(std::string_view name, read_string(cat("name of tensor #", k)));
    if (name.empty() || name.size() > 4096) {
      return format_error("tensor #", k, " at offset ", hex(at), " has a name of ", name.size(),
                          " bytes");
    }
    t.name = std::string(name);
    const std::string what = cat("tensor '", t.name, "'");
    LATHE_ASSIGN_OR_RETURN(uint32_t n_dims, read<uint32_t>(what + " (dimension count)"));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return format_error(what, " at offset ", hex(at), " has ", n_dims,
                          " dimensions (expected 1 to ", kMaxDims, ")");
    }
    t.shape.resize(n_dims);
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      LATHE_ASSIGN_OR_RETURN(uint64_t dim, read<uint64_t>(what + " (shape)"));
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (dim != 0 && n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / dim)) {
        return format_error(what, " at offset ", hex(at), ": dimension ", d, " = ", dim,
                            " makes the element count overflow");
      }
      t.shape[d] = static_cast<int64_t>(dim);
      n_elements *= dim;
    }
    t.n_elements = n_elements;
    LATHE_ASSIGN_OR_RETURN(uint32_t raw_type, read<uint32_t>(what + " (type)"));
    const auto type_info = tensor_type_info(raw_type);
    if (!type_info) {
      return format_error(what, " at offset ", hex(at), " has unknown tensor type id ", raw_type);
    }
    t.type = type_info->type;
    if (t.shape[0] % type_info->block_elems != 0) {
      return format_error(what, ": rows of ", t.shape[0], " elements are not a whole number of ",
                          type_info->name, " blocks (", type_info->block_elems, " elements)");
    }
    const uint64_t n_blocks = n_elements / type_info->block_elems;
    if (n_blocks > std::numeric_limits<uint64_t>::max() / type_info->block_bytes) {
      return format_error(what, ": size in bytes overflows");
    }
    t.n_bytes = n_blocks * type_info->block_bytes;
    LATHE_ASSIGN_OR_RETURN(t.offset, read<uint64_t>(what + " (data offset)"));
    if (!out.tensor_index_.emplace(t.name, k).second) {
      return format_error("duplicate tensor name '", t.name, "' (tensor #", k, ")");
    }
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t align = out.alignment_;
  const uint64_t data_offset = (pos_ + align - 1) / align * align;
  if (n_tensors > 0 && data_offset > size_) {
    return format_error("truncated file: the tensor data section would start at ",
                        hex(data_offset), " but the file has ", size_, " bytes");
  }
  out.data_offset_ = data_offset;
  const uint64_t data_size = n_tensors > 0 ? size_ - data_offset : 0;

  std::vector<size_t> order(n_tensors);
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  for (auto& t : out.tensors_) {
    if (t.offset % align != 0) {
      return format_error("tensor '", t.name, "' has data offset ", t.offset,
                          ", not a multiple of the alignment ", align);
    }
    if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
      return format_error("tensor '", t.name, "' (", t.shape_string(), " ",
                          tensor_type_name(t.type), ", ", t.n_bytes, " bytes at data offset ",
                          t.offset, ") extends past the end of the file: truncated file? The data "
                          "section holds ", data_size, " bytes");
    }
    t.data = base_ + data_offset + t.offset;
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return out.tensors_[a].offset < out.tensors_[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = out.tensors_[order[k - 1]];
    const TensorInfo& next = out.tensors_[order[k]];
    if (prev.offset + prev.n_bytes > next.offset) {
      return format_error("tensors '", prev.name, "' and '", next.name, "' overlap in the file");
    }
  }
  return Status();
}

Expected<File> File::parse(MappedFile bytes) {
  File file;
  file.file_ = std::make_unique<MappedFile>(std::move(bytes));
  Parser parser(*file.file_);
  Status status = parser.parse(file);
  if (!status.ok()) return status.with_context(file.file_->path());
  return file;
}

Expected<File> File::open(const std::string& path, FileLoadMode mode) {
  LATHE_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path, mode));
  return parse(std::move(mapped));
}

const Value* File::find(std::string_view key) const {
  auto it = metadata_index_.find(std::string(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].value;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t File::tensor_data_bytes() const {
  uint64_t total = 0;
  for (const auto& t : tensors_) total += t.n_bytes;
  return total;
}

namespace {

Status type_mismatch(std::string_view key, std::string_view expected, const Value& found) {
  return invalid_argument("key ", key, ": expected ", expected, ", found ",
                          found.type_description());
}

Status missing_key(std::string_view key) {
  return invalid_argument("key ", key, " is missing from the file's metadata");
}

}  // namespace

Expected<std::string_view> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (v->type() != ValueType::kString) return type_mismatch(key, "string", *v);
  return v->as_string();
}

Expected<uint32_t> File::get_u32(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (v->type() != ValueType::kUint32) return type_mismatch(key, "uint32", *v);
  return static_cast<uint32_t>(v->as_u64());
}

Expected<uint64_t> File::get_u64(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (v->type() != ValueType::kUint64) return type_mismatch(key, "uint64", *v);
  return v->as_u64();
}

Expected<int32_t> File::get_i32(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (v->type() != ValueType::kInt32) return type_mismatch(key, "int32", *v);
  return static_cast<int32_t>(v->as_i64());
}

Expected<float> File::get_f32(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (v->type() != ValueType::kFloat32) return type_mismatch(key, "float32", *v);
  return static_cast<float>(v->as_f64());
}

Expected<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (v->type() != ValueType::kBool) return type_mismatch(key, "bool", *v);
  return v->as_bool();
}

Expected<int64_t> File::get_integer(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (!is_integer_type(v->type())) return type_mismatch(key, "an integer", *v);
  if (v->type() == ValueType::kUint64 &&
      v->as_u64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return invalid_argument("key ", key, ": value ", v->as_u64(), " is too large");
  }
  return v->as_i64();
}

Expected<double> File::get_number(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (!is_integer_type(v->type()) && v->type() != ValueType::kFloat32 &&
      v->type() != ValueType::kFloat64) {
    return type_mismatch(key, "a number", *v);
  }
  if (v->type() == ValueType::kFloat32 || v->type() == ValueType::kFloat64) return v->as_f64();
  if (v->type() == ValueType::kUint64) return static_cast<double>(v->as_u64());
  return static_cast<double>(v->as_i64());
}

Expected<const Value*> File::get_array(std::string_view key, ValueType element_type) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (v->type() != ValueType::kArray || v->array_type() != element_type) {
    return type_mismatch(key, cat("array[", value_type_name(element_type), "]"), *v);
  }
  return v;
}

Expected<std::vector<float>> File::get_f32_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (v->type() != ValueType::kArray ||
      (v->array_type() != ValueType::kFloat32 && v->array_type() != ValueType::kFloat64)) {
    return type_mismatch(key, "array[float32]", *v);
  }
  std::vector<float> out(v->array_size());
  for (uint64_t k = 0; k < out.size(); ++k) out[k] = static_cast<float>(v->numeric_at(k));
  return out;
}

Expected<std::vector<int64_t>> File::get_integer_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (v->type() != ValueType::kArray || !is_integer_type(v->array_type())) {
    return type_mismatch(key, "an array of integers", *v);
  }
  std::vector<int64_t> out(v->array_size());
  for (uint64_t k = 0; k < out.size(); ++k) out[k] = v->integer_at(k);
  return out;
}

Expected<std::vector<std::string_view>> File::get_string_array(std::string_view key) const {
  LATHE_ASSIGN_OR_RETURN(const Value* v, get_array(key, ValueType::kString));
  return v->array_strings();
}

Expected<std::string_view> File::get_string_or(std::string_view key,
                                               std::string_view fallback) const {
  if (!has(key)) return fallback;
  return get_string(key);
}

Expected<int64_t> File::get_integer_or(std::string_view key, int64_t fallback) const {
  if (!has(key)) return fallback;
  return get_integer(key);
}

Expected<double> File::get_number_or(std::string_view key, double fallback) const {
  if (!has(key)) return fallback;
  return get_number(key);
}

Expected<bool> File::get_bool_or(std::string_view key, bool fallback) const {
  if (!has(key)) return fallback;
  return get_bool(key);
}

}  // namespace lathe::gguf
