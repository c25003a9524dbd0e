// The reference routines on random data of odd sizes: quantization error bounds, dot products
// against the f32 dot of the dequantized rows, special blocks, thread safety and shape errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "quant/blocks.h"
#include "quant/fp16.h"
#include "quant/quant.h"

namespace lathe::quant {
namespace {

struct TypeCase {
  TensorType type;
  // Bound on the normalized RMS error sqrt(sum (x - q)^2 / sum x^2) of a quantize-dequantize
  // round trip of normal data. Over 200 random rows of 1 to 13 blocks the largest errors were
  // about 25% below these (rows of one block vary most).
  double max_rms_error;
  // Whether the format has an exact zero level: IQ4's table has none (its nearest value to 0 is
  // 1/127 of the block's range), and Q4_1's levels are offset by the block's f16 min.
  bool exact_zero;
};

const TypeCase kWeightTypes[] = {
    {TensorType::kF32, 0.0, true},      {TensorType::kF16, 4e-4, true},
    {TensorType::kBF16, 4e-3, true},    {TensorType::kQ8_0, 0.012, true},
    {TensorType::kQ4_0, 0.15, true},    {TensorType::kQ4_1, 0.14, false},
    {TensorType::kIQ4_NL, 0.14, false}, {TensorType::kIQ4_XS, 0.11, false},
    {TensorType::kQ4_K, 0.10, true},    {TensorType::kQ6_K, 0.03, true},
    {TensorType::kQ8_1, 0.012, true},   {TensorType::kQ8_K, 0.012, true},
};

std::string name_of(TensorType type) {
  return std::string(tensor_type_name(type));
}

std::vector<float> random_normal(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(n);
  for (float& v : values) v = normal(rng);
  return values;
}

std::vector<uint8_t> quantized(TensorType type, const std::vector<float>& x, int64_t n_rows,
                               int64_t n_per_row) {
  auto row_bytes = tensor_row_bytes(type, static_cast<uint64_t>(n_per_row));
  EXPECT_TRUE(row_bytes.has_value());
  std::vector<uint8_t> bytes(static_cast<size_t>(n_rows) * *row_bytes);
  Status status = quantize_rows(type, x.data(), bytes.data(), n_rows, n_per_row);
  EXPECT_TRUE(status.ok()) << status.to_string();
  return bytes;
}

std::vector<float> dequantized(TensorType type, const std::vector<uint8_t>& bytes, int64_t n_rows,
                               int64_t n_per_row) {
  std::vector<float> y(static_cast<size_t>(n_rows * n_per_row));
  Status status = dequantize_rows(type, bytes.data(), y.data(), n_rows, n_per_row);
  EXPECT_TRUE(status.ok()) << status.to_string();
  return y;
}

double normalized_rms_error(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    ref += double(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

// Odd numbers of blocks per row and of rows, so that no power-of-two stride hides an indexing bug.
const int kBlockCounts[] = {1, 3, 7, 13};
const int kRowCounts[] = {1, 3};

class QuantRoundTrip : public ::testing::TestWithParam<TypeCase> {};

TEST_P(QuantRoundTrip, ErrorIsBounded) {
  const TypeCase c = GetParam();
  const int64_t block = tensor_type_info(c.type).block_elems;
  // Scalar types have one-element blocks; give them rows as long as a Q4_0 type's.
  const int64_t unit = block == 1 ? 32 : block;
  uint32_t seed = 1;
  for (int blocks : kBlockCounts) {
    for (int rows : kRowCounts) {
      const int64_t n_per_row = blocks * unit;
      const std::vector<float> x = random_normal(size_t(rows * n_per_row), seed++, 0.0625f);
      const auto bytes = quantized(c.type, x, rows, n_per_row);
      const auto y = dequantized(c.type, bytes, rows, n_per_row);
      const double error = normalized_rms_error(x, y);
      EXPECT_LE(error, c.max_rms_error) << blocks << " blocks x " << rows << " rows";
      // A lossy format that reproduced its input exactly would mean a broken test or format.
      if (c.max_rms_error > 0) {
        EXPECT_GT(error, c.max_rms_error / 100);
      }
    }
  }
}

TEST_P(QuantRoundTrip, SpecialBlocks) {
  const TypeCase c = GetParam();
  const int64_t block = std::max<int64_t>(tensor_type_info(c.type).block_elems, 32);
  // Relative precision of one value in the format, with room for the scale's own f16 rounding.
  const double precision = 2 * std::max(c.max_rms_error, 1e-7);

  // All zeros, and values below llama.cpp's "all zero" threshold of 1e-15: both come back as
  // zeros (the float formats keep the tiny values), never NaN.
  for (float value : {0.0f, 1e-20f}) {
    const std::vector<float> x(size_t(block), value);
    const auto y = dequantized(c.type, quantized(c.type, x, 1, block), 1, block);
    for (float v : y) {
      ASSERT_TRUE(v == 0.0f || std::fabs(v - value) <= value * precision)
          << name_of(c.type) << ": " << value << " came back as " << v;
    }
  }
  // One outlier among zeros, either sign: it survives with the format's relative precision, and
  // the zeros stay zero where the format has a zero level.
  const size_t at = size_t(block / 2 + 1);
  for (float outlier : {3.0f, -3.0f}) {
    std::vector<float> x(size_t(block), 0.0f);
    x[at] = outlier;
    const auto y = dequantized(c.type, quantized(c.type, x, 1, block), 1, block);
    EXPECT_NEAR(y[at], outlier, 3.0 * precision) << name_of(c.type);
    for (size_t i = 0; i < y.size(); ++i) {
      if (i == at) continue;
      if (c.exact_zero) {
        ASSERT_EQ(y[i], 0.0f) << name_of(c.type) << " at " << i;
      } else {
        ASSERT_LE(std::fabs(y[i]), 3.0f / 100) << name_of(c.type) << " at " << i;
      }
    }
  }
  // A constant row: every element comes back the same.
  const std::vector<float> x(size_t(block), 0.3f);
  const auto y = dequantized(c.type, quantized(c.type, x, 1, block), 1, block);
  for (float v : y) {
    ASSERT_EQ(v, y[0]) << name_of(c.type);
    ASSERT_NEAR(v, 0.3f, 0.3 * precision) << name_of(c.type);
  }
}

TEST_P(QuantRoundTrip, ThreadsGiveTheSameBytes) {
  // lathe quantize runs quantize_rows on disjoint rows from several threads.
  const TypeCase c = GetParam();
  const int64_t n_per_row = 2 * kQK_K;
  const int64_t rows = 8;
  const std::vector<float> x = random_normal(size_t(rows * n_per_row), 99);
  const auto serial = quantized(c.type, x, rows, n_per_row);
  std::vector<uint8_t> parallel(serial.size());
  const size_t row_bytes = serial.size() / rows;
  std::vector<std::thread> threads;
  std::vector<Status> results(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    threads.emplace_back([&, r] {
      results[size_t(r)] = quantize_rows(c.type, x.data() + r * n_per_row,
                                         parallel.data() + size_t(r) * row_bytes, 1, n_per_row);
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : results) ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(parallel, serial);
}

INSTANTIATE_TEST_SUITE_P(Types, QuantRoundTrip, ::testing::ValuesIn(kWeightTypes),
                         [](const auto& info) { return name_of(info.param.type); });

// Q4_1 x Q8_1 applies Q4_1's min m to Q8_1's stored s = f16(d * sum(q)), computed with Q8_1's
// unrounded d, rather than to the sum of the dequantized activations, f16(d) * sum(q). The dot
// product differs from the dequantized one by sum over blocks of |m| * |s - f16(d) * sum(q)|.
double q8_1_sum_discrepancy(const std::vector<uint8_t>& weights,
                            const std::vector<uint8_t>& activations) {
  const auto* w = reinterpret_cast<const BlockQ4_1*>(weights.data());
  const auto* a = reinterpret_cast<const BlockQ8_1*>(activations.data());
  double total = 0;
  for (size_t b = 0; b < activations.size() / sizeof(BlockQ8_1); ++b) {
    int sum = 0;
    for (int8_t q : a[b].qs) sum += q;
    total += std::fabs(f16_to_f32(w[b].m)) *
             std::fabs(double(f16_to_f32(a[b].s)) - double(f16_to_f32(a[b].d)) * sum);
  }
  return 1.01 * total;
}

class VecDot : public ::testing::TestWithParam<TypeCase> {};

TEST_P(VecDot, MatchesF32DotOfDequantizedRows) {
  const TensorType type = GetParam().type;
  const TypeTraits* traits = type_traits(type);
  ASSERT_NE(traits, nullptr);
  ASSERT_NE(traits->vec_dot, nullptr) << name_of(type);
  const TensorType act_type = traits->vec_dot_type;
  // Rows whole in both formats: Q8_K activations need 256-element rows.
  const int64_t unit = std::max<int64_t>(
      {tensor_type_info(type).block_elems, tensor_type_info(act_type).block_elems, 32});
  uint32_t seed = 1000;
  for (int blocks : kBlockCounts) {
    const int64_t n = blocks * unit;
    const std::vector<float> w = random_normal(size_t(n), seed++, 0.0625f);
    const std::vector<float> a = random_normal(size_t(n), seed++, 2.0f);
    const auto wq = quantized(type, w, 1, n);
    const auto aq = quantized(act_type, a, 1, n);
    const auto wd = dequantized(type, wq, 1, n);
    const auto ad = dequantized(act_type, aq, 1, n);

    double expected = 0, magnitude = 0, exact = 0, norm_w = 0, norm_a = 0;
    for (int64_t i = 0; i < n; ++i) {
      expected += double(wd[size_t(i)]) * ad[size_t(i)];
      magnitude += std::fabs(double(wd[size_t(i)]) * ad[size_t(i)]);
      exact += double(w[size_t(i)]) * a[size_t(i)];
      norm_w += double(w[size_t(i)]) * w[size_t(i)];
      norm_a += double(a[size_t(i)]) * a[size_t(i)];
    }
    const float got = traits->vec_dot(n, wq.data(), aq.data());
    // The integer parts of the quantized dot products are exact; only the f32 scaling and the
    // summation over blocks round, so the result is within a few ulps of the sum's magnitude.
    double tolerance = 1e-5 * magnitude + 1e-30;
    if (act_type == TensorType::kQ8_1) tolerance += q8_1_sum_discrepancy(wq, aq);
    EXPECT_NEAR(got, expected, tolerance)
        << name_of(type) << " x " << name_of(act_type) << ", n = " << n;
    // And against the unquantized dot product, relative to |w| |a|: the quantization error of
    // both sides, which is far below 1 for any working format.
    EXPECT_LE(std::fabs(got - exact) / std::sqrt(norm_w * norm_a),
              2 * GetParam().max_rms_error + 2 * 0.012 + 1e-6)
        << name_of(type) << ", n = " << n;
  }
}

// The weight formats: all but the activation-only Q8_1 and Q8_K.
std::vector<TypeCase> weight_formats() {
  std::vector<TypeCase> cases;
  for (const TypeCase& c : kWeightTypes) {
    if (c.type != TensorType::kQ8_1 && c.type != TensorType::kQ8_K) cases.push_back(c);
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Types, VecDot, ::testing::ValuesIn(weight_formats()),
                         [](const auto& info) { return name_of(info.param.type); });

TEST(QuantTable, PairsActivationFormatsAsLlamaCpp) {
  const std::pair<TensorType, TensorType> pairs[] = {
      {TensorType::kF32, TensorType::kF32},     {TensorType::kF16, TensorType::kF16},
      {TensorType::kBF16, TensorType::kBF16},   {TensorType::kQ8_0, TensorType::kQ8_0},
      {TensorType::kQ4_0, TensorType::kQ8_0},   {TensorType::kQ4_1, TensorType::kQ8_1},
      {TensorType::kIQ4_NL, TensorType::kQ8_0}, {TensorType::kIQ4_XS, TensorType::kQ8_K},
      {TensorType::kQ4_K, TensorType::kQ8_K},   {TensorType::kQ6_K, TensorType::kQ8_K},
  };
  for (const auto& [type, act] : pairs) {
    const TypeTraits* traits = type_traits(type);
    ASSERT_NE(traits, nullptr) << name_of(type);
    EXPECT_EQ(traits->type, type);
    EXPECT_EQ(traits->vec_dot_type, act) << name_of(type);
    EXPECT_NE(traits->quantize_row, nullptr);
    EXPECT_NE(traits->dequantize_row, nullptr);
    EXPECT_NE(traits->vec_dot, nullptr);
  }
  EXPECT_TRUE(is_supported(TensorType::kQ8_K));
  EXPECT_EQ(type_traits(TensorType::kQ8_K)->vec_dot, nullptr);
  EXPECT_FALSE(is_supported(TensorType::kQ5_0));
  EXPECT_FALSE(is_supported(TensorType::kIQ2_XXS));
}

TEST(QuantShapes, PartialBlocksAreErrors) {
  std::vector<float> x(4096, 0.5f);
  std::vector<uint8_t> bytes(8192);
  const std::pair<TensorType, int64_t> bad[] = {
      {TensorType::kQ4_0, 33},    {TensorType::kQ8_0, 16}, {TensorType::kQ4_1, 48},
      {TensorType::kIQ4_XS, 288}, {TensorType::kQ4_K, 32}, {TensorType::kQ6_K, 255},
      {TensorType::kQ8_K, 257},
  };
  for (const auto& [type, n] : bad) {
    Status q = quantize_rows(type, x.data(), bytes.data(), 2, n);
    EXPECT_EQ(q.code(), ErrorCode::kInvalidArgument) << name_of(type) << " " << n;
    EXPECT_NE(q.message().find("whole number"), std::string::npos) << q.message();
    Status d = dequantize_rows(type, bytes.data(), x.data(), 2, n);
    EXPECT_EQ(d.code(), ErrorCode::kInvalidArgument) << name_of(type) << " " << n;
  }
  // Nothing was written by the rejected calls.
  for (uint8_t b : bytes) ASSERT_EQ(b, 0);
  // Scalar formats take any length.
  EXPECT_TRUE(quantize_rows(TensorType::kF16, x.data(), bytes.data(), 3, 7).ok());
  EXPECT_TRUE(quantize_rows(TensorType::kQ4_0, x.data(), bytes.data(), 0, 64).ok());
}

TEST(QuantShapes, UnsupportedTypesAndNegativeShapesAreErrors) {
  std::vector<float> x(256);
  std::vector<uint8_t> bytes(1024);
  EXPECT_EQ(quantize_rows(TensorType::kQ5_K, x.data(), bytes.data(), 1, 256).code(),
            ErrorCode::kUnsupported);
  EXPECT_EQ(dequantize_rows(TensorType::kIQ2_XXS, bytes.data(), x.data(), 1, 256).code(),
            ErrorCode::kUnsupported);
  EXPECT_EQ(quantize_rows(TensorType::kQ8_0, x.data(), bytes.data(), -1, 32).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(quantize_rows(TensorType::kQ8_0, nullptr, bytes.data(), 1, 32).code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace lathe::quant
