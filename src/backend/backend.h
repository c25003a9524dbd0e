// The operations a forward pass needs, behind one interface so the pass is written once for the
// CPU and for CUDA. Activation pointers are in the backend's memory (device pointers for CUDA);
// the forward pass passes them along and never dereferences them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/tensor_type.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/rope.h"
#include "ops/weight.h"

namespace lathe::backend {

// Memory owned by a backend.
class Buffer {
 public:
  Buffer() = default;
  Buffer(void* data, size_t bytes, std::function<void(void*)> release)
      : data_(data), bytes_(bytes), release_(std::move(release)) {}
  Buffer(Buffer&& other) noexcept { *this = std::move(other); }
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      reset();
      data_ = other.data_;
      bytes_ = other.bytes_;
      release_ = std::move(other.release_);
      other.data_ = nullptr;
      other.bytes_ = 0;
    }
    return *this;
  }
  ~Buffer() { reset(); }

  void* data() const { return data_; }
  size_t size() const { return bytes_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }

 private:
  void reset() {
    if (data_ != nullptr && release_) release_(data_);
    data_ = nullptr;
    bytes_ = 0;
  }
  void* data_ = nullptr;
  size_t bytes_ = 0;
  std::function<void(void*)> release_;
};

// The backend interface speaks the op vocabulary (src/ops/).
using ops::AttentionMask;
using ops::AttentionParams;
using ops::CellRange;
using ops::KvLayerView;
using ops::MatmulTarget;
using ops::RopeParams;
using ops::WeightMatrix;

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  // A one-line description for reports: "CPU (AVX512-VNNI kernels, 2 threads)".
  virtual std::string description() const = 0;
  // Host threads the backend computes with.
  virtual int n_threads() const = 0;
  // Bytes per second of one pass that reads, right now, the bytes the backend's matmuls read for
  // these weights (its own copies where it made them): the bandwidth a decode step can hope for.
  virtual Expected<double> weight_read_bandwidth(std::span<const WeightMatrix* const> weights) = 0;

  virtual Expected<Buffer> allocate(size_t bytes) = 0;
  // Fills n_tokens rows of f32 from host token ids.
  virtual void get_rows(const WeightMatrix& table, const int32_t* ids, int64_t n, float* out) = 0;
  // out = x / rms(x) * weight, over rows of `width` values.
  virtual void rms_norm(const float* x, const float* weight, int64_t rows, int64_t width,
                        float eps, float* out) = 0;
  // out[n_rows, w.rows] = x[n_rows, w.cols] · Wᵀ (+ bias).
  virtual void matmul(const WeightMatrix& w, const float* bias, const float* x, int64_t n_rows,
                      float* out) = 0;
  // Several matmuls of the same input: out_i = x · W_iᵀ (+ b_i). A backend may convert the input
  // once and share all the rows among its threads in one pass; the default runs them in turn.
  virtual void matmul_group(std::span<const MatmulTarget> targets, const float* x,
                            int64_t n_rows) {
    for (const MatmulTarget& t : targets) matmul(*t.weight, t.bias, x, n_rows, t.out);
  }
  // Rotates heads in place; x is [n_tokens, n_heads, head_dim]; positions in host memory.
  virtual void rope(float* x, int64_t n_tokens, int64_t n_heads, const int32_t* positions,
                    const RopeParams& params) = 0;
  // Writes token t's k and v rows into cell cells[t] (host memory).
  virtual void store_kv(const float* k, const float* v, int64_t n_tokens, const int32_t* cells,
                        const KvLayerView& kv, int64_t n_embd_k, int64_t n_embd_v) = 0;
  // out[t, h*head_dim..] = softmax(q·K / √d) · V over the token's visible cells.
  virtual void attention(const float* q, const KvLayerView& kv, const AttentionMask& mask,
                         int64_t n_tokens, const AttentionParams& params, float* out) = 0;
  // out = act(gate) * up, elementwise over n values.
  virtual void glu(ops::Activation act, const float* gate, const float* up, int64_t n,
                   float* out) = 0;
  void swiglu(const float* gate, const float* up, int64_t n, float* out) {
    glu(ops::Activation::kSwiGLU, gate, up, n, out);
  }
  // x *= factor over n values.
  virtual void scale(float* x, int64_t n, float factor) = 0;
  // x = cap * tanh(x / cap) over n values.
  virtual void softcap(float* x, int64_t n, float cap) = 0;
  // Splits rows of sum(widths) values into one output per width: outs[j][r] = the j-th slice of
  // row r (a fused q/k/v or gate/up projection into its parts).
  virtual void split_columns(const float* x, int64_t rows, std::span<const int64_t> widths,
                             std::span<float* const> outs) = 0;
  // x += y over n values.
  virtual void add(float* x, const float* y, int64_t n) = 0;
  // out[i] = x[rows[i]] for rows of `width` values (host row indices).
  virtual void gather_rows(const float* x, int64_t width, const int32_t* rows, int64_t n,
                           float* out) = 0;
  // Copies n floats of backend memory to host memory.
  virtual void to_host(const float* src, int64_t n, float* dst) = 0;
};

// The backends this build has. Apps name a kind, never a concrete class.
enum class BackendKind { kCpu };

struct BackendOptions {
  int n_threads = 0;  // 0: one per physical core
  // CPU: the highest kernel level to use (tests and comparisons pin a lower one).
  enum class KernelLevel { kScalar, kAvx2, kAvx512, kBest } kernel_level = KernelLevel::kBest;
  // CPU: repack weights, on their first matmul, into the layout the SIMD kernels read fastest.
  bool repack_weights = true;
};

// "cpu" -> kCpu; an error naming the kinds this build has otherwise.
Expected<BackendKind> parse_backend_kind(std::string_view name);

// A backend of `kind`; an error when the options are out of range (e.g. thread counts).
Expected<std::shared_ptr<Backend>> create(BackendKind kind, const BackendOptions& options = {});

}  // namespace lathe::backend
