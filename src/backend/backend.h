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

#include "core/status.h"
#include "core/tensor_type.h"
#include "model/hparams.h"
#include "model/model.h"

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

struct RopeParams {
  int64_t head_dim = 0;
  int64_t n_rot = 0;
  model::RopeMode mode = model::RopeMode::kNormal;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;            // 1 / linear scaling factor
  const float* freq_factors = nullptr;  // host memory, n_rot/2 divisors (llama3), or null
  // YaRN (ext_factor 0 disables it)
  float ext_factor = 0.0f;
  float attn_factor = 1.0f;
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  int64_t n_ctx_orig = 0;
};

// One layer of the KV cache: each cell holds a row of n_head_kv * head_dim values in the cache's
// type, for K and for V.
struct KvLayerView {
  void* k = nullptr;
  void* v = nullptr;
  TensorType type_k = TensorType::kF16;
  TensorType type_v = TensorType::kF16;
  uint64_t k_row_bytes = 0;
  uint64_t v_row_bytes = 0;
};

// Cells visible to one token: [begin, end) ranges of cell indices.
struct CellRange {
  int32_t begin;
  int32_t end;
};

// For token t, ranges[offsets[t] .. offsets[t+1]) are the cells it attends to (host memory).
struct AttentionMask {
  const int32_t* offsets = nullptr;
  const CellRange* ranges = nullptr;
  const int32_t* positions = nullptr;  // each token's position (for diagnostics)
};

struct AttentionParams {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;
  bool flash = true;  // online softmax over blocks; false keeps the plain scores-then-softmax path
};

// One weight of a group that reads the same input (q/k/v, gate/up).
struct MatmulTarget {
  const model::WeightMatrix* weight;
  const float* bias;  // or null
  float* out;         // [n_rows, weight->rows]
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  // A one-line description for reports: "CPU (AVX512-VNNI kernels, 2 threads)".
  virtual std::string description() const = 0;

  virtual Expected<Buffer> allocate(size_t bytes) = 0;
  // Fills n_tokens rows of f32 from host token ids.
  virtual void get_rows(const model::WeightMatrix& table, const int32_t* ids, int64_t n,
                        float* out) = 0;
  // out = x / rms(x) * weight, over rows of `width` values.
  virtual void rms_norm(const float* x, const float* weight, int64_t rows, int64_t width,
                        float eps, float* out) = 0;
  // out[n_rows, w.rows] = x[n_rows, w.cols] · Wᵀ (+ bias).
  virtual void matmul(const model::WeightMatrix& w, const float* bias, const float* x,
                      int64_t n_rows, float* out) = 0;
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
  // out = silu(gate) * up, elementwise over n values.
  virtual void swiglu(const float* gate, const float* up, int64_t n, float* out) = 0;
  // x += y over n values.
  virtual void add(float* x, const float* y, int64_t n) = 0;
  // out[i] = x[rows[i]] for rows of `width` values (host row indices).
  virtual void gather_rows(const float* x, int64_t width, const int32_t* rows, int64_t n,
                           float* out) = 0;
  // Copies n floats of backend memory to host memory.
  virtual void to_host(const float* src, int64_t n, float* dst) = 0;
};

}  // namespace lathe::backend
