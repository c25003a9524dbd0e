#include "hw/probes.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__unix__)
#include <unistd.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "core/thread_pool.h"
#include "core/timer.h"

namespace lathe::hw {

namespace {

constexpr uint64_t kPageBytes = 4096;
constexpr uint64_t kHugePageBytes = uint64_t{2} << 20;

// Per-thread result slots on their own cache lines, so threads finishing a pass do not slow the
// others by bouncing a shared line.
struct alignas(64) Slot {
  uint64_t checksum = 0;
  double value = 0;
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// A deterministic, non-repeating fill. Identical pages could be merged by the host (KSM) and then
// served from cache, which would inflate the bandwidth; distinct words per page prevent that.
void fill_words(uint64_t* words, uint64_t first_index, uint64_t count) {
  for (uint64_t i = 0; i < count; ++i) words[i] = (first_index + i) * 0x9E3779B97F4A7C15ull;
}

}  // namespace

std::vector<int> default_thread_counts(int cores) {
  cores = std::max(cores, 1);
  std::vector<int> out;
  if (cores <= 8) {
    for (int t = 1; t <= cores; ++t) out.push_back(t);
    return out;
  }
  for (int t = 1; t < cores; t *= 2) out.push_back(t);
  out.push_back(cores);
  return out;
}

Expected<ReadProbeResult> measure_read_bandwidth(const ReadKernel& kernel, int threads,
                                                 uint64_t buffer_bytes, int repetitions) {
  if (threads < 1) return invalid_argument("thread count must be at least 1, got ", threads);
  if (repetitions < 1) return invalid_argument("repetitions must be at least 1, got ", repetitions);
  const uint64_t pages = (buffer_bytes + kPageBytes - 1) / kPageBytes;
  if (pages == 0) return invalid_argument("the read buffer must not be empty");
  const uint64_t bytes = pages * kPageBytes;
  if (bytes / kPageBytes != pages) return invalid_argument("read buffer size overflows");

#if defined(__unix__)
  // With overcommit the allocation below succeeds for any size and the fill would then get the
  // process killed; refuse up front instead. Half of RAM leaves room for everything else.
  const long phys_pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (phys_pages > 0 && page_size > 0) {
    const uint64_t phys_bytes =
        static_cast<uint64_t>(phys_pages) * static_cast<uint64_t>(page_size);
    if (bytes > phys_bytes / 2) {
      return resource_exhausted("a ", bytes >> 20, " MiB read buffer is more than half of the ",
                                phys_bytes >> 20, " MiB of memory");
    }
  }
#endif
  // aligned_alloc leaves large blocks untouched, so the fill below is each page's first touch.
  // The buffer sits on 2 MiB pages where the kernel offers them, as the CPU backend's repacked
  // weights and KV cache do: with 4 KiB pages the probe pays TLB misses the kernels do not, and
  // measured 10-20 % less than a generation step streams (docs/HARDWARE.md).
  const uint64_t alloc_bytes = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  std::unique_ptr<unsigned char, FreeDeleter> buffer(
      static_cast<unsigned char*>(std::aligned_alloc(kHugePageBytes, alloc_bytes)));
  if (!buffer) {
    return resource_exhausted("cannot allocate a ", bytes >> 20, " MiB read buffer");
  }
  unsigned char* base = buffer.get();
#if defined(__linux__)
  (void)madvise(base, alloc_bytes, MADV_HUGEPAGE);  // a hint; without it the probe still works
#endif

  ThreadPool pool(threads);
  if (pool.size() != threads) {
    return resource_exhausted("the system started only ", pool.size(), " of ", threads, " threads");
  }
  // Whole pages per thread: a page is placed by the thread that touches it first.
  pool.run([&](int index, int n) {
    const auto [begin, end] = ThreadPool::chunk(static_cast<int64_t>(pages), index, n);
    const uint64_t words_per_page = kPageBytes / sizeof(uint64_t);
    fill_words(reinterpret_cast<uint64_t*>(base + begin * kPageBytes),
               static_cast<uint64_t>(begin) * words_per_page,
               static_cast<uint64_t>(end - begin) * words_per_page);
  });

  std::vector<Slot> slots(static_cast<size_t>(threads));
  auto pass = [&]() -> std::pair<double, uint64_t> {
    const int64_t start = now_ns();
    pool.run([&](int index, int n) {
      const auto [begin, end] = ThreadPool::chunk(static_cast<int64_t>(pages), index, n);
      slots[static_cast<size_t>(index)].checksum =
          kernel.checksum(base + begin * kPageBytes, static_cast<size_t>(end - begin) * kPageBytes);
    });
    const int64_t elapsed = std::max<int64_t>(now_ns() - start, 1);
    uint64_t checksum = 0;
    for (const Slot& s : slots) checksum += s.checksum;
    return {static_cast<double>(elapsed) * 1e-9, checksum};
  };

  // The warm-up pass pays for TLB fills and lets the cores reach their steady clock.
  const uint64_t expected = pass().second;
  ReadProbeResult result;
  result.checksum = expected;
  for (int r = 0; r < repetitions; ++r) {
    const auto [seconds, checksum] = pass();
    if (checksum != expected) {
      return internal_error("read probe (", kernel.isa, ") returned checksum ", checksum, " after ",
                            expected, ": the buffer changed or a load was lost");
    }
    result.bytes_per_s = std::max(result.bytes_per_s, static_cast<double>(bytes) / seconds);
  }
  return result;
}

ReadPassResult read_pass(const ReadKernel& kernel,
                         std::span<const std::span<const uint8_t>> regions, ThreadPool& pool) {
  ReadPassResult result;
  for (const auto& region : regions) result.bytes += region.size();
  const int n = pool.size();
  std::vector<Slot> slots(static_cast<size_t>(n));
  const uint64_t total = result.bytes;
  const int64_t start = now_ns();
  pool.run([&](int index, int count) {
    // This thread's share [begin, end) of the regions laid end to end; inside a region the cuts
    // are rounded up to 64-byte offsets from its start, which neighbouring threads compute alike.
    const uint64_t begin = total * static_cast<uint64_t>(index) / static_cast<uint64_t>(count);
    const uint64_t end = total * static_cast<uint64_t>(index + 1) / static_cast<uint64_t>(count);
    auto cut = [](uint64_t at, uint64_t offset, uint64_t size) {
      if (at <= offset) return uint64_t{0};
      return std::min(size, (at - offset + 63) / 64 * 64);
    };
    uint64_t checksum = 0;
    uint64_t offset = 0;  // of the current region in the concatenation
    for (const auto& region : regions) {
      const uint64_t lo = cut(begin, offset, region.size());
      const uint64_t hi = cut(end, offset, region.size());
      if (lo < hi) checksum += kernel.checksum(region.data() + lo, hi - lo);
      offset += region.size();
      if (offset >= end) break;
    }
    slots[static_cast<size_t>(index)].checksum = checksum;
  });
  result.seconds = static_cast<double>(std::max<int64_t>(now_ns() - start, 1)) * 1e-9;
  for (const Slot& s : slots) result.checksum += s.checksum;
  return result;
}

Expected<double> measure_peak(const PeakKernel& kernel, int threads, int repetitions,
                              double seconds) {
  if (threads < 1) return invalid_argument("thread count must be at least 1, got ", threads);
  if (repetitions < 1) return invalid_argument("repetitions must be at least 1, got ", repetitions);
  if (!(seconds > 0)) return invalid_argument("probe duration must be positive");

  // The results feed this sink so that no call can be dropped as dead code, even under LTO.
  volatile double sink = 0;

  // Calibrate on the calling thread: grow the count until a run is long enough to time well,
  // then scale it to the target duration.
  int64_t iterations = 256;
  double elapsed = 0;
  const double calibration_floor = std::min(seconds, 0.005);
  for (;;) {
    const int64_t start = now_ns();
    sink = sink + kernel.run(iterations);
    elapsed = static_cast<double>(now_ns() - start) * 1e-9;
    if (elapsed >= calibration_floor || iterations > (int64_t{1} << 40)) break;
    iterations *= 4;
  }
  iterations = std::max<int64_t>(
      1, static_cast<int64_t>(static_cast<double>(iterations) * seconds / std::max(elapsed, 1e-9)));

  ThreadPool pool(threads);
  if (pool.size() != threads) {
    return resource_exhausted("the system started only ", pool.size(), " of ", threads, " threads");
  }
  std::vector<Slot> slots(static_cast<size_t>(threads));
  auto timed_run = [&]() {
    const int64_t start = now_ns();
    pool.run(
        [&](int index, int) { slots[static_cast<size_t>(index)].value = kernel.run(iterations); });
    const int64_t ns = std::max<int64_t>(now_ns() - start, 1);
    for (const Slot& s : slots) sink = sink + s.value;
    return static_cast<double>(ns) * 1e-9;
  };

  timed_run();  // warm-up: wakes the workers and lets wide units power up
  const double ops =
      static_cast<double>(iterations) * static_cast<double>(kernel.ops_per_iteration) * threads;
  double best = 0;
  for (int r = 0; r < repetitions; ++r) best = std::max(best, ops / timed_run());
  if (!std::isfinite(best) || best <= 0) {
    return internal_error("peak probe (", kernel.isa, ") produced a non-positive rate");
  }
  return best;
}

}  // namespace lathe::hw
