// Every shared fixture reads, with every tensor inside the file; stories260K rewritten by lathe's
// writer comes out byte for byte identical to llama.cpp's conversion.
#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "support/fixtures.h"

namespace lathe::gguf {
namespace {

class GgufSharedFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(GgufSharedFixture, ReadsCompletely) {
  LATHE_SHARED_FIXTURE_OR_SKIP(path, GetParam());
  auto file = File::open(path);
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(file->version(), 3u);
  EXPECT_TRUE(file->get_string("general.architecture"));
  uint64_t end = 0;
  for (const auto& t : file->tensors()) {
    ASSERT_LE(file->data_offset() + t.offset + t.n_bytes, file->file_size()) << t.name;
    end = std::max(end, file->data_offset() + t.offset + t.n_bytes);
  }
  if (!file->tensors().empty()) {
    // llama.cpp pads the last tensor too: nothing but padding follows the data.
    EXPECT_LT(file->file_size() - end, file->alignment());
  }
  // Reading instead of mapping gives the same result.
  auto read = File::open(path, FileLoadMode::kRead);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(read->metadata().size(), file->metadata().size());
  ASSERT_EQ(read->tensors().size(), file->tensors().size());
  for (size_t k = 0; k < file->tensors().size(); ++k) {
    const auto& a = file->tensors()[k];
    const auto& b = read->tensors()[k];
    ASSERT_EQ(a.n_bytes, b.n_bytes);
    EXPECT_EQ(std::memcmp(a.data, b.data, a.n_bytes), 0) << a.name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, GgufSharedFixture,
    ::testing::Values("models/tiny-llama-bf16.gguf", "models/tiny-llama-f16.gguf",
                      "models/tiny-llama-iq4_xs.gguf", "models/tiny-llama-q4_0.gguf",
                      "models/tiny-llama-q4_k.gguf", "models/tiny-llama-q6_k.gguf",
                      "models/tiny-llama-q8_0.gguf", "models/tiny-qwen2-q4_0.gguf",
                      "models/tiny-qwen3-q8_0.gguf", "tokenizer/ggml-vocab-deepseek-llm.gguf",
                      "tokenizer/ggml-vocab-gpt-2.gguf", "tokenizer/ggml-vocab-llama-bpe.gguf",
                      "tokenizer/ggml-vocab-llama-spm.gguf", "tokenizer/ggml-vocab-phi-3.gguf",
                      "tokenizer/ggml-vocab-qwen2.gguf", "real/stories260K/stories260K.gguf"));

TEST(GgufFixtures, Stories260KMetadataAndTensors) {
  LATHE_SHARED_FIXTURE_OR_SKIP(path, "real/stories260K/stories260K.gguf");
  auto file = File::open(path);
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(*file->get_string("general.architecture"), "llama");
  EXPECT_EQ(*file->get_u32("llama.block_count"), 5u);
  EXPECT_EQ(*file->get_u32("llama.embedding_length"), 64u);
  EXPECT_EQ(*file->get_u32("llama.attention.head_count"), 8u);
  EXPECT_EQ(*file->get_u32("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(*file->get_f32("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_EQ(file->get_string_array("tokenizer.ggml.tokens")->size(), 512u);
  EXPECT_EQ((*file->get_string_array("tokenizer.ggml.tokens"))[1], "<s>");
  EXPECT_EQ(file->get_f32_array("tokenizer.ggml.scores")->size(), 512u);
  EXPECT_EQ(file->tensors().size(), 48u);
  const TensorInfo* embd = file->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, TensorType::kF32);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(embd->n_bytes, 64u * 512 * 4);
  EXPECT_EQ(embd->row_bytes(), 256u);
  EXPECT_EQ(file->tensor_data_bytes(), 1171200u);
}

TEST(GgufFixtures, TinyLlamaQuantizedTypes) {
  LATHE_SHARED_FIXTURE_OR_SKIP(path, "models/tiny-llama-q4_k.gguf");
  auto file = File::open(path);
  ASSERT_TRUE(file) << file.error().message();
  const TensorInfo* q = file->find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, TensorType::kQ4_K);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{256, 256}));
  EXPECT_EQ(q->n_bytes, 256u * 144);
  EXPECT_EQ(file->find_tensor("blk.0.attn_norm.weight")->type, TensorType::kF32);
}

// Copies every key and tensor of a llama.cpp-written file through lathe's writer. llama.cpp's
// writer and lathe's lay files out the same way, so the bytes must match exactly: a strong check
// that lathe writes what llama.cpp reads.
TEST(GgufFixtures, RewritingStories260KReproducesItExactly) {
  LATHE_SHARED_FIXTURE_OR_SKIP(path, "real/stories260K/stories260K.gguf");
  auto file = File::open(path);
  ASSERT_TRUE(file) << file.error().message();
  Writer w;
  for (const auto& kv : file->metadata()) ASSERT_TRUE(w.set_value(kv.key, kv.value).ok());
  std::vector<std::span<const uint8_t>> data;
  for (const auto& t : file->tensors()) {
    ASSERT_TRUE(w.add_tensor(t.name, t.type, t.shape).ok());
    data.push_back(t.bytes());
  }
  const std::string out = lathe::testing::make_temp_dir("gguf") + "/copy.gguf";
  ASSERT_TRUE(w.write_file(out, data).ok());
  const auto original = lathe::testing::read_file_bytes(path);
  const auto copy = lathe::testing::read_file_bytes(out);
  ASSERT_EQ(copy.size(), original.size());
  EXPECT_TRUE(copy == original);
}

}  // namespace
}  // namespace lathe::gguf
