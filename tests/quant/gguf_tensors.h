// A minimal GGUF tensor reader for the quant tests.
//
// test_quant links only the quant layer (and core), as each layer's tests do, so it cannot use
// gguf::File. The bit-exactness tests only need each tensor's name, type, shape and bytes; this
// reads those from a whole file loaded into memory and checks every size against the file. It
// skips metadata values without interpreting them (general.alignment excepted).
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor_type.h"

namespace lathe::quant::test_support {

struct GgufTensor {
  std::string name;
  TensorType type = TensorType::kF32;
  std::vector<int64_t> shape;  // shape[0] is the row length
  uint64_t n_elements = 0;
  const uint8_t* data = nullptr;
  uint64_t n_bytes = 0;

  int64_t row_length() const { return shape.empty() ? 1 : shape[0]; }
  int64_t n_rows() const { return row_length() == 0 ? 0 : int64_t(n_elements) / row_length(); }
  std::string shape_string() const {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

class GgufTensors {
 public:
  // Moves keep the tensors' data pointers valid (the byte buffer moves with them); copies would
  // not, so there are none.
  GgufTensors(GgufTensors&&) = default;
  GgufTensors& operator=(GgufTensors&&) = default;
  GgufTensors(const GgufTensors&) = delete;
  GgufTensors& operator=(const GgufTensors&) = delete;

  // Empty optional and `error` set when the file is missing or malformed.
  static std::optional<GgufTensors> load(const std::string& path, std::string* error) {
    GgufTensors file;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      *error = "cannot open " + path;
      return std::nullopt;
    }
    file.bytes_.assign(std::istreambuf_iterator<char>(in), {});
    if (!file.parse(error)) {
      *error = path + ": " + *error;
      return std::nullopt;
    }
    return file;
  }

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find(const std::string& name) const {
    for (const GgufTensor& t : tensors_) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }

 private:
  GgufTensors() = default;

  template <typename T>
  bool read(T* value) {
    if (pos_ + sizeof(T) > bytes_.size()) return false;
    std::memcpy(value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  bool read_string(std::string* s) {
    uint64_t n = 0;
    if (!read(&n) || n > bytes_.size() - pos_) return false;
    s->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return true;
  }

  // Skips one metadata value of GGUF value type `type`; reads a u32 into *u32 when it is one.
  bool skip_value(uint32_t type, int depth, uint32_t* u32 = nullptr) {
    static constexpr size_t kScalarSize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
      std::string s;
      return read_string(&s);
    }
    if (type == 9) {
      uint32_t element_type = 0;
      uint64_t count = 0;
      if (depth > 4 || !read(&element_type) || !read(&count)) return false;
      for (uint64_t i = 0; i < count; ++i) {
        if (!skip_value(element_type, depth + 1)) return false;
      }
      return true;
    }
    if (type > 12) return false;
    if (pos_ + kScalarSize[type] > bytes_.size()) return false;
    if (type == 4 && u32 != nullptr) std::memcpy(u32, bytes_.data() + pos_, 4);
    pos_ += kScalarSize[type];
    return true;
  }

  bool parse(std::string* error) {
    uint32_t magic = 0, version = 0;
    uint64_t n_tensors = 0, n_kv = 0;
    if (!read(&magic) || magic != 0x46554747u || !read(&version) || version < 2 ||
        !read(&n_tensors) || !read(&n_kv)) {
      *error = "not a GGUF v2/v3 file";
      return false;
    }
    uint32_t alignment = 32;
    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string key;
      uint32_t type = 0;
      if (!read_string(&key) || !read(&type) ||
          !skip_value(type, 0, key == "general.alignment" ? &alignment : nullptr)) {
        *error = "malformed metadata";
        return false;
      }
    }
    std::vector<uint64_t> offsets;
    for (uint64_t i = 0; i < n_tensors; ++i) {
      GgufTensor t;
      uint32_t n_dims = 0, type = 0;
      uint64_t offset = 0;
      if (!read_string(&t.name) || !read(&n_dims) || n_dims > 4) {
        *error = "malformed tensor info";
        return false;
      }
      t.n_elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t dim = 0;
        if (!read(&dim) || dim > (1ull << 40)) {
          *error = "malformed tensor shape";
          return false;
        }
        t.shape.push_back(int64_t(dim));
        t.n_elements *= dim;
      }
      const auto info = read(&type) ? tensor_type_info(type) : std::nullopt;
      if (!info || !read(&offset) || t.n_elements % info->block_elems != 0) {
        *error = "tensor " + t.name + ": bad type or offset";
        return false;
      }
      t.type = info->type;
      t.n_bytes = t.n_elements / info->block_elems * info->block_bytes;
      tensors_.push_back(std::move(t));
      offsets.push_back(offset);
    }
    if (alignment == 0) alignment = 32;
    const uint64_t data_start = (pos_ + alignment - 1) / alignment * alignment;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      if (data_start + offsets[i] > bytes_.size() ||
          tensors_[i].n_bytes > bytes_.size() - data_start - offsets[i]) {
        *error = "tensor " + tensors_[i].name + " extends past the end of the file";
        return false;
      }
      tensors_[i].data = bytes_.data() + data_start + offsets[i];
    }
    return true;
  }

  std::vector<uint8_t> bytes_;
  size_t pos_ = 0;
  std::vector<GgufTensor> tensors_;
};

}  // namespace lathe::quant::test_support
