// The CPU backend: runs each operation on the thread pool with kernels chosen by CPUID.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/ref/ref.h"

namespace lathe::backend {

struct CpuBackendOptions {
  int n_threads = 0;  // 0: one per physical core
  kernels::KernelLevel kernel_level = kernels::KernelLevel::kBest;
  // Repack quantized weights, on their first matmul, into the layout the SIMD kernels read fastest
  // (kernels::RepackKernels). Costs one more copy of each such weight (see repacked_bytes()).
  bool repack_weights = true;
};

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options = {});

  std::string name() const override { return "CPU"; }
  std::string description() const override;
  int n_threads() const override { return pool_.size(); }
  Expected<double> weight_read_bandwidth(std::span<const WeightMatrix* const> weights) override;
  const kernels::KernelTable& kernels() const { return kernels_; }
  ThreadPool& pool() { return pool_; }
  // Memory held by repacked copies of weights (0 when repacking is off or unused).
  uint64_t repacked_bytes() const { return repacked_bytes_; }
  // Drops every repacked copy; the next matmul of each weight packs it again.
  void clear_repacked();
  // The bytes a matmul with w reads: its repacked copy once one was made, else w's own bytes.
  std::span<const uint8_t> matmul_weight_bytes(const ops::WeightMatrix& w) const;

  Expected<Buffer> allocate(size_t bytes) override;
  void get_rows(const ops::WeightMatrix& table, const int32_t* ids, int64_t n, float* out) override;
  void rms_norm(const float* x, const float* weight, int64_t rows, int64_t width, float eps,
                float* out) override;
  void matmul(const ops::WeightMatrix& w, const float* bias, const float* x, int64_t n_rows,
              float* out) override;
  void matmul_group(std::span<const MatmulTarget> targets, const float* x, int64_t n_rows) override;
  void rope(float* x, int64_t n_tokens, int64_t n_heads, const int32_t* positions,
            const RopeParams& params) override;
  void store_kv(const float* k, const float* v, int64_t n_tokens, const int32_t* cells,
                const KvLayerView& kv, int64_t n_embd_k, int64_t n_embd_v) override;
  void attention(const float* q, const KvLayerView& kv, const AttentionMask& mask, int64_t n_tokens,
                 const AttentionParams& params, float* out) override;
  void glu(ops::Activation act, const float* gate, const float* up, int64_t n, float* out) override;
  void scale(float* x, int64_t n, float factor) override;
  void softcap(float* x, int64_t n, float cap) override;
  void split_columns(const float* x, int64_t rows, std::span<const int64_t> widths,
                     std::span<float* const> outs) override;
  void add(float* x, const float* y, int64_t n) override;
  void gather_rows(const float* x, int64_t width, const int32_t* rows, int64_t n,
                   float* out) override;
  void to_host(const float* src, int64_t n, float* dst) override;

 private:
  // Runs job on one thread when the work is too small to pay for waking the others.
  template <typename Job>
  void parallel(int64_t work_items, int64_t min_items_per_thread, Job&& job);
  uint8_t* activation_scratch(size_t bytes);
  // The repacked copy of w, packing it on first use; null when it cannot be made.
  const uint8_t* repacked(const ops::WeightMatrix& w, const kernels::RepackKernels& rk);

  // A repacked weight, found again by the address, shape and a sample of the bytes of the
  // original: a model loaded later at the same address does not reuse another model's copy.
  // What a repacked copy was made from. Weights of a known file are identified by the file and the
  // offset (the same content in a later load of that file finds its copy); others by address and a
  // sample of their bytes.
  struct RepackKey {
    uint64_t source;  // file identity, or the address when it is unknown
    uint64_t offset;  // offset in the file, or the sample of the bytes
    TensorType type;
    int64_t rows;
    int64_t cols;
    bool operator==(const RepackKey&) const = default;
  };
  static RepackKey repack_key(const ops::WeightMatrix& w);
  struct RepackKeyHash {
    size_t operator()(const RepackKey& k) const {
      uint64_t h = k.source * 0x9e3779b97f4a7c15ull ^ k.offset;
      h ^= (static_cast<uint64_t>(k.type) << 48) ^ static_cast<uint64_t>(k.rows) * 31 ^
           static_cast<uint64_t>(k.cols);
      return static_cast<size_t>(h ^ (h >> 29));
    }
  };
  struct Repacked {
    std::unique_ptr<uint8_t, void (*)(void*)> data{nullptr, nullptr};
    uint64_t bytes = 0;
  };

  CpuFeatures cpu_;
  kernels::KernelTable kernels_;
  bool repack_weights_ = true;
  std::unordered_map<RepackKey, Repacked, RepackKeyHash> repacked_;
  uint64_t repacked_bytes_ = 0;
  ThreadPool pool_;
  std::vector<uint8_t> activation_scratch_;  // quantized activations of the current matmul
  std::vector<uint8_t> row_scratch_;         // one embedding row per thread (get_rows)
  std::vector<kernels::ref::AttentionScratch> attention_scratch_;  // one per thread
  std::vector<float> attention_partials_;         // per item, when threads share a token's cells
  std::vector<std::vector<float>> rope_scratch_;  // one per thread
};

}  // namespace lathe::backend
