// The SIMD elementwise ops (x86/ops_avx2.cpp, x86/ops_avx512.cpp) against the references in
// ref/ops_ref.cpp, at odd sizes (vector tails), per ISA level.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/ref/ref.h"

namespace lathe::kernels {
namespace {

int64_t ordinal(float x) {
  const auto bits = std::bit_cast<int32_t>(x);
  return bits < 0 ? -static_cast<int64_t>(bits & 0x7fffffff) : bits;
}

std::vector<KernelTable> simd_tables() {
  std::vector<KernelTable> tables;
  const CpuFeatures cpu = CpuFeatures::detect();
  for (KernelLevel level : {KernelLevel::kAvx2, KernelLevel::kAvx512}) {
    KernelTable t = select_kernels(cpu, level);
    if (t.isa == (level == KernelLevel::kAvx2 ? "avx2" : "avx512")) tables.push_back(std::move(t));
  }
  return tables;
}

std::vector<float> random_floats(size_t n, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

const int64_t kSizes[] = {1, 7, 8, 15, 16, 17, 33, 100, 2048, 2051};

TEST(OpsSimd, RmsNormMatchesReference) {
  const auto tables = simd_tables();
  if (tables.empty()) GTEST_SKIP() << "no SIMD level on this CPU";
  for (const KernelTable& t : tables) {
    for (int64_t n : kSizes) {
      for (bool weighted : {true, false}) {
        SCOPED_TRACE(t.isa + " n=" + std::to_string(n) + (weighted ? " weighted" : ""));
        const auto x = random_floats(static_cast<size_t>(n), 3.0f, 1);
        const auto w = random_floats(static_cast<size_t>(n), 1.0f, 2);
        std::vector<float> y(x.size()), expected(x.size());
        const float* wp = weighted ? w.data() : nullptr;
        ref::rms_norm_row(x.data(), wp, n, 1e-5f, expected.data());
        t.rms_norm_row(x.data(), wp, n, 1e-5f, y.data());
        // The same operations, except that the double sum of squares is added in another order,
        // which can move the mean by its last bit: at most 2 ulps per value.
        for (int64_t i = 0; i < n; ++i) {
          EXPECT_LE(std::llabs(ordinal(y[i]) - ordinal(expected[i])), 2) << "i=" << i;
        }
      }
    }
  }
}

TEST(OpsSimd, RopeMatchesReference) {
  const auto tables = simd_tables();
  if (tables.empty()) GTEST_SKIP() << "no SIMD level on this CPU";
  struct Shape {
    int64_t head_dim, n_rot;
  };
  // Full rotation at the common sizes, partial rotation (the rest passes through), and rotated
  // halves that are not a multiple of the vector width.
  const Shape shapes[] = {{32, 32}, {64, 64},  {128, 128}, {80, 80}, {80, 32},
                          {64, 24}, {128, 40}, {96, 96},   {8, 8},   {2, 2}};
  for (const KernelTable& t : tables) {
    for (const Shape& s : shapes) {
      for (auto mode : {ops::RopeMode::kNormal, ops::RopeMode::kNeox}) {
        SCOPED_TRACE(t.isa + " d=" + std::to_string(s.head_dim) + " n_rot=" +
                     std::to_string(s.n_rot) + (mode == ops::RopeMode::kNeox ? " neox" : ""));
        ops::RopeParams p;
        p.head_dim = s.head_dim;
        p.n_rot = s.n_rot;
        p.mode = mode;
        p.freq_base = 10000.0f;
        std::vector<float> cache(static_cast<size_t>(s.n_rot));
        for (float pos : {0.0f, 1.0f, 37.0f, 4095.0f}) {
          ref::rope_cache(pos, p, cache.data());
          const auto x = random_floats(static_cast<size_t>(s.head_dim), 1.0f, 3);
          auto expected = x, y = x;
          ref::rope_head(expected.data(), cache.data(), p);
          t.rope_head(y.data(), cache.data(), p);
          // The reference's expressions with the products rounded before the sum, so the results
          // match to the last bit; the bound only allows for a reference built with FMA
          // contraction (one rounding less), relative to the size of the products.
          for (int64_t i = 0; i < s.head_dim; ++i) {
            const double tol = 2.4e-7 * 4.0 * (std::fabs(x[static_cast<size_t>(i)]) + 1.0);
            EXPECT_NEAR(y[static_cast<size_t>(i)], expected[static_cast<size_t>(i)], tol)
                << "i=" << i << " pos=" << pos;
            if (i >= s.n_rot) {
              EXPECT_EQ(y[static_cast<size_t>(i)], x[static_cast<size_t>(i)]);
            }
          }
        }
      }
    }
  }
}

TEST(OpsSimd, SwigluMatchesReference) {
  const auto tables = simd_tables();
  if (tables.empty()) GTEST_SKIP() << "no SIMD level on this CPU";
  for (const KernelTable& t : tables) {
    for (int64_t n : kSizes) {
      SCOPED_TRACE(t.isa + " n=" + std::to_string(n));
      auto g = random_floats(static_cast<size_t>(n), 4.0f, 4);
      const auto u = random_floats(static_cast<size_t>(n), 1.0f, 5);
      // Saturated gates too: e^−g overflows for g < −88.7 and silu(g) → 0 (or g for large g).
      if (n > 4) {
        g[0] = -100.0f;
        g[1] = 100.0f;
        g[2] = -88.0f;
        g[3] = 0.0f;
      }
      std::vector<float> y(g.size()), expected(g.size());
      ref::swiglu(g.data(), u.data(), n, expected.data());
      t.swiglu(g.data(), u.data(), n, y.data());
      // exp within 1 ulp, then an add, a divide and a multiply rounded as in the reference.
      for (int64_t i = 0; i < n; ++i) {
        const float e = expected[static_cast<size_t>(i)];
        if (std::fabs(e) < std::numeric_limits<float>::min()) {
          EXPECT_LE(std::fabs(y[static_cast<size_t>(i)]), std::numeric_limits<float>::min());
        } else {
          EXPECT_LE(std::llabs(ordinal(y[static_cast<size_t>(i)]) - ordinal(e)), 4) << "i=" << i;
        }
      }
    }
  }
}

TEST(OpsSimd, AddIsExact) {
  const auto tables = simd_tables();
  if (tables.empty()) GTEST_SKIP() << "no SIMD level on this CPU";
  for (const KernelTable& t : tables) {
    for (int64_t n : kSizes) {
      auto x = random_floats(static_cast<size_t>(n), 1.0f, 6);
      const auto y = random_floats(static_cast<size_t>(n), 1.0f, 7);
      auto expected = x;
      ref::add(expected.data(), y.data(), n);
      t.add(x.data(), y.data(), n);
      EXPECT_EQ(x, expected) << t.isa << " n=" << n;
    }
  }
}

}  // namespace
}  // namespace lathe::kernels
