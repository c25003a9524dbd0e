// What this machine can do, measured once and cached: the numbers every other report is a
// percentage of. `lathe bench` reports generation as % of best_bandwidth() and prompt processing
// as % of peak(kind); `lathe hw` prints and refreshes them.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/cpu_features.h"
#include "core/status.h"
#include "hw/probe_kernels.h"

namespace lathe::hw {

// What identifies "the same machine" for the cache: a profile measured on a different CPU model,
// with other instruction sets enabled (a VM can hide AVX-512), or a different core count is stale.
struct CpuIdentity {
  std::string brand;     // CPUID brand string, e.g. "AMD EPYC"
  std::string features;  // CpuFeatures::summary()
  int logical_cores = 0;
  int physical_cores = 0;  // default_thread_count()

  static CpuIdentity current();
  bool operator==(const CpuIdentity&) const = default;
};

// Measurements at one thread count. Rates are in SI base units; 0 means "not measured" (bf16 on a
// CPU without a native bf16 dot product).
struct ThreadResult {
  int threads = 0;
  double read_bytes_per_s = 0;
  std::array<double, kPeakKindCount> peak_ops_per_s{};  // indexed by PeakKind

  double peak(PeakKind kind) const { return peak_ops_per_s[static_cast<int>(kind)]; }
};

struct HardwareProfile {
  static constexpr int kSchemaVersion = 1;

  CpuIdentity cpu;
  std::string measured_at;  // UTC, ISO 8601 ("2025-06-01T12:00:00Z")
  uint64_t buffer_bytes = 0;
  int repetitions = 0;
  std::string read_isa;                                // which read kernel measured bandwidth
  std::array<std::string, kPeakKindCount> peak_isa{};  // by PeakKind; empty = not measured
  std::vector<ThreadResult> results;                   // ascending thread count

  // The entry for exactly `threads`, or nullptr.
  const ThreadResult* find(int threads) const;

  // The best read bandwidth (bytes/s) measured with at most `threads` threads (threads <= 0: any).
  // "At most" because a run with t threads can reach what fewer threads reached; bandwidth
  // saturates, so this is the roof for a run with that many threads.
  Expected<double> best_bandwidth(int threads) const;
  // The best rate (ops/s, multiply-add = 2) of `kind` measured with at most `threads` threads.
  // Fails with kUnsupported when the CPU has no native instruction for the kind.
  Expected<double> peak(PeakKind kind, int threads) const;
};

// JSON as stored in the cache. Rates are written in GB/s and G-ops/s so the file reads easily.
nlohmann::json profile_to_json(const HardwareProfile& profile);
Expected<HardwareProfile> profile_from_json(const nlohmann::json& json);

Status save_profile(const std::filesystem::path& path, const HardwareProfile& profile);
Expected<HardwareProfile> load_profile(const std::filesystem::path& path);

// $XDG_CACHE_HOME/lathe/hw.json, else $HOME/.cache/lathe/hw.json. The XDG spec says to ignore a
// relative XDG_CACHE_HOME. The pure overload takes the variables' values (nullptr = unset).
Expected<std::filesystem::path> cache_path_from(const char* xdg_cache_home, const char* home);
Expected<std::filesystem::path> default_cache_path();

struct MeasureOptions {
  std::vector<int> threads;    // empty: default_thread_counts(physical cores)
  uint64_t buffer_bytes = 0;   // 0: kDefaultBufferBytes
  int repetitions = 0;         // 0: kDefaultRepetitions
  double compute_seconds = 0;  // per peak run; 0: kDefaultComputeSeconds
  // Called with one line per finished measurement ("2 threads: read 54.1 GB/s"); may be empty.
  std::function<void(std::string_view)> progress;
};

// Runs every probe at every thread count with the best kernels this CPU has.
Expected<HardwareProfile> measure_profile(const MeasureOptions& options);

// Why `cached` cannot stand in for a fresh measurement with `options` on `cpu`, or nullopt when it
// can. Only options the caller set explicitly (non-default) are compared.
std::optional<std::string> cache_mismatch(const HardwareProfile& cached, const CpuIdentity& cpu,
                                          const MeasureOptions& options);

struct LoadOptions {
  MeasureOptions measure;
  bool refresh = false;       // measure even when the cache matches
  bool use_cache = true;      // false: neither read nor write the cache
  bool allow_measure = true;  // false: fail instead of measuring (for tools that must stay fast)
  std::filesystem::path cache_path;  // empty: default_cache_path()
};

struct LoadResult {
  HardwareProfile profile;
  bool from_cache = false;
  bool cache_written = false;
  std::filesystem::path cache_path;  // empty when no cache location is known or use_cache=false
  std::string note;  // why the cache was not used or not written; empty when all went as planned
};

// The profile from the cache when it matches this CPU and the options, otherwise measured (and
// cached). Cache problems never fail the call; they are explained in `note`.
Expected<LoadResult> load_or_measure(const LoadOptions& options);

}  // namespace lathe::hw
