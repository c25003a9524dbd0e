#include "runtime/context.h"

#include <algorithm>
#include <cmath>

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
  // Logits rows are allocated for the largest number of outputs a micro-batch has asked for.
  ws_.logits_rows = 0;
  cells_.reserve(u);
  out_rows_.reserve(u);
  mask_offsets_.reserve(u + 1);
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

Status Context::forward_ubatch(size_t begin, size_t end, const Batch& batch) {
  const auto& hp = model_->hparams();
  backend::Backend& be = *backend_;
  const int64_t n = static_cast<int64_t>(end - begin);
  const int32_t* tokens = batch.tokens().data() + begin;
  const int32_t* positions = batch.positions().data() + begin;
  const int32_t* cells = cells_.data() + begin;

  // Which cells each token sees: its primary sequence's cells at positions up to its own.
  mask_offsets_.clear();
  mask_ranges_.clear();
  for (size_t i = begin; i < end; ++i) {
    mask_offsets_.push_back(static_cast<int32_t>(mask_ranges_.size()));
    kv_.visible_ranges(batch.primary_seq(i), batch.positions()[i], mask_ranges_);
  }
  mask_offsets_.push_back(static_cast<int32_t>(mask_ranges_.size()));
  backend::AttentionMask mask{mask_offsets_.data(), mask_ranges_.data(), positions};

  out_rows_.clear();
  for (size_t i = begin; i < end; ++i) {
    if (batch.wants_logits(i)) out_rows_.push_back(static_cast<int32_t>(i - begin));
  }
  const int64_t n_out = static_cast<int64_t>(out_rows_.size());
  if (n_out > ws_.logits_rows) {
    LATHE_ASSIGN_OR_RETURN(ws_.logits, be.allocate(static_cast<size_t>(n_out * hp.n_vocab) * sizeof(float)));
    ws_.logits_rows = n_out;
  }

  float* x = ws_.x.as<float>();
  float* h = ws_.h.as<float>();
  float* q = ws_.q.as<float>();
  float* k = ws_.k.as<float>();
  float* v = ws_.v.as<float>();
  float* attn = ws_.attn.as<float>();
  float* gate = ws_.gate.as<float>();
  float* up = ws_.up.as<float>();

  backend::RopeParams rope;
  rope.head_dim = hp.head_dim_k;
  rope.n_rot = hp.n_rot;
  rope.mode = hp.rope_mode;
  rope.freq_base = hp.rope_freq_base;
  rope.freq_scale = hp.rope_scaling == model::RopeScaling::kLinear ||
                            hp.rope_scaling == model::RopeScaling::kYarn
                        ? 1.0f / hp.rope_scaling_factor
                        : 1.0f;
  rope.freq_factors = model_->rope_freq_factors();
  rope.n_ctx_orig = hp.rope_orig_ctx;
  if (hp.rope_scaling == model::RopeScaling::kYarn) {
    rope.ext_factor = 1.0f;
    rope.beta_fast = hp.yarn_beta_fast;
    rope.beta_slow = hp.yarn_beta_slow;
    // The rope kernel scales magnitudes by 1 + 0.1 ln(factor). Files with a log multiplier
    // (mscale_all_dims) ask for that to be divided by 1 + 0.1 mscale_all_dims ln(factor).
    if (hp.yarn_log_mul != 0.0f && hp.rope_scaling_factor > 1.0f) {
      rope.attn_factor = 1.0f / (1.0f + 0.1f * hp.yarn_log_mul * std::log(hp.rope_scaling_factor));
    }
  }

  backend::AttentionParams ap;
  ap.n_head = hp.n_head;
  ap.n_head_kv = hp.n_head_kv;
  ap.head_dim = hp.head_dim_k;
  ap.scale = hp.attention_scale != 0.0f ? hp.attention_scale
                                        : 1.0f / std::sqrt(static_cast<float>(hp.head_dim_k));
  ap.flash = params_.flash_attention;

  be.get_rows(model_->token_embd(), tokens, n, x);
  int64_t rows = n;  // rows still flowing through the layers
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const model::LayerWeights& L = model_->layers()[static_cast<size_t>(il)];
    const backend::KvLayerView kv = kv_.layer(il);
    be.rms_norm(x, L.attn_norm, n, hp.n_embd, hp.rms_eps, h);
    const backend::MatmulTarget qkv[] = {
        {&L.wq.weight, L.wq.bias, q}, {&L.wk.weight, L.wk.bias, k}, {&L.wv.weight, L.wv.bias, v}};
    be.matmul_group(qkv, h, n);
    if (L.q_norm != nullptr) {
      be.rms_norm(q, L.q_norm, n * hp.n_head, hp.head_dim_k, hp.rms_eps, q);
      be.rms_norm(k, L.k_norm, n * hp.n_head_kv, hp.head_dim_k, hp.rms_eps, k);
    }
    be.rope(q, n, hp.n_head, positions, rope);
    be.rope(k, n, hp.n_head_kv, positions, rope);
    be.store_kv(k, v, n, cells, kv, hp.n_embd_k(), hp.n_embd_v());
    be.attention(q, kv, mask, n, ap, attn);
    if (il == hp.n_layer - 1 && n_out < n) {
      // Only the rows that produce logits matter past the last attention.
      be.gather_rows(attn, hp.n_embd_q(), out_rows_.data(), n_out, attn);
      be.gather_rows(x, hp.n_embd, out_rows_.data(), n_out, x);
      rows = n_out;
    }
    be.matmul(L.wo.weight, L.wo.bias, attn, rows, h);
    be.add(x, h, rows * hp.n_embd);
    be.rms_norm(x, L.ffn_norm, rows, hp.n_embd, hp.rms_eps, h);
    const backend::MatmulTarget gate_up[] = {{&L.ffn_gate.weight, L.ffn_gate.bias, gate},
                                             {&L.ffn_up.weight, L.ffn_up.bias, up}};
    be.matmul_group(gate_up, h, rows);
    be.swiglu(gate, up, rows * hp.n_ff, gate);
    be.matmul(L.ffn_down.weight, L.ffn_down.bias, gate, rows, h);
    be.add(x, h, rows * hp.n_embd);
  }
  if (n_out == 0) return Status();
  if (rows != n_out) {
    be.gather_rows(x, hp.n_embd, out_rows_.data(), n_out, x);
  }
  be.rms_norm(x, model_->output_norm(), n_out, hp.n_embd, hp.rms_eps, h);
  float* logits_dev = ws_.logits.as<float>();
  be.matmul(model_->output(), nullptr, h, n_out, logits_dev);
  // Entries wanting logits are numbered in batch order, so this micro-batch's rows are contiguous.
  const int32_t first_row = logits_row_of_entry_[begin + static_cast<size_t>(out_rows_[0])];
  be.to_host(logits_dev, n_out * hp.n_vocab,
             logits_.data() + static_cast<size_t>(first_row) * static_cast<size_t>(hp.n_vocab));
  return Status();
}

}  // namespace lathe::runtime
