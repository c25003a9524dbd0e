// Rotary position embeddings: how a head's dimensions are paired and the frequencies each pair
// turns at. A model computes one RopeParams per layer at load; kernels apply it.
#pragma once

#include <cstdint>

namespace lathe::ops {

// How rotary embeddings pair the dimensions of a head.
enum class RopeMode {
  kNormal,  // adjacent pairs (x[2i], x[2i+1]): Llama as stored in GGUF
  kNeox,    // halves (x[i], x[i + n/2]): Qwen, GPT-NeoX
};

struct RopeParams {
  int64_t head_dim = 0;
  int64_t n_rot = 0;
  RopeMode mode = RopeMode::kNormal;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;              // 1 / linear scaling factor
  const float* freq_factors = nullptr;  // host memory, n_rot/2 divisors (llama3), or null
  // YaRN (ext_factor 0 disables it)
  float ext_factor = 0.0f;
  float attn_factor = 1.0f;
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  int64_t n_ctx_orig = 0;
};

}  // namespace lathe::ops
