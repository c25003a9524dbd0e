// Helpers for the GGUF tests: raw byte building for hand-made (often hostile) files, and a small
// valid file that exercises every part of the format.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

namespace lathe::gguf::testing {

// Appends little-endian fields, the way a GGUF file lays them out.
class Bytes {
 public:
  Bytes& u8(uint8_t v) { return raw(&v, 1); }
  Bytes& u32(uint32_t v) { return raw(&v, 4); }
  Bytes& u64(uint64_t v) { return raw(&v, 8); }
  Bytes& i32(int32_t v) { return raw(&v, 4); }
  Bytes& f32(float v) { return raw(&v, 4); }
  Bytes& str(std::string_view s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  Bytes& type(ValueType t) { return u32(static_cast<uint32_t>(t)); }
  // "GGUF", version, tensor count, metadata count.
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return u32(kMagic).u32(version).u64(n_tensors).u64(n_kv);
  }
  // A tensor info: name, dims, type id, offset.
  Bytes& tensor(std::string_view name, std::vector<uint64_t> shape, uint32_t type,
                uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(shape.size()));
    for (uint64_t d : shape) u64(d);
    return u32(type).u64(offset);
  }
  Bytes& pad_to(size_t alignment) {
    while (data.size() % alignment != 0) data.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    data.resize(data.size() + n, 0);
    return *this;
  }
  Bytes& raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    data.insert(data.end(), b, b + n);
    return *this;
  }

  std::vector<uint8_t> data;
};

// Parses bytes in place; the vector must outlive the File.
inline Expected<File> parse(const std::vector<uint8_t>& bytes) {
  return File::parse_borrowed(std::span<const uint8_t>(bytes.data(), bytes.size()));
}

// The error message of a parse that must fail ("" and a test failure when it succeeds).
inline std::string parse_error(const std::vector<uint8_t>& bytes) {
  auto file = parse(bytes);
  if (file) {
    ADD_FAILURE() << "parse unexpectedly succeeded";
    return "";
  }
  return file.error().message();
}

// Fills tensor k's data with a recognizable pattern.
inline std::vector<uint8_t> pattern(size_t n, size_t k) {
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(i * 7 + k * 13 + 1);
  return out;
}

// Writes `writer` with pattern data for every tensor.
inline std::vector<uint8_t> write_with_pattern(const Writer& writer) {
  std::vector<std::vector<uint8_t>> storage;
  std::vector<std::span<const uint8_t>> data;
  for (size_t k = 0; k < writer.tensor_count(); ++k) {
    storage.push_back(pattern(writer.tensor_bytes(k), k));
  }
  for (const auto& s : storage) data.emplace_back(s);
  auto bytes = writer.write_bytes(data);
  EXPECT_TRUE(bytes.has_value()) << bytes.error().message();
  return bytes ? *bytes : std::vector<uint8_t>();
}

// A small valid file touching every part of the format: every value type, an empty string, a
// string array, an empty array, a nested array, and tensors of several types. The last tensor
// fills its alignment exactly, so every strict prefix of the file is truncated somewhere that
// matters.
inline std::vector<uint8_t> small_valid_file() {
  Writer w;
  w.set_string("general.architecture", "llama");
  w.set_u8("u8", 1);
  w.set_i8("i8", -1);
  w.set_u16("u16", 2);
  w.set_i16("i16", -2);
  w.set_u32("u32", 3);
  w.set_i32("i32", -3);
  w.set_u64("u64", 4);
  w.set_i64("i64", -4);
  w.set_f32("f32", 0.5f);
  w.set_f64("f64", 0.25);
  w.set_bool("bool", true);
  w.set_string("empty", "");
  const std::vector<std::string> strings{"a", "", "bc"};
  w.set_string_array("strings", strings);
  w.set_array<int32_t>("none", std::span<const int32_t>());
  const int32_t ints[] = {1, 2};
  EXPECT_TRUE(w.set_value("nested", Value::of_arrays(
                                        {Value::of_array<int32_t>(ints), Value::of_strings({"x"})}))
                  .ok());
  const int64_t q_shape[] = {32, 2};
  const int64_t f16_shape[] = {3};
  const int64_t f32_shape[] = {8};
  EXPECT_TRUE(w.add_tensor("q", TensorType::kQ4_0, q_shape).ok());
  EXPECT_TRUE(w.add_tensor("h", TensorType::kF16, f16_shape).ok());
  EXPECT_TRUE(w.add_tensor("last", TensorType::kF32, f32_shape).ok());  // 32 bytes: no padding
  return write_with_pattern(w);
}

}  // namespace lathe::gguf::testing
