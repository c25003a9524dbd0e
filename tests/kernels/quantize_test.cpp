// The SIMD activation quantizers write exactly the reference's bytes: random rows of several
// lengths and scales, plus rows built to hit the edge cases (all zero, ties for the largest
// magnitude with opposite signs, values halfway between two levels, NaN, infinities, subnormals,
// f16 overflow).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "kernels/cpu/kernels.h"

namespace lathe::kernels {
namespace {

struct Level {
  KernelLevel level;
  const char* isa;
};

constexpr Level kSimdLevels[] = {{KernelLevel::kAvx2, "avx2"}, {KernelLevel::kAvx512, "avx512"}};

constexpr TensorType kActivationTypes[] = {TensorType::kQ8_0, TensorType::kQ8_1, TensorType::kQ8_K,
                                           TensorType::kF16, TensorType::kBF16};

std::vector<std::vector<float>> rows_for(int64_t block) {
  std::vector<std::vector<float>> rows;
  std::mt19937 rng(77);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t blocks : {1, 3, 7, 13}) {
    for (float scale : {1e-30f, 1e-3f, 1.0f, 3e4f}) {
      std::vector<float> r(static_cast<size_t>(blocks * block));
      for (auto& v : r) v = normal(rng) * scale;
      rows.push_back(r);
    }
  }
  // f16/bf16 take any length: a tail shorter than a vector.
  if (block == 1) {
    for (int64_t n : {1, 5, 9, 23}) {
      std::vector<float> r(static_cast<size_t>(n));
      for (auto& v : r) v = normal(rng);
      rows.push_back(r);
    }
  }
  const int64_t n = std::max<int64_t>(block, 32) * 2;
  std::vector<float> zeros(static_cast<size_t>(n), 0.0f);
  rows.push_back(zeros);
  // The largest magnitude twice, negative first, then positive first.
  std::vector<float> tie(static_cast<size_t>(n));
  for (size_t i = 0; i < tie.size(); ++i) tie[i] = normal(rng);
  tie[3] = -5.0f;
  tie[10] = 5.0f;
  rows.push_back(tie);
  tie[3] = 5.0f;
  tie[10] = -5.0f;
  rows.push_back(tie);
  // Integers and halves: with amax 127 the q8 multiplier is 1, so x.5 is an exact tie.
  std::vector<float> halves(static_cast<size_t>(n));
  for (size_t i = 0; i < halves.size(); ++i) {
    halves[i] = static_cast<float>(static_cast<int>(i % 64) - 32) + 0.5f;
  }
  halves[0] = 127.0f;
  rows.push_back(halves);
  // Special values.
  std::vector<float> special(static_cast<size_t>(n));
  for (size_t i = 0; i < special.size(); ++i) special[i] = normal(rng);
  special[1] = std::numeric_limits<float>::quiet_NaN();
  special[2] = -std::numeric_limits<float>::quiet_NaN();
  special[5] = std::numeric_limits<float>::denorm_min() * 3;
  special[6] = 65519.0f;
  special[7] = 65520.0f;
  special[8] = -1e9f;
  special[9] = 1.0000001f;
  special[11] = std::bit_cast<float>(0x7f812345u);  // signalling NaN with a payload
  rows.push_back(special);
  special[12] = std::numeric_limits<float>::infinity();
  rows.push_back(special);
  // f16 rounding ties: 1 + 2^-11 is halfway between two f16 values.
  std::vector<float> f16_ties(static_cast<size_t>(n));
  for (size_t i = 0; i < f16_ties.size(); ++i) {
    f16_ties[i] = std::ldexp(1.0f + std::ldexp(static_cast<float>(2 * (i % 8) + 1), -11),
                             static_cast<int>(i % 5) - 2);
  }
  rows.push_back(f16_ties);
  return rows;
}

class QuantizeTest : public ::testing::TestWithParam<Level> {};

TEST_P(QuantizeTest, WritesTheReferenceBytes) {
  const KernelTable table = select_kernels(CpuFeatures::detect(), GetParam().level);
  if (table.isa != GetParam().isa) GTEST_SKIP() << "this CPU has no " << GetParam().isa;
  const KernelTable ref = reference_kernels();
  for (TensorType type : kActivationTypes) {
    const QuantizeRowFn fn = table.quantize_for(type);
    ASSERT_NE(fn, nullptr);
    const auto& info = tensor_type_info(type);
    for (const auto& row : rows_for(info.block_elems)) {
      const auto n = static_cast<int64_t>(row.size());
      SCOPED_TRACE(std::string(tensor_type_name(type)) + " n=" + std::to_string(n) +
                   " first=" + std::to_string(row[0]));
      const uint64_t bytes = *tensor_row_bytes(type, static_cast<uint64_t>(n));
      std::vector<uint8_t> got(bytes + 16, 0xa5), want(bytes + 16, 0xa5);
      fn(row.data(), got.data(), n);
      ref.quantize_for(type)(row.data(), want.data(), n);
      for (uint64_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i], want[i]) << "byte " << i << " of " << bytes;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, QuantizeTest, ::testing::ValuesIn(kSimdLevels),
                         [](const auto& info) { return std::string(info.param.isa); });

}  // namespace
}  // namespace lathe::kernels
