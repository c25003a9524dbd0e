#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"

#if defined(__linux__)
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace lathe {
namespace {

TEST(ThreadPool, RunsEveryThreadOnceWithItsIndex) {
  for (int n : {1, 2, 3, 5}) {
    ThreadPool pool(n);
    std::vector<std::atomic<int>> calls(static_cast<size_t>(n));
    for (int round = 0; round < 100; ++round) {
      pool.run([&](int ith, int nth) {
        EXPECT_EQ(nth, n);
        calls[static_cast<size_t>(ith)].fetch_add(1);
      });
    }
    for (auto& c : calls) EXPECT_EQ(c.load(), 100);
  }
}

TEST(ThreadPool, BarrierSeparatesPhases) {
  ThreadPool pool(4);
  std::vector<int> stage(4, 0);
  std::atomic<int> violations{0};
  for (int round = 0; round < 200; ++round) {
    pool.run([&](int ith, int nth) {
      stage[static_cast<size_t>(ith)] = round * 2 + 1;
      pool.barrier();
      for (int j = 0; j < nth; ++j) {
        if (stage[static_cast<size_t>(j)] != round * 2 + 1) violations.fetch_add(1);
      }
      pool.barrier();
      stage[static_cast<size_t>(ith)] = round * 2 + 2;
    });
  }
  EXPECT_EQ(violations.load(), 0);
}

TEST(ThreadPool, ChunksCoverTheRangeExactlyOnce) {
  for (int64_t count : {0, 1, 7, 100, 101}) {
    for (int n : {1, 2, 3, 8}) {
      std::vector<int> hits(static_cast<size_t>(count), 0);
      int64_t expected_begin = 0;
      for (int i = 0; i < n; ++i) {
        auto [b, e] = ThreadPool::chunk(count, i, n);
        EXPECT_EQ(b, expected_begin);
        expected_begin = e;
        for (int64_t k = b; k < e; ++k) hits[static_cast<size_t>(k)]++;
      }
      EXPECT_EQ(expected_begin, count);
      for (int h : hits) EXPECT_EQ(h, 1);
    }
  }
}

TEST(ThreadPool, SumsInParallel) {
  ThreadPool pool(3);
  std::vector<int64_t> values(100000);
  std::iota(values.begin(), values.end(), 0);
  std::vector<int64_t> partial(3, 0);
  pool.run([&](int ith, int nth) {
    auto [b, e] = ThreadPool::chunk(static_cast<int64_t>(values.size()), ith, nth);
    for (int64_t i = b; i < e; ++i) partial[static_cast<size_t>(ith)] += values[static_cast<size_t>(i)];
  });
  EXPECT_EQ(partial[0] + partial[1] + partial[2], int64_t{99999} * 100000 / 2);
}

#if defined(__linux__) && !defined(__SANITIZE_ADDRESS__)
// Caps the address space just above what the process uses, so that the stacks of most of the
// threads asked for cannot be mapped, makes a pool, and exits 0 when the pool runs a job on the
// threads it got.
[[noreturn]] void run_pool_with_capped_memory() {
  long pages = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  if (pages <= 0) std::_Exit(2);
  const rlim_t used = static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE));
  const rlimit cap{used + (rlim_t{64} << 20), used + (rlim_t{64} << 20)};
  if (setrlimit(RLIMIT_AS, &cap) != 0) std::_Exit(3);
  constexpr int kAsked = 512;  // 512 stacks of at least 2 MiB each: far beyond 64 MiB
  ThreadPool pool(kAsked);
  if (pool.size() < 1 || pool.size() >= kAsked) std::_Exit(4);
  std::atomic<int> calls{0};
  std::atomic<int> index_sum{0};
  pool.run([&](int ith, int nth) {
    if (nth == pool.size()) calls.fetch_add(1);
    index_sum.fetch_add(ith);
  });
  const int n = pool.size();
  std::_Exit(calls.load() == n && index_sum.load() == n * (n - 1) / 2 ? 0 : 5);
}

// When the system refuses threads, the pool must not throw out of its constructor (that would
// abort the child here) but run on the threads it got.
TEST(ThreadPool, RunsOnTheThreadsItGotWhenTheSystemRefusesMore) {
  EXPECT_EXIT(run_pool_with_capped_memory(), ::testing::ExitedWithCode(0), "");
}
#endif

TEST(CpuFeatures, ImpliedFeaturesAreConsistent) {
  CpuFeatures f = CpuFeatures::detect();
  EXPECT_GE(f.logical_cores, 1);
  EXPECT_TRUE(!f.avx512vnni || f.avx512f);
  EXPECT_TRUE(!f.avx2 || f.avx);
  EXPECT_TRUE(!f.has_avx512_vnni() || f.has_avx2_fma());
  EXPECT_FALSE(f.summary().empty());
  EXPECT_GE(default_thread_count(), 1);
}

}  // namespace
}  // namespace lathe
