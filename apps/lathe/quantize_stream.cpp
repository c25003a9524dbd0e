#include "quantize_stream.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/timer.h"
#include "quant/quant.h"

namespace lathe::cli {

Status TensorStreamer::write(gguf::TensorDataSink& sink, TensorType type, int64_t n_rows,
                             int64_t n_cols, const FillRows& fill,
                             const std::function<void(int64_t)>& on_rows) {
  LATHE_ASSIGN_OR_RETURN(const uint64_t row_bytes,
                         tensor_row_bytes(type, static_cast<uint64_t>(n_cols)));
  if (n_rows <= 0 || n_cols <= 0) return Status();
  const int n_threads = pool_.size();
  // Whole rows per chunk, at least one per thread; memory stays bounded whatever the tensor.
  const int64_t rows_per_chunk =
      std::max<int64_t>(n_threads, n_threads * std::max<int64_t>(1, kValuesPerThread / n_cols));
  const int64_t chunk_rows = std::min(rows_per_chunk, n_rows);
  values_.resize(static_cast<size_t>(chunk_rows * n_cols));
  bytes_.resize(static_cast<size_t>(chunk_rows) * row_bytes);

  for (int64_t first = 0; first < n_rows; first += chunk_rows) {
    const int64_t rows = std::min(chunk_rows, n_rows - first);
    std::mutex error_mutex;
    Status error;
    pool_.run([&](int thread, int n) {
      const auto [begin, end] = ThreadPool::chunk(rows, thread, n);
      if (begin >= end) return;
      float* values = values_.data() + begin * n_cols;
      Status status = fill(first + begin, first + end, values);
      if (status.ok()) {
        status = quant::quantize_rows(type, values, bytes_.data() + begin * row_bytes, end - begin,
                                      n_cols);
      }
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (error.ok()) error = status;
      }
    });
    LATHE_RETURN_IF_ERROR(error);
    LATHE_RETURN_IF_ERROR(sink.write({bytes_.data(), static_cast<size_t>(rows * row_bytes)}));
    if (on_rows) on_rows(first + rows);
  }
  return Status();
}

ProgressLine::ProgressLine(std::string prefix)
    : prefix_(std::move(prefix)), tty_(isatty(STDERR_FILENO) != 0) {
  // Off a terminal, unforced updates start after the first quiet interval: short runs stay silent.
  if (!tty_) last_ns_ = now_ns();
}

ProgressLine::~ProgressLine() {
  finish();
}

void ProgressLine::update(const std::string& text, bool force) {
  if (!enabled_) return;
  const int64_t now = now_ns();
  const int64_t min_gap_ns = tty_ ? 100'000'000 : 10'000'000'000;
  if (!force && last_ns_ != 0 && now - last_ns_ < min_gap_ns) return;
  last_ns_ = now;
  if (tty_) {
    // \r and erase-to-end: the line shrinks cleanly when the new text is shorter.
    std::fprintf(stderr, "\r%s: %s\033[K", prefix_.c_str(), text.c_str());
    dirty_ = true;
  } else {
    std::fprintf(stderr, "%s: %s\n", prefix_.c_str(), text.c_str());
  }
  std::fflush(stderr);
}

void ProgressLine::finish() {
  if (tty_ && dirty_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  dirty_ = false;
}

}  // namespace lathe::cli
