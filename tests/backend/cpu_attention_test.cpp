// CpuBackend's attention and elementwise ops with its best kernels and two threads, against a
// one-thread backend on the reference kernels: the work split (tiles of tokens × KV heads, cells
// shared among the threads with a merge for generation, dynamic hand-out of items) must not change
// the result beyond float rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "quant/quant.h"

namespace lathe::backend {
namespace {

std::unique_ptr<CpuBackend> make(kernels::KernelLevel level, int threads) {
  CpuBackendOptions options;
  options.n_threads = threads;
  options.kernel_level = level;
  return std::make_unique<CpuBackend>(options);
}

double max_error(const std::vector<float>& out, const std::vector<float>& ref, int64_t d) {
  double worst = 0;
  for (size_t h = 0; h < ref.size() / static_cast<size_t>(d); ++h) {
    double err = 0, norm = 0;
    for (size_t i = h * static_cast<size_t>(d); i < (h + 1) * static_cast<size_t>(d); ++i) {
      err += (double{out[i]} - ref[i]) * (double{out[i]} - ref[i]);
      norm += double{ref[i]} * ref[i];
    }
    if (norm == 0) {
      if (err != 0) return INFINITY;
      continue;
    }
    worst = std::max(worst, std::sqrt(err / norm));
  }
  return worst;
}

struct Case {
  std::string name;
  TensorType kv_type;
  int64_t n_cells;
  int64_t n_tokens;
  bool interleaved;  // each token its own sequence, cells interleaved (batched generation)
};

class CpuAttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(CpuAttentionTest, MatchesReferenceBackend) {
  const Case c = GetParam();
  auto best = make(kernels::KernelLevel::kBest, 2);
  auto ref = make(kernels::KernelLevel::kScalar, 1);
  const int64_t n_head = 32, n_head_kv = 8, d = 64;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t width = n_head_kv * d;
  const uint64_t row_bytes = *tensor_row_bytes(c.kv_type, static_cast<uint64_t>(width));
  std::vector<float> f(static_cast<size_t>(c.n_cells * width));
  std::vector<uint8_t> k(row_bytes * static_cast<uint64_t>(c.n_cells)), v(k.size());
  for (auto* dst : {&k, &v}) {
    for (float& x : f) x = normal(rng);
    ASSERT_TRUE(quant::quantize_rows(c.kv_type, f.data(), dst->data(), c.n_cells, width).ok());
  }
  std::vector<float> q(static_cast<size_t>(c.n_tokens * n_head * d));
  for (float& x : q) x = normal(rng);
  std::vector<int32_t> offsets;
  std::vector<CellRange> ranges;
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    offsets.push_back(static_cast<int32_t>(ranges.size()));
    if (c.interleaved) {
      // Sequence t owns cells t, t + n, t + 2n, ...: one range per cell.
      for (int64_t cell = t; cell < c.n_cells; cell += c.n_tokens) {
        ranges.push_back({static_cast<int32_t>(cell), static_cast<int32_t>(cell + 1)});
      }
    } else {
      ranges.push_back({0, static_cast<int32_t>(c.n_cells - c.n_tokens + t + 1)});
    }
  }
  offsets.push_back(static_cast<int32_t>(ranges.size()));
  const KvLayerView kv{k.data(), v.data(), c.kv_type, c.kv_type, row_bytes, row_bytes};
  const AttentionMask mask{offsets.data(), ranges.data(), nullptr};
  for (bool flash : {true, false}) {
    AttentionParams params{n_head, n_head_kv, d, 0.125f, flash};
    std::vector<float> expected(q.size()), out(q.size());
    ref->attention(q.data(), kv, mask, c.n_tokens, params, expected.data());
    best->attention(q.data(), kv, mask, c.n_tokens, params, out.data());
    const double bound = !flash && c.kv_type == TensorType::kF16 ? 2e-3 : 2e-5;
    EXPECT_LT(max_error(out, expected, d), bound) << (flash ? "flash" : "plain");
    // A mask summarized by its builder (as the forward pass does once per micro-batch) sizes the
    // same work as one the backend scans itself: the same bytes come out.
    AttentionMask summarized = mask;
    std::vector<CellRange> bounds(static_cast<size_t>(c.n_tokens));
    ops::summarize_mask(summarized, c.n_tokens, bounds.data());
    EXPECT_TRUE(summarized.sorted);
    std::vector<float> out_summarized(q.size());
    best->attention(q.data(), kv, summarized, c.n_tokens, params, out_summarized.data());
    EXPECT_EQ(out_summarized, out) << (flash ? "flash" : "plain");
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuAttentionTest,
                         ::testing::Values(Case{"decode_f16", TensorType::kF16, 3001, 1, false},
                                           Case{"decode_q8_0", TensorType::kQ8_0, 1500, 1, false},
                                           Case{"decode_q4_0", TensorType::kQ4_0, 700, 1, false},
                                           Case{"short_f16", TensorType::kF16, 9, 1, false},
                                           Case{"prompt_f16", TensorType::kF16, 300, 37, false},
                                           Case{"prompt_q4_0", TensorType::kQ4_0, 100, 100, false},
                                           Case{"batched_f16", TensorType::kF16, 2000, 3, true}),
                         [](const auto& info) { return info.param.name; });

TEST(CpuOps, MatchReferenceBackend) {
  auto best = make(kernels::KernelLevel::kBest, 2);
  auto ref = make(kernels::KernelLevel::kScalar, 1);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const int64_t rows = 33, width = 2048;
  std::vector<float> x(static_cast<size_t>(rows * width)), w(static_cast<size_t>(width)),
      y(x.size());
  for (float& a : x) a = normal(rng);
  for (float& a : w) a = normal(rng);
  for (float& a : y) a = normal(rng);
  const auto close = [](const std::vector<float>& a, const std::vector<float>& b, double rel) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::fabs(double{a[i]} - b[i]) > rel * (std::fabs(double{b[i]}) + 1e-30)) return false;
    }
    return true;
  };
  std::vector<float> o1(x.size()), o2(x.size());
  ref->rms_norm(x.data(), w.data(), rows, width, 1e-5f, o1.data());
  best->rms_norm(x.data(), w.data(), rows, width, 1e-5f, o2.data());
  EXPECT_TRUE(close(o2, o1, 3e-7)) << "rms_norm";
  ref->swiglu(x.data(), y.data(), rows * width, o1.data());
  best->swiglu(x.data(), y.data(), rows * width, o2.data());
  EXPECT_TRUE(close(o2, o1, 6e-7)) << "swiglu";
  std::copy(x.begin(), x.end(), o1.begin());
  std::copy(x.begin(), x.end(), o2.begin());
  ref->add(o1.data(), y.data(), rows * width);
  best->add(o2.data(), y.data(), rows * width);
  EXPECT_EQ(o1, o2) << "add";
  RopeParams rope;
  rope.head_dim = rope.n_rot = 64;
  rope.freq_base = 500000.0f;
  std::vector<int32_t> positions(static_cast<size_t>(rows));
  for (int64_t t = 0; t < rows; ++t)
    positions[static_cast<size_t>(t)] = static_cast<int32_t>(5 * t);
  for (auto mode : {ops::RopeMode::kNormal, ops::RopeMode::kNeox}) {
    rope.mode = mode;
    std::copy(x.begin(), x.end(), o1.begin());  // (copy-assignment trips GCC 12's
    std::copy(x.begin(), x.end(), o2.begin());  //  -Wstringop-overflow here)
    ref->rope(o1.data(), rows, width / 64, positions.data(), rope);
    best->rope(o2.data(), rows, width / 64, positions.data(), rope);
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_NEAR(o2[i], o1[i], 1e-6 * (std::fabs(x[i]) + 1.0)) << "rope, i=" << i;
    }
  }
}

}  // namespace
}  // namespace lathe::backend
