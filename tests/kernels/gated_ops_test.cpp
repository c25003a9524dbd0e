// The reference kernels Gemma-style models add (GeGLU, scaling, soft-capping) against the formulas
// in doubles, on odd sizes and values past where tanh saturates.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/ref/ref.h"

namespace lathe::kernels {
namespace {

std::vector<float> random_values(size_t n, float spread, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  v[0] = 0.0f;
  if (n > 2) {
    v[1] = 30.0f;
    v[2] = -30.0f;
  }
  return v;
}

TEST(GatedOps, GegluMatchesTheTanhFormula) {
  for (size_t n : {1u, 7u, 33u, 1001u}) {
    const auto gate = random_values(n, 3.0f, 1);
    const auto up = random_values(n, 1.0f, 2);
    std::vector<float> out(n);
    reference_kernels().geglu(gate.data(), up.data(), static_cast<int64_t>(n), out.data());
    for (size_t i = 0; i < n; ++i) {
      const double g = gate[i];
      const double gelu =
          0.5 * g * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (g + 0.044715 * g * g * g)));
      // float rounding of g and up, plus the cancellation in 1 + tanh(...) for negative g.
      EXPECT_NEAR(out[i], gelu * up[i], 1e-6 * (1 + std::fabs(g)) * std::fabs(up[i]) + 1e-12) << i;
    }
  }
}

TEST(GatedOps, ScaleAndSoftcap) {
  const size_t n = 77;
  const auto x = random_values(n, 20.0f, 3);
  std::vector<float> scaled = x, capped = x;
  const KernelTable table = reference_kernels();
  table.scale(scaled.data(), static_cast<int64_t>(n), 0.375f);
  table.softcap(capped.data(), static_cast<int64_t>(n), 15.0f);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(scaled[i], x[i] * 0.375f);
    EXPECT_NEAR(capped[i], 15.0 * std::tanh(x[i] / 15.0), 1e-5);
    EXPECT_LE(std::fabs(capped[i]), 15.0f);
  }
}

TEST(GatedOps, EveryTableHasThem) {
  for (KernelLevel level : {KernelLevel::kScalar, KernelLevel::kAvx2, KernelLevel::kAvx512}) {
    const KernelTable table = select_kernels(CpuFeatures::detect(), level);
    EXPECT_NE(table.geglu, nullptr) << table.isa;
    EXPECT_NE(table.scale, nullptr) << table.isa;
    EXPECT_NE(table.softcap, nullptr) << table.isa;
  }
}

}  // namespace
}  // namespace lathe::kernels
