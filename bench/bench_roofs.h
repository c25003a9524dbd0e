// The machine's limits for the micro-benchmarks: the `lathe hw` profile cached on this machine
// (run `lathe hw` once to make it). With it, a benchmark reports its rates also as "%bw" (of the
// read bandwidth at its thread count) and "%peak" (of the int8, f32 or bf16 peak); without it,
// only the rates.
#pragma once

#include <benchmark/benchmark.h>

#include <optional>

#include "hw/profile.h"

namespace lathe::bench {

// Loaded once, on first use, and never changed: the same profile for every benchmark of a run.
inline const hw::HardwareProfile* cached_profile() {
  static const std::optional<hw::HardwareProfile> profile =
      []() -> std::optional<hw::HardwareProfile> {
    auto path = hw::default_cache_path();
    if (!path) return std::nullopt;
    auto loaded = hw::load_profile(*path);
    if (!loaded) return std::nullopt;
    return std::move(loaded).value();
  }();
  return profile ? &*profile : nullptr;
}

// Adds %bw and %peak counters for a benchmark that reads `bytes` and does `ops` operations (a
// multiply-add counting 2) per iteration on `threads` threads; either may be 0 to leave it out.
inline void add_roof_counters(benchmark::State& state, double bytes, double ops, hw::PeakKind kind,
                              int threads) {
  const hw::HardwareProfile* profile = cached_profile();
  if (profile == nullptr) return;
  if (bytes > 0) {
    if (auto bw = profile->best_bandwidth(threads); bw && *bw > 0) {
      state.counters["%bw"] =
          benchmark::Counter(100.0 * bytes / *bw, benchmark::Counter::kIsIterationInvariantRate);
    }
  }
  if (ops > 0) {
    if (auto peak = profile->peak(kind, threads); peak && *peak > 0) {
      state.counters["%peak"] =
          benchmark::Counter(100.0 * ops / *peak, benchmark::Counter::kIsIterationInvariantRate);
    }
  }
}

}  // namespace lathe::bench
