// A Context runs a model: it owns the KV cache and the activation buffers, and decodes batches.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "runtime/batch.h"

namespace lathe::runtime {

struct ContextParams {
  int64_t n_ctx = 4096;     // KV cells; 0: the model's training context
  int64_t n_ubatch = 512;   // tokens per forward pass; larger batches are split
  TensorType type_k = TensorType::kF16;
  TensorType type_v = TensorType::kF16;
  bool flash_attention = true;
};

// Time spent in decode, split by the kind of batch, for reports.
struct DecodeStats {
  int64_t n_decode_calls = 0;
  int64_t n_tokens = 0;
  double seconds = 0.0;
};

class Context {
 public:
  static Expected<std::unique_ptr<Context>> create(std::shared_ptr<const model::Model> model,
                                                   std::shared_ptr<backend::Backend> backend,
                                                   const ContextParams& params);

  // Runs the batch through the model and stores the logits of the entries that want them.
  // On error the cache holds none of the batch's tokens.
  Status decode(const Batch& batch);

  // Logits of batch entry i of the last decode (n_vocab values), or null if it did not ask.
  const float* logits(size_t batch_index) const;
  int64_t n_vocab() const { return model_->hparams().n_vocab; }

  kv::KvCache& kv() { return kv_; }
  const kv::KvCache& kv() const { return kv_; }
  const model::Model& model() const { return *model_; }
  const std::shared_ptr<const model::Model>& model_ptr() const { return model_; }
  backend::Backend& backend() { return *backend_; }
  const ContextParams& params() const { return params_; }
  const DecodeStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }

 private:
  Context(std::shared_ptr<const model::Model> model, std::shared_ptr<backend::Backend> backend,
          const ContextParams& params, kv::KvCache kv);
  Status allocate_workspace();
  // The forward pass of one micro-batch (runtime/forward.cpp).
  Status forward_ubatch(size_t begin, size_t end, const Batch& batch);
  // Builds the micro-batch's attention masks, one per distinct window of the model's layers.
  void build_masks(size_t begin, size_t end, const Batch& batch);

  std::shared_ptr<const model::Model> model_;
  std::shared_ptr<backend::Backend> backend_;
  ContextParams params_;
  kv::KvCache kv_;
  DecodeStats stats_;

  // Activations of one micro-batch, in backend memory.
  struct Workspace {
    backend::Buffer x, h, q, k, v, attn, gate, up, logits;
    backend::Buffer fused;  // a fused q/k/v or gate/up projection before it is split
    int64_t logits_rows = 0;
  } ws_;

  // Per-ubatch inputs, reused across calls.
  std::vector<int32_t> cells_;
  // One mask per distinct attention window (0: global) of the model's layers; a layer reads the
  // mask of its window.
  struct WindowMask {
    int32_t window = 0;
    std::vector<int32_t> offsets;
    std::vector<ops::CellRange> ranges;
    std::vector<ops::CellRange> token_bounds;
    ops::AttentionMask mask;
  };
  std::vector<WindowMask> masks_;
  std::vector<uint8_t> layer_mask_;  // per layer: its index in masks_
  std::vector<int32_t> out_rows_;

  // Logits of the last decode: one row per entry that asked.
  std::vector<float> logits_;
  std::vector<int32_t> logits_row_of_entry_;  // -1 when the entry did not ask
};

}  // namespace lathe::runtime
