// The forward pass: one micro-batch through every layer, as the model's spec describes it.
//
// It knows no architecture. Per layer it reads the LayerSpec (model/spec.h): pre-norm, q/k/v
// separate or fused (+ biases), optional per-head q/k norm, rope with the layer's own parameters,
// attention over the cells of the layer's window, optional post-norm, gate/up separate or fused,
// the activation, optional post-norm. Model-level settings: embedding scale, logit soft-cap.
// Every operation is a call on the Backend, so the pass is the same on every backend.
#include <algorithm>

#include "runtime/context.h"

namespace lathe::runtime {

void Context::build_masks(size_t begin, size_t end, const Batch& batch) {
  for (WindowMask& m : masks_) {
    m.offsets.clear();
    m.ranges.clear();
    for (size_t i = begin; i < end; ++i) {
      m.offsets.push_back(static_cast<int32_t>(m.ranges.size()));
      kv_.visible_ranges(batch.primary_seq(i), batch.positions()[i], m.ranges, m.window);
    }
    m.offsets.push_back(static_cast<int32_t>(m.ranges.size()));
    m.mask = ops::AttentionMask{};
    m.mask.offsets = m.offsets.data();
    m.mask.ranges = m.ranges.data();
    m.mask.positions = batch.positions().data() + begin;
    ops::summarize_mask(m.mask, static_cast<int64_t>(end - begin), m.token_bounds.data());
  }
}

Status Context::forward_ubatch(size_t begin, size_t end, const Batch& batch) {
  const auto& hp = model_->hparams();
  const model::ModelSpec& spec = model_->spec();
  backend::Backend& be = *backend_;
  const int64_t n = static_cast<int64_t>(end - begin);
  const int32_t* tokens = batch.tokens().data() + begin;
  const int32_t* positions = batch.positions().data() + begin;
  const int32_t* cells = cells_.data() + begin;

  // Which cells each token sees: its primary sequence's cells at positions up to its own (and,
  // in a windowed layer, no further back than the window). Built once for all the layers.
  build_masks(begin, end, batch);

  out_rows_.clear();
  for (size_t i = begin; i < end; ++i) {
    if (batch.wants_logits(i)) out_rows_.push_back(static_cast<int32_t>(i - begin));
  }
  const int64_t n_out = static_cast<int64_t>(out_rows_.size());
  if (n_out > ws_.logits_rows) {
    LATHE_ASSIGN_OR_RETURN(ws_.logits,
                           be.allocate(static_cast<size_t>(n_out * hp.n_vocab) * sizeof(float)));
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
  float* fused = ws_.fused.as<float>();

  backend::AttentionParams ap;
  ap.n_head = hp.n_head;
  ap.n_head_kv = hp.n_head_kv;
  ap.head_dim = hp.head_dim_k;
  ap.scale = spec.attention_scale;
  ap.flash = params_.flash_attention;

  be.get_rows(model_->token_embd(), tokens, n, x);
  if (spec.embedding_scale != 1.0f) be.scale(x, n * hp.n_embd, spec.embedding_scale);
  int64_t rows = n;  // rows still flowing through the layers
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const model::LayerSpec& ls = spec.layers[static_cast<size_t>(il)];
    const model::LayerWeights& L = model_->layers()[static_cast<size_t>(il)];
    const backend::KvLayerView kv = kv_.layer(il);
    const ops::AttentionMask& mask = masks_[layer_mask_[static_cast<size_t>(il)]].mask;

    be.rms_norm(x, L.attn_norm, n, hp.n_embd, hp.rms_eps, h);
    if (ls.qkv == model::QkvLayout::kSeparate) {
      const backend::MatmulTarget qkv[] = {
          {&L.wq.weight, L.wq.bias, q}, {&L.wk.weight, L.wk.bias, k}, {&L.wv.weight, L.wv.bias, v}};
      be.matmul_group(qkv, h, n);
    } else {
      be.matmul(L.wqkv.weight, L.wqkv.bias, h, n, fused);
      const int64_t widths[] = {hp.n_embd_q(), hp.n_embd_k(), hp.n_embd_v()};
      float* const parts[] = {q, k, v};
      be.split_columns(fused, n, widths, parts);
    }
    if (ls.qk_norm) {
      be.rms_norm(q, L.q_norm, n * hp.n_head, hp.head_dim_k, hp.rms_eps, q);
      be.rms_norm(k, L.k_norm, n * hp.n_head_kv, hp.head_dim_k, hp.rms_eps, k);
    }
    be.rope(q, n, hp.n_head, positions, ls.rope);
    be.rope(k, n, hp.n_head_kv, positions, ls.rope);
    be.store_kv(k, v, n, cells, kv, hp.n_embd_k(), hp.n_embd_v());
    be.attention(q, kv, mask, n, ap, attn);
    if (il == hp.n_layer - 1 && n_out < n) {
      // Only the rows that produce logits matter past the last attention.
      be.gather_rows(attn, hp.n_embd_q(), out_rows_.data(), n_out, attn);
      be.gather_rows(x, hp.n_embd, out_rows_.data(), n_out, x);
      rows = n_out;
    }
    be.matmul(L.wo.weight, L.wo.bias, attn, rows, h);
    if (ls.attn_post_norm) be.rms_norm(h, L.attn_post_norm, rows, hp.n_embd, hp.rms_eps, h);
    be.add(x, h, rows * hp.n_embd);

    be.rms_norm(x, L.ffn_norm, rows, hp.n_embd, hp.rms_eps, h);
    if (ls.ffn == model::FfnLayout::kGateUp) {
      const backend::MatmulTarget gate_up[] = {{&L.ffn_gate.weight, L.ffn_gate.bias, gate},
                                               {&L.ffn_up.weight, L.ffn_up.bias, up}};
      be.matmul_group(gate_up, h, rows);
    } else {
      be.matmul(L.ffn_up.weight, L.ffn_up.bias, h, rows, fused);
      const int64_t widths[] = {hp.n_ff, hp.n_ff};
      float* const parts[] = {gate, up};
      be.split_columns(fused, rows, widths, parts);
    }
    be.glu(ls.activation, gate, up, rows * hp.n_ff, gate);
    be.matmul(L.ffn_down.weight, L.ffn_down.bias, gate, rows, h);
    if (ls.ffn_post_norm) be.rms_norm(h, L.ffn_post_norm, rows, hp.n_embd, hp.rms_eps, h);
    be.add(x, h, rows * hp.n_embd);
  }
  if (n_out == 0) return Status();
  if (rows != n_out) {
    be.gather_rows(x, hp.n_embd, out_rows_.data(), n_out, x);
  }
  be.rms_norm(x, model_->output_norm(), n_out, hp.n_embd, hp.rms_eps, h);
  float* logits_dev = ws_.logits.as<float>();
  be.matmul(model_->output(), nullptr, h, n_out, logits_dev);
  if (spec.logit_softcap > 0.0f) be.softcap(logits_dev, n_out * hp.n_vocab, spec.logit_softcap);
  // Entries wanting logits are numbered in batch order, so this micro-batch's rows are contiguous.
  const int32_t first_row = logits_row_of_entry_[begin + static_cast<size_t>(out_rows_[0])];
  be.to_host(logits_dev, n_out * hp.n_vocab,
             logits_.data() + static_cast<size_t>(first_row) * static_cast<size_t>(hp.n_vocab));
  return Status();
}

}  // namespace lathe::runtime
