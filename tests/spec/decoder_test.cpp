// Speculative decoding on real models: greedy output equals the target alone, token for token;
// acceptance is total when the draft is the target; rejected positions leave both caches.
//
// TinyLlamaSpecTest runs everywhere: tests/fixtures/models/tiny-llama-q4_0.gguf is in the
// repository, and its finer copies (f16, q8_0) are written at test time. Its weights are random,
// so its logits are nearly flat and a quantized draft often disagrees with its target: that
// exercises the rejection path, which is what exactness depends on. StoriesSpecTest (a trained
// model from ../shared) adds high acceptance on real text when the fixture is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "spec/lookup_draft.h"
#include "spec/model_draft.h"
#include "spec/vocab_check.h"
#include "spec_test_util.h"

namespace lathe::spec {
namespace {

using testing_util::greedy_params;
using testing_util::Loaded;

std::unique_ptr<DraftSource> model_draft(runtime::Context& ctx,
                                         const sampling::SamplerParams& params,
                                         float p_min = 0.0f) {
  ModelDraftParams dp;
  dp.sampler = params;
  dp.sampler.seed = derive_draft_seed(params.seed);
  dp.p_min = p_min;
  auto draft = ModelDraft::create(ctx, dp);
  EXPECT_TRUE(draft) << draft.error().message();
  return draft ? std::move(draft).value() : nullptr;
}

struct SpecRun {
  std::vector<TokenId> tokens;
  SpecStats stats;
};

SpecRun speculate(runtime::Context& target, const sampling::SamplerParams& params,
                  std::unique_ptr<DraftSource> draft, const std::vector<TokenId>& prompt, int64_t n,
                  int n_draft) {
  auto sampler = sampling::Sampler::create(params, static_cast<int32_t>(target.n_vocab()));
  EXPECT_TRUE(sampler);
  SpecParams sp;
  sp.n_draft = n_draft;
  auto dec = SpeculativeDecoder::create(target, std::move(sampler).value(), std::move(draft), sp);
  EXPECT_TRUE(dec) << dec.error().message();
  if (!dec) return {};
  Status st = dec->prefill(prompt);
  EXPECT_TRUE(st.ok()) << st.message();
  GenerateOptions go;
  go.n_tokens = n;
  auto out = dec->generate(go);
  EXPECT_TRUE(out) << out.error().message();
  if (!out) return {};
  // The target's cache holds exactly the committed tokens but the last (pending) one.
  EXPECT_EQ(target.kv().seq_pos_max(0), static_cast<int32_t>(dec->history().size()) - 2);
  EXPECT_EQ(target.kv().used(), static_cast<int64_t>(dec->history().size()) - 1);
  return {out->tokens, dec->stats()};
}

void report(const char* what, const SpecStats& s) {
  std::printf(
      "[ %s ] drafted %lld, tested %lld, accepted %lld (%.1f %% of drafted, alpha %.3f), "
      "%.2f tokens per pass\n",
      what, static_cast<long long>(s.n_drafted), static_cast<long long>(s.n_checked),
      static_cast<long long>(s.n_accepted), 100.0 * s.acceptance(), s.alpha(), s.tokens_per_pass());
}

class TinyLlamaSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LATHE_FIXTURE_OR_SKIP(path, "models/tiny-llama-q4_0.gguf");
    backend_ = testing_util::make_backend(2);
    auto loaded = testing_util::load(path, backend_, 512);
    ASSERT_TRUE(loaded) << loaded.error().message();
    q4_ = std::move(loaded).value();
    prompt_ = q4_.tokenizer->encode("Once upon a time", true, false);
    path_ = path;
  }
  // A copy of the q4_0 model in a finer type, written at test time, in a context of its own.
  Loaded finer_copy(TensorType type) {
    const std::string dir = lathe::testing::make_temp_dir("finer");
    const std::string path = dir + "/tiny-llama-" + std::string(tensor_type_name(type)) + ".gguf";
    Status st = testing_util::requantize(path_, path, type);
    EXPECT_TRUE(st.ok()) << st.message();
    auto loaded = testing_util::load(path, backend_, 512);
    EXPECT_TRUE(loaded) << loaded.error().message();
    return loaded ? std::move(loaded).value() : Loaded{};
  }
  std::shared_ptr<backend::CpuBackend> backend_;
  std::string path_;
  Loaded q4_;
  std::vector<TokenId> prompt_;
};

TEST_F(TinyLlamaSpecTest, DraftEqualToTargetAcceptsEverythingGreedy) {
  auto draft_ctx = testing_util::another_context(q4_, backend_, 512);
  const auto plain = testing_util::plain_tokens(q4_, backend_, greedy_params(), prompt_, 40);
  const SpecRun run = speculate(*q4_.context, greedy_params(),
                                model_draft(*draft_ctx, greedy_params()), prompt_, 40, 4);
  report("draft = target, greedy", run.stats);
  EXPECT_EQ(run.tokens, plain);
  EXPECT_EQ(run.stats.n_accepted, run.stats.n_drafted);
  EXPECT_GT(run.stats.n_drafted, 0);
  EXPECT_EQ(run.stats.n_passes, 8);  // 40 tokens, 5 per pass
  EXPECT_DOUBLE_EQ(run.stats.acceptance(), 1.0);
}

TEST_F(TinyLlamaSpecTest, DraftEqualToTargetAcceptsEverythingSampling) {
  // q and p are the same chain over the same model; they differ only by the rounding of a
  // batched decode against single-token ones, so min(1, p/q) is 1 up to that rounding.
  auto draft_ctx = testing_util::another_context(q4_, backend_, 512);
  sampling::SamplerParams params;
  params.seed = 11;
  params.temp = 1.0f;
  const SpecRun run =
      speculate(*q4_.context, params, model_draft(*draft_ctx, params), prompt_, 40, 4);
  report("draft = target, temp 1", run.stats);
  EXPECT_EQ(run.tokens.size(), 40u);
  EXPECT_GE(run.stats.acceptance(), 0.97);
}

TEST_F(TinyLlamaSpecTest, QuantizedDraftForFinerTargetIsGreedyIdentical) {
  // The target is an f16 copy of the q4_0 model, the q4_0 original drafts for it. The weights
  // agree up to f16 rounding, but the q4_0 kernels quantize activations to q8_0 and the f16 ones
  // do not: with logits this flat, that flips some argmaxes, so passes end in rejections.
  Loaded f16 = finer_copy(TensorType::kF16);
  ASSERT_TRUE(check_vocab_compatible(f16.tokenizer->vocab(), q4_.tokenizer->vocab()).ok());
  const auto plain = testing_util::plain_tokens(f16, backend_, greedy_params(), prompt_, 48);
  const SpecRun run = speculate(*f16.context, greedy_params(),
                                model_draft(*q4_.context, greedy_params()), prompt_, 48, 5);
  report("q4_0 drafts for its f16 copy, greedy", run.stats);
  EXPECT_EQ(run.tokens, plain);
  EXPECT_GT(run.stats.n_accepted, 0) << "some guesses are right";
  EXPECT_LT(run.stats.n_accepted, run.stats.n_checked) << "and some are rejected";
}

TEST_F(TinyLlamaSpecTest, QuantizedDraftForOriginalF16TargetIsGreedyIdentical) {
  // The f16 model the q4_0 fixture was quantized from (../shared only): q4_0's rounding of the
  // weights themselves, not just of the activations.
  LATHE_FIXTURE_OR_SKIP(f16_path, "models/tiny-llama-f16.gguf");
  auto f16 = testing_util::load(f16_path, backend_, 512);
  ASSERT_TRUE(f16) << f16.error().message();
  ASSERT_TRUE(check_vocab_compatible(f16->tokenizer->vocab(), q4_.tokenizer->vocab()).ok());
  const auto plain = testing_util::plain_tokens(*f16, backend_, greedy_params(), prompt_, 48);
  const SpecRun run = speculate(*f16->context, greedy_params(),
                                model_draft(*q4_.context, greedy_params()), prompt_, 48, 5);
  report("q4_0 drafts for the original f16, greedy", run.stats);
  EXPECT_EQ(run.tokens, plain);
  // About 21 % of the tested guesses are right (stories260K, a trained model, gets 98 % at q8_0
  // below). Still, every right guess is a token for free.
  EXPECT_GT(run.stats.alpha(), 0.15);
}

TEST_F(TinyLlamaSpecTest, PenaltiesKeepGreedyIdentity) {
  // Penalties make p depend on the history: drafted tokens must enter the draft's history only
  // for the pass, and accepted ones the target's for good.
  Loaded q8 = finer_copy(TensorType::kQ8_0);
  sampling::SamplerParams params = greedy_params();
  params.repeat_penalty = 1.3f;
  params.frequency_penalty = 0.2f;
  const auto plain = testing_util::plain_tokens(q8, backend_, params, prompt_, 48);
  const SpecRun run =
      speculate(*q8.context, params, model_draft(*q4_.context, params), prompt_, 48, 4);
  report("penalties, q4_0 for q8_0, greedy", run.stats);
  EXPECT_EQ(run.tokens, plain);
  EXPECT_GT(run.stats.n_drafted, 0);
}

TEST_F(TinyLlamaSpecTest, PMinOneDraftsNothing) {
  // No guess is ever that sure, so every pass decodes one token alone.
  Loaded q8 = finer_copy(TensorType::kQ8_0);
  const auto plain = testing_util::plain_tokens(q8, backend_, greedy_params(), prompt_, 24);
  const SpecRun never = speculate(*q8.context, greedy_params(),
                                  model_draft(*q4_.context, greedy_params(), 1.0f), prompt_, 24, 6);
  EXPECT_EQ(never.tokens, plain);
  EXPECT_EQ(never.stats.n_drafted, 0);
  EXPECT_EQ(never.stats.n_passes, 24);
}

TEST_F(TinyLlamaSpecTest, LookupIsGreedyIdentical) {
  // A prompt that repeats itself gives lookup matches from the first pass on. The random model
  // rarely continues a pattern, so most of these guesses are rejected (ScriptedDraft below
  // covers accepted point masses exactly).
  const auto prompt = q4_.tokenizer->encode("a b c a b c a b c a b", true, false);
  const auto plain = testing_util::plain_tokens(q4_, backend_, greedy_params(), prompt, 64);
  auto lookup = LookupDraft::create({1, 3});
  ASSERT_TRUE(lookup);
  const SpecRun run =
      speculate(*q4_.context, greedy_params(), std::move(lookup).value(), prompt, 64, 6);
  report("lookup, greedy", run.stats);
  EXPECT_EQ(run.tokens, plain);
  EXPECT_GT(run.stats.n_drafted, 0);
}

// Proposes the target's own greedy continuation, known in advance, with every third token of it
// wrong: which guesses pass is then known exactly, whatever the model computes.
class ScriptedDraft : public DraftSource {
 public:
  ScriptedDraft(size_t prompt_size, std::vector<TokenId> truth)
      : prompt_size_(prompt_size), truth_(std::move(truth)) {}
  static bool wrong(size_t k) { return k % 3 == 2; }
  std::string describe() const override { return "scripted"; }
  Status begin(std::span<const TokenId>) override { return Status(); }
  Status propose(std::span<const TokenId> history, int max_tokens, Draft& out) override {
    out.clear();
    for (size_t k = history.size() - prompt_size_;
         k < truth_.size() && out.size() < static_cast<size_t>(max_tokens); ++k) {
      out.tokens.push_back(wrong(k) ? (truth_[k] + 1) % 32000 : truth_[k]);
      out.dists.emplace_back();
    }
    return Status();
  }

 private:
  size_t prompt_size_;
  std::vector<TokenId> truth_;
};

TEST_F(TinyLlamaSpecTest, PointMassDraftsPassExactlyWhenRight) {
  const int64_t n = 40;
  const int n_draft = 4;
  const auto plain = testing_util::plain_tokens(q4_, backend_, greedy_params(), prompt_, n);
  ASSERT_EQ(plain.size(), static_cast<size_t>(n));
  // Each pass keeps the right guesses up to the first wrong one, then the target's own token.
  int64_t passes = 0, accepted = 0, checked = 0;
  for (int64_t k = 0; k < n; ++passes) {
    int64_t good = 0;
    const int64_t drafted = std::min<int64_t>(n_draft, n - k - 1);
    while (good < drafted && !ScriptedDraft::wrong(static_cast<size_t>(k + good))) ++good;
    accepted += good;
    checked += std::min(good + 1, drafted);
    k += good + 1;
  }
  const SpecRun run =
      speculate(*q4_.context, greedy_params(),
                std::make_unique<ScriptedDraft>(prompt_.size(), plain), prompt_, n, n_draft);
  report("scripted point masses, greedy", run.stats);
  EXPECT_EQ(run.tokens, plain);
  EXPECT_EQ(run.stats.n_passes, passes);
  EXPECT_EQ(run.stats.n_accepted, accepted);
  EXPECT_EQ(run.stats.n_checked, checked);
}

TEST_F(TinyLlamaSpecTest, DraftMinDropsShortDrafts) {
  const auto plain = testing_util::plain_tokens(q4_, backend_, greedy_params(), prompt_, 32);
  auto sampler = sampling::Sampler::create(greedy_params(), 32000);
  SpecParams sp;
  sp.n_draft = 4;
  sp.n_draft_min = 3;
  auto draft_ctx = testing_util::another_context(q4_, backend_, 512);
  ModelDraftParams dp;
  dp.sampler = greedy_params();
  dp.p_min = 0.12f;  // about the flat model's typical confidence: some drafts stop short
  auto draft = ModelDraft::create(*draft_ctx, dp);
  ASSERT_TRUE(draft);
  auto dec = SpeculativeDecoder::create(*q4_.context, std::move(sampler).value(),
                                        std::move(draft).value(), sp);
  ASSERT_TRUE(dec);
  ASSERT_TRUE(dec->prefill(prompt_).ok());
  std::vector<TokenId> tokens;
  while (tokens.size() < 32) {
    auto r = dec->step(static_cast<int64_t>(32 - tokens.size()));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(r->n_drafted == 0 || r->n_drafted >= 3 || r->tokens.size() < 4) << r->n_drafted;
    tokens.insert(tokens.end(), r->tokens.begin(), r->tokens.end());
  }
  report("draft-min 3, p-min 0.12", dec->stats());
  EXPECT_EQ(tokens, plain);
}

TEST_F(TinyLlamaSpecTest, PromptAlreadyInTheTargetIsReused) {
  // A bench decodes the prompt itself and then hands over: n_cached says so.
  runtime::Batch batch;
  batch.add_sequence(prompt_, 0, 0);
  ASSERT_TRUE(q4_.context->decode(batch).ok());
  const int64_t tokens_before = q4_.context->stats().n_tokens;
  auto draft_ctx = testing_util::another_context(q4_, backend_, 512);
  auto sampler = sampling::Sampler::create(greedy_params(), 32000);
  ASSERT_TRUE(sampler);
  auto dec = SpeculativeDecoder::create(*q4_.context, std::move(sampler).value(),
                                        model_draft(*draft_ctx, greedy_params()), {});
  ASSERT_TRUE(dec);
  ASSERT_TRUE(dec->prefill(prompt_, static_cast<int64_t>(prompt_.size())).ok());
  EXPECT_EQ(q4_.context->stats().n_tokens, tokens_before) << "nothing decoded again";
  GenerateOptions go;
  go.n_tokens = 16;
  auto out = dec->generate(go);
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->tokens, testing_util::plain_tokens(q4_, backend_, greedy_params(), prompt_, 16));
}

TEST_F(TinyLlamaSpecTest, StepHonoursItsCapAndNeedsPrefill) {
  auto draft_ctx = testing_util::another_context(q4_, backend_, 512);
  auto sampler = sampling::Sampler::create(greedy_params(), 32000);
  SpecParams sp;
  sp.n_draft = 8;
  auto dec = SpeculativeDecoder::create(*q4_.context, std::move(sampler).value(),
                                        model_draft(*draft_ctx, greedy_params()), sp);
  ASSERT_TRUE(dec);
  EXPECT_EQ(dec->step().status().code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(dec->prefill(prompt_).ok());
  auto r = dec->step(3);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->tokens.size(), 3u);
  EXPECT_EQ(r->n_drafted, 2);
}

TEST_F(TinyLlamaSpecTest, FullContextStopsCleanly) {
  auto target = testing_util::another_context(q4_, backend_, 32);
  auto draft_ctx = testing_util::another_context(q4_, backend_, 24);  // smaller than the target's
  auto sampler = sampling::Sampler::create(greedy_params(), 32000);
  SpecParams sp;
  sp.n_draft = 6;
  auto dec = SpeculativeDecoder::create(*target, std::move(sampler).value(),
                                        model_draft(*draft_ctx, greedy_params()), sp);
  ASSERT_TRUE(dec);
  ASSERT_TRUE(dec->prefill(prompt_).ok());
  auto out = dec->generate({});
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_TRUE(out->context_full);
  // Every position of the context was used: the prompt and all generated tokens but the last.
  EXPECT_EQ(static_cast<int64_t>(dec->history().size()) - 1, 32);
  EXPECT_EQ(out->tokens, testing_util::plain_tokens(q4_, backend_, greedy_params(), prompt_,
                                                    static_cast<int64_t>(out->tokens.size())));
  EXPECT_EQ(dec->step().status().code(), ErrorCode::kOutOfRange);
}

TEST_F(TinyLlamaSpecTest, BadParametersAreErrors) {
  auto make = [&](int n_draft, int n_min) {
    auto sampler = sampling::Sampler::create(greedy_params(), 32000);
    SpecParams sp;
    sp.n_draft = n_draft;
    sp.n_draft_min = n_min;
    return SpeculativeDecoder::create(*q4_.context, std::move(sampler).value(),
                                      LookupDraft::create({}).value(), sp)
        .status();
  };
  EXPECT_TRUE(make(4, 2).ok());
  EXPECT_EQ(make(4, 5).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(make(-1, 0).code(), ErrorCode::kInvalidArgument);
  auto small = sampling::Sampler::create(greedy_params(), 512);
  EXPECT_FALSE(SpeculativeDecoder::create(*q4_.context, std::move(small).value(),
                                          LookupDraft::create({}).value(), {}));
  EXPECT_FALSE(LookupDraft::create({0, 3}));
  EXPECT_FALSE(LookupDraft::create({3, 2}));
  ModelDraftParams dp;
  dp.p_min = 1.5f;
  EXPECT_FALSE(ModelDraft::create(*q4_.context, dp));
}

TEST_F(TinyLlamaSpecTest, VocabularyMismatchNamesTheFirstDifferentToken) {
  // The same model with one token's text changed.
  const std::string edited = lathe::testing::make_temp_dir("vocab") + "/edited.gguf";
  Status written = testing_util::copy_with_token_text(path_, edited, 259, "<draft-only>");
  ASSERT_TRUE(written.ok()) << written.message();
  auto other = testing_util::load(edited, backend_, 64);
  ASSERT_TRUE(other) << other.error().message();
  Status st = check_vocab_compatible(q4_.tokenizer->vocab(), other->tokenizer->vocab());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(),
            "the draft's vocabulary differs from the target's at token 259: target "
            "'\xe2\x96\x81\xe2\x96\x81', draft '<draft-only>' (speculative decoding needs the same "
            "tokens)");
  // Same Llama 2 vocabulary under another architecture: fine.
  LATHE_FIXTURE_OR_SKIP(qwen3, "models/tiny-qwen3-q8_0.gguf");
  auto q3 = testing_util::load(qwen3, backend_, 64);
  ASSERT_TRUE(q3) << q3.error().message();
  EXPECT_TRUE(check_vocab_compatible(q4_.tokenizer->vocab(), q3->tokenizer->vocab()).ok());
}

TEST_F(TinyLlamaSpecTest, VocabularyOfAnotherTokenizerIsRefused) {
  // stories260K's own 512-token vocabulary (../shared only): differs at its first merge.
  LATHE_FIXTURE_OR_SKIP(stories, "real/stories260K/stories260K.gguf");
  auto other = testing_util::load(stories, backend_, 64);
  ASSERT_TRUE(other) << other.error().message();
  Status st = check_vocab_compatible(q4_.tokenizer->vocab(), other->tokenizer->vocab());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(
      st.message().find(
          "differs from the target's at token 259: target '\xe2\x96\x81\xe2\x96\x81', draft '"),
      std::string::npos)
      << st.message();
}

// stories260K (a trained model, f32) drafting for itself at q8_0: real text, high acceptance.
class StoriesSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LATHE_FIXTURE_OR_SKIP(path, "real/stories260K/stories260K.gguf");
    backend_ = testing_util::make_backend(1);
    auto loaded = testing_util::load(path, backend_, 512);
    ASSERT_TRUE(loaded) << loaded.error().message();
    f32_ = std::move(loaded).value();
    const std::string dir = lathe::testing::make_temp_dir("stories");
    const std::string q8 = dir + "/stories260K-q8_0.gguf";
    Status st = testing_util::requantize(path, q8, TensorType::kQ8_0);
    ASSERT_TRUE(st.ok()) << st.message();
    auto draft = testing_util::load(q8, backend_, 512);
    ASSERT_TRUE(draft) << draft.error().message();
    q8_ = std::move(draft).value();
    prompt_ = f32_.tokenizer->encode("Once upon a time", true, false);
  }
  std::shared_ptr<backend::CpuBackend> backend_;
  Loaded f32_, q8_;
  std::vector<TokenId> prompt_;
};

TEST_F(StoriesSpecTest, Q8DraftIsGreedyIdenticalWithHighAcceptance) {
  EXPECT_EQ(q8_.model->token_embd().type, TensorType::kQ8_0);
  ASSERT_TRUE(check_vocab_compatible(f32_.tokenizer->vocab(), q8_.tokenizer->vocab()).ok());
  const auto plain = testing_util::plain_tokens(f32_, backend_, greedy_params(), prompt_, 100);
  const SpecRun run = speculate(*f32_.context, greedy_params(),
                                model_draft(*q8_.context, greedy_params()), prompt_, 100, 6);
  report("stories260K q8_0 drafts for f32, greedy", run.stats);
  EXPECT_EQ(run.tokens, plain);
  EXPECT_GT(run.stats.acceptance(), 0.8);
  EXPECT_GT(run.stats.tokens_per_pass(), 3.0);
}

TEST_F(StoriesSpecTest, PenaltiesKeepGreedyIdentity) {
  // Penalties make p depend on the history: drafted tokens must enter the draft's history only
  // for the pass, and accepted ones the target's for good.
  sampling::SamplerParams params = greedy_params();
  params.repeat_penalty = 1.3f;
  params.frequency_penalty = 0.2f;
  const auto plain = testing_util::plain_tokens(f32_, backend_, params, prompt_, 80);
  const SpecRun run =
      speculate(*f32_.context, params, model_draft(*q8_.context, params), prompt_, 80, 5);
  report("penalties, greedy", run.stats);
  EXPECT_EQ(run.tokens, plain);
  EXPECT_GT(run.stats.n_accepted, 0);
}

TEST_F(StoriesSpecTest, PMinStopsDraftingWhenTheDraftIsUnsure) {
  const auto plain = testing_util::plain_tokens(f32_, backend_, greedy_params(), prompt_, 60);
  // p-min 1: no guess is ever that sure, so nothing is drafted and every pass decodes one token.
  const SpecRun never = speculate(*f32_.context, greedy_params(),
                                  model_draft(*q8_.context, greedy_params(), 1.0f), prompt_, 60, 6);
  EXPECT_EQ(never.tokens, plain);
  EXPECT_EQ(never.stats.n_drafted, 0);
  EXPECT_EQ(never.stats.n_passes, 60);
  // A middling p-min drafts less than none, and what it drafts is accepted more often.
  auto ctx2 = testing_util::another_context(q8_, backend_, 512);
  const SpecRun all = speculate(*f32_.context, greedy_params(), model_draft(*ctx2, greedy_params()),
                                prompt_, 60, 6);
  auto ctx3 = testing_util::another_context(q8_, backend_, 512);
  const SpecRun some = speculate(*f32_.context, greedy_params(),
                                 model_draft(*ctx3, greedy_params(), 0.6f), prompt_, 60, 6);
  report("p-min 0", all.stats);
  report("p-min 0.6", some.stats);
  EXPECT_EQ(some.tokens, plain);
  EXPECT_LT(some.stats.drafted_per_pass(), all.stats.drafted_per_pass());
  EXPECT_GE(some.stats.acceptance(), all.stats.acceptance());
}

TEST_F(StoriesSpecTest, LookupDraftsFromTheTextItself) {
  // A prompt that the story repeats: lookup proposes the continuation of earlier n-grams.
  const auto prompt = f32_.tokenizer->encode(
      "Once upon a time, there was a little girl named Lily. She loved to play outside. Once "
      "upon a time, there was a little girl named Lily. She",
      true, false);
  const auto plain = testing_util::plain_tokens(f32_, backend_, greedy_params(), prompt, 80);
  auto lookup = LookupDraft::create({1, 3});
  ASSERT_TRUE(lookup);
  const SpecRun run =
      speculate(*f32_.context, greedy_params(), std::move(lookup).value(), prompt, 80, 8);
  report("lookup, greedy", run.stats);
  EXPECT_EQ(run.tokens, plain);
  EXPECT_GT(run.stats.n_accepted, 10);
  EXPECT_LT(run.stats.n_passes, 80);
}

TEST_F(StoriesSpecTest, DraftMinDropsShortDrafts) {
  const auto plain = testing_util::plain_tokens(f32_, backend_, greedy_params(), prompt_, 50);
  auto sampler = sampling::Sampler::create(greedy_params(), 512);
  SpecParams sp;
  sp.n_draft = 4;
  sp.n_draft_min = 4;
  auto lookup = LookupDraft::create({1, 3});
  auto dec = SpeculativeDecoder::create(*f32_.context, std::move(sampler).value(),
                                        std::move(lookup).value(), sp);
  ASSERT_TRUE(dec);
  ASSERT_TRUE(dec->prefill(prompt_).ok());
  std::vector<TokenId> tokens;
  while (tokens.size() < 50) {
    auto r = dec->step(static_cast<int64_t>(50 - tokens.size()));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(r->n_drafted == 0 || r->n_drafted == 4 || r->tokens.size() < 4) << r->n_drafted;
    tokens.insert(tokens.end(), r->tokens.begin(), r->tokens.end());
  }
  EXPECT_EQ(tokens, plain);
}

}  // namespace
}  // namespace lathe::spec
