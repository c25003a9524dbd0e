// The one table of GGUF tensor names, as llama.cpp writes them: the loader, synth, convert and
// quantize all name and recognize tensors through it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lathe::gguf {

enum class TensorRole {
  // Model-level
  kTokenEmbd,   // token_embd
  kOutputNorm,  // output_norm
  kOutput,      // output
  kRopeFreqs,   // rope_freqs (llama3 frequency divisors)
  // Per layer: blk.N.<stem>
  kAttnNorm,      // attn_norm
  kAttnQ,         // attn_q
  kAttnK,         // attn_k
  kAttnV,         // attn_v
  kAttnQkv,       // attn_qkv (fused q/k/v)
  kAttnOutput,    // attn_output
  kAttnQNorm,     // attn_q_norm
  kAttnKNorm,     // attn_k_norm
  kAttnPostNorm,  // post_attention_norm
  kFfnNorm,       // ffn_norm
  kFfnGate,       // ffn_gate
  kFfnUp,         // ffn_up (gate and up fused when there is no ffn_gate)
  kFfnDown,       // ffn_down
  kFfnPostNorm,   // post_ffw_norm
};

// "attn_q" for kAttnQ.
std::string_view tensor_stem(TensorRole role);
bool is_layer_tensor(TensorRole role);

// "blk.3.attn_q.weight", "token_embd.weight"; `layer` is ignored for model-level roles.
std::string tensor_name(TensorRole role, int64_t layer = -1, std::string_view suffix = "weight");

struct TensorName {
  TensorRole role;
  int64_t layer = -1;  // -1 for model-level tensors
  std::string suffix;  // "weight", "bias"
};

// The role of a name written by tensor_name(); nullopt for names outside the table.
std::optional<TensorName> parse_tensor_name(std::string_view name);

}  // namespace lathe::gguf
