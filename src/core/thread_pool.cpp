#include "core/thread_pool.h"

#include <exception>

#include "core/timer.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace lathe {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads, int spin_us)
    : n_threads_(n_threads < 1 ? 1 : n_threads), spin_ns_(static_cast<int64_t>(spin_us) * 1000) {
  // std::thread reports a refused thread as std::system_error; library code must not throw, and
  // fewer threads still do all the work. Workers read n_threads_ only once run() published it.
  try {
    workers_.reserve(static_cast<size_t>(n_threads_ - 1));
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
  } catch (const std::exception&) {
    n_threads_ = static_cast<int>(workers_.size()) + 1;
  }
}

ThreadPool::~ThreadPool() {
  stop_ = true;
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::wait_while_equal(const std::atomic<uint32_t>& word, uint32_t value) const {
  if (word.load(std::memory_order_acquire) != value) return;
  const int64_t deadline = now_ns() + spin_ns_;
  for (int spins = 0;; ++spins) {
    for (int i = 0; i < 64; ++i) {
      if (word.load(std::memory_order_acquire) != value) return;
      cpu_relax();
    }
    if (now_ns() > deadline) break;
  }
  while (word.load(std::memory_order_acquire) == value) word.wait(value, std::memory_order_acquire);
}

void ThreadPool::worker_main(int index) {
  uint32_t seen = 0;
  for (;;) {
    wait_while_equal(generation_, seen);
    seen = generation_.load(std::memory_order_acquire);
    if (stop_) return;
    job_(index, n_threads_);
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) remaining_.notify_one();
  }
}

void ThreadPool::run(FunctionRef<void(int, int)> job) {
  if (n_threads_ == 1) {
    job(0, 1);
    return;
  }
  job_ = job;
  remaining_.store(static_cast<uint32_t>(n_threads_ - 1), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  job(0, n_threads_);
  for (uint32_t left = remaining_.load(std::memory_order_acquire); left != 0;
       left = remaining_.load(std::memory_order_acquire)) {
    wait_while_equal(remaining_, left);
  }
}

void ThreadPool::barrier() {
  if (n_threads_ == 1) return;
  const uint32_t phase = barrier_phase_.load(std::memory_order_acquire);
  if (barrier_arrived_.fetch_add(1, std::memory_order_acq_rel) ==
      static_cast<uint32_t>(n_threads_ - 1)) {
    barrier_arrived_.store(0, std::memory_order_relaxed);
    barrier_phase_.fetch_add(1, std::memory_order_release);
    barrier_phase_.notify_all();
    return;
  }
  wait_while_equal(barrier_phase_, phase);
}

}  // namespace lathe
