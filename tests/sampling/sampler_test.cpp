// The sampler chain: flags, order, penalties, bias, seeded draws, and the distributions it samples.
#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <new>
#include <random>
#include <string>
#include <vector>

// Counts heap allocations so the steady-state test can prove that sampling does not allocate.
// The replacement pair uses malloc/free consistently; GCC cannot see that across the inlined calls.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace lathe::sampling {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Parameters with every stage disabled, so a test enables exactly what it checks.
SamplerParams plain_params(uint32_t seed = 1) {
  SamplerParams p;
  p.seed = seed;
  p.temp = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

Sampler make(const SamplerParams& params, int32_t n_vocab) {
  auto s = Sampler::create(params, n_vocab);
  EXPECT_TRUE(s.has_value()) << s.error().message();
  return std::move(s).value();
}

std::map<int32_t, TokenData> by_id(std::span<const TokenData> dist) {
  std::map<int32_t, TokenData> out;
  for (const TokenData& td : dist) out[td.id] = td;
  return out;
}

std::vector<float> logits_for(const std::vector<double>& probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

TEST(SamplerParams, DefaultsMirrorLlamaCpp) {
  const SamplerParams p;
  EXPECT_EQ(p.seed, 0xFFFFFFFFu);
  EXPECT_FLOAT_EQ(p.temp, 0.8f);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_FLOAT_EQ(p.top_p, 0.95f);
  EXPECT_FLOAT_EQ(p.min_p, 0.05f);
  EXPECT_FLOAT_EQ(p.typical_p, 1.0f);
  EXPECT_EQ(p.repeat_last_n, 64);
  EXPECT_FLOAT_EQ(p.repeat_penalty, 1.0f);
  EXPECT_EQ(sampler_sequence_letters(p.sequence), "edskypmxt");
}

TEST(SamplingSequence, AcceptsLlamaCppForms) {
  using K = SamplerKind;
  const std::vector<K> kmt = {K::kTopK, K::kMinP, K::kTemperature};
  for (const char* text : {"kmt", "k,m,t", "k;m;t", " k m t ", "top_k;min_p;temperature",
                           "Top-K,min-p,TEMP", "topk;minp;temp"}) {
    auto seq = parse_sampler_sequence(text);
    ASSERT_TRUE(seq.has_value()) << text << ": " << seq.error().message();
    EXPECT_EQ(*seq, kmt) << text;
  }
  auto all = parse_sampler_sequence("edskypmxt");
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(*all, default_sampler_sequence());
  auto names = parse_sampler_sequence("penalties;dry;top_n_sigma;nucleus;typ_p;xtc");
  ASSERT_TRUE(names.has_value());
  EXPECT_EQ(sampler_sequence_letters(*names), "edspyx");
  auto empty = parse_sampler_sequence("");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST(SamplingSequence, RejectsUnknownAndUnsupported) {
  auto unknown = parse_sampler_sequence("kqt");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(unknown.error().message().find("--sampling-seq"), std::string::npos);
  EXPECT_NE(unknown.error().message().find("kqt"), std::string::npos);

  for (const char* text : {"kit", "k,a", "infill", "adaptive_p"}) {
    auto seq = parse_sampler_sequence(text);
    ASSERT_FALSE(seq.has_value()) << text;
    EXPECT_EQ(seq.error().code(), ErrorCode::kUnsupported) << text;
  }
  EXPECT_FALSE(parse_sampler_sequence("top").has_value());
}

TEST(LogitBias, ParsesLlamaCppSyntax) {
  auto a = parse_logit_bias("15043+1");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->token, 15043);
  EXPECT_FLOAT_EQ(a->bias, 1.0f);
  auto b = parse_logit_bias("15043-1.5");
  ASSERT_TRUE(b.has_value());
  EXPECT_FLOAT_EQ(b->bias, -1.5f);
  auto c = parse_logit_bias("2-inf");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->token, 2);
  EXPECT_EQ(c->bias, -kInf);
  for (const char* bad :
       {"", "abc", "15043", "15043*1", "+1", "15043+", "15043+1x", "15043+nan", "-5+1", "1 +1"}) {
    auto r = parse_logit_bias(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().message().find("--logit-bias"), std::string::npos) << bad;
  }
}

TEST(SamplerParams, InvalidValuesGiveErrorsNamingTheFlag) {
  struct Case {
    const char* flag;
    void (*mutate)(SamplerParams&);
  };
  const Case cases[] = {
      {"--temp", [](SamplerParams& p) { p.temp = std::nanf(""); }},
      {"--temp", [](SamplerParams& p) { p.temp = kInf; }},
      {"--top-p", [](SamplerParams& p) { p.top_p = 1.5f; }},
      {"--top-p", [](SamplerParams& p) { p.top_p = -0.1f; }},
      {"--min-p", [](SamplerParams& p) { p.min_p = std::nanf(""); }},
      {"--typical", [](SamplerParams& p) { p.typical_p = 2.0f; }},
      {"--top-nsigma", [](SamplerParams& p) { p.top_n_sigma = kInf; }},
      {"--repeat-last-n", [](SamplerParams& p) { p.repeat_last_n = -1; }},
      {"--repeat-penalty", [](SamplerParams& p) { p.repeat_penalty = 0.0f; }},
      {"--repeat-penalty", [](SamplerParams& p) { p.repeat_penalty = -1.0f; }},
      {"--presence-penalty", [](SamplerParams& p) { p.presence_penalty = kInf; }},
      {"--frequency-penalty", [](SamplerParams& p) { p.frequency_penalty = std::nanf(""); }},
      {"min_keep", [](SamplerParams& p) { p.min_keep = -3; }},
      {"--logit-bias",
       [](SamplerParams& p) {
         p.logit_bias.push_back({100, 1.0f});
       }},
      {"--logit-bias",
       [](SamplerParams& p) {
         p.logit_bias.push_back({-1, 1.0f});
       }},
      {"--logit-bias",
       [](SamplerParams& p) {
         p.logit_bias.push_back({3, kInf});
       }},
  };
  for (const Case& tc : cases) {
    SamplerParams p;
    tc.mutate(p);
    auto s = Sampler::create(p, 100);
    ASSERT_FALSE(s.has_value()) << tc.flag;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument) << tc.flag;
    EXPECT_NE(s.error().message().find(tc.flag), std::string::npos)
        << tc.flag << ": " << s.error().message();
  }
  EXPECT_FALSE(Sampler::create(SamplerParams{}, 0).has_value());
  EXPECT_TRUE(Sampler::create(SamplerParams{}, 100).has_value());
}

TEST(Sampler, DistributionOfTopKIsRenormalized) {
  SamplerParams p = plain_params();
  p.top_k = 2;
  Sampler s = make(p, 4);
  auto dist = s.distribution(logits_for({0.1, 0.6, 0.1, 0.2}));
  ASSERT_TRUE(dist.has_value());
  ASSERT_EQ(dist->size(), 2u);
  EXPECT_EQ((*dist)[0].id, 1);
  EXPECT_EQ((*dist)[1].id, 3);
  EXPECT_NEAR((*dist)[0].p, 0.75, 1e-6);
  EXPECT_NEAR((*dist)[1].p, 0.25, 1e-6);
  EXPECT_NEAR(s.probability(1), 0.75, 1e-6);
  EXPECT_EQ(s.probability(0), 0.0f);
}

TEST(Sampler, OrderOfTheSequenceChangesTheResult) {
  // Probabilities relative to the best: 1, 0.5, 0.25, 0.125. min-p 0.3 keeps two tokens; a
  // temperature of 0.5 first squares the ratios (1, 0.25, ...) so that min-p keeps only one.
  const std::vector<float> logits = logits_for({0.8, 0.4, 0.2, 0.1});
  SamplerParams p = plain_params();
  p.min_p = 0.3f;
  p.temp = 0.5f;

  p.sequence = *parse_sampler_sequence("mt");
  Sampler min_first = make(p, 4);
  auto a = min_first.distribution(logits);
  ASSERT_TRUE(a.has_value());
  auto pa = by_id(*a);
  ASSERT_EQ(pa.size(), 2u);
  EXPECT_NEAR(pa[0].p, 0.8, 1e-6);  // ratio 1 : 0.25 after temperature
  EXPECT_NEAR(pa[1].p, 0.2, 1e-6);

  p.sequence = *parse_sampler_sequence("tm");
  Sampler temp_first = make(p, 4);
  auto b = temp_first.distribution(logits);
  ASSERT_TRUE(b.has_value());
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].id, 0);
  EXPECT_FLOAT_EQ((*b)[0].p, 1.0f);
}

TEST(Sampler, StagesLeftOutOfTheSequenceDoNotRun) {
  SamplerParams p = plain_params();
  p.top_k = 1;
  p.sequence = *parse_sampler_sequence("m");  // top-k set but not in the sequence
  Sampler s = make(p, 4);
  auto dist = s.distribution(logits_for({0.25, 0.25, 0.25, 0.25}));
  ASSERT_TRUE(dist.has_value());
  EXPECT_EQ(dist->size(), 4u);
}

TEST(Sampler, RepetitionPenaltiesFollowLlamaCpp) {
  SamplerParams p = plain_params();
  p.repeat_penalty = 2.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  p.repeat_last_n = 8;
  // "ke": the penalties after top-k see a filtered (non-identity) array; "e" sees the full one.
  for (const char* seq : {"e", "ke"}) {
    p.top_k = std::string(seq) == "ke" ? 5 : 0;
    p.sequence = *parse_sampler_sequence(seq);
    Sampler s = make(p, 6);
    for (int32_t t : {3, 3, 5}) ASSERT_TRUE(s.accept(t).ok());
    auto dist = s.distribution(std::vector<float>{0.5f, 1.0f, 0.0f, 2.0f, -3.0f, -1.0f});
    ASSERT_TRUE(dist.has_value());
    auto d = by_id(*dist);
    // token 3: positive logit divided, then count 2 -> 2/2 - (2*0.5 + 0.25)
    EXPECT_FLOAT_EQ(d[3].logit, -0.25f) << seq;
    // token 5: negative logit multiplied, count 1 -> -1*2 - (0.5 + 0.25)
    EXPECT_FLOAT_EQ(d[5].logit, -2.75f) << seq;
    EXPECT_FLOAT_EQ(d[1].logit, 1.0f) << seq;  // not in the history
  }
}

TEST(Sampler, PenaltyWindowForgetsOldTokens) {
  SamplerParams p = plain_params();
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 2;
  p.sequence = *parse_sampler_sequence("e");
  Sampler s = make(p, 4);
  for (int32_t t : {0, 1, 2}) ASSERT_TRUE(s.accept(t).ok());  // 0 has left the window
  const std::vector<float> logits = {4.0f, 4.0f, 4.0f, 4.0f};
  auto d = by_id(*s.distribution(logits));
  EXPECT_FLOAT_EQ(d[0].logit, 4.0f);
  EXPECT_FLOAT_EQ(d[1].logit, 2.0f);
  EXPECT_FLOAT_EQ(d[2].logit, 2.0f);
  s.reset();
  auto fresh = by_id(*s.distribution(logits));
  EXPECT_FLOAT_EQ(fresh[1].logit, 4.0f);
  EXPECT_FALSE(s.accept(4).ok());
  EXPECT_FALSE(s.accept(-1).ok());
}

TEST(Sampler, PenaltiesNeedTheLetterE) {
  SamplerParams p = plain_params();
  p.repeat_penalty = 2.0f;
  p.sequence = *parse_sampler_sequence("k");
  Sampler s = make(p, 3);
  ASSERT_TRUE(s.accept(1).ok());
  auto d = by_id(*s.distribution(std::vector<float>{1.0f, 1.0f, 1.0f}));
  EXPECT_FLOAT_EQ(d[1].logit, 1.0f);
}

TEST(Sampler, LogitBiasAddsAndBans) {
  SamplerParams p = plain_params();
  p.logit_bias = {{0, -kInf}, {2, 1.0f}, {2, 0.5f}};  // entries for one token add up
  Sampler s = make(p, 3);
  for (int i = 0; i < 200; ++i) {
    auto token = s.sample(std::vector<float>{10.0f, 0.0f, 0.0f});
    ASSERT_TRUE(token.has_value());
    ASSERT_NE(*token, 0);
  }
  auto d = by_id(*s.distribution(std::vector<float>{10.0f, 0.0f, 0.0f}));
  EXPECT_FLOAT_EQ(d[2].logit, 1.5f);
  EXPECT_EQ(s.probability(0), 0.0f);

  SamplerParams ban_all = plain_params();
  ban_all.logit_bias = {{0, -kInf}, {1, -kInf}};
  Sampler banned = make(ban_all, 2);
  auto none = banned.sample(std::vector<float>{1.0f, 2.0f});
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message().find("-inf"), std::string::npos);
}

TEST(Sampler, TemperatureZeroIsGreedyWhateverTheSeed) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> logits(1000);
  for (float& l : logits) l = normal(rng);
  const int32_t best =
      static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  for (uint32_t seed : {1u, 2u, 3u, kRandomSeed}) {
    SamplerParams p;  // the default chain
    p.seed = seed;
    p.temp = 0.0f;
    Sampler s = make(p, 1000);
    for (int i = 0; i < 20; ++i) ASSERT_EQ(*s.sample(logits), best);
  }
}

TEST(Sampler, SameSeedSameTokensAndResetRestarts) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<std::vector<float>> rows(300, std::vector<float>(500));
  for (auto& row : rows) {
    for (float& l : row) l = normal(rng);
  }
  SamplerParams p;
  p.seed = 42;
  p.repeat_penalty = 1.1f;
  const auto run = [&](Sampler& s) {
    std::vector<int32_t> out;
    for (const auto& row : rows) {
      const int32_t t = *s.sample(row);
      EXPECT_TRUE(s.accept(t).ok());
      out.push_back(t);
    }
    return out;
  };
  Sampler a = make(p, 500);
  Sampler b = make(p, 500);
  const std::vector<int32_t> first = run(a);
  EXPECT_EQ(first, run(b));
  a.reset();
  EXPECT_EQ(first, run(a));
  EXPECT_EQ(a.seed(), 42u);
  p.seed = 43;
  Sampler c = make(p, 500);
  EXPECT_NE(first, run(c));
}

TEST(Sampler, RandomSeedIsResolvedAndReported) {
  SamplerParams p;
  p.seed = kRandomSeed;
  Sampler s = make(p, 10);
  EXPECT_NE(s.seed(), kRandomSeed);
}

TEST(Sampler, CopiesContinueTheSameStream) {
  // Speculative decoding clones the sampler to explore a draft; the clone must behave identically.
  SamplerParams p = plain_params(9);
  Sampler a = make(p, 8);
  const std::vector<float> logits(8, 0.0f);
  ASSERT_TRUE(a.sample(logits).has_value());
  Sampler b = a;
  for (int i = 0; i < 50; ++i) ASSERT_EQ(*a.sample(logits), *b.sample(logits));
}

// Chi-square statistic of observed counts against expected probabilities.
double chi_square(const std::vector<long>& counts, const std::vector<double>& probs, long n) {
  double chi2 = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double e = probs[i] * static_cast<double>(n);
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi2;
}

TEST(Sampler, DrawFrequenciesMatchTheDistribution) {
  const std::vector<double> probs = {0.5, 0.25, 0.15, 0.07, 0.03};
  Sampler s = make(plain_params(1234), 5);
  const std::vector<float> logits = logits_for(probs);
  constexpr long kDraws = 100000;
  std::vector<long> counts(probs.size(), 0);
  for (long i = 0; i < kDraws; ++i) ++counts[static_cast<size_t>(*s.sample(logits))];
  for (size_t i = 0; i < probs.size(); ++i) {
    const double freq = static_cast<double>(counts[i]) / kDraws;
    const double sigma = std::sqrt(probs[i] * (1 - probs[i]) / kDraws);
    EXPECT_NEAR(freq, probs[i], 4.5 * sigma) << "token " << i;
  }
  // 4 degrees of freedom: P(chi2 > 18.5) ~ 0.001.
  EXPECT_LT(chi_square(counts, probs, kDraws), 18.5);
}

TEST(Sampler, DefaultChainDrawsFollowItsDistribution) {
  // Temperature 0.8, top-k 40, top-p 0.95 and min-p 0.05 shape the distribution; the draws must
  // follow what distribution() reports.
  std::vector<float> logits(64);
  for (int i = 0; i < 64; ++i) logits[i] = -0.15f * static_cast<float>(i);
  SamplerParams p;
  p.seed = 77;
  Sampler s = make(p, 64);
  auto dist = s.distribution(logits);
  ASSERT_TRUE(dist.has_value());
  std::map<int32_t, double> expected;
  double total = 0;
  for (const TokenData& td : *dist) {
    expected[td.id] = td.p;
    total += td.p;
  }
  EXPECT_NEAR(total, 1.0, 1e-5);
  EXPECT_LE(dist->size(), 40u);
  EXPECT_GT(dist->size(), 5u);

  constexpr long kDraws = 100000;
  std::map<int32_t, long> counts;
  for (long i = 0; i < kDraws; ++i) ++counts[*s.sample(logits)];
  std::vector<long> obs;
  std::vector<double> probs;
  for (const auto& [id, pr] : expected) {
    obs.push_back(counts[id]);
    probs.push_back(pr);
  }
  for (const auto& [id, n] : counts)
    ASSERT_TRUE(expected.count(id)) << "drew filtered token " << id;
  // Degrees of freedom = size - 1 (< 40); 80 is far beyond the 0.1% critical value for 39.
  EXPECT_LT(chi_square(obs, probs, kDraws), 80.0);
}

// The default chain, written out with full sorts, for 128k-vocabulary cross-checks.
std::vector<std::pair<int32_t, double>> reference_default_chain(const std::vector<float>& logits,
                                                                int32_t k, float top_p_value,
                                                                float min_p_value, float temp) {
  std::vector<TokenData> c;
  for (size_t i = 0; i < logits.size(); ++i) c.push_back({static_cast<int32_t>(i), logits[i], 0});
  std::sort(c.begin(), c.end(), ranks_before);
  if (k > 0) c.resize(std::min<size_t>(c.size(), static_cast<size_t>(k)));
  const auto probs = [&] {
    std::vector<double> out;
    double sum = 0;
    for (const TokenData& td : c) sum += std::exp(double(td.logit) - c[0].logit);
    for (const TokenData& td : c) out.push_back(std::exp(double(td.logit) - c[0].logit) / sum);
    return out;
  };
  if (top_p_value < 1.0f) {
    const std::vector<double> pr = probs();
    double cum = 0;
    size_t end = c.size();
    for (size_t i = 0; i < c.size(); ++i) {
      cum += pr[i];
      if (cum >= top_p_value) {
        end = i + 1;
        break;
      }
    }
    c.resize(end);
  }
  if (min_p_value > 0.0f) {
    const float threshold = c[0].logit + std::log(min_p_value);
    size_t end = 1;
    while (end < c.size() && c[end].logit >= threshold) ++end;
    c.resize(end);
  }
  for (TokenData& td : c) td.logit /= temp;
  const std::vector<double> pr = probs();
  std::vector<std::pair<int32_t, double>> out;
  for (size_t i = 0; i < c.size(); ++i) out.push_back({c[i].id, pr[i]});
  return out;
}

TEST(Sampler, LargeVocabularyChainsMatchTheFullSortReference) {
  constexpr int32_t kVocab = 128256;
  std::mt19937 rng(2024);
  std::normal_distribution<float> normal(0.0f, 2.5f);
  std::vector<float> logits(kVocab);
  for (float& l : logits) l = normal(rng);
  struct Case {
    int32_t top_k;
    float top_p, min_p;
  };
  for (const Case& tc : {Case{40, 0.95f, 0.05f}, Case{0, 0.9f, 0.0f}, Case{0, 1.0f, 0.02f},
                         Case{1000, 0.99f, 0.01f}}) {
    SamplerParams p;
    p.seed = 1;
    p.top_k = tc.top_k;
    p.top_p = tc.top_p;
    p.min_p = tc.min_p;
    Sampler s = make(p, kVocab);
    auto dist = s.distribution(logits);
    ASSERT_TRUE(dist.has_value());
    const auto ref = reference_default_chain(logits, tc.top_k, tc.top_p, tc.min_p, p.temp);
    auto got = by_id(*dist);
    ASSERT_EQ(got.size(), ref.size()) << "top_k=" << tc.top_k << " top_p=" << tc.top_p;
    for (const auto& [id, pr] : ref) {
      ASSERT_TRUE(got.count(id)) << id;
      EXPECT_NEAR(got[id].p, pr, 1e-5 + 1e-4 * pr) << id;
    }
  }
}

TEST(Sampler, FusedTopKScanMatchesThePlainPath) {
  // A chain that starts with top-k runs as one scan over the raw logits. Putting a no-op
  // top-n-sigma (n = 1e6 keeps everything) first forces the plain path; both must agree exactly,
  // with ties (logits rounded to halves), NaN, biases and penalties (applied twice for "ee").
  constexpr int32_t kVocab = 20000;
  std::mt19937 rng(99);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(kVocab);
  for (float& l : logits) l = std::round(normal(rng) * 2.0f) / 2.0f;
  for (int i = 0; i < 50; ++i) logits[rng() % kVocab] = std::nanf("");
  std::vector<int32_t> top(kVocab);
  for (int32_t i = 0; i < kVocab; ++i) top[i] = i;
  std::sort(top.begin(), top.end(), [&](int32_t a, int32_t b) {
    const float la = std::isnan(logits[a]) ? -kInf : logits[a];
    const float lb = std::isnan(logits[b]) ? -kInf : logits[b];
    return la > lb || (la == lb && a < b);
  });

  for (const char* seq : {"k", "ek", "eek", "kpmt", "ekmt", "kem"}) {
    for (int32_t k : {1, 7, 40, 300}) {
      SamplerParams p;
      p.seed = 5;
      p.top_k = k;
      p.repeat_penalty = 1.7f;
      p.frequency_penalty = 0.3f;
      p.presence_penalty = 0.2f;
      p.repeat_last_n = 16;
      // Ban the best token, boost a mediocre one, and push a top-k member further up.
      p.logit_bias = {{top[0], -kInf}, {top[5000], 9.0f}, {top[3], 0.5f}, {7, -2.0f}};
      p.sequence = *parse_sampler_sequence(seq);
      SamplerParams plain = p;
      plain.top_n_sigma = 1e6f;
      plain.sequence = *parse_sampler_sequence(std::string("s") + seq);
      Sampler fused = make(p, kVocab);
      Sampler reference = make(plain, kVocab);
      // History: some of the best tokens (so penalties change the top-k), repeats, and token 7.
      for (int32_t t : {top[1], top[1], top[2], top[40], top[41], 7, top[1], top[299]}) {
        ASSERT_TRUE(fused.accept(t).ok());
        ASSERT_TRUE(reference.accept(t).ok());
      }
      auto a = fused.distribution(logits);
      auto b = reference.distribution(logits);
      ASSERT_TRUE(a.has_value() && b.has_value());
      auto da = by_id(*a);
      auto db = by_id(*b);
      ASSERT_EQ(da.size(), db.size()) << seq << " k=" << k;
      for (const auto& [id, td] : db) {
        ASSERT_TRUE(da.count(id)) << seq << " k=" << k << " missing " << id;
        EXPECT_EQ(da[id].logit, td.logit) << seq << " k=" << k << " id " << id;
        EXPECT_FLOAT_EQ(da[id].p, td.p) << seq << " k=" << k << " id " << id;
      }
    }
  }
}

TEST(Sampler, ErrorsInsteadOfAborting) {
  Sampler s = make(plain_params(), 4);
  auto early = s.draw();
  ASSERT_FALSE(early.has_value());
  auto wrong = s.sample(std::vector<float>{1.0f, 2.0f});
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(s.draw().has_value());  // a failed distribution() leaves nothing to draw from
}

TEST(Sampler, DescribeListsTheStagesThatRun) {
  SamplerParams p;
  p.seed = 42;
  p.sequence = *parse_sampler_sequence("k,m,t");
  p.logit_bias = {{1, -kInf}};
  Sampler s = make(p, 10);
  EXPECT_EQ(s.describe(),
            "logits -> logit-bias(1 tokens) -> top_k(40) -> min_p(0.05) -> temperature(0.8) -> "
            "dist(seed 42)");
  SamplerParams greedy = plain_params(5);
  greedy.temp = 0.0f;
  EXPECT_EQ(make(greedy, 10).describe(), "logits -> temperature(greedy) -> dist(seed 5)");
}

TEST(Sampler, SteadyStateDoesNotAllocate) {
  constexpr int32_t kVocab = 32000;
  std::mt19937 rng(8);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> logits(kVocab);
  for (float& l : logits) l = normal(rng);
  SamplerParams p;
  p.seed = 3;
  p.repeat_penalty = 1.1f;
  p.frequency_penalty = 0.1f;
  p.typical_p = 0.9f;
  p.top_n_sigma = 2.0f;
  p.logit_bias = {{5, 1.0f}};
  const long at_create = g_allocations.load();
  Sampler s = make(p, kVocab);
  ASSERT_GT(g_allocations.load(), at_create);                                 // the counter is live
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.accept(*s.sample(logits)).ok());  // warm-up

  const long before = g_allocations.load();
  for (int i = 0; i < 50; ++i) {
    auto t = s.sample(logits);
    if (!t.has_value() || !s.accept(*t).ok()) break;
  }
  EXPECT_EQ(g_allocations.load() - before, 0);
}

}  // namespace
}  // namespace lathe::sampling
