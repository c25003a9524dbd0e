// Matmul kernels per weight type and ISA level, on llama-3.2-1B's FFN shapes (8192x2048 gate/up,
// 2048x8192 down).
//
//  - gemv/…/bN: N = 1, 2, 4 activation rows. The weights rotate through enough copies to exceed the
//    last-level cache, so they stream from DRAM as in generation; the "GB/s" counter is weight
//    bytes read per second. Compare with read/tN, the plain read bandwidth of the same threads.
//  - gemv_hot/…: 512x2048 weights that stay in L2, one thread: the kernel's compute ceiling.
//  - gemm/…/b512: a 512-token prompt batch on both shapes; the "GOPS" counter counts a multiply-add
//    as 2 ops.
//  - gemm_hot/…: 64x2048 weights and 48 activation rows, all in L2, one thread: the GEMM tile's
//    compute ceiling, against which gemm/ shows what feeding it from DRAM costs.
//
// Threads come from a ThreadPool and split the weight rows in groups of 16, as the CPU backend
// does. Activations are converted once outside the timed loop (the kernels' input format).
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "bench_roofs.h"
#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "hw/probe_kernels.h"
#include "kernels/cpu/kernels.h"
#include "quant/quant.h"

namespace {

using lathe::CpuFeatures;
using lathe::TensorType;
using lathe::ThreadPool;
using namespace lathe::kernels;

constexpr uint64_t kStreamBytes = uint64_t{512} << 20;  // 16x the dev machine's 32 MiB L3

struct Weights {
  uint64_t row_bytes = 0;
  uint64_t matrix_bytes = 0;
  std::vector<uint8_t> data;  // `copies` matrices back to back
  int copies = 0;
};

// One quantized matrix of random weights, repeated until the copies exceed kStreamBytes (or once).
const Weights& weights(TensorType type, int64_t rows, int64_t k, bool stream) {
  static std::map<std::tuple<TensorType, int64_t, int64_t, bool>, std::unique_ptr<Weights>> cache;
  auto& slot = cache[{type, rows, k, stream}];
  if (slot) return *slot;
  slot = std::make_unique<Weights>();
  Weights& w = *slot;
  w.row_bytes = *lathe::tensor_row_bytes(type, static_cast<uint64_t>(k));
  w.matrix_bytes = w.row_bytes * static_cast<uint64_t>(rows);
  w.copies = stream ? static_cast<int>((kStreamBytes + w.matrix_bytes - 1) / w.matrix_bytes) : 1;
  w.data.resize(w.matrix_bytes * static_cast<uint64_t>(w.copies));
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> f(static_cast<size_t>(rows * k));
  for (float& x : f) x = normal(rng);
  (void)lathe::quant::quantize_rows(type, f.data(), w.data.data(), rows, k);
  for (int c = 1; c < w.copies; ++c) {
    std::copy_n(w.data.begin(), w.matrix_bytes, w.data.begin() + c * w.matrix_bytes);
  }
  return w;
}

std::vector<uint8_t> activations(const KernelTable& table, TensorType type, int64_t k, int64_t n_b,
                                 uint64_t* row_bytes) {
  const TensorType act = table.vec_dot_type_for(type);
  *row_bytes = *lathe::tensor_row_bytes(act, static_cast<uint64_t>(k));
  std::vector<uint8_t> out(*row_bytes * static_cast<uint64_t>(n_b));
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(k));
  for (int64_t b = 0; b < n_b; ++b) {
    for (float& v : x) v = normal(rng);
    table.quantize_for(act)(x.data(), out.data() + b * *row_bytes, k);
  }
  return out;
}

// Rows per thread in whole groups of 16, as CpuBackend::matmul splits them.
std::pair<int64_t, int64_t> row_chunk(int64_t rows, int ith, int nth) {
  const int64_t groups = (rows + 15) / 16;
  auto [g0, g1] = ThreadPool::chunk(groups, ith, nth);
  return {std::min(rows, g0 * 16), std::min(rows, g1 * 16)};
}

void run_matmul(benchmark::State& state, TensorType type, KernelLevel level, int64_t rows,
                int64_t k, int64_t n_b, int threads, bool stream, bool packed) {
  const KernelTable table = select_kernels(CpuFeatures::detect(), level);
  const char* want = level == KernelLevel::kAvx512 ? "avx512"
                     : level == KernelLevel::kAvx2 ? "avx2"
                                                   : "scalar";
  if (table.isa != want) {
    state.SkipWithError("this CPU lacks the level");
    return;
  }
  const Weights& file_weights = weights(type, rows, k, stream);
  const RepackKernels& rk = table.repack_for(type);
  if (packed && !rk.usable(k)) {
    state.SkipWithError("no packed layout for this type and level");
    return;
  }
  // The packed copies: one per file copy, packed once (outside the timing).
  Weights packed_copies;
  if (packed) {
    packed_copies.row_bytes = file_weights.row_bytes;
    packed_copies.matrix_bytes = rk.size(rows, file_weights.row_bytes);
    packed_copies.copies = file_weights.copies;
    packed_copies.data.resize(packed_copies.matrix_bytes *
                              static_cast<uint64_t>(file_weights.copies));
    const int64_t groups = (rows + rk.group_rows - 1) / rk.group_rows;
    for (int c = 0; c < file_weights.copies; ++c) {
      rk.pack(file_weights.data.data() + c * file_weights.matrix_bytes, file_weights.row_bytes,
              rows, k, 0, groups, packed_copies.data.data() + c * packed_copies.matrix_bytes);
    }
  }
  const Weights& w = packed ? packed_copies : file_weights;
  uint64_t act_row_bytes = 0;
  const std::vector<uint8_t> acts = activations(table, type, k, n_b, &act_row_bytes);
  std::vector<float> out(static_cast<size_t>(rows * n_b));
  const MatmulFn fn = packed ? rk.matmul : table.matmul_for(type);
  ThreadPool pool(threads);
  int copy = 0;
  for (auto _ : state) {
    const MatmulArgs args{w.data.data() + static_cast<uint64_t>(copy) * w.matrix_bytes,
                          w.row_bytes,
                          k,
                          acts.data(),
                          act_row_bytes,
                          n_b,
                          out.data(),
                          rows,
                          nullptr};
    pool.run([&](int ith, int nth) {
      auto [r0, r1] = row_chunk(rows, ith, nth);
      if (r1 > r0) fn(args, r0, r1);
    });
    benchmark::DoNotOptimize(out.data());
    copy = (copy + 1) % w.copies;
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(w.matrix_bytes) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GOPS"] = benchmark::Counter(2.0 * static_cast<double>(rows * k * n_b) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  // Quantized weights run at the int8 rate (activations quantized to 8 bits), the floats at
  // theirs.
  const lathe::hw::PeakKind kind = type == TensorType::kBF16  ? lathe::hw::PeakKind::kBf16
                                   : type == TensorType::kF32 ? lathe::hw::PeakKind::kF32
                                   : type == TensorType::kF16 ? lathe::hw::PeakKind::kF32
                                                              : lathe::hw::PeakKind::kInt8;
  lathe::bench::add_roof_counters(state, static_cast<double>(w.matrix_bytes),
                                  2.0 * static_cast<double>(rows * k * n_b), kind, threads);
}

// The plain read bandwidth of the hardware probe's widest kernel, same threads, 1 GiB buffer.
void run_read(benchmark::State& state, int threads) {
  const auto kernel = lathe::hw::read_kernels(CpuFeatures::detect()).front();
  const uint64_t bytes = uint64_t{1} << 30;
  std::vector<uint8_t> buffer(bytes, 1);
  ThreadPool pool(threads);
  uint64_t sink = 0;
  for (auto _ : state) {
    pool.run([&](int ith, int nth) {
      auto [b0, b1] = ThreadPool::chunk(static_cast<int64_t>(bytes / 4096), ith, nth);
      const uint64_t s = kernel.checksum(buffer.data() + b0 * 4096, (b1 - b0) * 4096);
      if (ith == 0) sink += s;
    });
  }
  benchmark::DoNotOptimize(sink);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  lathe::bench::add_roof_counters(state, static_cast<double>(bytes), 0, lathe::hw::PeakKind::kInt8,
                                  threads);
}

struct TypeName {
  TensorType type;
  const char* name;
};

constexpr TypeName kTypes[] = {
    {TensorType::kQ4_0, "q4_0"},     {TensorType::kQ8_0, "q8_0"}, {TensorType::kQ4_1, "q4_1"},
    {TensorType::kIQ4_XS, "iq4_xs"}, {TensorType::kQ4_K, "q4_K"}, {TensorType::kQ6_K, "q6_K"},
    {TensorType::kF16, "f16"},       {TensorType::kBF16, "bf16"}, {TensorType::kF32, "f32"},
};

struct Variant {
  KernelLevel level;
  const char* name;
  bool packed;
};

// "avx512p", "avx2p": the kernels on weights repacked in groups of 16 rows (types that have it).
constexpr Variant kLevels[] = {{KernelLevel::kAvx512, "avx512p", true},
                               {KernelLevel::kAvx512, "avx512", false},
                               {KernelLevel::kAvx2, "avx2p", true},
                               {KernelLevel::kAvx2, "avx2", false},
                               {KernelLevel::kScalar, "scalar", false}};

const bool kRegistered = [] {
  for (int threads : {1, 2}) {
    benchmark::RegisterBenchmark(("read/t" + std::to_string(threads)).c_str(), run_read, threads)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  struct Shape {
    int64_t rows, k;
    const char* name;
  };
  constexpr Shape kShapes[] = {{8192, 2048, "8192x2048"}, {2048, 8192, "2048x8192"}};
  for (const auto& t : kTypes) {
    for (const auto& l : kLevels) {
      const bool has_packed =
          select_kernels(CpuFeatures::detect(), l.level).repack_for(t.type).pack != nullptr;
      if (l.packed && !has_packed) continue;
      for (const auto& s : kShapes) {
        for (int64_t n_b : {1, 2, 4}) {
          if (l.level == KernelLevel::kScalar && n_b > 1) continue;
          for (int threads : {1, 2}) {
            const std::string name = std::string("gemv/") + t.name + "/" + l.name + "/" + s.name +
                                     "/b" + std::to_string(n_b) + "/t" + std::to_string(threads);
            benchmark::RegisterBenchmark(name.c_str(), run_matmul, t.type, l.level, s.rows, s.k,
                                         n_b, threads, true, l.packed)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
          }
        }
      }
      if (l.level == KernelLevel::kScalar) continue;
      // Weights that stay in L2: the kernel's compute ceiling, which must be well above DRAM speed.
      for (int64_t n_b : {1, 2, 4}) {
        const std::string name = std::string("gemv_hot/") + t.name + "/" + l.name + "/512x2048/b" +
                                 std::to_string(n_b) + "/t1";
        benchmark::RegisterBenchmark(name.c_str(), run_matmul, t.type, l.level, 512, 2048, n_b, 1,
                                     false, l.packed)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
      {
        const std::string name =
            std::string("gemm_hot/") + t.name + "/" + l.name + "/64x2048/b48/t1";
        benchmark::RegisterBenchmark(name.c_str(), run_matmul, t.type, l.level, 64, 2048, 48, 1,
                                     false, l.packed)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
      for (const auto& s : kShapes) {
        for (int threads : {1, 2}) {
          const std::string name = std::string("gemm/") + t.name + "/" + l.name + "/" + s.name +
                                   "/b512/t" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), run_matmul, t.type, l.level, s.rows, s.k, 512,
                                       threads, false, l.packed)
              ->UseRealTime()
              ->Unit(benchmark::kMillisecond);
        }
      }
    }
  }
  return true;
}();

}  // namespace
