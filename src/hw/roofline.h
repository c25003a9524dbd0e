// The roofline model for one token: a token costs some bytes of memory traffic (mostly weights)
// and some ops; the time it takes is bounded below by both bytes / bandwidth and ops / peak.
//
// `lathe bench` uses the percentages: generation (one token per step, memory-bound) as
// % of bandwidth, prompt processing (many tokens per weight read, compute-bound) as % of peak.
#pragma once

#include "core/status.h"
#include "hw/probe_kernels.h"

namespace lathe::hw {

struct HardwareProfile;

// The two roofs, in bytes/s and ops/s.
struct Roofline {
  double bandwidth_bytes_per_s = 0;
  double peak_ops_per_s = 0;
};

// What one token costs: bytes read from memory and ops executed (multiply-add = 2).
struct TokenCost {
  double bytes = 0;
  double ops = 0;
};

struct Prediction {
  double memory_seconds = 0;     // bytes / bandwidth
  double compute_seconds = 0;    // ops / peak
  double seconds_per_token = 0;  // the larger of the two: perfect overlap is the best case
  double tokens_per_s = 0;
  bool memory_bound = false;
  // ops per byte of the workload, and the machine's balance point (peak / bandwidth): a workload
  // below the ridge is memory-bound.
  double arithmetic_intensity = 0;
  double ridge_point = 0;
};

// The fastest a token can go under `roof`. Fails on non-positive roofs or negative costs.
Expected<Prediction> predict(const TokenCost& cost, const Roofline& roof);

// (bytes per token × tokens/s) / bandwidth × 100. 0 when the bandwidth is not positive.
double percent_of_bandwidth(double bytes_per_token, double tokens_per_s,
                            double bandwidth_bytes_per_s);
// (ops per token × tokens/s) / peak × 100. 0 when the peak is not positive.
double percent_of_peak(double ops_per_token, double tokens_per_s, double peak_ops_per_s);

// The roofs for a run of `kind` kernels on `threads` threads, from a measured profile.
Expected<Roofline> roofline_for(const HardwareProfile& profile, PeakKind kind, int threads);

}  // namespace lathe::hw
