#include "model/synth_presets.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numbers>

#include "gguf/tensor_names.h"
#include "quant/quant.h"

namespace lathe::model::synth {

namespace {

// Numbers from each model's config.json on Hugging Face (hidden_size, num_hidden_layers,
// num_attention_heads, num_key_value_heads, head_dim, intermediate_size, vocab_size,
// max_position_embeddings, tie_word_embeddings, rope_theta, rms_norm_eps, rope_scaling).
ModelShape llama3(std::string preset, std::string name, int64_t embd, int64_t layers, int64_t heads,
                  int64_t head_dim, int64_t ff, bool tied, double rope_factor) {
  ModelShape s;
  s.preset = std::move(preset);
  s.architecture = "llama";
  s.display_name = std::move(name);
  s.n_embd = embd;
  s.n_layer = layers;
  s.n_head = heads;
  s.n_head_kv = 8;
  s.head_dim = head_dim;
  s.n_ff = ff;
  s.n_vocab = 128256;
  s.n_ctx_train = 131072;
  s.tied_output = tied;
  s.head_dim_keys = true;
  s.rope_freq_base = 500000.0;
  s.rms_eps = 1e-5;
  s.llama3_rope = true;
  s.rope_factor = rope_factor;
  s.rope_low_freq_factor = 1.0;
  s.rope_high_freq_factor = 4.0;
  s.rope_orig_ctx = 8192;
  s.vocab = VocabStyle::kBpeLlama3;
  return s;
}

ModelShape qwen(std::string preset, std::string arch, std::string name, int64_t embd,
                int64_t layers, int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t ff,
                int64_t vocab, int64_t ctx, bool tied) {
  ModelShape s;
  s.preset = std::move(preset);
  s.architecture = std::move(arch);
  s.display_name = std::move(name);
  s.n_embd = embd;
  s.n_layer = layers;
  s.n_head = heads;
  s.n_head_kv = kv_heads;
  s.head_dim = head_dim;
  s.n_ff = ff;
  s.n_vocab = vocab;
  s.n_ctx_train = ctx;
  s.tied_output = tied;
  // Qwen3's config.json names head_dim (128, not n_embd / n_head), Qwen2.5's does not.
  s.head_dim_keys = s.architecture == "qwen3";
  s.rope_freq_base = 1000000.0;
  s.rms_eps = 1e-6;
  s.vocab = VocabStyle::kBpeQwen2;
  return s;
}

std::vector<ModelShape> make_presets() {
  std::vector<ModelShape> p;
  p.push_back(llama3("llama-3.2-1b", "Llama 3.2 1B", 2048, 16, 32, 64, 8192, true, 32.0));
  p.push_back(llama3("llama-3.2-3b", "Llama 3.2 3B", 3072, 28, 24, 128, 8192, true, 32.0));
  p.push_back(llama3("llama-3.1-8b", "Llama 3.1 8B", 4096, 32, 32, 128, 14336, false, 8.0));
  p.push_back(llama3("llama-3.1-70b", "Llama 3.1 70B", 8192, 80, 64, 128, 28672, false, 8.0));
  // The perf issue's model: Llama 3.2 1B's body with an untied 128k output matrix, so a token
  // reads both the 2048 x 128256 output and the body (about 0.9 GB in Q4_0).
  p.push_back(llama3("llama-1.5b-bench", "Llama-3-style 1.5B (bench)", 2048, 16, 32, 64, 8192,
                     false, 32.0));
  p.push_back(
      qwen("qwen2.5-0.5b", "qwen2", "Qwen2.5 0.5B", 896, 24, 14, 2, 64, 4864, 151936, 32768, true));
  p.push_back(qwen("qwen2.5-1.5b", "qwen2", "Qwen2.5 1.5B", 1536, 28, 12, 2, 128, 8960, 151936,
                   32768, true));
  p.push_back(
      qwen("qwen2.5-7b", "qwen2", "Qwen2.5 7B", 3584, 28, 28, 4, 128, 18944, 152064, 32768, false));
  p.push_back(
      qwen("qwen3-0.6b", "qwen3", "Qwen3 0.6B", 1024, 28, 16, 8, 128, 3072, 151936, 40960, true));
  p.push_back(
      qwen("qwen3-8b", "qwen3", "Qwen3 8B", 4096, 36, 32, 8, 128, 12288, 151936, 40960, false));
  ModelShape smol;
  smol.preset = "smollm2-135m";
  smol.architecture = "llama";
  smol.display_name = "SmolLM2 135M";
  smol.n_embd = 576;
  smol.n_layer = 30;
  smol.n_head = 9;
  smol.n_head_kv = 3;
  smol.head_dim = 64;
  smol.n_ff = 1536;
  smol.n_vocab = 49152;
  smol.n_ctx_train = 8192;
  smol.tied_output = true;
  smol.rope_freq_base = 100000.0;
  smol.rms_eps = 1e-5;
  smol.vocab = VocabStyle::kBpeSmollm;
  p.push_back(smol);
  return p;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

double bits_per_weight(TensorType type) {
  const TensorTypeInfo& info = tensor_type_info(type);
  return 8.0 * info.block_bytes / info.block_elems;
}

bool fits_row(TensorType type, int64_t n_cols) {
  return n_cols % tensor_type_info(type).block_elems == 0;
}

}  // namespace

Expected<VocabStyle> parse_vocab_style(std::string_view name) {
  const std::string n = lower(name);
  if (n == "llama3" || n == "llama-bpe") return VocabStyle::kBpeLlama3;
  if (n == "qwen2" || n == "chatml") return VocabStyle::kBpeQwen2;
  if (n == "smollm") return VocabStyle::kBpeSmollm;
  if (n == "spm" || n == "llama") return VocabStyle::kSpm;
  return invalid_argument("unknown vocabulary style '", name, "' (llama3, qwen2, smollm, spm)");
}

std::string_view vocab_style_name(VocabStyle style) {
  switch (style) {
    case VocabStyle::kBpeLlama3:
      return "llama3";
    case VocabStyle::kBpeQwen2:
      return "qwen2";
    case VocabStyle::kBpeSmollm:
      return "smollm";
    case VocabStyle::kSpm:
      return "spm";
  }
  return "?";
}

std::span<const ModelShape> presets() {
  static const std::vector<ModelShape> kPresets = make_presets();  // immutable after init
  return kPresets;
}

const ModelShape* find_preset(std::string_view name) {
  const std::string n = lower(name);
  for (const ModelShape& p : presets()) {
    if (p.preset == n) return &p;
  }
  return nullptr;
}

bool is_synth_architecture(std::string_view arch) {
  return arch == "llama" || arch == "qwen2" || arch == "qwen3";
}

Status validate(const ModelShape& s) {
  if (!is_synth_architecture(s.architecture)) {
    return invalid_argument("architecture '", s.architecture,
                            "' is not one synth writes (llama, qwen2, qwen3)");
  }
  struct Positive {
    const char* what;
    int64_t value;
  };
  for (const Positive& p :
       {Positive{"--dim", s.n_embd}, Positive{"--layers", s.n_layer}, Positive{"--heads", s.n_head},
        Positive{"--kv-heads", s.n_head_kv}, Positive{"--ffn", s.n_ff},
        Positive{"--vocab", s.n_vocab}, Positive{"context length", s.n_ctx_train}}) {
    if (p.value <= 0) return invalid_argument(p.what, " must be positive, got ", p.value);
    if (p.value > (int64_t{1} << 31))
      return invalid_argument(p.what, " ", p.value, " is too large");
  }
  if (s.head_dim < 0) return invalid_argument("--head-dim must be positive, got ", s.head_dim);
  if (s.head_dim == 0 && s.n_embd % s.n_head != 0) {
    return invalid_argument("--dim ", s.n_embd, " is not a multiple of --heads ", s.n_head,
                            " (give --head-dim)");
  }
  if (s.n_head % s.n_head_kv != 0) {
    return invalid_argument("--heads ", s.n_head, " is not a multiple of --kv-heads ", s.n_head_kv);
  }
  if (s.head_size() % 2 != 0) {
    return invalid_argument("the head size ", s.head_size(), " must be even (rope rotates pairs)");
  }
  // Every weight type lathe writes has blocks of at least 32 values; a row of another length can
  // only be F32/F16/BF16, which the type chooser falls back to, so no check is needed for it.
  if (!(s.rope_freq_base > 0)) return invalid_argument("rope base must be positive");
  if (!(s.rms_eps > 0)) return invalid_argument("rms epsilon must be positive");
  return Status();
}

TensorRole role_from_name(std::string_view name) {
  using G = gguf::TensorRole;
  const std::optional<gguf::TensorName> parsed = gguf::parse_tensor_name(name);
  if (!parsed) return TensorRole::kOther;
  if (parsed->suffix == "bias") return TensorRole::kBias;
  if (parsed->suffix != "weight") return TensorRole::kOther;
  switch (parsed->role) {
    case G::kTokenEmbd:
      return TensorRole::kTokenEmbd;
    case G::kOutput:
      return TensorRole::kOutput;
    case G::kOutputNorm:
      return TensorRole::kOutputNorm;
    case G::kRopeFreqs:
      return TensorRole::kRopeFreqs;
    case G::kAttnNorm:
      return TensorRole::kAttnNorm;
    case G::kFfnNorm:
      return TensorRole::kFfnNorm;
    case G::kAttnQNorm:
    case G::kAttnKNorm:
      return TensorRole::kQkNorm;
    case G::kAttnQ:
      return TensorRole::kAttnQ;
    case G::kAttnK:
      return TensorRole::kAttnK;
    case G::kAttnV:
      return TensorRole::kAttnV;
    case G::kAttnOutput:
      return TensorRole::kAttnOutput;
    case G::kFfnGate:
      return TensorRole::kFfnGate;
    case G::kFfnUp:
      return TensorRole::kFfnUp;
    case G::kFfnDown:
      return TensorRole::kFfnDown;
    case G::kAttnQkv:
    case G::kAttnPostNorm:
    case G::kFfnPostNorm:
      return TensorRole::kOther;
  }
  return TensorRole::kOther;
}

std::vector<TensorSpec> plan_tensors(const ModelShape& s) {
  std::vector<TensorSpec> out;
  const int64_t n_q = s.n_embd_q();
  const int64_t n_kv = s.n_embd_kv();
  auto add = [&](std::string name, std::vector<int64_t> shape, int64_t layer) {
    TensorSpec t;
    t.role = role_from_name(name);
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.layer = layer;
    // llama-quantize: 2-D tensors named *weight that are not norms.
    t.quantizable = t.shape.size() >= 2 && t.role != TensorRole::kAttnNorm &&
                    t.role != TensorRole::kFfnNorm && t.role != TensorRole::kOutputNorm &&
                    t.role != TensorRole::kQkNorm;
    out.push_back(std::move(t));
  };
  using G = gguf::TensorRole;
  const auto name = [](G role, int64_t layer = -1, std::string_view suffix = "weight") {
    return gguf::tensor_name(role, layer, suffix);
  };
  add(name(G::kTokenEmbd), {s.n_embd, s.n_vocab}, -1);
  if (s.llama3_rope) add(name(G::kRopeFreqs), {s.head_size() / 2}, -1);
  for (int64_t il = 0; il < s.n_layer; ++il) {
    add(name(G::kAttnNorm, il), {s.n_embd}, il);
    add(name(G::kAttnQ, il), {s.n_embd, n_q}, il);
    add(name(G::kAttnK, il), {s.n_embd, n_kv}, il);
    add(name(G::kAttnV, il), {s.n_embd, n_kv}, il);
    if (s.architecture == "qwen2") {
      add(name(G::kAttnQ, il, "bias"), {n_q}, il);
      add(name(G::kAttnK, il, "bias"), {n_kv}, il);
      add(name(G::kAttnV, il, "bias"), {n_kv}, il);
    }
    if (s.architecture == "qwen3") {
      add(name(G::kAttnQNorm, il), {s.head_size()}, il);
      add(name(G::kAttnKNorm, il), {s.head_size()}, il);
    }
    add(name(G::kAttnOutput, il), {n_q, s.n_embd}, il);
    add(name(G::kFfnNorm, il), {s.n_embd}, il);
    add(name(G::kFfnGate, il), {s.n_embd, s.n_ff}, il);
    add(name(G::kFfnUp, il), {s.n_embd, s.n_ff}, il);
    add(name(G::kFfnDown, il), {s.n_ff, s.n_embd}, il);
  }
  add(name(G::kOutputNorm), {s.n_embd}, -1);
  if (!s.tied_output) add(name(G::kOutput), {s.n_embd, s.n_vocab}, -1);
  return out;
}

std::vector<float> llama3_rope_factors(const ModelShape& s) {
  // convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors, in the same float precision
  // (the frequencies are float32 there because they come from a float32 torch.arange).
  const int64_t dim = s.head_size();
  std::vector<float> factors;
  factors.reserve(static_cast<size_t>(dim / 2));
  const double low_wavelen = static_cast<double>(s.rope_orig_ctx) / s.rope_low_freq_factor;
  const double high_wavelen = static_cast<double>(s.rope_orig_ctx) / s.rope_high_freq_factor;
  for (int64_t i = 0; i < dim; i += 2) {
    const float freq = static_cast<float>(
        1.0 / std::pow(s.rope_freq_base, static_cast<double>(static_cast<float>(i) / dim)));
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double factor = 1.0;
    if (wavelen < high_wavelen) {
      factor = 1.0;
    } else if (wavelen > low_wavelen) {
      factor = s.rope_factor;
    } else {
      const double smooth = (s.rope_orig_ctx / wavelen - s.rope_low_freq_factor) /
                            (s.rope_high_freq_factor - s.rope_low_freq_factor);
      factor = 1.0 / ((1.0 - smooth) / s.rope_factor + smooth);
    }
    factors.push_back(static_cast<float>(factor));
  }
  return factors;
}

namespace {

struct FileTypeName {
  std::string_view name;
  FileType type;
  TensorType base;
};

constexpr FileTypeName kFileTypes[] = {
    {"F32", FileType::kAllF32, TensorType::kF32},
    {"F16", FileType::kF16, TensorType::kF16},
    {"BF16", FileType::kBF16, TensorType::kBF16},
    {"Q8_0", FileType::kQ8_0, TensorType::kQ8_0},
    {"Q4_0", FileType::kQ4_0, TensorType::kQ4_0},
    {"Q4_1", FileType::kQ4_1, TensorType::kQ4_1},
    {"Q4_K_M", FileType::kQ4_K_M, TensorType::kQ4_K},
    {"Q4_K_S", FileType::kQ4_K_S, TensorType::kQ4_K},
    {"Q6_K", FileType::kQ6_K, TensorType::kQ6_K},
    {"IQ4_XS", FileType::kIQ4_XS, TensorType::kIQ4_XS},
    {"IQ4_NL", FileType::kIQ4_NL, TensorType::kIQ4_NL},
};

}  // namespace

Expected<FileType> parse_file_type(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "Q4_K") return FileType::kQ4_K_M;  // llama-quantize's alias
  for (const FileTypeName& f : kFileTypes) {
    if (f.name == upper) return f.type;
  }
  return invalid_argument("unknown type '", name, "' (", file_type_names(), ")");
}

std::string_view file_type_name(FileType type) {
  for (const FileTypeName& f : kFileTypes) {
    if (f.type == type) return f.name;
  }
  return "?";
}

TensorType base_tensor_type(FileType type) {
  for (const FileTypeName& f : kFileTypes) {
    if (f.type == type) return f.base;
  }
  return TensorType::kF32;
}

std::string file_type_names() {
  std::string out;
  for (const FileTypeName& f : kFileTypes) {
    if (!out.empty()) out += ", ";
    out += f.name;
    if (f.type == FileType::kQ4_K_M) out += " (or Q4_K)";
  }
  return out;
}

bool is_writable_type(TensorType type) {
  switch (type) {
    case TensorType::kF32:
    case TensorType::kF16:
    case TensorType::kBF16:
    case TensorType::kQ8_0:
    case TensorType::kQ4_0:
    case TensorType::kQ4_1:
    case TensorType::kIQ4_NL:
    case TensorType::kIQ4_XS:
    case TensorType::kQ4_K:
    case TensorType::kQ6_K: {
      const quant::TypeTraits* traits = quant::type_traits(type);
      return traits != nullptr && traits->quantize_row != nullptr;
    }
    default:
      return false;
  }
}

TypeChooser::TypeChooser(FileType file_type, ModelInfo info, Options options)
    : file_type_(file_type), info_(std::move(info)), options_(std::move(options)) {}

TensorType TypeChooser::mix_choice(const TensorSpec& t, TensorType type) {
  // llama_tensor_get_type_impl, restricted to the file types lathe writes and to models without
  // experts. A tensor's type after this may still be unwritable (Q5_K); substitute() handles it.
  const auto use_more_bits = [](int64_t i_layer, int64_t n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 ||
           (i_layer - n_layers / 8) % 3 == 2;
  };
  const int64_t n_gqa = info_.n_head_kv > 0 ? info_.n_head / info_.n_head_kv : 1;
  const FileType ft = file_type_;
  if (t.role == TensorRole::kOutput || (info_.tied_output && t.role == TensorRole::kTokenEmbd)) {
    const int64_t nx = t.shape[0];
    if (nx % tensor_type_info(type).block_elems != 0) return TensorType::kQ8_0;
    if (type != TensorType::kQ8_0) return TensorType::kQ6_K;
    return type;
  }
  if (t.role == TensorRole::kTokenEmbd) return type;
  if (t.role == TensorRole::kAttnV) {
    TensorType out = type;
    const int64_t i = i_attn_v_++;
    if ((ft == FileType::kIQ4_NL || ft == FileType::kIQ4_XS) && n_gqa >= 4) {
      out = TensorType::kQ5_K;
    } else if (ft == FileType::kQ4_K_M && use_more_bits(i, info_.n_attn_v)) {
      out = TensorType::kQ6_K;
    } else if (ft == FileType::kQ4_K_S && i < 4) {
      out = TensorType::kQ5_K;
    }
    // llama.cpp gives the 70B's attn_v more bits (it is 8x smaller than attn_q there).
    const bool is_70b = info_.architecture == "llama" && info_.n_layer == 80;
    if (is_70b && (out == TensorType::kQ3_K || out == TensorType::kQ4_K)) out = TensorType::kQ5_K;
    return out;
  }
  if (t.role == TensorRole::kFfnDown) {
    const int64_t i_layer = i_ffn_down_++;
    const int64_t n_layer = info_.n_ffn_down;
    if (ft == FileType::kQ4_K_M) {
      if (use_more_bits(i_layer, n_layer)) return TensorType::kQ6_K;
    } else if (i_layer < n_layer / 8 && (ft == FileType::kIQ4_NL || ft == FileType::kIQ4_XS)) {
      return TensorType::kQ5_K;
    } else if (ft == FileType::kQ4_K_S && i_layer < n_layer / 8) {
      return TensorType::kQ5_K;
    }
    return type;
  }
  return type;
}

TensorType TypeChooser::substitute(const TensorSpec& t, TensorType wanted, std::string_view why) {
  const int64_t n_cols = t.shape[0];
  // The smallest writable type with at least the bits per weight of the wanted one that fits the
  // row; F16 when none does (what llama.cpp does for unusual shapes too).
  static constexpr TensorType kCandidates[] = {
      TensorType::kIQ4_XS, TensorType::kQ4_0, TensorType::kIQ4_NL, TensorType::kQ4_K,
      TensorType::kQ4_1,   TensorType::kQ6_K, TensorType::kQ8_0,   TensorType::kF16};
  const double need = bits_per_weight(wanted);
  TensorType chosen = TensorType::kF16;
  for (TensorType c : kCandidates) {
    if (bits_per_weight(c) + 1e-9 >= need && fits_row(c, n_cols) && is_writable_type(c)) {
      chosen = c;
      break;
    }
  }
  notes_.push_back(cat(t.name, ": ", tensor_type_name(wanted), " -> ", tensor_type_name(chosen),
                       " (", why, ")"));
  return chosen;
}

TensorType TypeChooser::choose(const TensorSpec& t, TensorType current) {
  if (!t.quantizable) return current;
  const TensorType base = base_tensor_type(file_type_);
  if (t.role == TensorRole::kTokenEmbd && options_.token_embd_type)
    return *options_.token_embd_type;
  if (t.role == TensorRole::kOutput && options_.output_type) return *options_.output_type;
  TensorType type = base;
  const bool quantized =
      base != TensorType::kF32 && base != TensorType::kF16 && base != TensorType::kBF16;
  if (!quantized) return type;
  if (!options_.pure) type = mix_choice(t, type);

  // tensor_type_fallback: a row that is not a whole number of blocks.
  const int64_t n_cols = t.shape[0];
  if (!fits_row(type, n_cols)) {
    TensorType fallback = type;
    switch (type) {
      case TensorType::kIQ4_XS:
        fallback = TensorType::kIQ4_NL;
        break;
      case TensorType::kQ4_K:
        fallback = TensorType::kQ5_0;
        break;
      case TensorType::kQ5_K:
        fallback = TensorType::kQ5_1;
        break;
      case TensorType::kQ6_K:
        fallback = TensorType::kQ8_0;
        break;
      default:
        break;
    }
    if (!fits_row(fallback, n_cols)) fallback = TensorType::kF16;
    const std::string why =
        cat(n_cols, " is not a multiple of ", tensor_type_info(type).block_elems);
    if (is_writable_type(fallback)) {
      notes_.push_back(cat(t.name, ": ", tensor_type_name(type), " -> ", tensor_type_name(fallback),
                           " (", why, ")"));
      return fallback;
    }
    return substitute(t, fallback, cat(why, "; lathe cannot write ", tensor_type_name(fallback)));
  }
  if (!is_writable_type(type)) {
    return substitute(t, type, cat("llama.cpp's mix; lathe cannot write ", tensor_type_name(type)));
  }
  return type;
}

}  // namespace lathe::model::synth
