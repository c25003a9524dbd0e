// Toy architectures for the forward pass's tests: each one is what an architecture file
// (src/model/arch_<name>.cpp) would hold, and adding one needs nothing else: the loader binds the
// tensors its spec names and the forward pass runs it unchanged.
#pragma once

#include <cmath>

#include "model/arch.h"

namespace lathe::testing {

// Llama with Gemma-style sandwich norms: every block's output is normed before the residual add.
inline Status describe_llama_postnorm(const gguf::File&, model::HParams& hp,
                                      model::ModelSpec& spec) {
  hp.rope_mode = ops::RopeMode::kNormal;
  for (model::LayerSpec& layer : spec.layers) {
    layer.rope.mode = hp.rope_mode;
    layer.attn_post_norm = true;
    layer.ffn_post_norm = true;
  }
  return Status();
}
inline constexpr model::ArchSpec kLlamaPostNorm{"llama-postnorm", &describe_llama_postnorm};

// Everything else a spec can say at once: fused q/k/v and gate/up projections (Phi-3), GeGLU,
// rope on halves, a sliding window on every other layer, scaled embeddings and soft-capped logits
// (Gemma). The window and the two scalars are read from the file's own keys.
inline Status describe_toy_mix(const gguf::File& file, model::HParams& hp, model::ModelSpec& spec) {
  hp.rope_mode = ops::RopeMode::kNeox;
  LATHE_ASSIGN_OR_RETURN(int64_t window, file.get_integer("toy-mix.attention.sliding_window"));
  LATHE_ASSIGN_OR_RETURN(double cap, file.get_number("toy-mix.final_logit_softcapping"));
  for (size_t il = 0; il < spec.layers.size(); ++il) {
    model::LayerSpec& layer = spec.layers[il];
    layer.rope.mode = hp.rope_mode;
    layer.qkv = model::QkvLayout::kFused;
    layer.ffn = model::FfnLayout::kFusedGateUp;
    layer.activation = ops::Activation::kGeGLU;
    layer.window = il % 2 == 0 ? static_cast<int32_t>(window) : 0;
  }
  spec.embedding_scale = std::sqrt(static_cast<float>(hp.n_embd));
  spec.logit_softcap = static_cast<float>(cap);
  return Status();
}
inline constexpr model::ArchSpec kToyMix{"toy-mix", &describe_toy_mix};

}  // namespace lathe::testing
