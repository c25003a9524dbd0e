// A model's hyper-parameters, read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/rope.h"

namespace lathe::model {

using ops::RopeMode;

enum class RopeScaling { kNone, kLinear, kYarn, kLlama3 };

struct HParams {
  std::string architecture;
  std::string name;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_ff = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim_k = 0;  // key/query head size
  int64_t head_dim_v = 0;
  int64_t n_rot = 0;       // rotated dimensions of each head (usually head_dim_k)
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  RopeMode rope_mode = RopeMode::kNormal;  // set by the architecture's description
  RopeScaling rope_scaling = RopeScaling::kNone;
  float rope_scaling_factor = 1.0f;
  int64_t rope_orig_ctx = 0;
  // llama3 rope scaling (used when the file has no rope_freqs.weight).
  float rope_low_freq_factor = 1.0f;
  float rope_high_freq_factor = 4.0f;
  // YaRN
  float yarn_beta_fast = 32.0f;
  float yarn_beta_slow = 1.0f;
  float yarn_log_mul = 0.0f;
  float attention_scale = 0.0f;  // 0: 1/sqrt(head_dim_k)
  bool tied_output = false;

  int64_t n_embd_q() const { return n_head * head_dim_k; }
  int64_t n_embd_k() const { return n_head_kv * head_dim_k; }
  int64_t n_embd_v() const { return n_head_kv * head_dim_v; }
  int64_t n_gqa() const { return n_head / n_head_kv; }
};

}  // namespace lathe::model
