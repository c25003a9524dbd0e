// A Hugging Face model's config.json, reduced to what a GGUF of a Llama-family model records.
//
// Supported: LlamaForCausalLM (and MistralForCausalLM, which llama.cpp converts as llama),
// Qwen2ForCausalLM (q/k/v biases) and Qwen3ForCausalLM (per-head q/k RMS norms). Values missing
// from the file take the defaults of the transformers config class, so the GGUF always states
// them (llama.cpp's converter omits them, and its loader then requires some of them).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "core/status.h"

namespace lathe::convert {

enum class HfRopeScaling { kNone, kLinear, kYarn, kLlama3 };

struct HfConfig {
  std::string hf_architecture;  // "LlamaForCausalLM"
  std::string arch;             // GGUF general.architecture: llama, qwen2, qwen3
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  int64_t head_dim = 0;            // from the file; 0 when it does not say
  bool head_dim_explicit = false;  // the file names head_dim (then key/value_length are written)
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases (always for qwen2)
  bool qk_norm = false;         // qwen3

  // Rope scaling (rope_scaling, or rope_parameters in newer transformers).
  HfRopeScaling rope_scaling = HfRopeScaling::kNone;
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0;
  double rope_high_freq_factor = 4.0;
  int64_t rope_original_max_position = 0;  // 0: not given
  double yarn_beta_fast = 0, yarn_beta_slow = 0, yarn_attn_factor = 0, yarn_ext_factor = 0;
  bool has_yarn_beta_fast = false, has_yarn_beta_slow = false, has_yarn_attn_factor = false,
       has_yarn_ext_factor = false;

  int64_t head_size() const { return head_dim > 0 ? head_dim : hidden_size / n_heads; }
  // Whether GGUF wants q/k rows permuted from the Hugging Face rotate-half layout to adjacent
  // pairs (llama does; qwen2/qwen3 run rope in the NEOX mode, which is the HF layout).
  bool permute_qk() const { return arch == "llama"; }
};

// The architectures parse_hf_config accepts, for messages.
std::vector<std::string_view> supported_hf_architectures();

// Warnings (ignored settings such as sliding windows or dynamic rope) go to `logger`.
Expected<HfConfig> parse_hf_config(std::string_view json_text, const Logger& logger);
Expected<HfConfig> read_hf_config(const std::string& path, const Logger& logger);

// convert_hf_to_gguf.py's llama3 rope factors (rope_freqs.weight): head_size / 2 divisors, one per
// dimension pair, computed in the same float precision as its torch code.
std::vector<float> llama3_rope_freqs(const HfConfig& config);

}  // namespace lathe::convert
