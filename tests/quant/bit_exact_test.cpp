// lathe's quantizers against llama.cpp's bytes (llama-quantize --pure, no importance matrix).
//
// Two sources of expected bytes: the full tiny-llama models in ../shared/fixtures (every tensor of
// six quantized files, skipped when ../shared is absent), and the committed subset of them in
// tests/fixtures/quant (made by scripts/make-quant-fixture.py), so that every checkout tests it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "quant/gguf_tensors.h"
#include "quant/quant.h"
#include "support/fixtures.h"

namespace lathe::quant {
namespace {

using test_support::GgufTensor;
using test_support::GgufTensors;

// Loads a GGUF file or fails the current test.
#define LOAD_GGUF_OR_FAIL(var, path)                                      \
  std::string var##_error;                                                \
  std::optional<GgufTensors> var = GgufTensors::load(path, &var##_error); \
  ASSERT_TRUE(var.has_value()) << var##_error

// Does what llama-quantize does with one tensor: widen the source (F16 or F32) to f32, then
// quantize every row to `expected`'s type; compares the result with `expected`'s bytes and names
// the first block that differs. `expected` may hold fewer rows than `source` (the committed
// subset keeps only the first rows).
::testing::AssertionResult quantizes_to(const GgufTensor& source, const GgufTensor& expected) {
  const int64_t n_per_row = expected.row_length();
  if (source.row_length() != n_per_row || expected.n_elements == 0) {
    return ::testing::AssertionFailure() << expected.name << ": shape " << expected.shape_string()
                                         << " does not fit source " << source.shape_string();
  }
  const int64_t n_rows = expected.n_rows();
  std::vector<float> values(expected.n_elements);
  Status status = dequantize_rows(source.type, source.data, values.data(), n_rows, n_per_row);
  if (!status.ok()) return ::testing::AssertionFailure() << status.to_string();

  std::vector<uint8_t> bytes(expected.n_bytes);
  status = quantize_rows(expected.type, values.data(), bytes.data(), n_rows, n_per_row);
  if (!status.ok()) return ::testing::AssertionFailure() << status.to_string();
  if (std::memcmp(bytes.data(), expected.data, bytes.size()) == 0) {
    return ::testing::AssertionSuccess();
  }

  const auto& info = tensor_type_info(expected.type);
  size_t first = 0;
  while (bytes[first] == expected.data[first]) ++first;
  size_t differing_blocks = 0;
  for (size_t block = 0; block < bytes.size() / info.block_bytes; ++block) {
    if (std::memcmp(bytes.data() + block * info.block_bytes,
                    expected.data + block * info.block_bytes, info.block_bytes) != 0) {
      ++differing_blocks;
    }
  }
  return ::testing::AssertionFailure()
         << expected.name << " (" << info.name << ", " << expected.shape_string()
         << "): " << differing_blocks << " of " << bytes.size() / info.block_bytes
         << " blocks differ; first at byte " << first << " (block " << first / info.block_bytes
         << ", byte " << first % info.block_bytes << " in it): lathe " << int{bytes[first]}
         << ", llama.cpp " << int{expected.data[first]};
}

class SharedModelBitExact : public ::testing::TestWithParam<const char*> {};

TEST_P(SharedModelBitExact, EveryTensorMatchesLlamaQuantize) {
  const std::string type_name = GetParam();
  LATHE_SHARED_FIXTURE_OR_SKIP(source_path, "models/tiny-llama-f16.gguf");
  LATHE_SHARED_FIXTURE_OR_SKIP(expected_path, "models/tiny-llama-" + type_name + ".gguf");
  LOAD_GGUF_OR_FAIL(source, source_path);
  LOAD_GGUF_OR_FAIL(expected, expected_path);
  auto type = parse_tensor_type(type_name);
  ASSERT_TRUE(type.has_value());

  ASSERT_EQ(expected->tensors().size(), source->tensors().size());
  int quantized = 0;
  int kept_f32 = 0;
  for (const GgufTensor& tensor : expected->tensors()) {
    const GgufTensor* from = source->find(tensor.name);
    ASSERT_NE(from, nullptr) << tensor.name;
    // --pure: every 2-D tensor is in the file's type, the 1-D norms stay F32.
    ASSERT_EQ(tensor.type, tensor.shape.size() == 1 ? TensorType::kF32 : *type) << tensor.name;
    EXPECT_TRUE(quantizes_to(*from, tensor));
    (tensor.type == TensorType::kF32 ? kept_f32 : quantized)++;
  }
  // 4 layers of 7 matrices, and token_embd (the output is tied to it).
  EXPECT_EQ(quantized, 4 * 7 + 1);
  EXPECT_EQ(kept_f32, 4 * 2 + 1);
  std::printf("[          ] %s: %d tensors bit-exact, %d F32 norms identical\n", type_name.c_str(),
              quantized, kept_f32);
}

INSTANTIATE_TEST_SUITE_P(Types, SharedModelBitExact,
                         ::testing::Values("q8_0", "q4_0", "iq4_xs", "q4_k", "q6_k", "bf16"),
                         [](const auto& info) { return std::string(info.param); });

TEST(CommittedSubsetBitExact, EveryTensorMatchesLlamaQuantize) {
  const std::string path = testing::fixture_path("quant/tiny-llama-quant-subset.gguf");
  LOAD_GGUF_OR_FAIL(file, path);

  // Tensors are named "<file type>/<tensor name>"; the "f16/" ones are the sources.
  std::map<std::string, int> checked_per_type;
  for (const GgufTensor& tensor : file->tensors()) {
    const size_t slash = tensor.name.find('/');
    ASSERT_NE(slash, std::string::npos) << tensor.name;
    const std::string type_name = tensor.name.substr(0, slash);
    if (type_name == "f16") continue;
    const GgufTensor* source = file->find("f16/" + tensor.name.substr(slash + 1));
    ASSERT_NE(source, nullptr) << tensor.name;
    auto type = parse_tensor_type(type_name);
    ASSERT_TRUE(type.has_value()) << tensor.name;
    ASSERT_EQ(tensor.type, *type) << tensor.name;
    EXPECT_TRUE(quantizes_to(*source, tensor));
    ++checked_per_type[type_name];
  }
  // Layer 0's seven matrices and token_embd, in each of the six types.
  const std::map<std::string, int> all = {{"bf16", 8}, {"iq4_xs", 8}, {"q4_0", 8},
                                          {"q4_k", 8}, {"q6_k", 8},   {"q8_0", 8}};
  EXPECT_EQ(checked_per_type, all);
}

}  // namespace
}  // namespace lathe::quant
