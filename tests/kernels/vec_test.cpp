// SIMD single-row dots and dequantization (the attention kernel's and get_rows' entries) against
// the reference: q8_0/q4_0 dots and every dequantization bit for bit, float dots within f32
// accumulation error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "kernels/cpu/kernels.h"
#include "quant/quant.h"

namespace lathe::kernels {
namespace {

struct Level {
  KernelLevel level;
  const char* isa;
};

constexpr Level kSimdLevels[] = {{KernelLevel::kAvx2, "avx2"}, {KernelLevel::kAvx512, "avx512"}};

constexpr TensorType kKvTypes[] = {TensorType::kF16, TensorType::kBF16, TensorType::kF32,
                                   TensorType::kQ8_0, TensorType::kQ4_0};

class VecTest : public ::testing::TestWithParam<Level> {};

TEST_P(VecTest, DotAndDequantizeMatchTheReference) {
  const KernelTable table = select_kernels(CpuFeatures::detect(), GetParam().level);
  if (table.isa != GetParam().isa) GTEST_SKIP() << "this CPU has no " << GetParam().isa;
  const KernelTable ref = reference_kernels();
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (TensorType type : kKvTypes) {
    const int64_t block = tensor_type_info(type).block_elems;
    const bool exact = type == TensorType::kQ8_0 || type == TensorType::kQ4_0;
    std::vector<int64_t> lengths;
    for (int64_t blocks : {1, 2, 3, 4, 7, 13})
      lengths.push_back(blocks * std::max<int64_t>(block, 32));
    if (block == 1) lengths.insert(lengths.end(), {1, 5, 9, 17, 23});
    for (int64_t n : lengths) {
      SCOPED_TRACE(std::string(tensor_type_name(type)) + " n=" + std::to_string(n));
      std::vector<float> w(static_cast<size_t>(n)), x(w.size());
      for (auto& v : w) v = normal(rng);
      for (auto& v : x) v = normal(rng);
      std::vector<uint8_t> wq(*tensor_row_bytes(type, static_cast<uint64_t>(n)));
      ASSERT_TRUE(quant::quantize_rows(type, w.data(), wq.data(), 1, n).ok());
      const TensorType act = ref.vec_dot_type_for(type);
      std::vector<uint8_t> xq(*tensor_row_bytes(act, static_cast<uint64_t>(n)));
      ref.quantize_for(act)(x.data(), xq.data(), n);

      const float got = table.dot_for(type)(n, wq.data(), xq.data());
      const float want = ref.dot_for(type)(n, wq.data(), xq.data());
      if (exact) {
        EXPECT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want))
            << got << " vs " << want;
      } else {
        double magnitude = 0;
        for (int64_t i = 0; i < n; ++i) magnitude += std::fabs(w[i] * x[i]);
        EXPECT_NEAR(got, want, 1e-6 * magnitude + 1e-30);
      }

      std::vector<float> got_row(w.size(), -1.0f), want_row(w.size(), -2.0f);
      table.dequantize_for(type)(wq.data(), got_row.data(), n);
      ref.dequantize_for(type)(wq.data(), want_row.data(), n);
      EXPECT_EQ(0, std::memcmp(got_row.data(), want_row.data(), got_row.size() * sizeof(float)));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, VecTest, ::testing::ValuesIn(kSimdLevels),
                         [](const auto& info) { return std::string(info.param.isa); });

}  // namespace
}  // namespace lathe::kernels
