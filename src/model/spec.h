// What a model computes, as data: one LayerSpec per layer and a few model-level settings. An
// architecture file (arch_<name>.cpp) fills it from the GGUF metadata; the loader binds the
// tensors it names; the forward pass (runtime/forward.cpp) reads it and has no knowledge of
// architectures. A new architecture whose layers are made of these parts is one spec file.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/activation.h"
#include "ops/rope.h"

namespace lathe::model {

enum class QkvLayout {
  kSeparate,  // attn_q, attn_k, attn_v
  kFused,     // one attn_qkv whose rows are q, then k, then v (Phi-3)
};

enum class FfnLayout {
  kGateUp,       // ffn_gate and ffn_up
  kFusedGateUp,  // one ffn_up whose rows are the gate, then the up projection (Phi-3)
};

struct LayerSpec {
  // Every block norms its input (attn_norm, ffn_norm). A post-norm also norms the block's output
  // before it joins the residual stream (Gemma 2/3's sandwich: post_attention_norm,
  // post_ffw_norm).
  bool attn_post_norm = false;
  bool ffn_post_norm = false;
  QkvLayout qkv = QkvLayout::kSeparate;
  bool qkv_bias = false;  // q/k/v projections carry biases (Qwen2)
  bool qk_norm = false;   // per-head RMS norm of q and k before rope (Qwen3, Gemma 3)
  FfnLayout ffn = FfnLayout::kGateUp;
  ops::Activation activation = ops::Activation::kSwiGLU;
  // 0: the layer attends to the whole history; n > 0: only to the last n positions (sliding
  // window, including the token's own).
  int32_t window = 0;
  // Computed once at load: mode, base (per layer where an architecture uses two), scaling.
  // freq_factors points into the Model.
  ops::RopeParams rope;
};

struct ModelSpec {
  std::vector<LayerSpec> layers;
  float embedding_scale = 1.0f;  // token embeddings are multiplied by it (Gemma: sqrt(n_embd))
  float logit_softcap = 0.0f;    // > 0: logits = cap * tanh(logits / cap)
  float attention_scale = 1.0f;  // q·k is multiplied by it (1/sqrt(head_dim) unless the file says)
  bool tied_output = false;      // the output projection is token_embd
};

}  // namespace lathe::model
