// Writes the fuzzer's seed corpus (fuzz/corpus/gguf_reader/) with lathe's own writer: small
// valid files that between them hold every value type, empty and nested arrays, several tensor
// types and shapes, a non-default alignment and a version 2 header. The model fixtures are
// megabytes; these are a few hundred bytes each, so the fuzzer mutates structure, not weights.
//
// Usage: gguf_make_seeds DIR
#include <array>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gguf/gguf_writer.h"

namespace {

using lathe::Status;
using lathe::TensorType;
using lathe::gguf::Value;
using lathe::gguf::Writer;

struct Tensor {
  std::string name;
  TensorType type;
  std::vector<int64_t> shape;
};

bool write(const std::string& dir, const std::string& name, const Writer& w,
           const std::vector<Tensor>& tensors, uint32_t version = 3) {
  Writer copy = w;
  std::vector<std::vector<uint8_t>> storage;
  std::vector<std::span<const uint8_t>> data;
  for (size_t k = 0; k < tensors.size(); ++k) {
    const auto& t = tensors[k];
    Status status = copy.add_tensor(t.name, t.type, t.shape);
    if (!status.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), status.message().c_str());
      return false;
    }
    std::vector<uint8_t> bytes(copy.tensor_bytes(k));
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 31 + k);
    storage.push_back(std::move(bytes));
  }
  for (const auto& s : storage) data.emplace_back(s);
  auto bytes = copy.write_bytes(data);
  if (!bytes) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), bytes.error().message().c_str());
    return false;
  }
  (*bytes)[4] = static_cast<uint8_t>(version);  // v2 and v3 differ only in this field
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes->data()),
            static_cast<std::streamsize>(bytes->size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = true;

  // Every scalar type, and strings including the empty one.
  Writer scalars;
  scalars.set_u8("u8", 200);
  scalars.set_i8("i8", -100);
  scalars.set_u16("u16", 60000);
  scalars.set_i16("i16", -30000);
  scalars.set_u32("u32", 4000000000u);
  scalars.set_i32("i32", -2000000000);
  scalars.set_u64("u64", 18000000000000000000ull);
  scalars.set_i64("i64", -9000000000000000000ll);
  scalars.set_f32("f32", 1.5f);
  scalars.set_f64("f64", -2.25);
  scalars.set_bool("bool", true);
  scalars.set_string("str", "hello");
  scalars.set_string("empty", "");
  ok &= write(dir, "scalars.gguf", scalars, {});

  // Arrays of every element type, empty arrays, string arrays and arrays of arrays.
  Writer arrays;
  const std::array<uint8_t, 3> u8{1, 2, 255};
  const std::array<int8_t, 2> i8{-1, 1};
  const std::array<uint16_t, 2> u16{1, 65535};
  const std::array<int16_t, 2> i16{-2, 2};
  const std::array<uint32_t, 2> u32{7, 8};
  const std::array<int32_t, 3> i32{-3, 0, 3};
  const std::array<uint64_t, 1> u64{1ull << 63};
  const std::array<int64_t, 2> i64{-5, 5};
  const std::array<float, 3> f32{0.5f, -1.0f, 3.25f};
  const std::array<double, 2> f64{1e300, -1e-300};
  const std::array<bool, 3> bools{true, false, true};
  const std::vector<std::string> strings{"a", "", "bc"};
  arrays.set_array<uint8_t>("a.u8", u8);
  arrays.set_array<int8_t>("a.i8", i8);
  arrays.set_array<uint16_t>("a.u16", u16);
  arrays.set_array<int16_t>("a.i16", i16);
  arrays.set_array<uint32_t>("a.u32", u32);
  arrays.set_array<int32_t>("a.i32", i32);
  arrays.set_array<uint64_t>("a.u64", u64);
  arrays.set_array<int64_t>("a.i64", i64);
  arrays.set_array<float>("a.f32", f32);
  arrays.set_array<double>("a.f64", f64);
  arrays.set_array<bool>("a.bool", bools);
  arrays.set_string_array("a.str", strings);
  arrays.set_array<int32_t>("a.empty", std::span<const int32_t>());
  arrays.set_string_array("a.empty_str", std::span<const std::string>());
  const Value inner_ints = Value::of_array<int32_t>(i32);
  const Value inner_strs = Value::of_strings({"x", "yz"});
  const Value nested = Value::of_arrays({inner_ints, inner_strs, Value::of_arrays({})});
  ok &= arrays.set_value("a.nested", nested).ok();
  ok &= arrays.set_value("a.deep", Value::of_arrays({Value::of_arrays({nested})})).ok();
  ok &= write(dir, "arrays.gguf", arrays, {});

  // Tensors of several types and shapes, one with no elements.
  Writer model;
  model.set_string("general.architecture", "llama");
  model.set_u32("llama.block_count", 1);
  model.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  const std::vector<Tensor> tensors = {
      {"token_embd.weight", TensorType::kF32, {4, 3}},
      {"norm", TensorType::kF16, {5}},
      {"q4", TensorType::kQ4_0, {32, 2}},
      {"q8", TensorType::kQ8_0, {32, 1, 1}},
      {"k", TensorType::kQ4_K, {256}},
      {"bf", TensorType::kBF16, {2, 1, 2, 1}},
      {"empty", TensorType::kF32, {0, 4}},
      {"i32", TensorType::kI32, {3}},
  };
  ok &= write(dir, "tensors.gguf", model, tensors);
  ok &= write(dir, "tensors_v2.gguf", model, tensors, 2);

  // A non-default alignment moves every tensor.
  Writer aligned(8);
  aligned.set_string("general.name", "aligned");
  ok &= write(
      dir, "align8.gguf", aligned,
      {{"a", TensorType::kF32, {3}}, {"b", TensorType::kF16, {3}}, {"c", TensorType::kI8, {5}}});
  Writer wide(256);
  ok &= write(dir, "align256.gguf", wide, {{"w", TensorType::kF32, {2}}});

  // Nothing at all.
  ok &= write(dir, "empty.gguf", Writer(), {});
  return ok ? 0 : 1;
}
