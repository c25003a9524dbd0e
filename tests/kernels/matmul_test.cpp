// Every SIMD matmul at every level this CPU runs, against the scalar reference table, on odd
// shapes: k of 1, 3, 7, 13 blocks, 1 to 17 activation rows, an odd row range that starts past 0,
// an output stride wider than the rows, with and without bias.
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
  const char* name;
  // Run as on a CPU without AVX512_BF16 (Skylake-X, Ice Lake): the BF16 kernels then widen to
  // f32 instead of using vdpbf16ps, a path a Zen 4/5 or Sapphire Rapids would otherwise never test.
  bool without_avx512bf16 = false;
};

constexpr Level kSimdLevels[] = {{KernelLevel::kAvx2, "avx2", "avx2"},
                                 {KernelLevel::kAvx512, "avx512", "avx512"},
                                 {KernelLevel::kAvx512, "avx512", "avx512_without_bf16", true}};

constexpr TensorType kWeightTypes[] = {
    TensorType::kF32,  TensorType::kF16,    TensorType::kBF16, TensorType::kQ8_0, TensorType::kQ4_0,
    TensorType::kQ4_1, TensorType::kIQ4_XS, TensorType::kQ4_K, TensorType::kQ6_K,
};

// The table of `level`, or nullopt (with the reason in *why) when this CPU cannot run it.
std::optional<KernelTable> table_for(const Level& l, std::string* why) {
  CpuFeatures cpu = CpuFeatures::detect();
  if (l.without_avx512bf16) cpu.avx512bf16 = false;
  KernelTable t = select_kernels(cpu, l.level);
  if (t.isa != l.isa) {
    *why = std::string("this CPU has no ") + l.isa + " (best level: " + t.isa + ")";
    return std::nullopt;
  }
  return t;
}

// Normalized error bound of each type: integer-dot formats differ from the reference only in
// float accumulation order (lathe's kernels in fact reproduce it exactly); float formats
// accumulate in f32 lanes where the reference uses double.
double tolerance(TensorType t) {
  switch (t) {
    case TensorType::kF32:
    case TensorType::kF16:
      return 2e-5;
    case TensorType::kBF16:
      return 1e-4;
    default:
      return 1e-5;
  }
}

struct Problem {
  TensorType type;
  int64_t k;
  int64_t rows;
  int64_t n_b;
  std::vector<uint8_t> weights;
  uint64_t weight_row_bytes;
  std::vector<uint8_t> acts;  // in vec_dot_type
  uint64_t act_row_bytes;
  std::vector<float> bias;
};

Problem make_problem(const KernelTable& ref, TensorType type, int64_t k, int64_t rows, int64_t n_b,
                     uint32_t seed) {
  Problem p{type, k, rows, n_b, {}, 0, {}, 0, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(rows * k));
  for (size_t i = 0; i < w.size(); ++i) {
    // Rows of different magnitudes, and an all-zero row, so scales vary between blocks.
    const int64_t r = static_cast<int64_t>(i) / k;
    w[i] = r == 5 ? 0.0f : normal(rng) * (0.1f + static_cast<float>(r % 7));
  }
  p.weight_row_bytes = *tensor_row_bytes(type, static_cast<uint64_t>(k));
  p.weights.resize(p.weight_row_bytes * static_cast<uint64_t>(rows));
  EXPECT_TRUE(quant::quantize_rows(type, w.data(), p.weights.data(), rows, k).ok());

  const TensorType act_type = ref.vec_dot_type_for(type);
  p.act_row_bytes = *tensor_row_bytes(act_type, static_cast<uint64_t>(k));
  p.acts.resize(p.act_row_bytes * static_cast<uint64_t>(n_b));
  std::vector<float> x(static_cast<size_t>(k));
  for (int64_t b = 0; b < n_b; ++b) {
    for (auto& v : x) v = normal(rng) * (1.0f + static_cast<float>(b % 3));
    ref.quantize_for(act_type)(x.data(), p.acts.data() + b * p.act_row_bytes, k);
  }
  p.bias.resize(static_cast<size_t>(rows));
  for (auto& v : p.bias) v = normal(rng);
  return p;
}

constexpr float kSentinel = 12345.0f;
constexpr int64_t kStridePad = 5;

// Runs fn over rows [r0, r1) and returns the whole output (sentinels elsewhere).
std::vector<float> run(MatmulFn fn, const Problem& p, int64_t r0, int64_t r1, bool with_bias,
                       int64_t cols_per_call = 0) {
  const int64_t stride = p.rows + kStridePad;
  std::vector<float> out(static_cast<size_t>(stride * p.n_b), kSentinel);
  const int64_t step = cols_per_call > 0 ? cols_per_call : p.n_b;
  for (int64_t c = 0; c < p.n_b; c += step) {
    MatmulArgs args{p.weights.data(),
                    p.weight_row_bytes,
                    p.k,
                    p.acts.data() + c * p.act_row_bytes,
                    p.act_row_bytes,
                    std::min(step, p.n_b - c),
                    out.data() + c * stride,
                    stride,
                    with_bias ? p.bias.data() : nullptr};
    fn(args, r0, r1);
  }
  return out;
}

std::string describe(const Problem& p) {
  return std::string(tensor_type_name(p.type)) + " k=" + std::to_string(p.k) +
         " rows=" + std::to_string(p.rows) + " n_b=" + std::to_string(p.n_b);
}

// Element counts per "block" for the shape sweep: the type's block, or 1 for float types.
int64_t block_elems(TensorType t) {
  return tensor_type_info(t).block_elems;
}

class MatmulTest : public ::testing::TestWithParam<Level> {};

TEST_P(MatmulTest, MatchesReferenceOnOddShapes) {
  std::string why;
  const auto table = table_for(GetParam(), &why);
  if (!table) GTEST_SKIP() << why;
  const KernelTable ref = reference_kernels();
  uint32_t seed = 1;
  for (TensorType type : kWeightTypes) {
    const MatmulFn fn = table->matmul_for(type);
    ASSERT_NE(fn, nullptr) << tensor_type_name(type);
    const int64_t be = block_elems(type);
    std::vector<int64_t> ks;
    for (int64_t blocks : {1, 3, 7, 13}) ks.push_back(blocks * be);
    if (be == 1) {
      for (int64_t k : {32, 96, 224, 416}) ks.push_back(k);
    }
    for (int64_t k : ks) {
      for (int64_t n_b : {1, 2, 3, 5, 8, 17}) {
        const int64_t rows = 37;
        const Problem p = make_problem(ref, type, k, rows, n_b, seed++);
        for (bool with_bias : {false, true}) {
          SCOPED_TRACE(describe(p) + (with_bias ? " bias" : ""));
          const int64_t r0 = 3, r1 = 36;
          const auto got = run(fn, p, r0, r1, with_bias);
          const auto want = run(ref.matmul_for(type), p, r0, r1, with_bias);
          double max_ref = 0.0, max_err = 0.0;
          bool untouched = true;
          for (size_t i = 0; i < got.size(); ++i) {
            const int64_t r = static_cast<int64_t>(i) % (rows + kStridePad);
            if (r < r0 || r >= r1) {
              untouched = untouched && got[i] == kSentinel;
              continue;
            }
            ASSERT_TRUE(std::isfinite(got[i])) << "index " << i;
            max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
            max_err = std::max(max_err, std::fabs(static_cast<double>(got[i]) - want[i]));
          }
          EXPECT_TRUE(untouched) << "wrote outside rows [r0, r1)";
          EXPECT_LE(max_err, tolerance(type) * std::max(max_ref, 1e-30));
        }
      }
    }
  }
}

// The runtime relies on this: a row's result does not depend on how many activation rows are in
// the batch or on how the weight rows are split between threads, bit for bit.
TEST_P(MatmulTest, ResultsDoNotDependOnBatchOrRowSplit) {
  std::string why;
  const auto table = table_for(GetParam(), &why);
  if (!table) GTEST_SKIP() << why;
  const KernelTable ref = reference_kernels();
  uint32_t seed = 1000;
  for (TensorType type : kWeightTypes) {
    const MatmulFn fn = table->matmul_for(type);
    for (int64_t n_b : {2, 5, 17, 40}) {
      const Problem p =
          make_problem(ref, type, 7 * std::max<int64_t>(block_elems(type), 32), 53, n_b, seed++);
      SCOPED_TRACE(describe(p));
      const auto whole = run(fn, p, 0, p.rows, true);
      const auto one_by_one = run(fn, p, 0, p.rows, true, 1);
      EXPECT_EQ(0, std::memcmp(whole.data(), one_by_one.data(), whole.size() * sizeof(float)))
          << "n_b=" << n_b << " differs from single activation rows";
      auto split = run(fn, p, 0, 19, true);
      const auto rest = run(fn, p, 19, p.rows, true);
      const int64_t stride = p.rows + kStridePad;
      for (size_t i = 0; i < split.size(); ++i) {
        if (static_cast<int64_t>(i) % stride >= 19) split[i] = rest[i];
      }
      EXPECT_EQ(0, std::memcmp(whole.data(), split.data(), whole.size() * sizeof(float)))
          << "row split at 19 changes results";
    }
  }
}

// Long rows and large batches cross the float GEMMs' blocks: activation rows are taken in blocks
// of about 512 KiB (a few rows when a row is 32-64 KiB); the AVX-512 F16 GEMM sums rows in slices
// of 2048 (a ragged last one when k is not a multiple), converts up to 48 activation rows of a
// slice at a time (more when k is short: 470 rows of 200 take two buffers, 468 and 2) and takes the
// weight rows in blocks of 128 KiB of a slice (32 rows of 2048, 312 of 200; 75 and 700 rows end on
// a ragged block and a ragged tile). Results must still match the reference and not depend on the
// batch or on the row split.
TEST_P(MatmulTest, FloatFormatsOverSeveralBlocks) {
  std::string why;
  const auto table = table_for(GetParam(), &why);
  if (!table) GTEST_SKIP() << why;
  const KernelTable ref = reference_kernels();
  struct Shape {
    int64_t k, rows, n_b;
  };
  constexpr Shape kShapes[] = {
      {8192 + 5, 9, 23}, {16384 + 16, 9, 23}, {40000, 9, 23}, {4096 + 37, 75, 53}, {200, 700, 470}};
  uint32_t seed = 3000;
  for (TensorType type : {TensorType::kF32, TensorType::kF16, TensorType::kBF16}) {
    const MatmulFn fn = table->matmul_for(type);
    ASSERT_NE(fn, nullptr);
    for (const Shape& shape : kShapes) {
      const Problem p = make_problem(ref, type, shape.k, shape.rows, shape.n_b, seed++);
      SCOPED_TRACE(describe(p));
      const auto got = run(fn, p, 0, p.rows, true);
      const auto want = run(ref.matmul_for(type), p, 0, p.rows, true);
      double max_ref = 0.0, max_err = 0.0;
      for (size_t i = 0; i < got.size(); ++i) {
        if (static_cast<int64_t>(i) % (p.rows + kStridePad) >= p.rows) continue;
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
        max_err = std::max(max_err, std::fabs(static_cast<double>(got[i]) - want[i]));
      }
      EXPECT_GT(max_ref, 0.0);
      EXPECT_LE(max_err, tolerance(type) * max_ref);
      const auto one_by_one = run(fn, p, 0, p.rows, true, 1);
      EXPECT_EQ(0, std::memcmp(got.data(), one_by_one.data(), got.size() * sizeof(float)));
      const int64_t split_row = p.rows / 2 + 1;
      auto split = run(fn, p, 0, split_row, true);
      const auto rest = run(fn, p, split_row, p.rows, true);
      for (size_t i = 0; i < split.size(); ++i) {
        if (static_cast<int64_t>(i) % (p.rows + kStridePad) >= split_row) split[i] = rest[i];
      }
      EXPECT_EQ(0, std::memcmp(got.data(), split.data(), got.size() * sizeof(float)))
          << "row split at " << split_row << " changes results";
    }
  }
}

// Stronger than the tolerance above, and a property of how lathe's integer-format kernels are
// built: exact integer block sums, then the reference's float expression in the reference's order
// (rows in SIMD lanes), so they return the reference's bits. Float formats are excluded: the
// reference accumulates them in double.
TEST_P(MatmulTest, IntegerFormatsReproduceTheReferenceBits) {
  std::string why;
  const auto table = table_for(GetParam(), &why);
  if (!table) GTEST_SKIP() << why;
  const KernelTable ref = reference_kernels();
  uint32_t seed = 2000;
  for (TensorType type : kWeightTypes) {
    if (type == TensorType::kF32 || type == TensorType::kF16 || type == TensorType::kBF16) continue;
    for (int64_t blocks : {1, 5}) {
      const Problem p = make_problem(ref, type, blocks * block_elems(type), 41, 3, seed++);
      SCOPED_TRACE(describe(p));
      const auto got = run(table->matmul_for(type), p, 1, p.rows, true);
      const auto want = run(ref.matmul_for(type), p, 1, p.rows, true);
      EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)));
    }
  }
}

// Packed weights (RepackKernels) give the same bits as the row-major kernel of the same table, for
// every row range that starts on a group, a last group that is partly padding, and batches long
// enough to be processed in several column chunks. Float rows also run long enough to cross the
// F16 slices (2048), with a ragged last step.
TEST_P(MatmulTest, PackedWeightsMatchTheRowMajorKernel) {
  std::string why;
  const auto table = table_for(GetParam(), &why);
  if (!table) GTEST_SKIP() << why;
  const KernelTable ref = reference_kernels();
  int packed_types = 0;
  uint32_t seed = 3000;
  for (TensorType type : kWeightTypes) {
    const RepackKernels& rk = table->repack_for(type);
    if (rk.pack == nullptr) continue;
    ++packed_types;
    ASSERT_GT(rk.group_rows, 0);
    std::vector<int64_t> ks;
    for (int64_t blocks : {1, 3, 13}) ks.push_back(blocks * block_elems(type));
    if (block_elems(type) == 1) {
      for (int64_t k : {100, 2048 + 16 * 9 + 5, 3 * 2048}) ks.push_back(k);
    }
    for (int64_t k : ks) {
      for (int64_t n_b : {1, 2, 5, 7, 17, 40}) {
        const Problem p = make_problem(ref, type, k, 37, n_b, seed++);
        SCOPED_TRACE(describe(p));
        ASSERT_TRUE(rk.usable(p.k));
        std::vector<uint8_t> packed(rk.size(p.rows, p.weight_row_bytes) + 64);
        const int64_t groups = (p.rows + rk.group_rows - 1) / rk.group_rows;
        // Pack in two calls, as two threads would.
        rk.pack(p.weights.data(), p.weight_row_bytes, p.rows, p.k, 0, 1, packed.data());
        rk.pack(p.weights.data(), p.weight_row_bytes, p.rows, p.k, 1, groups, packed.data());
        Problem pp = p;
        pp.weights = packed;
        for (bool with_bias : {false, true}) {
          for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 37}, {16, 35}, {0, 16}}) {
            const auto got = run(rk.matmul, pp, r0, r1, with_bias);
            const auto want = run(table->matmul_for(type), p, r0, r1, with_bias);
            EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)))
                << "rows [" << r0 << ", " << r1 << ")" << (with_bias ? " bias" : "");
          }
        }
      }
    }
  }
  if (packed_types == 0) GTEST_SKIP() << table->isa << " has no packed layouts";
}

TEST_P(MatmulTest, SelectKernelsReturnsTheRequestedLevel) {
  const CpuFeatures cpu = CpuFeatures::detect();
  const Level l = GetParam();
  const bool supported = l.level == KernelLevel::kAvx2 ? cpu.has_avx2_fma() : cpu.has_avx512_vnni();
  if (!supported) GTEST_SKIP() << "this CPU has no " << l.isa;
  EXPECT_EQ(select_kernels(cpu, l.level).isa, l.isa);
}

INSTANTIATE_TEST_SUITE_P(Levels, MatmulTest, ::testing::ValuesIn(kSimdLevels),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(SelectKernels, ScalarAndBest) {
  const CpuFeatures cpu = CpuFeatures::detect();
  EXPECT_EQ(select_kernels(cpu, KernelLevel::kScalar).isa, "scalar");
  const std::string best = select_kernels(cpu, KernelLevel::kBest).isa;
  if (cpu.has_avx512_vnni()) {
    EXPECT_EQ(best, "avx512");
  } else if (cpu.has_avx2_fma()) {
    EXPECT_EQ(best, "avx2");
  } else {
    EXPECT_EQ(best, "scalar");
  }
}

TEST(SelectKernels, EveryLevelIsAConsistentTable) {
  const CpuFeatures cpu = CpuFeatures::detect();
  const KernelTable ref = reference_kernels();
  for (KernelLevel level :
       {KernelLevel::kScalar, KernelLevel::kAvx2, KernelLevel::kAvx512, KernelLevel::kBest}) {
    const KernelTable t = select_kernels(cpu, level);
    for (TensorType type : kWeightTypes) {
      SCOPED_TRACE(std::string(t.isa) + " " + std::string(tensor_type_name(type)));
      EXPECT_NE(t.matmul_for(type), nullptr);
      EXPECT_EQ(t.vec_dot_type_for(type), ref.vec_dot_type_for(type));
      EXPECT_NE(t.quantize_for(t.vec_dot_type_for(type)), nullptr);
    }
  }
}

}  // namespace
}  // namespace lathe::kernels
