#include "runtime/context.h"

#include <algorithm>

#include "core/timer.h"

namespace lathe::runtime {

Context::Context(std::shared_ptr<const model::Model> model,
                 std::shared_ptr<backend::Backend> backend, const ContextParams& params,
                 kv::KvCache kv)
    : model_(std::move(model)), backend_(std::move(backend)), params_(params), kv_(std::move(kv)) {}

Expected<std::unique_ptr<Context>> Context::create(std::shared_ptr<const model::Model> model,
                                                   std::shared_ptr<backend::Backend> backend,
                                                   const ContextParams& params_in) {
  if (!model || !backend) return invalid_argument("context needs a model and a backend");
  ContextParams params = params_in;
  const auto& hp = model->hparams();
  if (params.n_ctx <= 0) params.n_ctx = hp.n_ctx_train;
  if (params.n_ctx > (int64_t{1} << 24)) {
    return invalid_argument("context size ", params.n_ctx, " is too large");
  }
  if (params.n_ubatch <= 0) return invalid_argument("micro-batch size must be positive");
  params.n_ubatch = std::min(params.n_ubatch, params.n_ctx);
  kv::KvCacheOptions kv_options;
  kv_options.n_cells = params.n_ctx;
  kv_options.type_k = params.type_k;
  kv_options.type_v = params.type_v;
  LATHE_ASSIGN_OR_RETURN(kv::KvCache cache, kv::KvCache::create(hp, kv_options, *backend));
  std::unique_ptr<Context> context(
      new Context(std::move(model), std::move(backend), params, std::move(cache)));
  LATHE_RETURN_IF_ERROR(context->allocate_workspace());
  return context;
}

Status Context::allocate_workspace() {
  const auto& hp = model_->hparams();
  const size_t u = static_cast<size_t>(params_.n_ubatch);
  auto floats = [&](int64_t width) { return u * static_cast<size_t>(width) * sizeof(float); };
  LATHE_ASSIGN_OR_RETURN(ws_.x, backend_->allocate(floats(hp.n_embd)));
  LATHE_ASSIGN_OR_RETURN(ws_.h, backend_->allocate(floats(std::max(hp.n_embd, hp.n_embd_q()))));
  LATHE_ASSIGN_OR_RETURN(ws_.q, backend_->allocate(floats(hp.n_embd_q())));
  LATHE_ASSIGN_OR_RETURN(ws_.k, backend_->allocate(floats(hp.n_embd_k())));
  LATHE_ASSIGN_OR_RETURN(ws_.v, backend_->allocate(floats(hp.n_embd_v())));
  LATHE_ASSIGN_OR_RETURN(ws_.attn, backend_->allocate(floats(hp.n_embd_q())));
  LATHE_ASSIGN_OR_RETURN(ws_.gate, backend_->allocate(floats(hp.n_ff)));
  LATHE_ASSIGN_OR_RETURN(ws_.up, backend_->allocate(floats(hp.n_ff)));
  int64_t fused_width = 0;
  for (const model::LayerSpec& layer : model_->spec().layers) {
    if (layer.qkv == model::QkvLayout::kFused) {
      fused_width = std::max(fused_width, hp.n_embd_q() + hp.n_embd_k() + hp.n_embd_v());
    }
    if (layer.ffn == model::FfnLayout::kFusedGateUp)
      fused_width = std::max(fused_width, 2 * hp.n_ff);
    bool known = false;
    for (size_t m = 0; m < masks_.size() && !known; ++m) {
      if (masks_[m].window == layer.window) {
        layer_mask_.push_back(static_cast<uint8_t>(m));
        known = true;
      }
    }
    if (!known) {
      if (masks_.size() == 8) return unsupported("more than 8 distinct attention windows");
      layer_mask_.push_back(static_cast<uint8_t>(masks_.size()));
      masks_.push_back(WindowMask{layer.window, {}, {}, {}, {}});
    }
  }
  if (fused_width > 0) {
    LATHE_ASSIGN_OR_RETURN(ws_.fused, backend_->allocate(floats(fused_width)));
  }
  // Logits rows are allocated for the largest number of outputs a micro-batch has asked for.
  ws_.logits_rows = 0;
  cells_.reserve(u);
  out_rows_.reserve(u);
  for (WindowMask& m : masks_) {
    m.offsets.reserve(u + 1);
    m.token_bounds.resize(u);
  }
  return Status();
}

const float* Context::logits(size_t batch_index) const {
  if (batch_index >= logits_row_of_entry_.size()) return nullptr;
  const int32_t row = logits_row_of_entry_[batch_index];
  if (row < 0) return nullptr;
  return logits_.data() + static_cast<size_t>(row) * static_cast<size_t>(n_vocab());
}

Status Context::decode(const Batch& batch) {
  Stopwatch timer;
  if (batch.empty()) return invalid_argument("decode: the batch is empty");
  if (batch.has_invalid_sequence()) {
    return invalid_argument("decode: a sequence id is outside 0..", kv::kMaxSequences - 1);
  }
  const int64_t n_vocab = this->n_vocab();
  for (size_t i = 0; i < batch.size(); ++i) {
    const TokenId t = batch.tokens()[i];
    if (t < 0 || t >= n_vocab) {
      return invalid_argument("decode: token id ", t, " at batch index ", i,
                              " is outside the vocabulary (", n_vocab, " tokens)");
    }
  }

  // Claim cells for the whole batch first, so a full context fails before any work.
  std::vector<int32_t> all_cells;
  LATHE_RETURN_IF_ERROR(kv_.claim(batch.positions(), batch.seqs(), all_cells));
  cells_ = std::move(all_cells);

  size_t n_outputs = 0;
  logits_row_of_entry_.assign(batch.size(), -1);
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch.wants_logits(i)) logits_row_of_entry_[i] = static_cast<int32_t>(n_outputs++);
  }
  logits_.resize(n_outputs * static_cast<size_t>(n_vocab));

  const size_t step = static_cast<size_t>(params_.n_ubatch);
  for (size_t begin = 0; begin < batch.size(); begin += step) {
    const size_t end = std::min(batch.size(), begin + step);
    Status status = forward_ubatch(begin, end, batch);
    if (!status.ok()) {
      // Leave the cache as it was before this call: the batch's positions were all new.
      for (size_t i = 0; i < batch.size(); ++i) {
        for (int s = 0; s < kv::kMaxSequences; ++s) {
          if (batch.seqs()[i].test(static_cast<size_t>(s))) {
            kv_.seq_rm(s, batch.positions()[i], batch.positions()[i] + 1);
          }
        }
      }
      return status;
    }
  }
  stats_.n_decode_calls += 1;
  stats_.n_tokens += static_cast<int64_t>(batch.size());
  stats_.seconds += timer.elapsed_s();
  return Status();
}

}  // namespace lathe::runtime
