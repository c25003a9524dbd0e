#include <cmath>

#include "model/arch.h"

namespace lathe::model {

namespace {

const ArchSpec* const kArchs[] = {&llama_arch(), &qwen2_arch(), &qwen3_arch()};

}  // namespace

const ArchSpec* find_arch(std::string_view name, std::span<const ArchSpec* const> extra) {
  for (const ArchSpec* spec : extra) {
    if (spec != nullptr && spec->name == name) return spec;
  }
  for (const ArchSpec* spec : kArchs) {
    if (spec->name == name) return spec;
  }
  return nullptr;
}

std::vector<std::string_view> supported_arch_names() {
  std::vector<std::string_view> names;
  for (const ArchSpec* spec : kArchs) names.push_back(spec->name);
  return names;
}

Expected<HParams> read_hparams(const gguf::File& file, std::span<const ArchSpec* const> extra) {
  HParams hp;
  LATHE_ASSIGN_OR_RETURN(std::string_view arch, file.get_string("general.architecture"));
  hp.architecture = std::string(arch);
  const ArchSpec* spec = find_arch(arch, extra);
  if (spec == nullptr) {
    std::string names;
    for (auto n : supported_arch_names()) names += (names.empty() ? "" : ", ") + std::string(n);
    return unsupported("architecture '", arch, "' is not supported (lathe runs: ", names, ")");
  }
  LATHE_ASSIGN_OR_RETURN(std::string_view name, file.get_string_or("general.name", ""));
  hp.name = std::string(name);

  const std::string p = hp.architecture + ".";
  auto positive = [&](std::string_view key, int64_t value) -> Status {
    if (value <= 0 || value > (int64_t{1} << 31)) {
      return format_error("key ", key, ": value ", value, " is out of range");
    }
    return Status();
  };
  LATHE_ASSIGN_OR_RETURN(hp.n_embd, file.get_integer(p + "embedding_length"));
  LATHE_RETURN_IF_ERROR(positive(p + "embedding_length", hp.n_embd));
  LATHE_ASSIGN_OR_RETURN(hp.n_layer, file.get_integer(p + "block_count"));
  LATHE_RETURN_IF_ERROR(positive(p + "block_count", hp.n_layer));
  if (const gguf::Value* ff = file.find(p + "feed_forward_length");
      ff != nullptr && ff->type() == gguf::ValueType::kArray) {
    return unsupported("key ", p, "feed_forward_length: per-layer FFN sizes are not supported");
  }
  LATHE_ASSIGN_OR_RETURN(hp.n_ff, file.get_integer(p + "feed_forward_length"));
  LATHE_RETURN_IF_ERROR(positive(p + "feed_forward_length", hp.n_ff));
  if (const gguf::Value* heads = file.find(p + "attention.head_count");
      heads != nullptr && heads->type() == gguf::ValueType::kArray) {
    return unsupported("key ", p, "attention.head_count: per-layer head counts are not supported");
  }
  LATHE_ASSIGN_OR_RETURN(hp.n_head, file.get_integer(p + "attention.head_count"));
  LATHE_RETURN_IF_ERROR(positive(p + "attention.head_count", hp.n_head));
  LATHE_ASSIGN_OR_RETURN(hp.n_head_kv,
                         file.get_integer_or(p + "attention.head_count_kv", hp.n_head));
  LATHE_RETURN_IF_ERROR(positive(p + "attention.head_count_kv", hp.n_head_kv));
  if (hp.n_head % hp.n_head_kv != 0) {
    return format_error("attention.head_count ", hp.n_head, " is not a multiple of head_count_kv ",
                        hp.n_head_kv);
  }
  LATHE_ASSIGN_OR_RETURN(hp.n_ctx_train, file.get_integer_or(p + "context_length", 4096));
  const int64_t default_head = hp.n_embd / hp.n_head;
  LATHE_ASSIGN_OR_RETURN(hp.head_dim_k,
                         file.get_integer_or(p + "attention.key_length", default_head));
  LATHE_ASSIGN_OR_RETURN(hp.head_dim_v,
                         file.get_integer_or(p + "attention.value_length", default_head));
  LATHE_RETURN_IF_ERROR(positive(p + "attention.key_length", hp.head_dim_k));
  LATHE_RETURN_IF_ERROR(positive(p + "attention.value_length", hp.head_dim_v));
  if (hp.head_dim_k != hp.head_dim_v) {
    return unsupported("key and value heads of different sizes (", hp.head_dim_k, " and ",
                       hp.head_dim_v, ") are not supported");
  }
  LATHE_ASSIGN_OR_RETURN(hp.n_rot, file.get_integer_or(p + "rope.dimension_count", hp.head_dim_k));
  if (hp.n_rot <= 0 || hp.n_rot > hp.head_dim_k || hp.n_rot % 2 != 0) {
    return format_error("rope.dimension_count ", hp.n_rot, " does not fit a head of ",
                        hp.head_dim_k);
  }
  LATHE_ASSIGN_OR_RETURN(double eps,
                         file.get_number_or(p + "attention.layer_norm_rms_epsilon", 1e-5));
  hp.rms_eps = static_cast<float>(eps);
  LATHE_ASSIGN_OR_RETURN(double base, file.get_number_or(p + "rope.freq_base", 10000.0));
  if (!(base > 0)) return format_error("rope.freq_base ", base, " is not positive");
  hp.rope_freq_base = static_cast<float>(base);
  LATHE_ASSIGN_OR_RETURN(double scale, file.get_number_or(p + "attention.scale", 0.0));
  hp.attention_scale = static_cast<float>(scale);

  // Rope scaling: newer files write rope.scaling.type, older ones only rope.scale_linear.
  LATHE_ASSIGN_OR_RETURN(std::string_view scaling,
                         file.get_string_or(p + "rope.scaling.type", "none"));
  LATHE_ASSIGN_OR_RETURN(double factor, file.get_number_or(p + "rope.scaling.factor", 0.0));
  if (!file.has(p + "rope.scaling.type") && file.has(p + "rope.scale_linear")) {
    LATHE_ASSIGN_OR_RETURN(factor, file.get_number(p + "rope.scale_linear"));
    scaling = "linear";
  }
  LATHE_ASSIGN_OR_RETURN(
      hp.rope_orig_ctx,
      file.get_integer_or(p + "rope.scaling.original_context_length", hp.n_ctx_train));
  if (scaling == "none" || factor == 1.0 || (scaling == "linear" && factor == 0.0)) {
    hp.rope_scaling = RopeScaling::kNone;
  } else if (scaling == "linear") {
    hp.rope_scaling = RopeScaling::kLinear;
  } else if (scaling == "yarn") {
    hp.rope_scaling = RopeScaling::kYarn;
    LATHE_ASSIGN_OR_RETURN(double beta_fast,
                           file.get_number_or(p + "rope.scaling.yarn_beta_fast", 32.0));
    LATHE_ASSIGN_OR_RETURN(double beta_slow,
                           file.get_number_or(p + "rope.scaling.yarn_beta_slow", 1.0));
    LATHE_ASSIGN_OR_RETURN(double log_mul,
                           file.get_number_or(p + "rope.scaling.yarn_log_multiplier", 0.0));
    hp.yarn_beta_fast = static_cast<float>(beta_fast);
    hp.yarn_beta_slow = static_cast<float>(beta_slow);
    hp.yarn_log_mul = static_cast<float>(log_mul);
  } else if (scaling == "llama3") {
    hp.rope_scaling = RopeScaling::kLlama3;
    LATHE_ASSIGN_OR_RETURN(double low, file.get_number_or(p + "rope.scaling.low_freq_factor", 1.0));
    LATHE_ASSIGN_OR_RETURN(double high,
                           file.get_number_or(p + "rope.scaling.high_freq_factor", 4.0));
    hp.rope_low_freq_factor = static_cast<float>(low);
    hp.rope_high_freq_factor = static_cast<float>(high);
  } else {
    return unsupported("rope scaling type '", scaling,
                       "' is not supported (none, linear, yarn, llama3)");
  }
  if (hp.rope_scaling != RopeScaling::kNone && !(factor > 0)) {
    return format_error("rope.scaling.factor ", factor, " must be positive");
  }
  hp.rope_scaling_factor =
      hp.rope_scaling == RopeScaling::kNone ? 1.0f : static_cast<float>(factor);

  return hp;
}

ops::RopeParams default_rope(const HParams& hp, const float* freq_factors) {
  ops::RopeParams rope;
  rope.head_dim = hp.head_dim_k;
  rope.n_rot = hp.n_rot;
  rope.mode = hp.rope_mode;
  rope.freq_base = hp.rope_freq_base;
  rope.freq_scale = hp.rope_scaling == RopeScaling::kLinear || hp.rope_scaling == RopeScaling::kYarn
                        ? 1.0f / hp.rope_scaling_factor
                        : 1.0f;
  rope.freq_factors = freq_factors;
  rope.n_ctx_orig = hp.rope_orig_ctx;
  if (hp.rope_scaling == RopeScaling::kYarn) {
    rope.ext_factor = 1.0f;
    rope.beta_fast = hp.yarn_beta_fast;
    rope.beta_slow = hp.yarn_beta_slow;
    // The rope kernel scales magnitudes by 1 + 0.1 ln(factor). Files with a log multiplier
    // (mscale_all_dims) ask for that to be divided by 1 + 0.1 mscale_all_dims ln(factor).
    if (hp.yarn_log_mul != 0.0f && hp.rope_scaling_factor > 1.0f) {
      rope.attn_factor = 1.0f / (1.0f + 0.1f * hp.yarn_log_mul * std::log(hp.rope_scaling_factor));
    }
  }
  return rope;
}

Expected<ModelSpec> describe_model(const gguf::File& file, HParams& hp, const float* freq_factors,
                                   std::span<const ArchSpec* const> extra) {
  const ArchSpec* arch = find_arch(hp.architecture, extra);
  if (arch == nullptr) return unsupported("architecture '", hp.architecture, "' is not supported");
  ModelSpec spec;
  spec.attention_scale = hp.attention_scale != 0.0f
                             ? hp.attention_scale
                             : 1.0f / std::sqrt(static_cast<float>(hp.head_dim_k));
  spec.tied_output = hp.tied_output;
  LayerSpec layer;
  layer.rope = default_rope(hp, freq_factors);
  spec.layers.assign(static_cast<size_t>(hp.n_layer), layer);
  LATHE_RETURN_IF_ERROR(arch->describe(file, hp, spec));
  if (spec.layers.size() != static_cast<size_t>(hp.n_layer)) {
    return internal_error("architecture ", arch->name, " described ", spec.layers.size(),
                          " layers of ", hp.n_layer);
  }
  for (const LayerSpec& l : spec.layers) {
    if (l.window < 0) return format_error("a sliding window of ", l.window, " positions");
    if (l.qkv == QkvLayout::kFused && l.qkv_bias) {
      return unsupported("fused q/k/v projections with biases are not supported");
    }
  }
  return spec;
}

}  // namespace lathe::model
