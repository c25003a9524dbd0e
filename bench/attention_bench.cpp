// Attention and the elementwise ops of the forward pass, per ISA level.
//
//  - decode/<kv>/<fa|plain>/ctx<N>/<level>/t<T>: one generation step of one layer of a
//    Llama-3.2-1B-shaped model (32 query heads, 8 KV heads, head 64) over N cached cells, through
//    CpuBackend::attention with T threads. The layers rotate through enough copies of the cache to
//    exceed the last-level cache, so K and V stream from DRAM as in generation; "GB/s" is K and V
//    bytes read per second. Its floor is the read bandwidth (docs/PERFORMANCE.md,
//    "Micro-benchmarks").
//  - prompt/<kv>/<fa|plain>/pp512/<level>/t<T>: the attention of a 512-token prompt (causal, one
//    layer), "GFLOPS" counting q·k and p·v multiply-adds as 2 ops each.
//  - exp, swiglu, rms_norm, rope, add: one thread over rows of a 512-token batch; "GB/s" counts
//    the bytes read and written, the floor of these memory-bound ops.
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "bench_roofs.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/ref/ref.h"
#include "quant/quant.h"

namespace {

using lathe::TensorType;
using lathe::backend::CpuBackend;
using lathe::backend::CpuBackendOptions;
using lathe::kernels::KernelLevel;
using lathe::kernels::KernelTable;
using lathe::ops::AttentionMask;
using lathe::ops::AttentionParams;
using lathe::ops::CellRange;
using lathe::ops::KvLayerView;

constexpr int64_t kHeads = 32;
constexpr int64_t kKvHeads = 8;
constexpr int64_t kHeadDim = 64;
constexpr uint64_t kStreamBytes = uint64_t{256} << 20;  // 8x the dev machine's 32 MiB L3

const TensorType kKvTypes[] = {TensorType::kF16, TensorType::kQ8_0, TensorType::kQ4_0};
const char* const kKvNames[] = {"f16", "q8_0", "q4_0"};
const KernelLevel kLevels[] = {KernelLevel::kScalar, KernelLevel::kAvx2, KernelLevel::kAvx512};
const char* const kLevelNames[] = {"ref", "avx2", "avx512"};

// K and V of one layer with n_cells cells of random values, repeated until the copies exceed
// kStreamBytes when `stream`.
struct Cache {
  uint64_t row_bytes = 0;
  uint64_t layer_bytes = 0;  // K or V of one copy
  int copies = 1;
  lathe::backend::Buffer k_buf, v_buf;  // from CpuBackend::allocate, as the KV cache's
  uint8_t* k = nullptr;
  uint8_t* v = nullptr;
};

const Cache& cache(TensorType type, int64_t n_cells, bool stream) {
  static std::map<std::tuple<TensorType, int64_t, bool>, std::unique_ptr<Cache>> caches;
  auto& slot = caches[{type, n_cells, stream}];
  if (slot) return *slot;
  slot = std::make_unique<Cache>();
  Cache& c = *slot;
  const int64_t width = kKvHeads * kHeadDim;
  c.row_bytes = *lathe::tensor_row_bytes(type, static_cast<uint64_t>(width));
  c.layer_bytes = c.row_bytes * static_cast<uint64_t>(n_cells);
  c.copies =
      stream ? static_cast<int>(std::max<uint64_t>(1, kStreamBytes / (2 * c.layer_bytes))) : 1;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> f(static_cast<size_t>(n_cells * width));
  CpuBackend allocator(CpuBackendOptions{1});
  for (auto* buf : {&c.k_buf, &c.v_buf}) {
    auto allocated = allocator.allocate(c.layer_bytes * static_cast<uint64_t>(c.copies));
    *buf = std::move(allocated.value());
    auto* dst = buf->as<uint8_t>();
    for (float& x : f) x = normal(rng);
    (void)lathe::quant::quantize_rows(type, f.data(), dst, n_cells, width);
    for (int i = 1; i < c.copies; ++i) std::copy_n(dst, c.layer_bytes, dst + i * c.layer_bytes);
  }
  c.k = c.k_buf.as<uint8_t>();
  c.v = c.v_buf.as<uint8_t>();
  return c;
}

// A backend per (level, threads), kept for the whole run: its thread pool and scratch persist.
CpuBackend& backend(KernelLevel level, int threads) {
  static std::map<std::pair<KernelLevel, int>, std::unique_ptr<CpuBackend>> backends;
  auto& slot = backends[{level, threads}];
  if (!slot) {
    CpuBackendOptions options;
    options.n_threads = threads;
    options.kernel_level = level;
    slot = std::make_unique<CpuBackend>(options);
  }
  return *slot;
}

bool level_available(benchmark::State& state, CpuBackend& be, int level_index) {
  const std::string want = kLevelNames[level_index];
  if (level_index > 0 && be.kernels().isa != want) {
    state.SkipWithError(("this CPU has no " + want).c_str());
    return false;
  }
  return true;
}

// args: kv type, flash, context, level, threads.
void BM_decode(benchmark::State& state) {
  const auto type = kKvTypes[state.range(0)];
  const bool flash = state.range(1) != 0;
  const int64_t n_ctx = state.range(2);
  CpuBackend& be = backend(kLevels[state.range(3)], static_cast<int>(state.range(4)));
  if (!level_available(state, be, static_cast<int>(state.range(3)))) return;
  const Cache& c = cache(type, n_ctx, true);
  std::vector<float> q(kHeads * kHeadDim), out(q.size());
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& x : q) x = normal(rng);
  const int32_t offsets[2] = {0, 1};
  const CellRange range{0, static_cast<int32_t>(n_ctx)};
  const int32_t position = static_cast<int32_t>(n_ctx - 1);
  const AttentionMask mask{offsets, &range, &position};
  AttentionParams params{kHeads, kKvHeads, kHeadDim, 1.0f / std::sqrt(float(kHeadDim)), flash};
  int copy = 0;
  for (auto _ : state) {
    const uint64_t offset = c.layer_bytes * static_cast<uint64_t>(copy);
    KvLayerView kv{c.k + offset, c.v + offset, type, type, c.row_bytes, c.row_bytes};
    be.attention(q.data(), kv, mask, 1, params, out.data());
    benchmark::DoNotOptimize(out.data());
    copy = (copy + 1) % c.copies;
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(2 * c.layer_bytes),
                                              benchmark::Counter::kIsIterationInvariantRate);
  lathe::bench::add_roof_counters(state, static_cast<double>(2 * c.layer_bytes), 0,
                                  lathe::hw::PeakKind::kF32, static_cast<int>(state.range(4)));
}

// args: kv type, flash, prompt length, level, threads.
void BM_prompt(benchmark::State& state) {
  const auto type = kKvTypes[state.range(0)];
  const bool flash = state.range(1) != 0;
  const int64_t n = state.range(2);
  CpuBackend& be = backend(kLevels[state.range(3)], static_cast<int>(state.range(4)));
  if (!level_available(state, be, static_cast<int>(state.range(3)))) return;
  const Cache& c = cache(type, n, false);
  std::vector<float> q(static_cast<size_t>(n * kHeads * kHeadDim)), out(q.size());
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& x : q) x = normal(rng);
  std::vector<int32_t> offsets, positions;
  std::vector<CellRange> ranges;
  for (int64_t t = 0; t < n; ++t) {
    offsets.push_back(static_cast<int32_t>(ranges.size()));
    ranges.push_back({0, static_cast<int32_t>(t + 1)});
    positions.push_back(static_cast<int32_t>(t));
  }
  offsets.push_back(static_cast<int32_t>(ranges.size()));
  const AttentionMask mask{offsets.data(), ranges.data(), positions.data()};
  AttentionParams params{kHeads, kKvHeads, kHeadDim, 1.0f / std::sqrt(float(kHeadDim)), flash};
  KvLayerView kv{c.k, c.v, type, type, c.row_bytes, c.row_bytes};
  for (auto _ : state) {
    be.attention(q.data(), kv, mask, n, params, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  // Σ_t (t + 1) visible cells × heads × head_dim multiply-adds, twice (q·k and p·v).
  const double flops = 2.0 * 2.0 * static_cast<double>(n * (n + 1) / 2) * kHeads * kHeadDim;
  state.counters["GFLOPS"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  lathe::bench::add_roof_counters(state, 0, flops, lathe::hw::PeakKind::kF32,
                                  static_cast<int>(state.range(4)));
}

void attention_args(benchmark::internal::Benchmark* b, bool decode) {
  for (int type = 0; type < 3; ++type) {
    for (int flash : {1, 0}) {
      for (int64_t n :
           decode ? std::vector<int64_t>{512, 4096, 16384} : std::vector<int64_t>{512}) {
        for (int level = 0; level < 3; ++level) {
          for (int threads : {1, 2}) b->Args({type, flash, n, level, threads});
        }
      }
    }
  }
  b->ArgNames({"kv", "fa", "n", "level", "t"});
  b->UseRealTime();
}

BENCHMARK(BM_decode)->Apply([](auto* b) { attention_args(b, true); });
BENCHMARK(BM_prompt)->Apply([](auto* b) { attention_args(b, false); });

// Elementwise ops at one thread, on a table of the given level (512 rows of the 1B model).
const KernelTable& table(int level) {
  static std::map<int, KernelTable> tables;
  auto it = tables.find(level);
  if (it == tables.end()) {
    it = tables
             .emplace(level,
                      lathe::kernels::select_kernels(lathe::CpuFeatures::detect(), kLevels[level]))
             .first;
  }
  return it->second;
}

std::vector<float> random_floats(int64_t n, float sigma) {
  std::vector<float> v(static_cast<size_t>(n));
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, sigma);
  for (float& x : v) x = normal(rng);
  return v;
}

bool table_available(benchmark::State& state, int level) {
  if (level > 0 && table(level).isa != kLevelNames[level]) {
    state.SkipWithError("this CPU lacks the level");
    return false;
  }
  return true;
}

void set_bytes(benchmark::State& state, double bytes) {
  state.counters["GB/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_exp(benchmark::State& state) {
  const int level = static_cast<int>(state.range(0));
  if (!table_available(state, level)) return;
  const int64_t n = 512 * 512;  // one head's scores of a 512-token prompt, or so
  auto x = random_floats(n, 4.0f);
  for (float& v : x) v = -std::fabs(v);  // softmax arguments are ≤ 0
  std::vector<float> y(x.size());
  for (auto _ : state) {
    table(level).exp(x.data(), y.data(), n);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 8.0 * static_cast<double>(n));
  state.counters["ns/elem"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate |
                                                     benchmark::Counter::kInvert);
}

void BM_swiglu(benchmark::State& state) {
  const int level = static_cast<int>(state.range(0));
  if (!table_available(state, level)) return;
  const int64_t n = 64 * 8192;  // 64 tokens of an 8192-wide FFN: stays in L2
  auto g = random_floats(n, 2.0f), u = random_floats(n, 1.0f);
  std::vector<float> out(g.size());
  for (auto _ : state) {
    table(level).swiglu(g.data(), u.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  set_bytes(state, 12.0 * static_cast<double>(n));
}

void BM_rms_norm(benchmark::State& state) {
  const int level = static_cast<int>(state.range(0));
  if (!table_available(state, level)) return;
  const int64_t width = 2048, rows = 64;
  auto x = random_floats(rows * width, 1.0f), w = random_floats(width, 1.0f);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; ++r) {
      table(level).rms_norm_row(x.data() + r * width, w.data(), width, 1e-5f, y.data() + r * width);
    }
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 12.0 * static_cast<double>(rows * width));
}

void BM_rope(benchmark::State& state) {
  const int level = static_cast<int>(state.range(0));
  if (!table_available(state, level)) return;
  lathe::ops::RopeParams p;
  p.head_dim = p.n_rot = kHeadDim;
  p.mode = state.range(1) ? lathe::ops::RopeMode::kNeox : lathe::ops::RopeMode::kNormal;
  p.freq_base = 500000.0f;
  const int64_t tokens = 64;
  auto x = random_floats(tokens * kHeads * kHeadDim, 1.0f);
  // The cos/sin table is made once per token and shared by all heads (CpuBackend::rope); only the
  // rotation is timed.
  std::vector<float> cache(static_cast<size_t>(tokens * kHeadDim));
  for (int64_t t = 0; t < tokens; ++t) {
    lathe::kernels::ref::rope_cache(static_cast<float>(t), p, cache.data() + t * kHeadDim);
  }
  for (auto _ : state) {
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t h = 0; h < kHeads; ++h) {
        table(level).rope_head(x.data() + (t * kHeads + h) * kHeadDim, cache.data() + t * kHeadDim,
                               p);
      }
    }
    benchmark::DoNotOptimize(x.data());
  }
  set_bytes(state, 8.0 * static_cast<double>(x.size()));
}

void BM_add(benchmark::State& state) {
  const int level = static_cast<int>(state.range(0));
  if (!table_available(state, level)) return;
  const int64_t n = 64 * 2048;
  auto x = random_floats(n, 1.0f), y = random_floats(n, 1.0f);
  for (auto _ : state) {
    table(level).add(x.data(), y.data(), n);
    benchmark::DoNotOptimize(x.data());
  }
  set_bytes(state, 12.0 * static_cast<double>(n));
}

BENCHMARK(BM_exp)->DenseRange(0, 2)->ArgName("level");
BENCHMARK(BM_swiglu)->DenseRange(0, 2)->ArgName("level");
BENCHMARK(BM_rms_norm)->DenseRange(0, 2)->ArgName("level");
BENCHMARK(BM_rope)->ArgsProduct({{0, 1, 2}, {0, 1}})->ArgNames({"level", "neox"});
BENCHMARK(BM_add)->DenseRange(0, 2)->ArgName("level");

}  // namespace
