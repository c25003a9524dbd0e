// Converting a tensor to its file type a few rows at a time, on a thread pool, straight into a
// GGUF being written: what lets `lathe synth` and `lathe quantize` write a 70B model with a few
// megabytes of buffers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor_type.h"
#include "core/thread_pool.h"
#include "gguf/gguf_writer.h"

namespace lathe::cli {

class TensorStreamer {
 public:
  // Each chunk holds about this many values per thread (a few MB of f32 in flight).
  static constexpr int64_t kValuesPerThread = int64_t{1} << 19;

  explicit TensorStreamer(int n_threads) : pool_(n_threads) {}

  int n_threads() const { return pool_.size(); }

  // Fills rows [row_begin, row_end) of a matrix with f32 values (n_cols per row, back to back).
  // Called from several threads at once with disjoint ranges.
  using FillRows = std::function<Status(int64_t row_begin, int64_t row_end, float* out)>;

  // Writes n_rows rows of n_cols values, made by `fill`, to `sink` in `type`. `on_rows` (may be
  // empty) is told after each chunk how many rows are done, for progress lines.
  Status write(gguf::TensorDataSink& sink, TensorType type, int64_t n_rows, int64_t n_cols,
               const FillRows& fill, const std::function<void(int64_t)>& on_rows = {});

 private:
  ThreadPool pool_;
  std::vector<float> values_;
  std::vector<uint8_t> bytes_;
};

// A progress line on stderr, rewritten in place when stderr is a terminal. When it is not (a
// log file, CI), forced updates and one line every 10 seconds are printed, so logs stay short.
class ProgressLine {
 public:
  explicit ProgressLine(std::string prefix);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Shows `text` (a terminal sees at most 10 updates a second unless `force`).
  void update(const std::string& text, bool force = false);
  // Clears the line (terminal) so the next output starts clean.
  void finish();
  void set_enabled(bool enabled) { enabled_ = enabled; }

 private:
  std::string prefix_;
  bool tty_ = false;
  bool enabled_ = true;
  bool dirty_ = false;
  int64_t last_ns_ = 0;
};

}  // namespace lathe::cli
