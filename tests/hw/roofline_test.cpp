// Roofline arithmetic, with the dev machine's numbers as the worked example.
#include "hw/roofline.h"

#include <gtest/gtest.h>

#include <cmath>

#include "hw/profile.h"

namespace lathe::hw {
namespace {

TEST(Roofline, GenerationIsMemoryBound) {
  // A 0.92 GB Q4_0 model read once per token at 54 GB/s; ~2 ops per weight, ~1.6 G weights.
  const TokenCost cost{0.92e9, 3.2e9};
  const Roofline roof{54e9, 1.9e12};
  auto p = predict(cost, roof);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->memory_bound);
  EXPECT_NEAR(p->tokens_per_s, 54.0 / 0.92, 1e-9);  // 58.7 tok/s
  EXPECT_DOUBLE_EQ(p->seconds_per_token, p->memory_seconds);
  EXPECT_DOUBLE_EQ(p->compute_seconds, 3.2e9 / 1.9e12);
  EXPECT_DOUBLE_EQ(p->arithmetic_intensity, 3.2e9 / 0.92e9);
  EXPECT_DOUBLE_EQ(p->ridge_point, 1.9e12 / 54e9);
}

TEST(Roofline, LargeBatchIsComputeBound) {
  // 512 tokens share one weight read: per token, 1/512 of the bytes.
  const TokenCost cost{0.92e9 / 512, 3.2e9};
  const Roofline roof{54e9, 1.9e12};
  auto p = predict(cost, roof);
  ASSERT_TRUE(p.has_value());
  EXPECT_FALSE(p->memory_bound);
  EXPECT_NEAR(p->tokens_per_s, 1.9e12 / 3.2e9, 1e-6);
  EXPECT_GT(p->arithmetic_intensity, p->ridge_point);
}

TEST(Roofline, RejectsNonsense) {
  EXPECT_FALSE(predict({1, 1}, {0, 1}).has_value());
  EXPECT_FALSE(predict({1, 1}, {1, -1}).has_value());
  EXPECT_FALSE(predict({-1, 1}, {1, 1}).has_value());
  EXPECT_FALSE(predict({0, 0}, {1, 1}).has_value());
  EXPECT_FALSE(predict({1, std::nan("")}, {1, 1}).has_value());
  // Zero bytes is legitimate (everything in registers): compute-bound, infinite intensity.
  auto p = predict({0, 1e9}, {1e9, 1e12});
  ASSERT_TRUE(p.has_value());
  EXPECT_FALSE(p->memory_bound);
  EXPECT_TRUE(std::isinf(p->arithmetic_intensity));
}

TEST(Roofline, Percentages) {
  // llama.cpp's 36.5 tok/s on the 0.92 GB model, against 54 GB/s: 62 % of bandwidth.
  EXPECT_NEAR(percent_of_bandwidth(0.92e9, 36.5, 54e9), 100.0 * 0.92 * 36.5 / 54.0, 1e-9);
  EXPECT_DOUBLE_EQ(percent_of_bandwidth(1e9, 54, 54e9), 100.0);
  // 600 tok/s prompt processing at 3.2 G ops per token against a 1.9 T ops/s peak.
  EXPECT_NEAR(percent_of_peak(3.2e9, 600, 1.9e12), 100.0 * 3.2e9 * 600 / 1.9e12, 1e-9);
  EXPECT_EQ(percent_of_bandwidth(1e9, 10, 0), 0);
  EXPECT_EQ(percent_of_peak(1e9, 10, -1), 0);
}

TEST(Roofline, FromProfile) {
  HardwareProfile p;
  p.peak_isa = {"avx512_vnni", "avx512", ""};
  p.results.push_back({1, 29e9, {0.95e12, 0.24e12, 0}});
  p.results.push_back({2, 54e9, {1.9e12, 0.48e12, 0}});
  auto roof = roofline_for(p, PeakKind::kInt8, 2);
  ASSERT_TRUE(roof.has_value());
  EXPECT_EQ(roof->bandwidth_bytes_per_s, 54e9);
  EXPECT_EQ(roof->peak_ops_per_s, 1.9e12);
  roof = roofline_for(p, PeakKind::kF32, 1);
  ASSERT_TRUE(roof.has_value());
  EXPECT_EQ(roof->bandwidth_bytes_per_s, 29e9);
  EXPECT_EQ(roof->peak_ops_per_s, 0.24e12);
  EXPECT_EQ(roofline_for(p, PeakKind::kBf16, 2).error().code(), ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace lathe::hw
