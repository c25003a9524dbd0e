// The probes on small inputs: sane numbers, whole-buffer reads, clean errors. No timing bounds:
// the machine may be busy, so only "positive and finite" is asserted.
#include "hw/probes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <span>

#include "core/thread_pool.h"

namespace lathe::hw {
namespace {

// The checksum of the probe's fill pattern, computed independently: word i holds i * K.
uint64_t fill_checksum(uint64_t bytes) {
  uint64_t sum = 0;
  for (uint64_t i = 0; i < bytes / 8; ++i) sum += i * 0x9E3779B97F4A7C15ull;
  return sum;
}

TEST(Probes, DefaultThreadCounts) {
  EXPECT_EQ(default_thread_counts(1), (std::vector<int>{1}));
  EXPECT_EQ(default_thread_counts(2), (std::vector<int>{1, 2}));
  EXPECT_EQ(default_thread_counts(6), (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(default_thread_counts(24), (std::vector<int>{1, 2, 4, 8, 16, 24}));
  EXPECT_EQ(default_thread_counts(32), (std::vector<int>{1, 2, 4, 8, 16, 32}));
  EXPECT_EQ(default_thread_counts(0), (std::vector<int>{1}));
}

TEST(Probes, ReadBandwidthReadsTheWholeBufferAtEveryThreadCount) {
  const CpuFeatures cpu = CpuFeatures::detect();
  const uint64_t bytes = 3u << 20;  // 3 MiB: quick, and splits unevenly over 4 threads
  for (const ReadKernel& kernel : read_kernels(cpu)) {
    for (int threads : {1, 2, 3, 4}) {
      auto result = measure_read_bandwidth(kernel, threads, bytes, 2);
      ASSERT_TRUE(result.has_value()) << result.error().message();
      EXPECT_TRUE(std::isfinite(result->bytes_per_s)) << kernel.isa << " t=" << threads;
      EXPECT_GT(result->bytes_per_s, 0) << kernel.isa << " t=" << threads;
      // Every byte of every thread's share was read, whatever the split.
      EXPECT_EQ(result->checksum, fill_checksum(bytes)) << kernel.isa << " t=" << threads;
    }
  }
}

TEST(Probes, ReadPassReadsEveryRegionOnceWhateverTheSplit) {
  // Regions of odd sizes at odd offsets, some empty, some smaller than a thread's share.
  std::vector<uint8_t> memory(200000);
  std::mt19937 rng(7);
  for (uint8_t& b : memory) b = static_cast<uint8_t>(rng());
  const size_t cuts[][2] = {{3, 0},        {5, 1},      {17, 999},       {1100, 64},
                            {1200, 70001}, {90000, 13}, {90100, 100000}, {199999, 1}};
  std::vector<std::span<const uint8_t>> regions;
  uint64_t expected = 0, bytes = 0;
  for (const auto& [offset, size] : cuts) {
    regions.emplace_back(memory.data() + offset, size);
    expected += detail::read_checksum_scalar(memory.data() + offset, size);
    bytes += size;
  }
  for (const ReadKernel& kernel : read_kernels(CpuFeatures::detect())) {
    for (int threads : {1, 2, 3, 5}) {
      ThreadPool pool(threads);
      const ReadPassResult pass = read_pass(kernel, regions, pool);
      EXPECT_EQ(pass.checksum, expected) << kernel.isa << " t=" << threads;
      EXPECT_EQ(pass.bytes, bytes);
      EXPECT_GT(pass.seconds, 0);
    }
  }
  ThreadPool pool(2);
  const ReadPassResult empty = read_pass(best_read_kernel(CpuFeatures::detect()), {}, pool);
  EXPECT_EQ(empty.bytes, 0u);
  EXPECT_EQ(empty.checksum, 0u);
}

TEST(Probes, ReadBufferIsRoundedUpToWholePages) {
  const ReadKernel kernel = best_read_kernel(CpuFeatures::detect());
  auto result = measure_read_bandwidth(kernel, 2, 5000, 1);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(result->checksum, fill_checksum(8192));
}

TEST(Probes, ReadRejectsBadArguments) {
  const ReadKernel kernel = best_read_kernel(CpuFeatures::detect());
  EXPECT_EQ(measure_read_bandwidth(kernel, 0, 1 << 20, 1).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(measure_read_bandwidth(kernel, 1, 0, 1).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(measure_read_bandwidth(kernel, 1, 1 << 20, 0).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST(Probes, ReadReportsAllocationFailure) {
  const ReadKernel kernel = best_read_kernel(CpuFeatures::detect());
  // More than any address space: the allocation itself must fail, as a Status.
  auto result = measure_read_bandwidth(kernel, 1, uint64_t{1} << 62, 1);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kResourceExhausted);
}

TEST(Probes, PeakRatesArePositiveAndFinite) {
  const CpuFeatures cpu = CpuFeatures::detect();
  for (PeakKind kind : kAllPeakKinds) {
    for (const PeakKernel& kernel : peak_kernels(cpu, kind)) {
      for (int threads : {1, 2, 3}) {
        auto rate = measure_peak(kernel, threads, 2, 0.002);
        ASSERT_TRUE(rate.has_value()) << rate.error().message();
        EXPECT_TRUE(std::isfinite(*rate)) << kernel.isa << " t=" << threads;
        EXPECT_GT(*rate, 0) << kernel.isa << " t=" << threads;
      }
    }
  }
}

TEST(Probes, PeakRejectsBadArguments) {
  const auto kernel = best_peak_kernel(CpuFeatures::detect(), PeakKind::kF32);
  ASSERT_TRUE(kernel.has_value());
  EXPECT_FALSE(measure_peak(*kernel, 0, 1, 0.001).has_value());
  EXPECT_FALSE(measure_peak(*kernel, 1, 0, 0.001).has_value());
  EXPECT_FALSE(measure_peak(*kernel, 1, 1, 0).has_value());
  EXPECT_FALSE(measure_peak(*kernel, 1, 1, std::nan("")).has_value());
}

}  // namespace
}  // namespace lathe::hw
