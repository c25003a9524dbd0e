// Measures what this machine can do: memory read bandwidth and the peak rate of each kernel
// instruction mix, for a given number of threads.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "hw/probe_kernels.h"

namespace lathe {
class ThreadPool;
}

namespace lathe::hw {

// 1 GiB: far beyond any last-level cache of a machine lathe targets (the dev machine has 32 MiB),
// so the reads come from DRAM the way a model's weights do during generation.
inline constexpr uint64_t kDefaultBufferBytes = uint64_t{1} << 30;
inline constexpr int kDefaultRepetitions = 5;
// Long enough that timer and dispatch overheads are < 0.1 %, short enough that the whole probe
// of three kinds at several thread counts takes seconds.
inline constexpr double kDefaultComputeSeconds = 0.05;

// 1..cores when there are at most 8 cores, otherwise the powers of two below `cores` plus `cores`
// itself: enough points to see where bandwidth saturates without minutes of probing.
std::vector<int> default_thread_counts(int cores);

struct ReadProbeResult {
  double bytes_per_s = 0;  // best of the repetitions
  uint64_t checksum = 0;   // of the whole buffer; equal in every repetition
};

// Allocates `buffer_bytes`, lets each of `threads` pool threads first-touch (fill) the part it will
// read, so on NUMA machines the pages land on the reading core's node, then times whole-buffer
// reads with `kernel`: one warm-up and `repetitions` timed passes. Fails with kResourceExhausted
// when the buffer cannot be allocated, kInternal when a pass returns a different checksum.
Expected<ReadProbeResult> measure_read_bandwidth(const ReadKernel& kernel, int threads,
                                                 uint64_t buffer_bytes, int repetitions);

struct ReadPassResult {
  double seconds = 0;
  uint64_t bytes = 0;
  uint64_t checksum = 0;  // of every region, as `kernel` sums each one whole
};

// One timed pass of `kernel` over memory the caller already holds (a model's weights, resident),
// on all of `pool`'s threads, each reading an equal share of the regions' total: the bandwidth of
// this moment for exactly those bytes. Shares are cut at 64-byte offsets inside a region, so the
// checksum does not depend on the thread count.
ReadPassResult read_pass(const ReadKernel& kernel,
                         std::span<const std::span<const uint8_t>> regions, ThreadPool& pool);

// Times `kernel` running on `threads` pool threads at once, each for about `seconds` (the iteration
// count is calibrated on one thread first), and returns the best of `repetitions` in ops/s.
Expected<double> measure_peak(const PeakKernel& kernel, int threads, int repetitions,
                              double seconds);

}  // namespace lathe::hw
