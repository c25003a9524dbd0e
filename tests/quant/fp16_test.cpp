// f16 and bf16 conversions: exact values at the edges (NaN, inf, overflow, subnormals, ties), and
// an independent nearest-value oracle over a sweep of f32 bit patterns.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "quant/fp16.h"

namespace lathe::quant {
namespace {

float from_bits(uint32_t bits) {
  return std::bit_cast<float>(bits);
}
uint32_t to_bits(float f) {
  return std::bit_cast<uint32_t>(f);
}

TEST(F16, ExactValues) {
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(0.5f), 0x3800);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);  // largest finite
  EXPECT_EQ(f32_to_f16(0x1p-14f), 0x0400);  // smallest normal
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x03ff), 1023 * 0x1p-24f);
  EXPECT_EQ(to_bits(f16_to_f32(0x8000)), 0x80000000u);
}

TEST(F16, OverflowAndInfinity) {
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xfc00);
  // 65520 is the midpoint between 65504 and 65536; the tie goes to the even mantissa (inf).
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);
  EXPECT_EQ(f32_to_f16(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(f32_to_f16(-1e10f), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::max()), 0x7c00);
  EXPECT_EQ(to_bits(f16_to_f32(0x7c00)), 0x7f800000u);
  EXPECT_EQ(to_bits(f16_to_f32(0xfc00)), 0xff800000u);
}

TEST(F16, NaN) {
  // ggml turns every NaN into the quiet NaN 0x7e00, keeping only the sign.
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::quiet_NaN()), 0x7e00);
  EXPECT_EQ(f32_to_f16(from_bits(0x7f800001u)), 0x7e00);  // signalling, tiny payload
  EXPECT_EQ(f32_to_f16(from_bits(0x7fffffffu)), 0x7e00);
  EXPECT_EQ(f32_to_f16(from_bits(0xffc00000u)), 0xfe00);
  // f16 NaNs widen to f32 NaNs with the payload kept and the quiet bit set.
  EXPECT_EQ(to_bits(f16_to_f32(0x7e00)), 0x7fc00000u);
  EXPECT_EQ(to_bits(f16_to_f32(0x7c01)), 0x7fc02000u);
  EXPECT_EQ(to_bits(f16_to_f32(0xfd55)), 0xffeaa000u);
}

TEST(F16, SubnormalsAndTies) {
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);  // half of it: tie to even (0)
  EXPECT_EQ(f32_to_f16(-0x1p-25f), 0x8000);
  EXPECT_EQ(f32_to_f16(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(f32_to_f16(3 * 0x1p-25f), 0x0002);  // 1.5 steps: tie to even (2)
  EXPECT_EQ(f32_to_f16(5 * 0x1p-25f), 0x0002);  // 2.5 steps: tie to even (2)
  EXPECT_EQ(f32_to_f16(1e-30f), 0x0000);
  EXPECT_EQ(f32_to_f16(from_bits(0x00000001u)), 0x0000);  // f32 subnormal
  // Halfway between the largest subnormal and the smallest normal rounds up into the normals.
  EXPECT_EQ(f32_to_f16(1023.5f * 0x1p-24f), 0x0400);
  // Normal ties: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
  EXPECT_EQ(f32_to_f16(std::nextafter(1.0f + 0x1p-11f, 2.0f)), 0x3c01);
  // A carry out of the mantissa moves into the exponent: 2 - 2^-12 rounds to 2.
  EXPECT_EQ(f32_to_f16(2.0f - 0x1p-12f), 0x4000);
}

TEST(F16, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const auto half = static_cast<uint16_t>(h);
    const float f = f16_to_f32(half);
    const bool is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0;
    if (is_nan) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      ASSERT_EQ(f32_to_f16(f), (h & 0x8000) | 0x7e00) << std::hex << h;
    } else {
      ASSERT_EQ(f32_to_f16(f), half) << std::hex << h;
    }
  }
}

// Nearest f16 by exhaustive comparison with the sorted finite halves, ties to the even encoding.
uint16_t nearest_f16_oracle(float f, const std::vector<double>& positive_halves) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(f));
  if (a >= 65520.0) return sign | 0x7c00;
  // positive_halves[h] is the value of encoding h for h in [0, 0x7bff], increasing with h.
  const auto above = std::upper_bound(positive_halves.begin(), positive_halves.end(), a);
  const auto h = static_cast<uint16_t>(above - positive_halves.begin() - 1);
  const double low = positive_halves[h];
  const double high = h + 1u < positive_halves.size() ? positive_halves[h + 1u] : 65536.0;
  if (a - low < high - a) return sign | h;
  if (a - low > high - a) return sign | static_cast<uint16_t>(h + 1);
  return sign | static_cast<uint16_t>((h & 1) ? h + 1 : h);
}

TEST(F16, MatchesNearestValueOracle) {
  std::vector<double> positive_halves;
  for (uint32_t h = 0; h <= 0x7bff; ++h) {
    const uint32_t exponent = h >> 10;
    const uint32_t mantissa = h & 0x3ff;
    positive_halves.push_back(exponent == 0 ? std::ldexp(mantissa, -24)
                                            : std::ldexp(1024 + mantissa, int(exponent) - 25));
  }
  // Every f32 bit pattern in a coarse sweep, plus every pattern near the interesting exponents.
  std::vector<uint32_t> patterns;
  for (uint64_t bits = 0; bits <= 0xffffffffull; bits += 40009) {
    patterns.push_back(static_cast<uint32_t>(bits));
  }
  for (uint32_t exponent : {102u, 103u, 112u, 113u, 126u, 127u, 142u}) {
    for (uint32_t m = 0; m < (1u << 23); m += 97) patterns.push_back((exponent << 23) | m);
    for (uint32_t m = 0xfe0; m < 0x1020; ++m) patterns.push_back((exponent << 23) | m);
  }
  int checked = 0;
  for (uint32_t bits : patterns) {
    const float f = from_bits(bits);
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), nearest_f16_oracle(f, positive_halves)) << std::hex << bits;
    ++checked;
  }
  EXPECT_GT(checked, 500000);
}

TEST(BF16, ExactValuesAndTies) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f808000u)), 0x3f80);  // tie: stays even
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f818000u)), 0x3f82);  // tie: rounds up to even
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f808001u)), 0x3f81);  // just above the tie
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f807fffu)), 0x3f80);  // just below
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds to inf
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(to_bits(bf16_to_f32(0xff80)), 0xff800000u);
}

TEST(BF16, SubnormalsAreKept) {
  EXPECT_EQ(f32_to_bf16(from_bits(0x00010000u)), 0x0001);
  EXPECT_EQ(f32_to_bf16(from_bits(0x00008000u)), 0x0000);  // tie to even
  EXPECT_EQ(f32_to_bf16(from_bits(0x00018000u)), 0x0002);  // tie to even
  EXPECT_EQ(f32_to_bf16(from_bits(0x80000001u)), 0x8000);
  EXPECT_EQ(to_bits(bf16_to_f32(0x0001)), 0x00010000u);
}

TEST(BF16, NaNIsQuietWithPayload) {
  EXPECT_EQ(f32_to_bf16(from_bits(0x7f800001u)), 0x7fc0);  // signalling, low payload lost
  EXPECT_EQ(f32_to_bf16(from_bits(0x7fa50000u)), 0x7fe5);
  EXPECT_EQ(f32_to_bf16(from_bits(0xffc00000u)), 0xffc0);
  EXPECT_EQ(f32_to_bf16(from_bits(0x7fffffffu)), 0x7fff);  // would overflow into sign if rounded
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7fc0)));
}

TEST(BF16, EveryBf16RoundTrips) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const auto b = static_cast<uint16_t>(h);
    const float f = bf16_to_f32(b);
    ASSERT_EQ(to_bits(f), h << 16);
    if (!std::isnan(f)) {
      ASSERT_EQ(f32_to_bf16(f), b) << std::hex << h;
    }
  }
}

}  // namespace
}  // namespace lathe::quant
