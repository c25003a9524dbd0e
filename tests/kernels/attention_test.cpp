// The fused attention kernel against a plain double-precision softmax(q·K)·V.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/ref/ref.h"
#include "quant/fp16.h"
#include "quant/quant.h"

namespace lathe::kernels {
namespace {

struct Case {
  int64_t head_dim;
  int64_t n_cells;
  TensorType kv_type;
  float score_scale;  // spreads the scores: large values make the softmax peaky
};

class AttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionTest, MatchesDoublePrecisionSoftmax) {
  const Case c = GetParam();
  const KernelTable table = reference_kernels();
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n_head_kv = 2;
  const int64_t row = n_head_kv * c.head_dim;
  std::vector<float> k(static_cast<size_t>(c.n_cells * row)), v(k.size()), q(static_cast<size_t>(c.head_dim));
  for (auto& x : k) x = normal(rng);
  for (auto& x : v) x = normal(rng);
  for (auto& x : q) x = normal(rng) * c.score_scale;
  const uint64_t row_bytes = *tensor_row_bytes(c.kv_type, static_cast<uint64_t>(row));
  std::vector<uint8_t> kq(static_cast<size_t>(row_bytes * c.n_cells)), vq(kq.size());
  ASSERT_TRUE(quant::quantize_rows(c.kv_type, k.data(), kq.data(), c.n_cells, row).ok());
  ASSERT_TRUE(quant::quantize_rows(c.kv_type, v.data(), vq.data(), c.n_cells, row).ok());
  std::vector<float> kd(k.size()), vd(v.size());
  ASSERT_TRUE(quant::dequantize_rows(c.kv_type, kq.data(), kd.data(), c.n_cells, row).ok());
  ASSERT_TRUE(quant::dequantize_rows(c.kv_type, vq.data(), vd.data(), c.n_cells, row).ok());

  ops::KvLayerView kv{kq.data(), vq.data(), c.kv_type, c.kv_type, row_bytes, row_bytes};
  ops::AttentionParams params;
  params.n_head = 4;
  params.n_head_kv = n_head_kv;
  params.head_dim = c.head_dim;
  params.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  // Two ranges with a gap, cells [0, n/3) and [n/3 + 1, n), when there are enough cells.
  std::vector<ops::CellRange> ranges = {{0, static_cast<int32_t>(c.n_cells)}};
  if (c.n_cells >= 3) {
    ranges = {{0, static_cast<int32_t>(c.n_cells / 3)},
              {static_cast<int32_t>(c.n_cells / 3 + 1), static_cast<int32_t>(c.n_cells)}};
  }
  const int64_t kv_head = 1;

  // Reference with the dequantized cache (the q conversion to K's dot type is part of the kernel,
  // so the reference converts q the same way through a round trip).
  const TensorType q_type = table.vec_dot_type_for(c.kv_type);
  std::vector<uint8_t> q_conv(static_cast<size_t>(c.head_dim) * 4);
  std::vector<float> q_round(q.size());
  table.quantize_for(q_type)(q.data(), q_conv.data(), c.head_dim);
  table.dequantize_for(q_type)(q_conv.data(), q_round.data(), c.head_dim);
  std::vector<double> scores;
  std::vector<int32_t> cells;
  for (auto r : ranges) {
    for (int32_t cell = r.begin; cell < r.end; ++cell) {
      double s = 0;
      for (int64_t i = 0; i < c.head_dim; ++i) {
        s += static_cast<double>(q_round[static_cast<size_t>(i)]) *
             kd[static_cast<size_t>(cell * row + kv_head * c.head_dim + i)];
      }
      scores.push_back(s * params.scale);
      cells.push_back(cell);
    }
  }
  const double max_score = *std::max_element(scores.begin(), scores.end());
  double sum = 0;
  for (auto& s : scores) sum += (s = std::exp(s - max_score));

  for (bool flash : {true, false}) {
    // Without flash attention the kernel follows llama.cpp in meeting an f16 V with
    // probabilities rounded to f16.
    const bool round = !flash && c.kv_type == TensorType::kF16;
    std::vector<double> expected(static_cast<size_t>(c.head_dim), 0.0);
    for (size_t j = 0; j < cells.size(); ++j) {
      double p = scores[j] / sum;
      if (round) p = quant::f16_to_f32(quant::f32_to_f16(static_cast<float>(p)));
      for (int64_t i = 0; i < c.head_dim; ++i) {
        expected[static_cast<size_t>(i)] +=
            p * vd[static_cast<size_t>(cells[j] * row + kv_head * c.head_dim + i)];
      }
    }
    params.flash = flash;
    ref::AttentionScratch scratch;
    scratch.q_converted.resize(q_conv.size());
    scratch.v_row.resize(static_cast<size_t>(c.head_dim));
    scratch.acc.resize(static_cast<size_t>(c.head_dim));
    scratch.scores.resize(static_cast<size_t>(c.n_cells));
    std::vector<float> out(static_cast<size_t>(c.head_dim));
    ref::attention_head(q.data(), kv, kv_head, ranges.data(), static_cast<int64_t>(ranges.size()),
                        params, table, scratch, out.data());
    double err = 0, norm = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      err += (out[i] - expected[i]) * (out[i] - expected[i]);
      norm += expected[i] * expected[i];
    }
    EXPECT_LT(std::sqrt(err / norm), 1e-5) << (flash ? "flash" : "plain");
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTest,
                         ::testing::Values(Case{32, 1, TensorType::kF16, 1.0f},
                                           Case{32, 5, TensorType::kF16, 1.0f},
                                           Case{64, 37, TensorType::kF16, 3.0f},
                                           Case{128, 301, TensorType::kF16, 1.0f},
                                           Case{64, 37, TensorType::kQ8_0, 1.0f},
                                           Case{32, 100, TensorType::kQ4_0, 2.0f},
                                           Case{32, 60, TensorType::kF16, 30.0f},
                                           Case{32, 60, TensorType::kF16, 300.0f}));

}  // namespace
}  // namespace lathe::kernels
