// The stateless transforms on constructed logits: exact surviving sets, orders and probabilities.
#include "sampling/candidates.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

namespace lathe::sampling {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<int32_t> ids(const Candidates& c) {
  std::vector<int32_t> out;
  for (const TokenData& td : c.view()) out.push_back(td.id);
  return out;
}

std::set<int32_t> id_set(const Candidates& c) {
  const std::vector<int32_t> v = ids(c);
  return {v.begin(), v.end()};
}

// Logits whose softmax is exactly `probs` (up to float rounding).
std::vector<float> logits_for(const std::vector<double>& probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(p > 0 ? static_cast<float>(std::log(p)) : -kInf);
  return out;
}

TEST(Candidates, ResetIsIdentityAndReplacesNan) {
  Candidates c;
  const std::vector<float> logits = {1.0f, std::nanf(""), -2.0f};
  c.reset(logits);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_TRUE(c.identity());
  EXPECT_FALSE(c.sorted());
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(c[1].logit, -kInf);
}

TEST(Candidates, SoftmaxGivesExactProbabilities) {
  Candidates c;
  c.reset(std::vector<float>{0.0f, std::log(2.0f), std::log(4.0f), -kInf});
  EXPECT_FLOAT_EQ(softmax(c), std::log(4.0f));
  EXPECT_NEAR(c[0].p, 1.0 / 7, 2e-7);
  EXPECT_NEAR(c[1].p, 2.0 / 7, 2e-7);
  EXPECT_NEAR(c[2].p, 4.0 / 7, 2e-7);
  EXPECT_EQ(c[3].p, 0.0f);
}

TEST(Candidates, SoftmaxMatchesLibmExpOverAWideRange) {
  // The vectorized exp against std::exp, from tiny to underflowing differences, at odd sizes.
  for (size_t n : {1u, 3u, 4u, 257u, 1001u}) {
    std::vector<float> logits(n);
    for (size_t i = 0; i < n; ++i) logits[i] = -0.173f * static_cast<float>(i % 600);
    Candidates c;
    c.reset(logits);
    softmax(c);
    double sum = 0;
    for (float l : logits) sum += std::exp(static_cast<double>(l));
    for (size_t i = 0; i < n; ++i) {
      const double expected = std::exp(static_cast<double>(logits[i])) / sum;
      ASSERT_NEAR(c[i].p, expected, 4e-7 * expected + 1e-38) << "n=" << n << " i=" << i;
    }
  }
}

TEST(Candidates, SoftmaxOfAllBannedReportsMinusInfinity) {
  Candidates c;
  c.reset(std::vector<float>{-kInf, -kInf});
  EXPECT_EQ(softmax(c), -kInf);
  EXPECT_EQ(c[0].p, 0.0f);
}

TEST(Candidates, SoftmaxSharesProbabilityAmongPlusInfinity) {
  Candidates c;
  c.reset(std::vector<float>{kInf, 3.0f, kInf});
  softmax(c);
  EXPECT_FLOAT_EQ(c[0].p, 0.5f);
  EXPECT_EQ(c[1].p, 0.0f);
  EXPECT_FLOAT_EQ(c[2].p, 0.5f);
}

TEST(TopK, KeepsTheBestKSortedWithTiesByLowerId) {
  Candidates c;
  c.reset(std::vector<float>{1.0f, 5.0f, 3.0f, 5.0f, 2.0f});
  top_k(c, 3);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3, 2}));
  EXPECT_TRUE(c.sorted());
  EXPECT_FALSE(c.identity());
}

TEST(TopK, ZeroNegativeOrLargeKKeepsEverything) {
  for (int32_t k : {0, -1, 5, 6, 1000}) {
    Candidates c;
    c.reset(std::vector<float>{1.0f, 5.0f, 3.0f, 5.0f, 2.0f});
    top_k(c, k);
    EXPECT_EQ(c.size(), 5u) << "k=" << k;
    EXPECT_TRUE(c.identity()) << "k=" << k;
  }
}

TEST(TopK, LargeKSelectionMatchesFullSort) {
  // k above the heap-selection limit takes the nth_element path.
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(5000);
  for (float& l : logits) l = normal(rng);
  for (int32_t k : {1, 40, 256, 257, 1000, 4999}) {
    Candidates c;
    c.reset(logits);
    top_k(c, k);
    std::vector<TokenData> ref;
    for (int32_t i = 0; i < 5000; ++i) ref.push_back({i, logits[i], 0.0f});
    std::sort(ref.begin(), ref.end(), ranks_before);
    ASSERT_EQ(c.size(), static_cast<size_t>(k));
    for (int32_t i = 0; i < k; ++i) ASSERT_EQ(c[i].id, ref[i].id) << "k=" << k << " i=" << i;
  }
}

TEST(TopP, KeepsTheSmallestPrefixReachingP) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 in a shuffled order of ids.
  const std::vector<float> logits = logits_for({0.15, 0.5, 0.05, 0.3});
  struct Case {
    float p;
    size_t min_keep;
    std::vector<int32_t> expected;
  };
  const Case cases[] = {
      {0.4f, 0, {1}},           {0.75f, 0, {1, 3}},   {0.85f, 0, {1, 3, 0}},
      {0.99f, 0, {1, 3, 0, 2}}, {0.1f, 3, {1, 3, 0}}, {0.0f, 0, {1}},
  };
  for (const Case& tc : cases) {
    Candidates c;
    c.reset(logits);
    top_p(c, tc.p, tc.min_keep);
    EXPECT_EQ(ids(c), tc.expected) << "p=" << tc.p << " min_keep=" << tc.min_keep;
  }
}

TEST(TopP, SortedInputIsCutByScanning) {
  Candidates c;
  c.reset(logits_for({0.15, 0.5, 0.05, 0.3}));
  c.sort();
  top_p(c, 0.75f, 0);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3}));
  EXPECT_TRUE(c.sorted());
}

TEST(TopP, OneKeepsEverything) {
  Candidates c;
  c.reset(logits_for({0.15, 0.5, 0.05, 0.3}));
  top_p(c, 1.0f, 0);
  EXPECT_EQ(c.size(), 4u);
  EXPECT_TRUE(c.identity());
}

// Reference nucleus by full sort, for the large-vocabulary paths (as a sorted id list).
std::vector<int32_t> reference_top_p(const std::vector<float>& logits, float p) {
  std::vector<TokenData> all;
  float max_l = -kInf;
  for (float l : logits) max_l = std::max(max_l, l);
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    all.push_back({static_cast<int32_t>(i), logits[i], std::exp(logits[i] - max_l)});
    sum += all.back().p;
  }
  std::sort(all.begin(), all.end(), ranks_before);
  std::vector<int32_t> out;
  double cum = 0;
  for (const TokenData& td : all) {
    out.push_back(td.id);
    cum += td.p / sum;
    if (cum >= p) break;
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(TopP, LargeVocabularyMatchesTheFullSortReference) {
  std::mt19937 rng(11);
  for (float scale :
       {8.0f, 1.0f, 0.05f}) {  // peaked: a small nucleus; flat: most of the vocabulary
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<float> logits(20000);
    for (float& l : logits) l = normal(rng);
    Candidates c;
    c.reset(logits);
    top_p(c, 0.9f, 0);
    std::vector<int32_t> got = ids(c);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, reference_top_p(logits, 0.9f)) << "scale=" << scale;
  }
}

TEST(TopP, LargeVocabularyHonoursMinKeep) {
  std::mt19937 rng(12);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<float> logits(20000);
  for (float& l : logits) l = normal(rng);
  Candidates c;
  c.reset(logits);
  top_p(c, 0.0001f, 3000);  // p alone would keep one token
  std::vector<int32_t> got = ids(c);
  std::sort(got.begin(), got.end());
  Candidates ref;
  ref.reset(logits);
  top_k(ref, 3000);
  std::vector<int32_t> expected = ids(ref);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(got, expected);
}

TEST(MinP, KeepsTokensAboveAFractionOfTheBest) {
  const std::vector<float> logits = logits_for({0.15, 0.5, 0.05, 0.3});
  struct Case {
    float p;
    size_t min_keep;
    std::set<int32_t> expected;
  };
  const Case cases[] = {
      {0.2f, 0, {1, 3, 0}},  // threshold 0.1
      {0.5f, 0, {1, 3}},     // threshold 0.25
      {0.9f, 0, {1}},        // threshold 0.45
      {0.9f, 3, {1, 3, 0}},  // min_keep wins
      {0.0f, 0, {0, 1, 2, 3}},
  };
  for (const Case& tc : cases) {
    for (bool presorted : {false, true}) {
      Candidates c;
      c.reset(logits);
      if (presorted) c.sort();
      min_p(c, tc.p, tc.min_keep);
      EXPECT_EQ(id_set(c), tc.expected) << "p=" << tc.p << " sorted=" << presorted;
    }
  }
}

TEST(MinP, UnsortedPathKeepsTheOriginalOrder) {
  Candidates c;
  c.reset(logits_for({0.15, 0.5, 0.05, 0.3}));
  min_p(c, 0.2f, 0);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1, 3}));
}

TEST(Typical, KeepsTheMostTypicalTokensInTypicalityOrder) {
  // p = 0.4, 0.3, 0.2, 0.1 (ids 0..3). H = 1.2799; |-ln p - H| = 0.364, 0.076, 0.330, 1.023.
  // Typicality order: id 1 (0.3), id 2 (0.2), id 0 (0.4), id 3 (0.1).
  const std::vector<float> logits = logits_for({0.4, 0.3, 0.2, 0.1});
  struct Case {
    float p;
    size_t min_keep;
    std::vector<int32_t> expected;
  };
  const Case cases[] = {
      {0.25f, 0, {1}},          {0.45f, 0, {1, 2}}, {0.6f, 0, {1, 2, 0}},
      {0.95f, 0, {1, 2, 0, 3}}, {0.1f, 2, {1, 2}},
  };
  for (const Case& tc : cases) {
    Candidates c;
    c.reset(logits);
    typical(c, tc.p, tc.min_keep);
    EXPECT_EQ(ids(c), tc.expected) << "p=" << tc.p;
  }
}

TEST(Temperature, DividesLogits) {
  Candidates c;
  c.reset(std::vector<float>{1.0f, -3.0f, 0.5f});
  temperature(c, 0.5f);
  EXPECT_FLOAT_EQ(c[0].logit, 2.0f);
  EXPECT_FLOAT_EQ(c[1].logit, -6.0f);
  EXPECT_FLOAT_EQ(c[2].logit, 1.0f);
  EXPECT_TRUE(c.identity());
}

TEST(Temperature, ZeroKeepsOnlyTheBestWithTiesByLowerId) {
  Candidates c;
  c.reset(std::vector<float>{1.0f, 7.0f, 3.0f, 7.0f});
  temperature(c, 0.0f);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1}));
}

TEST(TopNSigma, KeepsLogitsWithinNSigmaOfTheMax) {
  // mean 3.2, sigma sqrt(12.56) = 3.544; the -inf entry is ignored by the statistics.
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f, 3.0f, 10.0f, -kInf};
  struct Case {
    float n;
    std::vector<int32_t> expected;
  };
  const Case cases[] = {
      {1.0f, {4}}, {2.0f, {3, 4}}, {2.5f, {2, 3, 4}}, {-1.0f, {0, 1, 2, 3, 4, 5}}};
  for (const Case& tc : cases) {
    Candidates c;
    c.reset(logits);
    top_n_sigma(c, tc.n);
    EXPECT_EQ(ids(c), tc.expected) << "n=" << tc.n;
  }
}

TEST(FindGreater, MatchesALinearScanAtEveryOffset) {
  // Sizes and offsets around the 16-wide blocks, with NaN and equal values that must not match.
  std::mt19937 rng(21);
  std::uniform_int_distribution<int> small(0, 9);
  for (size_t n : {0u, 1u, 15u, 16u, 17u, 33u, 100u}) {
    std::vector<float> x(n);
    for (float& v : x) v = static_cast<float>(small(rng));
    if (n > 5) x[5] = std::nanf("");
    for (float threshold : {-1.0f, 4.0f, 8.0f, 9.0f}) {
      for (size_t begin = 0; begin <= n; ++begin) {
        size_t expected = begin;
        while (expected < n && !(x[expected] > threshold)) ++expected;
        ASSERT_EQ(find_greater(x.data(), begin, n, threshold), expected)
            << "n=" << n << " begin=" << begin << " threshold=" << threshold;
      }
    }
  }
}

TEST(DrawIndex, WalksTheCumulativeDistribution) {
  Candidates c;
  c.assign(std::vector<TokenData>{{7, 0, 0.2f}, {8, 0, 0.3f}, {9, 0, 0.5f}});
  EXPECT_EQ(draw_index(c, 0.0), 0u);
  EXPECT_EQ(draw_index(c, 0.19), 0u);
  EXPECT_EQ(draw_index(c, 0.21), 1u);
  EXPECT_EQ(draw_index(c, 0.49), 1u);
  EXPECT_EQ(draw_index(c, 0.51), 2u);
  EXPECT_EQ(draw_index(c, 0.9999999), 2u);
}

TEST(DrawIndex, BlockSkippingAgreesWithTheCumulativeWalk) {
  // 1000 candidates: whole 64-entry blocks are skipped before the final walk.
  std::vector<TokenData> tokens;
  for (int32_t i = 0; i < 1000; ++i) tokens.push_back({i, 0, i % 7 == 0 ? 0.0f : 1.0f});
  double total = 0;
  for (const TokenData& t : tokens) total += t.p;
  for (TokenData& t : tokens) t.p = static_cast<float>(t.p / total);
  Candidates c;
  c.assign(tokens);
  for (double u : {0.0, 0.1, 0.33333, 0.5, 0.77, 0.999}) {
    double cum = 0;
    size_t expected = 0;
    for (; expected < tokens.size(); ++expected) {
      cum += tokens[expected].p;
      if (cum > u) break;
    }
    const size_t got = draw_index(c, u);
    // Summation order differs between the two, so allow the neighbouring candidate at a boundary.
    EXPECT_LE(got > expected ? got - expected : expected - got, 1u) << "u=" << u;
    EXPECT_GT(c[got].p, 0.0f);
  }
}

TEST(DrawIndex, NeverPicksAZeroProbabilityCandidate) {
  Candidates c;
  c.assign(std::vector<TokenData>{{0, 0, 0.0f}, {1, 0, 1.0f}, {2, 0, 0.0f}});
  EXPECT_EQ(draw_index(c, 0.0), 1u);
  EXPECT_EQ(draw_index(c, 0.999999999), 1u);
  EXPECT_EQ(draw_index(c, 1.5), 1u);  // past the total: last candidate with p > 0
}

}  // namespace
}  // namespace lathe::sampling
