// Speculative sampling keeps the target's distribution exactly. Over many runs from one prompt,
// the frequencies of the first generated tokens are checked with chi-square tests against the
// distributions that plain sampling from the target has, computed exactly by enumerating the
// chain's candidates: token 1, the pair (token 1, token 2), and token 3.
//
// The draft sources are picked to exercise every branch of the acceptance rule: a close draft
// (mostly accepted), a hot draft (temperature 3: mostly rejected, so the residual max(0, p - q)
// is drawn often), a skewed random proposer, n-gram lookup and fixed guesses (point masses). A
// control shows the test has power: the hot draft's own guesses fail it.
//
// Each test runs on two models. tiny-llama q4_0 is in the repository, so these run everywhere:
// its weights are random and its logits nearly flat, so the chain keeps the top 10 (the pair of
// tokens 1 and 2 then has 100 outcomes, each expected often enough for its own bin), and its
// close draft is a q8_0 copy written at test time. stories260K (../shared) is a trained model
// whose distributions are far from flat; it runs when present.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "spec/lookup_draft.h"
#include "spec/model_draft.h"
#include "spec_test_util.h"

namespace lathe::spec {
namespace {

using Dist = std::map<int64_t, double>;  // outcome -> probability
using Counts = std::map<int64_t, int64_t>;

constexpr int kRuns = 3000;
constexpr int kPositions = 3;

// A model to test on, and the chains that suit it.
struct ModelCase {
  const char* name;
  const char* fixture;
  TensorType close_draft_type;  // the close draft is a copy of the target in this type
  int32_t top_k;                // the target's chain: broad enough that many tokens compete
  int32_t hot_top_k;            // the hot draft's top-k (0: the whole vocabulary)
  int threads;
  const char* prompt;
  const char* repeating_prompt;  // a prompt that lookup finds matches in
};

const ModelCase kTinyLlama = {
    "TinyLlama",        "models/tiny-llama-q4_0.gguf", TensorType::kQ8_0, 10, 100, 2,
    "Once upon a time", "a b c a b c a b c a b"};
const ModelCase kStories = {
    "Stories260K", "real/stories260K/stories260K.gguf", TensorType::kQ4_0, 40, 0, 1,
    // Many girls, boys, dogs and cats can follow.
    "Once upon a time, there was a little",
    // Repeats, so lookup proposes "little ..." continuations.
    "Once upon a time, there was a little girl. Once upon a time, there was a little"};

sampling::SamplerParams target_params(uint32_t seed, int32_t top_k) {
  sampling::SamplerParams p;
  p.seed = seed;
  p.temp = 1.0f;
  p.top_k = top_k;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

struct ChiSquare {
  double statistic = 0.0;
  int df = 0;
  double critical = 0.0;   // at significance 1e-4
  int64_t impossible = 0;  // observations of outcomes with probability 0
  bool passes() const { return impossible == 0 && statistic <= critical; }
};

// Wilson-Hilferty approximation of the chi-square quantile for df degrees of freedom.
double chi_square_critical(int df, double z) {
  const double k = df;
  const double t = 1.0 - 2.0 / (9.0 * k) + z * std::sqrt(2.0 / (9.0 * k));
  return k * t * t * t;
}

// Outcomes expected at least 5 times get a bin each; the rest share one bin.
ChiSquare chi_square(const Dist& expected, const Counts& observed, int64_t n) {
  ChiSquare out;
  std::vector<std::pair<double, double>> bins;  // expected count, observed count
  double pooled_e = 0.0, pooled_o = 0.0;
  for (const auto& [outcome, p] : expected) {
    const auto it = observed.find(outcome);
    const double o = it == observed.end() ? 0.0 : static_cast<double>(it->second);
    const double e = p * static_cast<double>(n);
    if (e >= 5.0) {
      bins.emplace_back(e, o);
    } else {
      pooled_e += e;
      pooled_o += o;
    }
  }
  for (const auto& [outcome, c] : observed) {
    if (expected.find(outcome) == expected.end()) out.impossible += c;
  }
  if (pooled_e >= 5.0 || bins.empty()) {
    bins.emplace_back(pooled_e, pooled_o);
  } else if (pooled_e > 0.0) {
    auto smallest = std::min_element(bins.begin(), bins.end());
    smallest->first += pooled_e;
    smallest->second += pooled_o;
  }
  for (const auto& [e, o] : bins) out.statistic += (o - e) * (o - e) / e;
  out.df = static_cast<int>(bins.size()) - 1;
  out.critical = out.df > 0 ? chi_square_critical(out.df, 3.719) : 0.0;
  return out;
}

// The exact distributions of plain sampling: token 1, pair (1, 2) keyed t1 * V + t2, token 3.
struct Exact {
  Dist first, pair, third;
};

std::vector<std::pair<TokenId, double>> chain_dist(sampling::Sampler& s, runtime::Context& ctx) {
  auto d =
      s.distribution(std::span<const float>(ctx.logits(0), static_cast<size_t>(ctx.n_vocab())));
  EXPECT_TRUE(d);
  std::vector<std::pair<TokenId, double>> out;
  for (const auto& td : *d) {
    if (td.p > 0) out.emplace_back(td.id, td.p);
  }
  return out;
}

Exact exact_distributions(runtime::Context& ctx, const std::vector<TokenId>& prompt,
                          int32_t top_k) {
  auto sampler =
      sampling::Sampler::create(target_params(1, top_k), static_cast<int32_t>(ctx.n_vocab()));
  EXPECT_TRUE(sampler);
  const auto v = ctx.n_vocab();
  const auto p0 = static_cast<int32_t>(prompt.size());
  ctx.kv().seq_rm(0, 0, -1);
  runtime::Batch batch;
  batch.add_sequence(prompt, 0, 0);
  EXPECT_TRUE(ctx.decode(batch).ok());
  // After add_sequence the logits are at the last index; move them to index 0 by decoding the
  // last prompt token alone.
  ctx.kv().seq_rm(0, p0 - 1, -1);
  batch.clear();
  batch.add(prompt.back(), p0 - 1, {0}, true);
  EXPECT_TRUE(ctx.decode(batch).ok());
  Exact ex;
  for (const auto& [t1, p1] : chain_dist(*sampler, ctx)) {
    ex.first[t1] += p1;
    ctx.kv().seq_rm(0, p0, -1);
    batch.clear();
    batch.add(t1, p0, {0}, true);
    EXPECT_TRUE(ctx.decode(batch).ok());
    for (const auto& [t2, p2] : chain_dist(*sampler, ctx)) {
      ex.pair[t1 * v + t2] += p1 * p2;
      ctx.kv().seq_rm(0, p0 + 1, -1);
      batch.clear();
      batch.add(t2, p0 + 1, {0}, true);
      EXPECT_TRUE(ctx.decode(batch).ok());
      for (const auto& [t3, p3] : chain_dist(*sampler, ctx)) ex.third[t3] += p1 * p2 * p3;
    }
  }
  ctx.kv().seq_rm(0, 0, -1);
  return ex;
}

struct Observed {
  Counts first, pair, third;
  int64_t n = 0;
  void add(const std::vector<TokenId>& t, int64_t v) {
    ASSERT_GE(t.size(), 3u);
    ++first[t[0]];
    ++pair[t[0] * v + t[1]];
    ++third[t[2]];
    ++n;
  }
};

void expect_matches(const char* what, const Exact& ex, const Observed& obs,
                    bool expect_pass = true) {
  const ChiSquare c1 = chi_square(ex.first, obs.first, obs.n);
  const ChiSquare c12 = chi_square(ex.pair, obs.pair, obs.n);
  const ChiSquare c3 = chi_square(ex.third, obs.third, obs.n);
  std::printf(
      "[ %s ] chi2 token 1: %.1f (df %d, limit %.1f); pair 1-2: %.1f (df %d, limit %.1f); "
      "token 3: %.1f (df %d, limit %.1f)\n",
      what, c1.statistic, c1.df, c1.critical, c12.statistic, c12.df, c12.critical, c3.statistic,
      c3.df, c3.critical);
  if (expect_pass) {
    EXPECT_TRUE(c1.passes()) << what << ": token 1, impossible " << c1.impossible;
    EXPECT_TRUE(c12.passes()) << what << ": pair, impossible " << c12.impossible;
    EXPECT_TRUE(c3.passes()) << what << ": token 3, impossible " << c3.impossible;
    EXPECT_GE(c1.df, 5) << "the test needs a spread-out distribution";
  } else {
    EXPECT_FALSE(c1.passes() && c12.passes() && c3.passes()) << what;
  }
}

// Proposes tokens drawn independently from a fixed skewed q over `support`.
class SkewedRandomDraft : public DraftSource {
 public:
  SkewedRandomDraft(const std::vector<TokenId>& support, uint32_t seed) : rng_(seed) {
    double total = 0.0;
    for (TokenId t : support) total += 1.0 + t % 5;
    for (TokenId t : support) {
      q_.push_back({t, 0.0f, static_cast<float>((1.0 + t % 5) / total)});
      weights_.push_back(1.0 + t % 5);
    }
  }
  std::string describe() const override { return "skewed random"; }
  Status begin(std::span<const TokenId>) override { return Status(); }
  Status propose(std::span<const TokenId>, int max_tokens, Draft& out) override {
    out.clear();
    std::discrete_distribution<size_t> pick(weights_.begin(), weights_.end());
    for (int i = 0; i < max_tokens; ++i) {
      out.tokens.push_back(q_[pick(rng_)].id);
      out.dists.push_back(q_);
    }
    return Status();
  }

 private:
  std::mt19937 rng_;
  std::vector<sampling::TokenData> q_;
  std::vector<double> weights_;
};

// Proposes the same tokens after the prompt every time, as point masses.
class FixedDraft : public DraftSource {
 public:
  FixedDraft(size_t prompt_size, std::vector<TokenId> tokens)
      : prompt_size_(prompt_size), tokens_(std::move(tokens)) {}
  std::string describe() const override { return "fixed"; }
  Status begin(std::span<const TokenId>) override { return Status(); }
  Status propose(std::span<const TokenId> history, int max_tokens, Draft& out) override {
    out.clear();
    for (size_t k = history.size() - prompt_size_;
         k < tokens_.size() && out.size() < static_cast<size_t>(max_tokens); ++k) {
      out.tokens.push_back(tokens_[k]);
      out.dists.emplace_back();
    }
    return Status();
  }

 private:
  size_t prompt_size_;
  std::vector<TokenId> tokens_;
};

class SpeculativeDistributionTest : public ::testing::TestWithParam<ModelCase> {
 protected:
  void SetUp() override {
    const ModelCase& mc = GetParam();
    LATHE_FIXTURE_OR_SKIP(path, mc.fixture);
    backend_ = testing_util::make_backend(mc.threads);
    auto loaded = testing_util::load(path, backend_, 64);
    ASSERT_TRUE(loaded) << loaded.error().message();
    target_ = std::move(loaded).value();
    n_vocab_ = static_cast<int32_t>(target_.context->n_vocab());
    const std::string close = lathe::testing::make_temp_dir("dist") + "/close-draft.gguf";
    ASSERT_TRUE(testing_util::requantize(path, close, mc.close_draft_type).ok());
    auto draft = testing_util::load(close, backend_, 64);
    ASSERT_TRUE(draft) << draft.error().message();
    draft_ = std::move(draft).value();
    prompt_ = target_.tokenizer->encode(mc.prompt, true, false);
  }

  Exact exact(const std::vector<TokenId>& prompt) {
    return exact_distributions(*target_.context, prompt, GetParam().top_k);
  }

  // kRuns generations of kPositions tokens through one decoder: its random stream runs on, so
  // each run is an independent sample. Returns the counts.
  Observed sample_speculative(const char* label, std::unique_ptr<DraftSource> draft,
                              const std::vector<TokenId>& prompt, int n_draft,
                              SpecStats* stats_out = nullptr) {
    Observed obs;
    auto sampler = sampling::Sampler::create(target_params(12345, GetParam().top_k), n_vocab_);
    EXPECT_TRUE(sampler);
    SpecParams sp;
    sp.n_draft = n_draft;
    auto dec = SpeculativeDecoder::create(*target_.context, std::move(sampler).value(),
                                          std::move(draft), sp);
    EXPECT_TRUE(dec) << dec.error().message();
    SpecStats total;
    for (int run = 0; run < kRuns; ++run) {
      // The prompt stays in the target's cache from one run to the next.
      Status st = dec->prefill(prompt, run == 0 ? 0 : static_cast<int64_t>(prompt.size()));
      EXPECT_TRUE(st.ok()) << st.message();
      GenerateOptions go;
      go.n_tokens = kPositions;
      auto out = dec->generate(go);
      EXPECT_TRUE(out) << out.error().message();
      if (!out) break;
      obs.add(out->tokens, n_vocab_);
      total.n_drafted += dec->stats().n_drafted;
      total.n_checked += dec->stats().n_checked;
      total.n_accepted += dec->stats().n_accepted;
      total.n_passes += dec->stats().n_passes;
      total.n_generated += dec->stats().n_generated;
    }
    std::printf(
        "[ %s ] %.1f %% of %lld drafted tokens accepted (alpha %.3f), %.2f tokens per "
        "pass\n",
        label, 100.0 * total.acceptance(), static_cast<long long>(total.n_drafted), total.alpha(),
        total.tokens_per_pass());
    if (stats_out) *stats_out = total;
    return obs;
  }

  std::unique_ptr<DraftSource> model_draft(float temp, uint32_t seed) {
    ModelDraftParams dp;
    dp.sampler = target_params(seed, GetParam().top_k);
    dp.sampler.temp = temp;
    if (temp > 1.0f) dp.sampler.top_k = GetParam().hot_top_k;
    auto d = ModelDraft::create(*draft_.context, dp);
    EXPECT_TRUE(d) << d.error().message();
    return std::move(d).value();
  }

  std::shared_ptr<backend::CpuBackend> backend_;
  testing_util::Loaded target_, draft_;
  int32_t n_vocab_ = 0;
  std::vector<TokenId> prompt_;
};

TEST_P(SpeculativeDistributionTest, PlainSamplingPassesTheTestItself) {
  const Exact ex = exact(prompt_);
  auto sampler = sampling::Sampler::create(target_params(777, GetParam().top_k), n_vocab_);
  ASSERT_TRUE(sampler);
  Observed obs;
  for (int run = 0; run < kRuns; ++run) {
    auto out = generate_plain(*target_.context, *sampler, prompt_,
                              run == 0 ? 0 : static_cast<int64_t>(prompt_.size()), kPositions);
    ASSERT_TRUE(out) << out.error().message();
    obs.add(out->tokens, n_vocab_);
  }
  expect_matches("plain sampling", ex, obs);
}

TEST_P(SpeculativeDistributionTest, CloseDraftKeepsTheTargetDistribution) {
  const Exact ex = exact(prompt_);
  SpecStats stats;
  const Observed obs =
      sample_speculative("close draft, same chain", model_draft(1.0f, 99), prompt_, 4, &stats);
  expect_matches("close draft, same chain", ex, obs);
  EXPECT_GT(stats.acceptance(), 0.5);
}

TEST_P(SpeculativeDistributionTest, HotDraftKeepsTheTargetDistribution) {
  const Exact ex = exact(prompt_);
  SpecStats stats;
  const Observed obs =
      sample_speculative("draft at temperature 3", model_draft(3.0f, 98), prompt_, 4, &stats);
  expect_matches("draft at temperature 3", ex, obs);
  EXPECT_LT(stats.acceptance(), 0.5) << "the residual branch must be exercised";
}

TEST_P(SpeculativeDistributionTest, SkewedRandomDraftKeepsTheTargetDistribution) {
  const Exact ex = exact(prompt_);
  // A small vocabulary is proposed whole. A large one would make almost every guess one the
  // target never picks, so the support is every token the target can pick in the first three
  // positions (accepted with probability min(1, p/q)) and 64 it cannot.
  std::vector<TokenId> support;
  if (n_vocab_ <= 1024) {
    for (TokenId t = 0; t < n_vocab_; ++t) support.push_back(t);
  } else {
    std::set<TokenId> ids;
    for (const auto& [t, p] : ex.first) ids.insert(static_cast<TokenId>(t));
    for (const auto& [key, p] : ex.pair) ids.insert(static_cast<TokenId>(key % n_vocab_));
    for (const auto& [t, p] : ex.third) ids.insert(static_cast<TokenId>(t));
    for (TokenId t = 1000; t < 1064; ++t) ids.insert(t);
    support.assign(ids.begin(), ids.end());
  }
  SpecStats stats;
  const Observed obs = sample_speculative(
      "skewed random draft", std::make_unique<SkewedRandomDraft>(support, 5), prompt_, 2, &stats);
  expect_matches("skewed random draft", ex, obs);
  EXPECT_GT(stats.n_accepted, 0);
  EXPECT_LT(stats.n_accepted, stats.n_checked);
}

TEST_P(SpeculativeDistributionTest, LookupDraftKeepsTheTargetDistribution) {
  const auto prompt = target_.tokenizer->encode(GetParam().repeating_prompt, true, false);
  const Exact ex = exact(prompt);
  SpecStats stats;
  const Observed obs =
      sample_speculative("lookup draft", LookupDraft::create({1, 3}).value(), prompt, 3, &stats);
  expect_matches("lookup draft", ex, obs);
  EXPECT_GT(stats.n_drafted, kRuns) << "lookup must have proposed";
}

TEST_P(SpeculativeDistributionTest, FixedGuessesKeepTheTargetDistribution) {
  // Point masses the target sometimes agrees with: its likeliest first token, then its likeliest
  // second token after that, then a token it never picks third. Each is kept with probability
  // p(d), so both outcomes of the test occur.
  const Exact ex = exact(prompt_);
  auto best = [](const Dist& d, int64_t lo, int64_t hi) {
    int64_t arg = -1;
    double p_max = -1.0;
    for (auto it = d.lower_bound(lo); it != d.end() && it->first < hi; ++it) {
      if (it->second > p_max) {
        p_max = it->second;
        arg = it->first;
      }
    }
    return arg;
  };
  const auto first = static_cast<TokenId>(best(ex.first, 0, n_vocab_));
  const int64_t v = n_vocab_;
  const auto second = static_cast<TokenId>(best(ex.pair, first * v, (first + 1) * v) % v);
  TokenId never = 0;
  while (ex.third.count(never) != 0) ++never;
  SpecStats stats;
  const Observed obs = sample_speculative(
      "fixed guesses",
      std::make_unique<FixedDraft>(prompt_.size(), std::vector<TokenId>{first, second, never}),
      prompt_, 3, &stats);
  expect_matches("fixed guesses", ex, obs);
  EXPECT_GT(stats.n_accepted, 0);
  EXPECT_LT(stats.n_accepted, stats.n_checked);
}

TEST_P(SpeculativeDistributionTest, TheTestDetectsTheWrongDistribution) {
  // The hot draft's own first guesses (what "accept every draft" would output) must fail.
  const Exact ex = exact(prompt_);
  auto draft = model_draft(3.0f, 97);
  Observed obs;
  Draft d;
  ASSERT_TRUE(draft->begin(prompt_).ok());
  for (int run = 0; run < kRuns; ++run) {
    ASSERT_TRUE(draft->propose(prompt_, kPositions, d).ok());
    ASSERT_EQ(d.size(), static_cast<size_t>(kPositions));
    obs.add(d.tokens, n_vocab_);
  }
  expect_matches("control: the draft's own guesses", ex, obs, /*expect_pass=*/false);
}

INSTANTIATE_TEST_SUITE_P(Models, SpeculativeDistributionTest,
                         ::testing::Values(kTinyLlama, kStories),
                         [](const ::testing::TestParamInfo<ModelCase>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace lathe::spec
