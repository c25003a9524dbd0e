// The expected speed-up formula and the n-gram lookup search, without models.
#include <gtest/gtest.h>

#include "spec/decoder.h"
#include "spec/lookup_draft.h"

namespace lathe::spec {
namespace {

TEST(ExpectedSpeedupTest, MatchesTheClosedForm) {
  // alpha = 0: every draft is wasted; one token per pass at the cost of 1 + cN.
  EXPECT_DOUBLE_EQ(expected_speedup(0.0, 0.1, 4), 1.0 / 1.4);
  // alpha = 1: N + 1 tokens per pass.
  EXPECT_DOUBLE_EQ(expected_speedup(1.0, 0.0, 4), 5.0);
  EXPECT_DOUBLE_EQ(expected_speedup(1.0, 0.25, 4), 2.5);
  // Leviathan et al.'s example: alpha 0.8, N 5 (gamma), c 0.05 -> about 2.95 x.
  EXPECT_NEAR(expected_speedup(0.8, 0.05, 5), (1 - std::pow(0.8, 6)) / 0.2 / 1.25, 1e-12);
  EXPECT_NEAR(expected_speedup(0.8, 0.05, 5), 2.95, 0.01);
  // N = 0: plain decoding.
  EXPECT_DOUBLE_EQ(expected_speedup(0.7, 0.3, 0), 1.0);
  // Continuous in alpha near 1.
  EXPECT_NEAR(expected_speedup(1.0 - 1e-7, 0.1, 8), expected_speedup(1.0, 0.1, 8), 1e-4);
}

TEST(ExpectedSpeedupTest, AtAMeasuredPassCost) {
  // A pass that costs one decode is the formula's own assumption.
  EXPECT_DOUBLE_EQ(expected_speedup_at_pass_cost(0.8, 0.05, 5, 1.0),
                   expected_speedup(0.8, 0.05, 5));
  // alpha = 1, N = 4, c = 0.25: 5 tokens per pass at a cost of 2 (the pass) + 1 (the drafts).
  EXPECT_DOUBLE_EQ(expected_speedup_at_pass_cost(1.0, 0.25, 4, 2.0), 5.0 / 3.0);
  // Not measured.
  EXPECT_EQ(expected_speedup_at_pass_cost(0.8, 0.05, 5, 0.0), 0.0);
}

std::vector<TokenId> lookup(std::vector<TokenId> h, int lo, int hi, int max) {
  std::vector<TokenId> out;
  LookupDraft::lookup(h, lo, hi, max, out);
  return out;
}

TEST(LookupDraftTest, ProposesWhatFollowedTheLongestRecentMatch) {
  // Suffix "2 3" occurred at 1..2, followed by 4 5 6.
  EXPECT_EQ(lookup({1, 2, 3, 4, 5, 6, 9, 2, 3}, 1, 3, 3), (std::vector<TokenId>{4, 5, 6}));
  // The draft stops at the end of the history.
  EXPECT_EQ(lookup({1, 2, 3, 4, 2, 3}, 1, 3, 8), (std::vector<TokenId>{4, 2, 3}));
  // Longer matches win over more recent shorter ones: "7 2 3" matches at 0, "2 3" alone at 5.
  EXPECT_EQ(lookup({7, 2, 3, 10, 11, 2, 3, 12, 7, 2, 3}, 1, 3, 2), (std::vector<TokenId>{10, 11}));
  // Among equally long matches, the most recent.
  EXPECT_EQ(lookup({5, 1, 5, 2, 5}, 1, 3, 1), (std::vector<TokenId>{2}));
  // No match, or too short a history.
  EXPECT_TRUE(lookup({1, 2, 3, 4}, 1, 3, 4).empty());
  EXPECT_TRUE(lookup({1}, 1, 3, 4).empty());
  EXPECT_TRUE(lookup({1, 2, 1, 2}, 3, 3, 4).empty()) << "n-grams shorter than the minimum";
  EXPECT_TRUE(lookup({1, 1, 1}, 1, 3, 0).empty());
  // A run of one token predicts more of it.
  EXPECT_EQ(lookup({1, 1, 1, 1}, 1, 3, 4), (std::vector<TokenId>{1}));
}

TEST(LookupDraftTest, DraftsArePointMasses) {
  auto src = LookupDraft::create({2, 4});
  ASSERT_TRUE(src);
  Draft d;
  const std::vector<TokenId> h = {1, 2, 3, 4, 1, 2};
  ASSERT_TRUE((*src)->propose(h, 5, d).ok());
  EXPECT_EQ(d.tokens, (std::vector<TokenId>{3, 4, 1, 2}));
  ASSERT_EQ(d.dists.size(), 4u);
  for (const auto& q : d.dists) EXPECT_TRUE(q.empty());
  EXPECT_EQ((*src)->describe(), "lookup (n-grams 4..2)");
}

}  // namespace
}  // namespace lathe::spec
