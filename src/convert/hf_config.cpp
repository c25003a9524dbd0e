#include "convert/hf_config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <optional>
#include <sstream>

namespace lathe::convert {

namespace {

using json = nlohmann::json;

struct ArchEntry {
  std::string_view hf;
  std::string_view gguf;
  int64_t default_max_position;  // the transformers config class's default
};

constexpr ArchEntry kArchitectures[] = {
    {"LlamaForCausalLM", "llama", 2048},        {"LLaMAForCausalLM", "llama", 2048},
    {"MistralForCausalLM", "llama", 4096 * 32}, {"Qwen2ForCausalLM", "qwen2", 32768},
    {"Qwen3ForCausalLM", "qwen3", 32768},
};

// Typed reads of config.json fields: absent gives the fallback, a present value of the wrong type
// is an error naming the key (the file says something lathe would otherwise misread).
class Fields {
 public:
  explicit Fields(const json& j) : j_(j) {}

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  Expected<int64_t> integer(const char* key, std::optional<int64_t> fallback) const {
    if (!has(key)) {
      if (fallback) return *fallback;
      return format_error("config.json: ", key, " is missing");
    }
    const json& v = j_[key];
    if (v.is_number_integer()) return v.get<int64_t>();
    // Some exporters write integral values as floats (4096.0).
    if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
        std::abs(v.get<double>()) < 9e15) {
      return static_cast<int64_t>(v.get<double>());
    }
    return format_error("config.json: ", key, " is ", v.dump(), ", not an integer");
  }
  Expected<int64_t> positive(const char* key, std::optional<int64_t> fallback) const {
    LATHE_ASSIGN_OR_RETURN(int64_t v, integer(key, fallback));
    if (v <= 0 || v > (int64_t{1} << 31)) {
      return format_error("config.json: ", key, " is ", v, ", out of range");
    }
    return v;
  }
  Expected<double> number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_[key];
    if (!v.is_number())
      return format_error("config.json: ", key, " is ", v.dump(), ", not a number");
    return v.get<double>();
  }
  Expected<bool> boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_[key];
    if (!v.is_boolean())
      return format_error("config.json: ", key, " is ", v.dump(), ", not a bool");
    return v.get<bool>();
  }

 private:
  const json& j_;
};

// rope_parameters (transformers 5) or rope_scaling (earlier): the scaling type and its numbers.
Status read_rope(const json& config, HfConfig& c, const Logger& logger) {
  const json* params = nullptr;
  if (config.contains("rope_parameters") && config["rope_parameters"].is_object()) {
    params = &config["rope_parameters"];
  } else if (config.contains("rope_scaling") && config["rope_scaling"].is_object()) {
    params = &config["rope_scaling"];
  } else if (config.contains("rope_scaling") && !config["rope_scaling"].is_null()) {
    return format_error("config.json: rope_scaling is ", config["rope_scaling"].dump(),
                        ", not an object");
  }
  Fields top(config);
  LATHE_ASSIGN_OR_RETURN(c.rope_theta, top.number("rope_theta", 10000.0));
  if (params == nullptr) return Status();
  Fields p(*params);
  LATHE_ASSIGN_OR_RETURN(c.rope_theta, p.number("rope_theta", c.rope_theta));
  std::string type;
  for (const char* key : {"rope_type", "type"}) {
    if (p.has(key) && (*params)[key].is_string()) {
      type = (*params)[key].get<std::string>();
      break;
    }
  }
  LATHE_ASSIGN_OR_RETURN(c.rope_factor, p.number("factor", 1.0));
  LATHE_ASSIGN_OR_RETURN(int64_t orig, p.integer("original_max_position_embeddings", int64_t{0}));
  c.rope_original_max_position = orig;
  if (type.empty() || type == "default") return Status();
  if (type == "linear") {
    c.rope_scaling = HfRopeScaling::kLinear;
  } else if (type == "yarn") {
    c.rope_scaling = HfRopeScaling::kYarn;
    const std::pair<const char*, std::pair<double*, bool*>> yarn[] = {
        {"beta_fast", {&c.yarn_beta_fast, &c.has_yarn_beta_fast}},
        {"beta_slow", {&c.yarn_beta_slow, &c.has_yarn_beta_slow}},
        {"attention_factor", {&c.yarn_attn_factor, &c.has_yarn_attn_factor}},
        {"extrapolation_factor", {&c.yarn_ext_factor, &c.has_yarn_ext_factor}},
    };
    for (const auto& [key, out] : yarn) {
      if (p.has(key)) {
        LATHE_ASSIGN_OR_RETURN(*out.first, p.number(key, 0.0));
        *out.second = true;
      }
    }
    if (orig <= 0)
      return format_error("config.json: yarn rope scaling needs original_max_position_embeddings");
  } else if (type == "llama3") {
    c.rope_scaling = HfRopeScaling::kLlama3;
    LATHE_ASSIGN_OR_RETURN(c.rope_factor, p.number("factor", 8.0));
    LATHE_ASSIGN_OR_RETURN(c.rope_low_freq_factor, p.number("low_freq_factor", 1.0));
    LATHE_ASSIGN_OR_RETURN(c.rope_high_freq_factor, p.number("high_freq_factor", 4.0));
    if (orig <= 0) c.rope_original_max_position = 8192;
  } else if (type == "dynamic") {
    // llama.cpp's converter ignores it as well: it only changes positions past the training
    // context, which the model then runs unscaled.
    logger.warn("config.json: dynamic rope scaling is not represented in GGUF; ignored");
    return Status();
  } else {
    return unsupported("config.json: rope scaling type '", type,
                       "' is not supported (linear, yarn, llama3)");
  }
  if (!(c.rope_factor > 0)) {
    return format_error("config.json: rope scaling factor ", c.rope_factor, " is not positive");
  }
  return Status();
}

Expected<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open ", path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::vector<std::string_view> supported_hf_architectures() {
  std::vector<std::string_view> out;
  for (const auto& a : kArchitectures) out.push_back(a.hf);
  return out;
}

Expected<HfConfig> parse_hf_config(std::string_view text, const Logger& logger) {
  const json config = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return format_error("config.json is not a JSON object");
  }
  HfConfig c;
  if (!config.contains("architectures") || !config["architectures"].is_array() ||
      config["architectures"].empty() || !config["architectures"][0].is_string()) {
    return format_error("config.json: no architectures list");
  }
  c.hf_architecture = config["architectures"][0].get<std::string>();
  const ArchEntry* entry = nullptr;
  for (const auto& a : kArchitectures) {
    if (a.hf == c.hf_architecture) entry = &a;
  }
  if (entry == nullptr) {
    std::string names;
    for (auto n : supported_hf_architectures())
      names += (names.empty() ? "" : ", ") + std::string(n);
    return unsupported("config.json: architecture ", c.hf_architecture,
                       " is not supported (lathe converts ", names, ")");
  }
  c.arch = std::string(entry->gguf);

  Fields f(config);
  LATHE_ASSIGN_OR_RETURN(c.hidden_size, f.positive("hidden_size", std::nullopt));
  LATHE_ASSIGN_OR_RETURN(c.intermediate_size, f.positive("intermediate_size", std::nullopt));
  LATHE_ASSIGN_OR_RETURN(c.n_layers, f.positive("num_hidden_layers", std::nullopt));
  LATHE_ASSIGN_OR_RETURN(c.n_heads, f.positive("num_attention_heads", std::nullopt));
  LATHE_ASSIGN_OR_RETURN(c.n_kv_heads, f.positive("num_key_value_heads", c.n_heads));
  LATHE_ASSIGN_OR_RETURN(c.vocab_size, f.positive("vocab_size", std::nullopt));
  LATHE_ASSIGN_OR_RETURN(c.max_position_embeddings,
                         f.positive("max_position_embeddings", entry->default_max_position));
  c.head_dim_explicit = f.has("head_dim");
  // Qwen3Config's default head_dim is 128 whatever the hidden size; the others derive it.
  const std::optional<int64_t> head_default =
      c.arch == "qwen3" ? std::optional<int64_t>(128)
                        : std::optional<int64_t>(c.hidden_size / c.n_heads);
  LATHE_ASSIGN_OR_RETURN(c.head_dim, f.positive("head_dim", head_default));
  if (c.arch == "qwen3") c.head_dim_explicit = true;
  LATHE_ASSIGN_OR_RETURN(c.rms_norm_eps, f.number("rms_norm_eps", 1e-6));
  if (!(c.rms_norm_eps > 0) || c.rms_norm_eps > 1) {
    return format_error("config.json: rms_norm_eps ", c.rms_norm_eps, " is out of range");
  }
  LATHE_ASSIGN_OR_RETURN(c.tie_word_embeddings, f.boolean("tie_word_embeddings", false));
  LATHE_ASSIGN_OR_RETURN(c.attention_bias, f.boolean("attention_bias", false));
  if (c.arch == "qwen2") c.attention_bias = true;  // Qwen2 always has q/k/v biases
  c.qk_norm = c.arch == "qwen3";
  LATHE_ASSIGN_OR_RETURN(bool mlp_bias, f.boolean("mlp_bias", false));
  if (mlp_bias) return unsupported("config.json: mlp_bias (FFN biases) is not supported");
  if (f.has("hidden_act") && config["hidden_act"] != "silu") {
    return unsupported("config.json: hidden_act ", config["hidden_act"].dump(),
                       " is not supported (silu)");
  }
  LATHE_RETURN_IF_ERROR(read_rope(config, c, logger));

  if (c.n_heads % c.n_kv_heads != 0) {
    return format_error("config.json: num_attention_heads ", c.n_heads,
                        " is not a multiple of num_key_value_heads ", c.n_kv_heads);
  }
  if (!c.head_dim_explicit && c.hidden_size % c.n_heads != 0) {
    return format_error("config.json: hidden_size ", c.hidden_size,
                        " is not a multiple of num_attention_heads ", c.n_heads);
  }
  if (c.head_size() % 2 != 0) {
    return format_error("config.json: head size ", c.head_size(), " is odd (rope rotates pairs)");
  }
  LATHE_ASSIGN_OR_RETURN(bool sliding, f.boolean("use_sliding_window", false));
  if (sliding || (c.hf_architecture == "MistralForCausalLM" && f.has("sliding_window"))) {
    logger.warn(
        "config.json: the sliding attention window is not represented in GGUF (llama.cpp "
        "ignores it too); attention spans the whole context");
  }
  return c;
}

Expected<HfConfig> read_hf_config(const std::string& path, const Logger& logger) {
  LATHE_ASSIGN_OR_RETURN(std::string text, read_text(path));
  auto config = parse_hf_config(text, logger);
  if (!config) return config.error().with_context(path);
  return config;
}

std::vector<float> llama3_rope_freqs(const HfConfig& c) {
  // The torch code computes in float32: freqs from a float32 arange, then wavelengths and the
  // smoothing per element; each step is rounded to float here the same way.
  const int64_t dim = c.head_size();
  const float factor = static_cast<float>(c.rope_factor);
  const float low = static_cast<float>(c.rope_low_freq_factor);
  const float high = static_cast<float>(c.rope_high_freq_factor);
  const double old_ctx = static_cast<double>(c.rope_original_max_position);
  const double low_wavelen = old_ctx / c.rope_low_freq_factor;
  const double high_wavelen = old_ctx / c.rope_high_freq_factor;
  std::vector<float> out;
  for (int64_t i = 0; i < dim; i += 2) {
    const float exponent = static_cast<float>(i) / static_cast<float>(dim);
    const float freq = 1.0f / std::pow(static_cast<float>(c.rope_theta), exponent);
    // torch evaluates scalar / tensor as reciprocal(tensor) * scalar.
    const float wavelen = (1.0f / freq) * static_cast<float>(2.0 * std::numbers::pi);
    if (wavelen < high_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      out.push_back(factor);
    } else {
      const float smooth = ((1.0f / wavelen) * static_cast<float>(old_ctx) - low) / (high - low);
      out.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
    }
  }
  return out;
}

}  // namespace lathe::convert
