#include <algorithm>
#include <limits>
#include <sstream>

#include "gguf/gguf.h"

namespace lathe::gguf {

namespace {

constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

std::string hex(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[value & 0xf]);
    value >>= 4;
  } while (value != 0);
  return "0x" + out;
}

bool valid_value_type(uint32_t raw) {
  return raw <= static_cast<uint32_t>(ValueType::kFloat64);
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Decodes one little-endian scalar of `type` into the three representations Value keeps.
void decode_scalar(ValueType type, const uint8_t* p, uint64_t& u, int64_t& i, double& f) {
  u = 0;
  i = 0;
  f = 0;
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kBool:
      u = p[0];
      break;
    case ValueType::kUint16:
      u = load<uint16_t>(p);
      break;
    case ValueType::kUint32:
      u = load<uint32_t>(p);
      break;
    case ValueType::kUint64:
      u = load<uint64_t>(p);
      break;
    case ValueType::kInt8:
      i = load<int8_t>(p);
      break;
    case ValueType::kInt16:
      i = load<int16_t>(p);
      break;
    case ValueType::kInt32:
      i = load<int32_t>(p);
      break;
    case ValueType::kInt64:
      i = load<int64_t>(p);
      break;
    case ValueType::kFloat32:
      f = load<float>(p);
      return;
    case ValueType::kFloat64:
      f = load<double>(p);
      return;
    case ValueType::kString:
    case ValueType::kArray:
      return;
  }
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kBool:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64:
      i = static_cast<int64_t>(u);  // wraps above INT64_MAX; get_integer checks
      f = static_cast<double>(u);
      break;
    default:
      u = static_cast<uint64_t>(i);
      f = static_cast<double>(i);
  }
}

std::string format_number(ValueType type, uint64_t u, int64_t i, double f) {
  switch (type) {
    case ValueType::kBool:
      return u ? "true" : "false";
    case ValueType::kUint8:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64:
      return std::to_string(u);
    case ValueType::kInt8:
    case ValueType::kInt16:
    case ValueType::kInt32:
    case ValueType::kInt64:
      return std::to_string(i);
    case ValueType::kFloat32:
    case ValueType::kFloat64: {
      std::ostringstream out;
      out.precision(type == ValueType::kFloat32 ? 7 : 15);
      out << f;
      return out.str();
    }
    default:
      return "?";
  }
}

std::string quote(std::string_view text, size_t max_chars) {
  return "\"" + printable(text, max_chars) + "\"";
}

}  // namespace

std::string printable(std::string_view text, size_t max_chars) {
  std::string out;
  size_t shown = 0;
  for (char c : text) {
    if (shown++ >= max_chars) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          static constexpr char kDigits[] = "0123456789abcdef";
          out += "\\x";
          out += kDigits[byte >> 4];
          out += kDigits[byte & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::kUint8:
      return "uint8";
    case ValueType::kInt8:
      return "int8";
    case ValueType::kUint16:
      return "uint16";
    case ValueType::kInt16:
      return "int16";
    case ValueType::kUint32:
      return "uint32";
    case ValueType::kInt32:
      return "int32";
    case ValueType::kFloat32:
      return "float32";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "string";
    case ValueType::kArray:
      return "array";
    case ValueType::kUint64:
      return "uint64";
    case ValueType::kInt64:
      return "int64";
    case ValueType::kFloat64:
      return "float64";
  }
  return "unknown";
}

size_t value_type_size(ValueType type) {
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool:
      return 1;
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
      return 8;
    case ValueType::kString:
    case ValueType::kArray:
      return 0;
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
    case ValueType::kInt64:
      return true;
    default:
      return false;
  }
}

bool is_float_type(ValueType type) {
  return type == ValueType::kFloat32 || type == ValueType::kFloat64;
}

// ---- Value ----------------------------------------------------------------------------------

void Value::set_scalar(const uint8_t* raw) {
  decode_scalar(type_, raw, u_, i_, f_);
}

Value Value::of_string(std::string_view text) {
  Value v;
  v.type_ = ValueType::kString;
  v.string_ = text;
  return v;
}

Value Value::numeric_array(ValueType element_type, uint64_t count, std::span<const uint8_t> bytes) {
  Value v;
  v.type_ = ValueType::kArray;
  v.array_type_ = element_type;
  v.array_size_ = count;
  v.array_bytes_ = bytes;
  return v;
}

Value Value::of_strings(std::vector<std::string_view> values) {
  Value v;
  v.type_ = ValueType::kArray;
  v.array_type_ = ValueType::kString;
  v.array_size_ = values.size();
  v.strings_ = std::move(values);
  return v;
}

Value Value::of_arrays(std::vector<Value> arrays) {
  Value v;
  v.type_ = ValueType::kArray;
  v.array_type_ = ValueType::kArray;
  v.array_size_ = arrays.size();
  v.values_ = std::move(arrays);
  return v;
}

double Value::numeric_at(uint64_t index) const {
  const size_t size = value_type_size(array_type_);
  if (type_ != ValueType::kArray || size == 0 || index >= array_bytes_.size() / size) return 0;
  uint64_t u;
  int64_t i;
  double f;
  decode_scalar(array_type_, array_bytes_.data() + index * size, u, i, f);
  return f;
}

int64_t Value::integer_at(uint64_t index) const {
  const size_t size = value_type_size(array_type_);
  if (type_ != ValueType::kArray || size == 0 || index >= array_bytes_.size() / size) return 0;
  uint64_t u;
  int64_t i;
  double f;
  decode_scalar(array_type_, array_bytes_.data() + index * size, u, i, f);
  // Casting a float outside int64's range is undefined behaviour, so clamp first.
  if (is_float_type(array_type_)) {
    if (!(f > -9.2e18 && f < 9.2e18)) return f > 0 ? std::numeric_limits<int64_t>::max() : 0;
    return static_cast<int64_t>(f);
  }
  return i;
}

uint64_t Value::unsigned_at(uint64_t index) const {
  const size_t size = value_type_size(array_type_);
  if (type_ != ValueType::kArray || size == 0 || index >= array_bytes_.size() / size) return 0;
  uint64_t u;
  int64_t i;
  double f;
  decode_scalar(array_type_, array_bytes_.data() + index * size, u, i, f);
  return u;
}

std::string Value::type_description() const {
  if (type_ != ValueType::kArray) return std::string(value_type_name(type_));
  if (array_type_ == ValueType::kArray) {
    // Inner arrays may differ in element type; the first one stands for all.
    std::string inner = values_.empty() ? "array" : values_.front().type_description();
    return "array[" + inner + "]";
  }
  return cat("array[", value_type_name(array_type_), "]");
}

std::string Value::to_display_string(size_t max_items) const {
  switch (type_) {
    case ValueType::kString:
      return quote(string_, 200);
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
          decode_scalar(array_type_, array_bytes_.data() + k * value_type_size(array_type_), u, i,
                        f);
          out += format_number(array_type_, u, i, f);
        }
      }
      if (shown < array_size_) out += cat(shown ? ", " : "", "... (", array_size_, " items)");
      out += "]";
      return out;
    }
    default:
      return format_number(type_, u_, i_, f_);
  }
}

// ---- TensorInfo ------------------------------------------------------------------------------

uint64_t TensorInfo::row_bytes() const {
  const auto& info = tensor_type_info(type);
  return static_cast<uint64_t>(dim(0)) / info.block_elems * info.block_bytes;
}

std::string TensorInfo::shape_string() const {
  std::string out = "[";
  for (size_t k = 0; k < shape.size(); ++k) {
    if (k) out += ", ";
    out += std::to_string(shape[k]);
  }
  return out + "]";
}

// ---- Parser ----------------------------------------------------------------------------------

// Reads the header, metadata and tensor infos from a byte range, checking each step. It keeps
// track of where it is (which key or tensor, which field), but turns that into text only when
// it reports an error, so a clean parse builds no strings for messages.
class Parser {
 public:
  explicit Parser(std::span<const uint8_t> bytes) : base_(bytes.data()), size_(bytes.size()) {}

  Status parse(File& out);

 private:
  enum class Section { kHeader, kKey, kValue, kTensor };

  uint64_t remaining() const { return size_ - pos_; }

  std::string where() const {
    std::string out;
    switch (section_) {
      case Section::kHeader:
        out = "header";
        break;
      case Section::kKey:
        out = cat("metadata key #", item_);
        break;
      case Section::kValue:
        out = cat("metadata '", printable(item_name_), "'");
        break;
      case Section::kTensor:
        out = item_name_.empty() ? cat("tensor info #", item_)
                                 : cat("tensor '", printable(item_name_), "'");
        break;
    }
    for (uint64_t index : array_path_) out += cat("[", index, "]");
    if (field_ != nullptr) out += cat(" (", field_, ")");
    return out;
  }

  template <typename... Args>
  Status error_at(uint64_t offset, const Args&... args) const {
    return format_error(where(), " at offset ", hex(offset), ": ", args...);
  }

  Status need(uint64_t bytes) const {
    if (bytes > remaining()) {
      return format_error("truncated file: ", where(), " needs ", bytes, " bytes at offset ",
                          hex(pos_), " but only ", remaining(), " remain");
    }
    return Status();
  }

  template <typename T>
  Expected<T> read(const char* field) {
    field_ = field;
    LATHE_RETURN_IF_ERROR(need(sizeof(T)));
    T value = load<T>(base_ + pos_);
    pos_ += sizeof(T);
    return value;
  }

  Expected<std::string_view> read_string(const char* field) {
    const uint64_t at = pos_;
    LATHE_ASSIGN_OR_RETURN(uint64_t length, read<uint64_t>(field));
    if (length > remaining()) {
      return error_at(at, "a string of ", length, " bytes cannot fit in the ", remaining(),
                      " bytes left in the file");
    }
    std::string_view text(reinterpret_cast<const char*>(base_ + pos_), length);
    pos_ += length;
    return text;
  }

  Status parse_header(File& out, uint64_t& n_tensors, uint64_t& n_kv);
  Status parse_metadata(File& out, uint64_t n_kv);
  Status read_value(Value& value, ValueType type, int depth);
  Status parse_alignment(File& out);
  Status parse_tensor_infos(File& out, uint64_t n_tensors);
  Status place_tensors(File& out);

  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t nested_arrays_ = 0;

  Section section_ = Section::kHeader;
  uint64_t item_ = 0;
  std::string_view item_name_;
  std::vector<uint64_t> array_path_;
  const char* field_ = nullptr;
};

Status Parser::parse_header(File& out, uint64_t& n_tensors, uint64_t& n_kv) {
  LATHE_ASSIGN_OR_RETURN(uint32_t magic, read<uint32_t>("magic"));
  if (magic != kMagic) {
    std::string shown;
    for (int k = 0; k < 4; ++k) shown += cat(k ? " " : "", hex(base_[k]).substr(2));
    return format_error("not a GGUF file: it starts with the bytes ", shown,
                        ", not \"GGUF\" (47 47 55 46)");
  }
  LATHE_ASSIGN_OR_RETURN(uint32_t version, read<uint32_t>("version"));
  if (version == 1) {
    return unsupported(
        "GGUF version 1 is not supported (its counts are 32-bit); re-convert the "
        "model with a current converter");
  }
  if (version != 2 && version != 3) {
    // A file written on a big-endian machine has its version's bytes swapped: 3 reads as
    // 0x03000000. (llama.cpp uses the same test.)
    if ((version & 0xffff) == 0 && version != 0) {
      return unsupported("this GGUF file is big-endian (its version reads as ", hex(version),
                         "); lathe reads little-endian files only");
    }
    return unsupported("GGUF version ", version, " is not supported (lathe reads 2 and 3)");
  }
  out.version_ = version;

  LATHE_ASSIGN_OR_RETURN(n_tensors, read<uint64_t>("tensor count"));
  LATHE_ASSIGN_OR_RETURN(n_kv, read<uint64_t>("metadata count"));
  field_ = nullptr;
  // A key-value pair takes at least 8 (key length) + 1 (key) + 4 (type) + 1 bytes, and a tensor
  // info at least 8 + 1 + 4 + 4 + 8, so counts beyond what the file can hold are rejected before
  // anything is allocated for them.
  if (n_kv > remaining() / 14) {
    return format_error("header claims ", n_kv, " metadata entries, more than the ", remaining(),
                        " bytes of the file can hold");
  }
  if (n_tensors > remaining() / 25) {
    return format_error("header claims ", n_tensors, " tensors, more than the ", remaining(),
                        " bytes of the file can hold");
  }
  return Status();
}

Status Parser::read_value(Value& value, ValueType type, int depth) {
  value.type_ = type;
  if (type == ValueType::kString) {
    LATHE_ASSIGN_OR_RETURN(value.string_, read_string("string length"));
    return Status();
  }
  if (type != ValueType::kArray) {
    field_ = "value";
    LATHE_RETURN_IF_ERROR(need(value_type_size(type)));
    value.set_scalar(base_ + pos_);
    if (type == ValueType::kBool && value.u_ > 1) {
      return error_at(pos_, "bool value ", value.u_, " is neither 0 nor 1");
    }
    pos_ += value_type_size(type);
    return Status();
  }

  const uint64_t at = pos_;
  if (depth >= kMaxArrayNesting) {
    return error_at(at, "arrays nested more than ", kMaxArrayNesting, " deep");
  }
  LATHE_ASSIGN_OR_RETURN(uint32_t raw_type, read<uint32_t>("array element type"));
  if (!valid_value_type(raw_type)) {
    return error_at(at, "unknown array element type ", raw_type);
  }
  const auto element_type = static_cast<ValueType>(raw_type);
  LATHE_ASSIGN_OR_RETURN(uint64_t count, read<uint64_t>("array length"));
  field_ = nullptr;
  value.array_type_ = element_type;
  value.array_size_ = count;

  // The smallest encoding of one element bounds how many can fit in what is left, which keeps a
  // hostile count from turning into a huge allocation.
  const uint64_t min_element_bytes = element_type == ValueType::kString ? 8
                                     : element_type == ValueType::kArray
                                         ? 12
                                         : value_type_size(element_type);
  if (count > remaining() / min_element_bytes) {
    return error_at(at, "an array of ", count, " ", value_type_name(element_type),
                    " elements cannot fit in the ", remaining(), " bytes left in the file");
  }

  if (element_type == ValueType::kString) {
    value.strings_.reserve(count);
    array_path_.push_back(0);
    for (uint64_t k = 0; k < count; ++k) {
      array_path_.back() = k;
      LATHE_ASSIGN_OR_RETURN(std::string_view s, read_string("string length"));
      value.strings_.push_back(s);
    }
    array_path_.pop_back();
  } else if (element_type == ValueType::kArray) {
    if (count > kMaxNestedArrays - nested_arrays_) {
      return error_at(at, "more than ", kMaxNestedArrays,
                      " arrays nested inside arrays in one file");
    }
    nested_arrays_ += count;
    value.values_.resize(count);
    array_path_.push_back(0);
    for (uint64_t k = 0; k < count; ++k) {
      array_path_.back() = k;
      LATHE_RETURN_IF_ERROR(read_value(value.values_[k], ValueType::kArray, depth + 1));
    }
    array_path_.pop_back();
  } else {
    const uint64_t bytes = count * min_element_bytes;
    value.array_bytes_ = std::span<const uint8_t>(base_ + pos_, bytes);
    if (element_type == ValueType::kBool) {
      for (uint64_t k = 0; k < count; ++k) {
        if (base_[pos_ + k] > 1) {
          array_path_.push_back(k);
          return error_at(pos_ + k, "bool value ", int(base_[pos_ + k]), " is neither 0 nor 1");
        }
      }
    }
    pos_ += bytes;
  }
  return Status();
}

Status Parser::parse_metadata(File& out, uint64_t n_kv) {
  // Reserve only what a small file could need: the count was bounded by the file's size, but
  // growing as entries really parse keeps a lying header from costing memory up front.
  out.metadata_.reserve(std::min<uint64_t>(n_kv, 4096));
  for (uint64_t k = 0; k < n_kv; ++k) {
    section_ = Section::kKey;
    item_ = k;
    item_name_ = {};
    const uint64_t at = pos_;
    LATHE_ASSIGN_OR_RETURN(std::string_view key, read_string("key length"));
    field_ = nullptr;
    if (key.empty()) return error_at(at, "the key is empty");
    section_ = Section::kValue;
    item_name_ = key;
    LATHE_ASSIGN_OR_RETURN(uint32_t raw_type, read<uint32_t>("value type"));
    if (!valid_value_type(raw_type)) {
      return error_at(pos_ - 4, "unknown value type ", raw_type);
    }
    out.metadata_.push_back(KeyValue{std::string(key), Value()});
    LATHE_RETURN_IF_ERROR(
        read_value(out.metadata_.back().value, static_cast<ValueType>(raw_type), 0));
    field_ = nullptr;
    auto [it, inserted] = out.metadata_index_.emplace(out.metadata_.back().key, k);
    if (!inserted) {
      return error_at(at, "duplicate key (metadata #", it->second, " has the same key)");
    }
  }
  return Status();
}

Status Parser::parse_alignment(File& out) {
  const Value* alignment = out.find("general.alignment");
  if (alignment == nullptr) return Status();
  if (alignment->type() != ValueType::kUint32) {
    return format_error("key general.alignment: expected uint32, found ",
                        alignment->type_description());
  }
  const uint64_t a = alignment->as_u64();
  if (a == 0 || (a & (a - 1)) != 0) {
    return format_error("key general.alignment: ", a, " is not a power of two");
  }
  out.alignment_ = static_cast<uint32_t>(a);
  return Status();
}

Status Parser::parse_tensor_infos(File& out, uint64_t n_tensors) {
  out.tensors_.reserve(std::min<uint64_t>(n_tensors, 4096));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    section_ = Section::kTensor;
    item_ = k;
    item_name_ = {};
    const uint64_t at = pos_;
    LATHE_ASSIGN_OR_RETURN(std::string_view name, read_string("name length"));
    field_ = nullptr;
    if (name.empty() || name.size() > kMaxReadTensorName) {
      return error_at(at, "a tensor name of ", name.size(), " bytes (1 to ", kMaxReadTensorName,
                      " allowed)");
    }
    item_name_ = name;
    out.tensors_.emplace_back();
    TensorInfo& t = out.tensors_.back();
    t.name = std::string(name);

    LATHE_ASSIGN_OR_RETURN(uint32_t n_dims, read<uint32_t>("dimension count"));
    if (n_dims > kMaxDims) {
      return error_at(pos_ - 4, n_dims, " dimensions (at most ", kMaxDims, ")");
    }
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      LATHE_ASSIGN_OR_RETURN(uint64_t dim, read<uint64_t>("shape"));
      // ggml stores dimensions as int64, and so does TensorInfo.
      if (dim > kInt64Max) return error_at(pos_ - 8, "dimension ", d, " is ", dim);
      if (dim != 0 && n_elements > kInt64Max / dim) {
        return error_at(pos_ - 8, "dimension ", d, " = ", dim,
                        " makes the element count overflow int64");
      }
      t.shape.push_back(static_cast<int64_t>(dim));
      n_elements *= dim;
    }
    // ggml reads a 0-dimensional tensor as one element; lathe's code may rely on shape[0].
    if (t.shape.empty()) t.shape.push_back(1);
    t.n_elements = n_elements;

    LATHE_ASSIGN_OR_RETURN(uint32_t raw_type, read<uint32_t>("type"));
    const auto type_info = tensor_type_info(raw_type);
    if (!type_info) return error_at(pos_ - 4, "unknown tensor type id ", raw_type);
    field_ = nullptr;
    t.type = type_info->type;
    if (static_cast<uint64_t>(t.shape[0]) % type_info->block_elems != 0) {
      return error_at(at, "rows of ", t.shape[0], " elements are not a whole number of ",
                      type_info->name, " blocks (", type_info->block_elems, " elements each)");
    }
    const uint64_t n_blocks = n_elements / type_info->block_elems;
    if (n_blocks > kInt64Max / type_info->block_bytes) {
      return error_at(at, "the size in bytes of ", t.shape_string(), " ", type_info->name,
                      " overflows");
    }
    t.n_bytes = n_blocks * type_info->block_bytes;
    LATHE_ASSIGN_OR_RETURN(t.offset, read<uint64_t>("data offset"));
    field_ = nullptr;
    auto [it, inserted] = out.tensor_index_.emplace(t.name, k);
    if (!inserted) {
      return error_at(at, "duplicate tensor name (tensor #", it->second, " has the same name)");
    }
  }
  return Status();
}

Status Parser::place_tensors(File& out) {
  // The data section starts at the next multiple of the alignment after the tensor infos.
  const uint64_t align = out.alignment_;
  const uint64_t data_offset = (pos_ + align - 1) / align * align;
  out.data_offset_ = data_offset;
  if (out.tensors_.empty()) return Status();
  if (data_offset > size_) {
    return format_error("truncated file: the tensor data section should start at offset ",
                        hex(data_offset), " but the file has only ", size_, " bytes");
  }
  const uint64_t data_size = size_ - data_offset;

  for (auto& t : out.tensors_) {
    if (t.offset % align != 0) {
      return format_error("tensor '", printable(t.name), "': data offset ", t.offset,
                          " is not a multiple of the alignment ", align);
    }
    if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
      return format_error("tensor '", printable(t.name), "' (", tensor_type_name(t.type), " ",
                          t.shape_string(), ", ", t.n_bytes, " bytes at data offset ", t.offset,
                          ") extends past the end of the file: the data section at offset ",
                          hex(data_offset), " holds only ", data_size, " bytes (truncated file?)");
    }
    t.data = base_ + data_offset + t.offset;
  }

  // Tensors lie back to back in the order of their infos, each padded to the alignment: llama.cpp
  // refuses any other layout. Overlapping tensors would change each other when one is written, and
  // a gap or an empty tensor out of place means the infos do not describe the data section, so
  // tools that rewrite the file (quantize) would write another malformed one.
  uint64_t expected = 0;
  const TensorInfo* previous = nullptr;  // the last one that owns bytes
  for (const auto& t : out.tensors_) {
    if (t.offset != expected) {
      const std::string where = previous == nullptr
                                    ? std::string("the start of the data section")
                                    : cat("where '", printable(previous->name),
                                          "' ends, padded to the alignment ", align);
      return format_error("tensor '", printable(t.name), "' (", tensor_type_name(t.type), " ",
                          t.shape_string(), ", ", t.n_bytes, " bytes) is at data offset ", t.offset,
                          ", not at ", expected, ", ", where, ": ",
                          t.n_bytes == 0        ? "the empty tensor is out of place"
                          : t.offset < expected ? "it overlaps the tensors before it"
                                                : "it leaves a gap",
                          " (tensors lie back to back in the order of the tensor infos)");
    }
    // Cannot overflow: the offset and size were checked against the file size above.
    expected += (t.n_bytes + align - 1) / align * align;
    if (t.n_bytes > 0) previous = &t;
  }
  return Status();
}

Status Parser::parse(File& out) {
  uint64_t n_tensors = 0;
  uint64_t n_kv = 0;
  LATHE_RETURN_IF_ERROR(parse_header(out, n_tensors, n_kv));
  LATHE_RETURN_IF_ERROR(parse_metadata(out, n_kv));
  LATHE_RETURN_IF_ERROR(parse_alignment(out));
  LATHE_RETURN_IF_ERROR(parse_tensor_infos(out, n_tensors));
  return place_tensors(out);
}

// ---- File ------------------------------------------------------------------------------------

Expected<File> File::parse_into(File file) {
  Parser parser(file.bytes_);
  Status status = parser.parse(file);
  if (!status.ok()) return status.with_context(file.path_);
  return file;
}

Expected<File> File::parse(MappedFile bytes) {
  File file;
  file.file_ = std::make_unique<MappedFile>(std::move(bytes));
  file.bytes_ = file.file_->bytes();
  file.path_ = file.file_->path();
  return parse_into(std::move(file));
}

Expected<File> File::parse_borrowed(std::span<const uint8_t> bytes, std::string name) {
  File file;
  file.file_ = std::make_unique<MappedFile>();
  file.bytes_ = bytes;
  file.path_ = std::move(name);
  return parse_into(std::move(file));
}

Expected<File> File::open(const std::string& path, FileLoadMode mode) {
  LATHE_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path, mode));
  return parse(std::move(mapped));
}

const Value* File::find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].value;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t File::tensor_data_bytes() const {
  uint64_t total = 0;
  for (const auto& t : tensors_) total += t.n_bytes;
  return total;
}

// ---- typed getters ---------------------------------------------------------------------------

namespace {

// Keys may come from the file itself (a caller walking metadata()), so they are printed with
// printable(): the message stays one line.
Status type_mismatch(std::string_view key, std::string_view expected, const Value& found) {
  return invalid_argument("key ", printable(key), ": expected ", expected, ", found ",
                          found.type_description());
}

Status missing_key(std::string_view key) {
  return invalid_argument("key ", printable(key), " is missing from the file's metadata");
}

// Looks up `key` and checks its value has type `expected`; the error names both.
Expected<const Value*> find_typed(const File& file, std::string_view key, ValueType expected) {
  const Value* v = file.find(key);
  if (v == nullptr) return missing_key(key);
  if (v->type() != expected) return type_mismatch(key, value_type_name(expected), *v);
  return v;
}

}  // namespace

Expected<std::string_view> File::get_string(std::string_view key) const {
  LATHE_ASSIGN_OR_RETURN(const Value* v, find_typed(*this, key, ValueType::kString));
  return v->as_string();
}

Expected<uint32_t> File::get_u32(std::string_view key) const {
  LATHE_ASSIGN_OR_RETURN(const Value* v, find_typed(*this, key, ValueType::kUint32));
  return static_cast<uint32_t>(v->as_u64());
}

Expected<uint64_t> File::get_u64(std::string_view key) const {
  LATHE_ASSIGN_OR_RETURN(const Value* v, find_typed(*this, key, ValueType::kUint64));
  return v->as_u64();
}

Expected<int32_t> File::get_i32(std::string_view key) const {
  LATHE_ASSIGN_OR_RETURN(const Value* v, find_typed(*this, key, ValueType::kInt32));
  return static_cast<int32_t>(v->as_i64());
}

Expected<int64_t> File::get_i64(std::string_view key) const {
  LATHE_ASSIGN_OR_RETURN(const Value* v, find_typed(*this, key, ValueType::kInt64));
  return v->as_i64();
}

Expected<float> File::get_f32(std::string_view key) const {
  LATHE_ASSIGN_OR_RETURN(const Value* v, find_typed(*this, key, ValueType::kFloat32));
  return static_cast<float>(v->as_f64());
}

Expected<double> File::get_f64(std::string_view key) const {
  LATHE_ASSIGN_OR_RETURN(const Value* v, find_typed(*this, key, ValueType::kFloat64));
  return v->as_f64();
}

Expected<bool> File::get_bool(std::string_view key) const {
  LATHE_ASSIGN_OR_RETURN(const Value* v, find_typed(*this, key, ValueType::kBool));
  return v->as_bool();
}

Expected<int64_t> File::get_integer(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (!is_integer_type(v->type())) return type_mismatch(key, "an integer", *v);
  if (v->type() == ValueType::kUint64 && v->as_u64() > kInt64Max) {
    return invalid_argument("key ", printable(key), ": value ", v->as_u64(),
                            " does not fit in int64");
  }
  return v->as_i64();
}

Expected<double> File::get_number(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing_key(key);
  if (!is_integer_type(v->type()) && !is_float_type(v->type())) {
    return type_mismatch(key, "a number", *v);
  }
  return v->as_f64();
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
  if (v->type() != ValueType::kArray || !is_float_type(v->array_type())) {
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
  for (uint64_t k = 0; k < out.size(); ++k) {
    if (v->array_type() == ValueType::kUint64 && v->unsigned_at(k) > kInt64Max) {
      return invalid_argument("key ", printable(key), ": element ", k, " = ", v->unsigned_at(k),
                              " does not fit in int64");
    }
    out[k] = v->integer_at(k);
  }
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
