// The SIMD attention kernels (kernels/cpu/x86/attention_impl.h) against the reference kernel, per
// ISA level: head sizes 32/64/80/128, 1, 4 and 8 query heads per KV head, f16/q8_0/q4_0 caches,
// flash and plain, tokens whose visible cells have gaps (and one token that sees nothing), items
// of every shape (all heads at once or one, tiles of tokens, cell shares merged afterwards).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "core/cpu_features.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/ref/ref.h"
#include "quant/quant.h"

namespace lathe::kernels {
namespace {

struct Case {
  int64_t head_dim;
  int64_t gqa;  // query heads per KV head
  TensorType kv_type;
  int64_t n_tokens;
  int64_t n_cells;
  float q_scale;  // spreads the scores: large values make the softmax peaky
};

std::string name(const Case& c) {
  return "d" + std::to_string(c.head_dim) + "_gqa" + std::to_string(c.gqa) + "_" +
         std::string(tensor_type_info(c.kv_type).name) + "_t" + std::to_string(c.n_tokens) + "_c" +
         std::to_string(c.n_cells);
}

// A cache, queries and a mask shaped like a prompt after some history: token t sees the cells up
// to its own (n_cells − n_tokens + t), except every cell ≡ 3 (mod 7) (another sequence's cells,
// which split the ranges into many). The last token of a batch of more than 2 sees nothing (a
// token whose sequence has no cells yet in this layer view).
struct Problem {
  int64_t n_head_kv = 3;
  std::vector<uint8_t> k, v;
  uint64_t row_bytes = 0;
  std::vector<float> q;
  std::vector<int32_t> offsets;
  std::vector<ops::CellRange> ranges;
  ops::KvLayerView kv;
  ops::AttentionMask mask;
  ops::AttentionParams params;

  explicit Problem(const Case& c) {
    std::mt19937 rng(static_cast<uint32_t>(c.head_dim * 131 + c.gqa * 17 + c.n_cells));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const int64_t width = n_head_kv * c.head_dim;
    row_bytes = *tensor_row_bytes(c.kv_type, static_cast<uint64_t>(width));
    std::vector<float> f(static_cast<size_t>(c.n_cells * width));
    for (auto* dst : {&k, &v}) {
      for (float& x : f) x = normal(rng);
      dst->resize(row_bytes * static_cast<uint64_t>(c.n_cells));
      EXPECT_TRUE(quant::quantize_rows(c.kv_type, f.data(), dst->data(), c.n_cells, width).ok());
    }
    params.n_head_kv = n_head_kv;
    params.n_head = n_head_kv * c.gqa;
    params.head_dim = c.head_dim;
    params.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    q.resize(static_cast<size_t>(c.n_tokens * params.n_head * c.head_dim));
    for (float& x : q) x = normal(rng) * c.q_scale;
    for (int64_t t = 0; t < c.n_tokens; ++t) {
      offsets.push_back(static_cast<int32_t>(ranges.size()));
      if (c.n_tokens > 2 && t == c.n_tokens - 1) continue;
      const int64_t last = c.n_cells - c.n_tokens + t;
      int32_t begin = -1;
      for (int64_t cell = 0; cell <= last + 1; ++cell) {
        const bool visible = cell <= last && cell % 7 != 3;
        if (visible && begin < 0) begin = static_cast<int32_t>(cell);
        if (!visible && begin >= 0) {
          ranges.push_back({begin, static_cast<int32_t>(cell)});
          begin = -1;
        }
      }
    }
    offsets.push_back(static_cast<int32_t>(ranges.size()));
    kv = {k.data(), v.data(), c.kv_type, c.kv_type, row_bytes, row_bytes};
    mask = {offsets.data(), ranges.data(), nullptr};
  }
};

AttentionScratch scratch_for(const Problem& p, const Case& c, int64_t tokens, int64_t kv_heads) {
  AttentionScratch s;
  s.reserve(c.head_dim, tokens, kv_heads, tokens * c.gqa * kv_heads, c.n_cells, c.n_cells);
  return s;
}

// The largest normalized error ||out − ref|| / ||ref|| over all (token, head) vectors; a vector
// that should be zero (no visible cell) must be exactly zero.
double max_error(const std::vector<float>& out, const std::vector<float>& ref, int64_t d) {
  double worst = 0;
  for (size_t h = 0; h < ref.size() / static_cast<size_t>(d); ++h) {
    double err = 0, norm = 0;
    for (int64_t i = 0; i < d; ++i) {
      const double r = ref[h * static_cast<size_t>(d) + static_cast<size_t>(i)];
      const double o = out[h * static_cast<size_t>(d) + static_cast<size_t>(i)];
      err += (o - r) * (o - r);
      norm += r * r;
    }
    if (norm == 0) {
      if (err != 0) return INFINITY;
      continue;
    }
    worst = std::max(worst, std::sqrt(err / norm));
  }
  return worst;
}

class AttentionSimdTest : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionSimdTest, MatchesReference) {
  const Case c = GetParam();
  const KernelTable ref_table = reference_kernels();
  const CpuFeatures cpu = CpuFeatures::detect();
  bool ran = false;
  for (KernelLevel level : {KernelLevel::kAvx2, KernelLevel::kAvx512}) {
    const KernelTable table = select_kernels(cpu, level);
    if (table.isa != (level == KernelLevel::kAvx2 ? "avx2" : "avx512")) continue;
    ran = true;
    for (bool flash : {true, false}) {
      SCOPED_TRACE(table.isa + (flash ? " flash" : " plain"));
      Problem p(c);
      p.params.flash = flash;
      const int64_t n_out = static_cast<int64_t>(p.q.size());
      // The reference, one (token, head) at a time.
      std::vector<float> expected(static_cast<size_t>(n_out), -1.0f);
      AttentionArgs ref_args{p.q.data(), expected.data(), &p.kv, &p.mask, &p.params, &ref_table};
      AttentionScratch ref_scratch = scratch_for(p, c, 1, 1);
      for (int64_t t = 0; t < c.n_tokens; ++t) {
        for (int64_t g = 0; g < p.n_head_kv; ++g) {
          ref::attention_item(ref_args, {t, t + 1, g, g + 1}, ref_scratch);
        }
      }
      // Plain probabilities are rounded to f16 before they meet an f16 V: a last-bit difference
      // in a score or in exp can move one to the neighbouring f16 value, a step of up to 2^-11
      // (for p in [0.5, 1)), which moves the output by up to ~2^-10 of its norm when that p
      // dominates (measured: 7.5e-4 in the peaky d64_gqa8 case). Everything else is float
      // rounding of sums in another order.
      const double bound = !flash && c.kv_type == TensorType::kF16 ? 2e-3 : 2e-5;

      // Items of several shapes: every token and head at once; tiles of 3 tokens × one KV head.
      for (int64_t tile : {c.n_tokens, int64_t{3}}) {
        for (int64_t heads : {p.n_head_kv, int64_t{1}}) {
          SCOPED_TRACE("tile " + std::to_string(tile) + ", heads " + std::to_string(heads));
          std::vector<float> out(static_cast<size_t>(n_out), -1.0f);
          AttentionArgs args{p.q.data(), out.data(), &p.kv, &p.mask, &p.params, &table};
          AttentionScratch s = scratch_for(p, c, tile, heads);
          for (int64_t t0 = 0; t0 < c.n_tokens; t0 += tile) {
            for (int64_t g = 0; g < p.n_head_kv; g += heads) {
              table.attention(args, {t0, std::min(c.n_tokens, t0 + tile), g, g + heads}, s);
            }
          }
          EXPECT_LT(max_error(out, expected, c.head_dim), bound);
        }
      }
      if (!flash) continue;
      // Cells shared among 3 items (uneven shares, one of them possibly empty for some tokens),
      // merged afterwards, as CpuBackend does for generation.
      {
        std::vector<float> out(static_cast<size_t>(n_out), -1.0f);
        AttentionArgs args{p.q.data(), out.data(), &p.kv, &p.mask, &p.params, &table};
        AttentionScratch s = scratch_for(p, c, c.n_tokens, p.n_head_kv);
        const int64_t rows = c.n_tokens * p.params.n_head;
        const int64_t part = rows * (c.head_dim + 2);
        std::vector<float> parts(static_cast<size_t>(3 * part));
        const int64_t cuts[4] = {0, c.n_cells / 5, c.n_cells / 5 + 1, c.n_cells};
        AttentionItem item{0, c.n_tokens, 0, p.n_head_kv};
        for (int i = 0; i < 3; ++i) {
          AttentionItem share = item;
          share.c0 = cuts[i];
          share.c1 = cuts[i + 1];
          share.partial = parts.data() + i * part;
          table.attention(args, share, s);
        }
        ref::merge_attention_partials(args, item, parts.data(), part, 3);
        EXPECT_LT(max_error(out, expected, c.head_dim), bound) << "shared cells";
      }
    }
  }
  if (!ran) GTEST_SKIP() << "this CPU has neither AVX2 nor AVX-512";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionSimdTest,
    ::testing::Values(
        Case{32, 1, TensorType::kF16, 1, 1, 1.0f}, Case{32, 4, TensorType::kF16, 5, 37, 1.0f},
        Case{64, 4, TensorType::kF16, 1, 301, 1.0f}, Case{64, 8, TensorType::kF16, 7, 200, 3.0f},
        Case{128, 1, TensorType::kF16, 4, 129, 1.0f}, Case{128, 4, TensorType::kF16, 17, 515, 1.0f},
        Case{80, 2, TensorType::kF16, 3, 90, 1.0f}, Case{64, 4, TensorType::kQ8_0, 6, 150, 1.0f},
        Case{128, 8, TensorType::kQ8_0, 1, 1000, 1.0f}, Case{32, 1, TensorType::kQ4_0, 9, 77, 2.0f},
        Case{64, 4, TensorType::kQ4_0, 1, 333, 1.0f}, Case{128, 4, TensorType::kQ4_0, 5, 64, 1.0f},
        Case{64, 4, TensorType::kF16, 3, 160, 30.0f}),
    [](const auto& info) { return name(info.param); });

}  // namespace
}  // namespace lathe::kernels
