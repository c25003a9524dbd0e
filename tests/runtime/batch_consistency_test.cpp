// The same tokens give the same logits however a prompt is split into batches, and whether a
// sequence is decoded alone or beside others.
#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "runtime/context.h"
#include "support/fixtures.h"
#include "support/reference.h"

namespace lathe {
namespace {

using runtime::Batch;
using runtime::Context;
using runtime::ContextParams;

class BatchConsistencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto path = testing::any_fixture_path("models/tiny-llama-q4_0.gguf");
    if (!path) GTEST_SKIP() << "models/tiny-llama-q4_0.gguf is absent";
    auto model = model::Model::load(*path);
    ASSERT_TRUE(model) << model.error().message();
    model_ = *model;
    backend::CpuBackendOptions options;
    options.n_threads = 2;
    backend_ = std::make_shared<backend::CpuBackend>(options);
    // 40 tokens of an arbitrary but fixed prompt.
    for (int i = 0; i < 40; ++i) prompt_.push_back(1 + (i * 7919) % 31999);
  }

  std::unique_ptr<Context> make_context(int64_t n_ctx = 256, int64_t n_ubatch = 512) {
    ContextParams params;
    params.n_ctx = n_ctx;
    params.n_ubatch = n_ubatch;
    auto ctx = Context::create(model_, backend_, params);
    EXPECT_TRUE(ctx) << ctx.error().message();
    return std::move(ctx).value();
  }

  std::vector<float> last_logits(Context& ctx, size_t index) {
    const float* l = ctx.logits(index);
    EXPECT_NE(l, nullptr);
    return std::vector<float>(l, l + ctx.n_vocab());
  }

  // Decodes the prompt in chunks of `chunk` tokens; returns the last position's logits.
  std::vector<float> decode_in_chunks(size_t chunk, int64_t n_ubatch = 512) {
    auto ctx = make_context(256, n_ubatch);
    Batch batch;
    for (size_t begin = 0; begin < prompt_.size(); begin += chunk) {
      const size_t end = std::min(prompt_.size(), begin + chunk);
      batch.clear();
      batch.add_sequence(std::span(prompt_).subspan(begin, end - begin), static_cast<int32_t>(begin), 0);
      Status status = ctx->decode(batch);
      EXPECT_TRUE(status.ok()) << status.message();
      if (end == prompt_.size()) return last_logits(*ctx, batch.size() - 1);
    }
    return {};
  }

  std::shared_ptr<const model::Model> model_;
  std::shared_ptr<backend::CpuBackend> backend_;
  std::vector<int32_t> prompt_;
};

TEST_F(BatchConsistencyTest, OneBatchChunksAndSingleTokensAgree) {
  const auto whole = decode_in_chunks(prompt_.size());
  const auto chunks = decode_in_chunks(7);
  const auto single = decode_in_chunks(1);
  const auto ubatched = decode_in_chunks(prompt_.size(), 16);  // split by the context itself
  const size_t n = whole.size();
  EXPECT_LT(testing::relative_rms(chunks.data(), whole.data(), n), 1e-6);
  EXPECT_LT(testing::relative_rms(single.data(), whole.data(), n), 1e-6);
  EXPECT_LT(testing::relative_rms(ubatched.data(), whole.data(), n), 1e-6);
}

TEST_F(BatchConsistencyTest, SequenceAloneOrBesideOthersAgree) {
  const auto alone = decode_in_chunks(prompt_.size());

  // Four sequences with different prompts; sequence 2 carries the reference prompt. They are
  // decoded together: first the prompts in one batch, then nothing else, and the logits of
  // sequence 2's last token must equal the lone decode.
  auto ctx = make_context(512);
  Batch batch;
  size_t index_of_seq2_last = 0;
  for (int seq = 0; seq < 4; ++seq) {
    std::vector<int32_t> tokens = prompt_;
    if (seq != 2) {
      for (auto& t : tokens) t = 1 + (t * (seq + 3)) % 31999;
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
      const bool last = i + 1 == tokens.size();
      batch.add(tokens[i], static_cast<int32_t>(i), {seq}, last);
      if (seq == 2 && last) index_of_seq2_last = batch.size() - 1;
    }
  }
  ASSERT_TRUE(ctx->decode(batch).ok());
  const auto together = last_logits(*ctx, index_of_seq2_last);
  EXPECT_LT(testing::relative_rms(together.data(), alone.data(), alone.size()), 1e-6);

  // One more token for every sequence in one batch (the batched-generation shape) equals
  // one more token for the lone sequence.
  const int32_t next = testing::argmax(alone.data(), alone.size());
  batch.clear();
  for (int seq = 0; seq < 4; ++seq) batch.add(next, static_cast<int32_t>(prompt_.size()), {seq}, true);
  ASSERT_TRUE(ctx->decode(batch).ok());
  const auto together_next = last_logits(*ctx, 2);

  auto lone = make_context(256);
  Batch lone_batch;
  lone_batch.add_sequence(prompt_, 0, 0);
  ASSERT_TRUE(lone->decode(lone_batch).ok());
  lone_batch.clear();
  lone_batch.add(next, static_cast<int32_t>(prompt_.size()), {0}, true);
  ASSERT_TRUE(lone->decode(lone_batch).ok());
  const auto lone_next = last_logits(*lone, 0);
  EXPECT_LT(testing::relative_rms(together_next.data(), lone_next.data(), lone_next.size()), 1e-6);
}

TEST_F(BatchConsistencyTest, SharedPromptCopiedToOtherSequences) {
  // Decode the prompt once for sequence 0, share it with 1..3, then continue all four.
  auto ctx = make_context(256);
  Batch batch;
  batch.add_sequence(prompt_, 0, 0);
  ASSERT_TRUE(ctx->decode(batch).ok());
  const auto prompt_logits = last_logits(*ctx, batch.size() - 1);
  for (int seq = 1; seq < 4; ++seq) ctx->kv().seq_cp(0, seq, 0, -1);
  EXPECT_EQ(ctx->kv().used(), static_cast<int64_t>(prompt_.size()));
  const int32_t next = testing::argmax(prompt_logits.data(), prompt_logits.size());
  batch.clear();
  for (int seq = 0; seq < 4; ++seq) batch.add(next, static_cast<int32_t>(prompt_.size()), {seq}, true);
  ASSERT_TRUE(ctx->decode(batch).ok());
  const auto first = last_logits(*ctx, 0);
  for (size_t seq = 1; seq < 4; ++seq) {
    const auto other = last_logits(*ctx, seq);
    EXPECT_LT(testing::relative_rms(other.data(), first.data(), first.size()), 1e-6);
  }
}

TEST_F(BatchConsistencyTest, FullContextIsAnErrorAndLeavesTheCacheUnchanged) {
  auto ctx = make_context(32);
  Batch batch;
  batch.add_sequence(std::span(prompt_).subspan(0, 20), 0, 0);
  ASSERT_TRUE(ctx->decode(batch).ok());
  batch.clear();
  batch.add_sequence(std::span(prompt_).subspan(20, 20), 20, 0);
  Status status = ctx->decode(batch);
  EXPECT_EQ(status.code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(ctx->kv().used(), 20);
  EXPECT_EQ(ctx->kv().seq_pos_max(0), 19);
}

TEST_F(BatchConsistencyTest, BadTokensAndEmptyBatchesAreErrors) {
  auto ctx = make_context(32);
  Batch batch;
  EXPECT_EQ(ctx->decode(batch).code(), ErrorCode::kInvalidArgument);
  batch.add(40000, 0, {0}, true);
  Status status = ctx->decode(batch);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find("outside the vocabulary"), std::string::npos);
  batch.clear();
  batch.add(5, 0, {300}, true);
  EXPECT_EQ(ctx->decode(batch).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ctx->kv().used(), 0);
}

TEST_F(BatchConsistencyTest, QuantizedKvCacheStaysClose) {
  const auto f16 = decode_in_chunks(prompt_.size());
  for (TensorType type : {TensorType::kQ8_0, TensorType::kQ4_0}) {
    ContextParams params;
    params.n_ctx = 256;
    params.type_k = params.type_v = type;
    auto ctx = Context::create(model_, backend_, params);
    ASSERT_TRUE(ctx) << ctx.error().message();
    Batch batch;
    batch.add_sequence(prompt_, 0, 0);
    ASSERT_TRUE((*ctx)->decode(batch).ok());
    const auto q = last_logits(**ctx, batch.size() - 1);
    const double err = testing::relative_rms(q.data(), f16.data(), f16.size());
    EXPECT_LT(err, type == TensorType::kQ8_0 ? 0.1 : 0.5) << tensor_type_name(type);
    EXPECT_GT(err, 0.0) << "a quantized cache cannot be bit-identical";
  }
}

}  // namespace
}  // namespace lathe
