// libFuzzer target for the GGUF reader (and, through a round trip, the writer).
//
// For every input the reader must either fail with one non-empty, single-line message or give a
// File whose every view lies inside the input. The input is parsed in place (parse_borrowed), so
// AddressSanitizer flags any byte read past its end. For a File that parses, the target also:
//   - calls every typed getter on every key (wrong types must be errors, not crashes),
//   - renders every value (display strings, element accessors at every index),
//   - reads every byte of every tensor's data, so an out-of-bounds tensor view is caught,
//   - copies metadata and tensors into a Writer and checks the file it writes parses back to
//     the same keys, types, values and tensors.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

namespace {

using lathe::gguf::File;
using lathe::gguf::TensorInfo;
using lathe::gguf::Value;
using lathe::gguf::ValueType;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "gguf_reader_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

// Keeps the optimizer from dropping reads whose results are otherwise unused.
void consume(uint64_t value) {
  static volatile uint64_t sink;
  sink = sink + value;
}

void check_error(const lathe::Status& status) {
  const std::string& message = status.message();
  if (status.ok() || message.empty()) fail("error without a message", message);
  if (message.find('\n') != std::string::npos) fail("error spans lines", message);
  if (message.size() > 4096) fail("error message is huge", message.substr(0, 200));
}

template <typename T>
void touch(const lathe::Expected<T>& result) {
  if (!result) {
    check_error(result.error());
  } else {
    consume(1);
  }
}

void visit_value(const Value& v, int depth) {
  consume(v.type_description().size());
  consume(v.to_display_string(4).size());
  if (v.type() != ValueType::kArray) return;
  if (depth > lathe::gguf::kMaxArrayNesting) fail("nesting", "deeper than the limit");
  const uint64_t n = v.array_size();
  switch (v.array_type()) {
    case ValueType::kString:
      if (v.array_strings().size() != n) fail("string array", "size mismatch");
      for (auto s : v.array_strings()) {
        if (!s.empty()) consume(static_cast<uint8_t>(s.front()) + static_cast<uint8_t>(s.back()));
      }
      break;
    case ValueType::kArray:
      if (v.array_values().size() != n) fail("nested array", "size mismatch");
      for (const auto& inner : v.array_values()) visit_value(inner, depth + 1);
      break;
    default:
      if (v.array_bytes().size() != n * lathe::gguf::value_type_size(v.array_type())) {
        fail("numeric array", "byte size mismatch");
      }
      for (uint64_t k = 0; k < n; ++k) {
        consume(static_cast<uint64_t>(v.integer_at(k)) + v.unsigned_at(k));
        consume(static_cast<uint64_t>(v.numeric_at(k) != 0));
      }
  }
}

void exercise_getters(const File& file, std::string_view key) {
  touch(file.get_string(key));
  touch(file.get_u32(key));
  touch(file.get_u64(key));
  touch(file.get_i32(key));
  touch(file.get_i64(key));
  touch(file.get_f32(key));
  touch(file.get_f64(key));
  touch(file.get_bool(key));
  touch(file.get_integer(key));
  touch(file.get_number(key));
  touch(file.get_f32_array(key));
  touch(file.get_integer_array(key));
  touch(file.get_string_array(key));
  touch(file.get_array(key, ValueType::kArray));
  touch(file.get_integer_or(key, 0));
  touch(file.get_string_or(key, ""));
}

void check_tensor(const File& file, const TensorInfo& t) {
  const uint8_t* begin = file.bytes().data();
  const uint8_t* end = begin + file.bytes().size();
  if (t.n_bytes > 0 && (t.data < begin || t.data > end || t.n_bytes > uint64_t(end - t.data))) {
    fail("tensor view outside the file", t.name);
  }
  if (file.find_tensor(t.name) != &t) fail("find_tensor", t.name);
  if (t.shape.empty()) fail("empty shape", t.name);
  uint64_t sum = 0;
  for (uint8_t b : t.bytes()) sum += b;  // every byte: ASan checks each read
  consume(sum + t.row_bytes() + t.n_rows() + t.shape_string().size());
}

// Writes what was read with lathe's writer and checks the result reads back the same.
void round_trip(const File& file) {
  lathe::gguf::Writer writer;
  for (const auto& kv : file.metadata()) {
    lathe::Status status = writer.set_value(kv.key, kv.value);
    if (!status.ok()) fail("writer rejected a value the reader accepted", status.message());
  }
  std::vector<std::span<const uint8_t>> data;
  for (const auto& t : file.tensors()) {
    // The writer keeps to llama.cpp's limit on names; the reader accepts longer ones.
    if (t.name.size() > lathe::gguf::kMaxTensorName) return;
    lathe::Status status = writer.add_tensor(t.name, t.type, t.shape);
    if (!status.ok()) fail("writer rejected a tensor the reader accepted", status.message());
    data.push_back(t.bytes());
  }
  auto bytes = writer.write_bytes(data);
  if (!bytes) fail("write_bytes", bytes.error().message());
  auto again = File::parse_borrowed(*bytes);
  if (!again) fail("re-reading the written file", again.error().message());
  if (again->metadata().size() != file.metadata().size()) fail("round trip", "key count");
  if (again->alignment() != file.alignment()) fail("round trip", "alignment");
  for (size_t k = 0; k < file.metadata().size(); ++k) {
    const auto& a = file.metadata()[k];
    const auto& b = again->metadata()[k];
    if (a.key != b.key || a.value.type_description() != b.value.type_description() ||
        a.value.to_display_string(16) != b.value.to_display_string(16)) {
      fail("round trip changed a value", a.key);
    }
  }
  if (again->tensors().size() != file.tensors().size()) fail("round trip", "tensor count");
  for (size_t k = 0; k < file.tensors().size(); ++k) {
    const auto& a = file.tensors()[k];
    const auto& b = again->tensors()[k];
    if (a.name != b.name || a.type != b.type || a.shape != b.shape || a.n_bytes != b.n_bytes ||
        (a.n_bytes > 0 && std::memcmp(a.data, b.data, a.n_bytes) != 0)) {
      fail("round trip changed a tensor", a.name);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = File::parse_borrowed(std::span<const uint8_t>(data, size));
  if (!file) {
    check_error(file.error());
    return 0;
  }
  for (const auto& kv : file->metadata()) {
    if (file->find(kv.key) != &kv.value) fail("find", kv.key);
    visit_value(kv.value, 0);
    exercise_getters(*file, kv.key);
  }
  exercise_getters(*file, "no.such.key");
  for (const auto& t : file->tensors()) check_tensor(*file, t);
  consume(file->tensor_data_bytes());
  round_trip(*file);
  return 0;
}
