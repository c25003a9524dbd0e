// A persistent pool that runs one function on every thread and waits for all of them.
//
// The forward pass dispatches several ops per layer, so a dispatch must cost about a microsecond:
// idle workers spin for a short while before they sleep, and the calling thread takes part as
// thread 0 instead of waiting idle.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/function_ref.h"

namespace lathe {

class ThreadPool {
 public:
  // n_threads counts the caller: a pool of 1 runs everything on the calling thread.
  // spin_us is how long an idle thread polls before sleeping. Never throws: when the system
  // refuses to start a thread (process or memory limits), the pool runs on the threads it got,
  // and size() is less than n_threads.
  explicit ThreadPool(int n_threads, int spin_us = 200);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls job(thread_index, n_threads) once on each thread; returns when every call returned.
  // Not reentrant: job must not call run().
  void run(FunctionRef<void(int, int)> job);

  // Waits until every thread of the current run() reached this point. Only valid inside run(),
  // and every thread must call it the same number of times.
  void barrier();

  // Splits [0, count) into n contiguous chunks; returns thread `index`'s [begin, end).
  static std::pair<int64_t, int64_t> chunk(int64_t count, int index, int n) {
    const int64_t per = count / n;
    const int64_t extra = count % n;
    const int64_t begin = index * per + (index < extra ? index : extra);
    return {begin, begin + per + (index < extra ? 1 : 0)};
  }

 private:
  void worker_main(int index);
  void wait_while_equal(const std::atomic<uint32_t>& word, uint32_t value) const;

  int n_threads_;  // set once in the constructor
  const int64_t spin_ns_;
  std::vector<std::thread> workers_;
  FunctionRef<void(int, int)> job_;
  bool stop_ = false;

  alignas(64) std::atomic<uint32_t> generation_{0};
  alignas(64) std::atomic<uint32_t> remaining_{0};
  alignas(64) std::atomic<uint32_t> barrier_arrived_{0};
  alignas(64) std::atomic<uint32_t> barrier_phase_{0};
};

}  // namespace lathe
