// Hugging Face folder (config.json, *.safetensors, tokenizer.json) -> GGUF plan, with
// convert_hf_to_gguf.py's tensor names and keys.
//
// Llama's q and k rows are permuted from the Hugging Face rotate-half layout to GGUF's adjacent
// pairs (LlamaModel.permute there; rope_source_row here); Qwen2/Qwen3 keep the Hugging Face layout
// because llama.cpp runs their rope in NEOX mode. Every tensor of the checkpoint must be used: an
// unknown one means the model is not what config.json says, and converting without it would give
// a model that runs and is wrong.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>

#include "convert/convert.h"
#include "convert/convert_internal.h"
#include "convert/hf_config.h"
#include "convert/safetensors.h"
#include "gguf/tensor_names.h"
#include "tokenizer/import.h"

namespace lathe::convert {

using R = gguf::TensorRole;

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Finds the checkpoint's tensors, checking shapes and remembering which were used.
class SourceIndex {
 public:
  explicit SourceIndex(std::shared_ptr<const SafetensorsSet> set) : set_(std::move(set)) {}

  // The tensor by name, or by the alias safetensors recorded when it dropped a duplicate.
  const StTensor* find(const std::string& name) {
    const StTensor* t = set_->find(name);
    if (t == nullptr) {
      auto alias = set_->metadata().find(name);
      if (alias != set_->metadata().end()) t = set_->find(alias->second);
    }
    if (t != nullptr) used_.insert(t->name);
    return t;
  }

  Expected<const StTensor*> require(const std::string& name, const std::vector<int64_t>& shape) {
    const StTensor* t = find(name);
    if (t == nullptr)
      return format_error("tensor ", name, " is missing from the safetensors files");
    return check(t, name, shape);
  }

  Expected<const StTensor*> check(const StTensor* t, const std::string& name,
                                  const std::vector<int64_t>& shape) const {
    if (t->shape != shape) {
      return format_error("tensor ", name, " has shape ", t->shape_string(),
                          " but config.json implies ", shape_text(shape));
    }
    if (!st_dtype_is_float(t->dtype)) {
      return unsupported("tensor ", name, " is ", st_dtype_name(t->dtype),
                         " (lathe converts F32, F16, BF16 and F64 checkpoints)");
    }
    return t;
  }

  void mark_used(const std::string& name) { used_.insert(name); }

  // Checkpoint tensors nothing asked for (rotary inv_freq buffers are recomputed, not needed).
  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& name : set_->names()) {
      if (used_.count(name) != 0) continue;
      if (name.size() >= 12 && name.substr(name.size() - 12) == ".inv_freq") continue;
      out.push_back(name);
    }
    return out;
  }

  const std::shared_ptr<const SafetensorsSet>& set() const { return set_; }

 private:
  std::shared_ptr<const SafetensorsSet> set_;
  std::set<std::string> used_;
};

// A GGUF tensor read from a checkpoint tensor, its q/k rows permuted for rope when
// `permute_heads` > 0 (a 1-D bias is permuted element-wise the same way).
PlannedTensor from_source(const std::shared_ptr<const SafetensorsSet>& set, const StTensor* src,
                          std::string gguf_name, int64_t permute_heads) {
  PlannedTensor t;
  t.name = std::move(gguf_name);
  t.shape.assign(src->shape.rbegin(), src->shape.rend());  // PyTorch order -> ggml order
  t.quantizable = t.shape.size() >= 2 && !internal::is_norm(t.name) && t.name.size() > 7 &&
                  t.name.substr(t.name.size() - 7) == ".weight";
  t.source = src->name;
  if (permute_heads <= 0) {
    // `set` is captured to keep the mapped files alive as long as the reader.
    t.read = [set, src](int64_t r0, int64_t n, float* out) {
      return read_rows_f32(*src, r0, n, out);
    };
    return t;
  }
  t.source += " (rope rows permuted)";
  if (src->shape.size() == 1) {
    const int64_t head = src->shape[0] / permute_heads;
    t.read = [set, src, head](int64_t r0, int64_t n, float* out) -> Status {
      std::vector<float> raw(static_cast<size_t>(src->n_elements));
      LATHE_RETURN_IF_ERROR(read_rows_f32(*src, 0, 1, raw.data()));
      for (int64_t i = 0; i < src->n_elements; ++i) {
        out[i] = raw[static_cast<size_t>(rope_source_row(i, head))];
      }
      return Status();
    };
  } else {
    const int64_t head = src->shape[0] / permute_heads, cols = src->n_cols();
    t.read = [set, src, head, cols](int64_t r0, int64_t n, float* out) -> Status {
      for (int64_t r = 0; r < n; ++r) {
        LATHE_RETURN_IF_ERROR(
            read_rows_f32(*src, rope_source_row(r0 + r, head), 1, out + r * cols));
      }
      return Status();
    };
  }
  return t;
}

void write_hparams(const HfConfig& c, gguf::Writer& w) {
  const std::string p = c.arch + ".";
  auto u32 = [&](const char* key, int64_t v) { w.set_u32(p + key, static_cast<uint32_t>(v)); };
  u32("block_count", c.n_layers);
  u32("context_length", c.max_position_embeddings);
  u32("embedding_length", c.hidden_size);
  u32("feed_forward_length", c.intermediate_size);
  u32("attention.head_count", c.n_heads);
  u32("attention.head_count_kv", c.n_kv_heads);
  w.set_f32(p + "rope.freq_base", static_cast<float>(c.rope_theta));
  w.set_f32(p + "attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  if (c.head_dim_explicit) {
    u32("attention.key_length", c.head_size());
    u32("attention.value_length", c.head_size());
  }
  if (c.arch == "llama") {
    u32("vocab_size", c.vocab_size);
    u32("rope.dimension_count", c.head_size());
  }
  if (c.rope_scaling == HfRopeScaling::kLinear) {
    w.set_string(p + "rope.scaling.type", "linear");
    w.set_f32(p + "rope.scaling.factor", static_cast<float>(c.rope_factor));
  } else if (c.rope_scaling == HfRopeScaling::kYarn) {
    w.set_string(p + "rope.scaling.type", "yarn");
    w.set_f32(p + "rope.scaling.factor", static_cast<float>(c.rope_factor));
    u32("rope.scaling.original_context_length", c.rope_original_max_position);
    if (c.has_yarn_ext_factor) {
      w.set_f32(p + "rope.scaling.yarn_ext_factor", static_cast<float>(c.yarn_ext_factor));
    }
    if (c.has_yarn_attn_factor) {
      w.set_f32(p + "rope.scaling.yarn_attn_factor", static_cast<float>(c.yarn_attn_factor));
    }
    if (c.has_yarn_beta_fast) {
      w.set_f32(p + "rope.scaling.yarn_beta_fast", static_cast<float>(c.yarn_beta_fast));
    }
    if (c.has_yarn_beta_slow) {
      w.set_f32(p + "rope.scaling.yarn_beta_slow", static_cast<float>(c.yarn_beta_slow));
    }
  }
  // llama3 scaling is written as the rope_freqs.weight tensor, as llama.cpp's converter does.
}

}  // namespace

Expected<ConversionPlan> plan_hf(const std::string& dir, const ConvertOptions& options) {
  const Logger& log = internal::logger_of(options);
  LATHE_ASSIGN_OR_RETURN(HfConfig c, read_hf_config(dir + "/config.json", log));
  LATHE_ASSIGN_OR_RETURN(SafetensorsSet loaded, SafetensorsSet::open_dir(dir));
  auto set = std::make_shared<const SafetensorsSet>(std::move(loaded));
  SourceIndex index(set);

  const int64_t H = c.hidden_size, F = c.intermediate_size, hd = c.head_size();
  const int64_t n_q = c.n_heads * hd, n_kv = c.n_kv_heads * hd;

  ConversionPlan plan;
  plan.kind = InputKind::kHfDirectory;
  plan.arch = c.arch;
  plan.n_layer = c.n_layers;
  plan.n_head = c.n_heads;
  plan.n_head_kv = c.n_kv_heads;
  plan.n_vocab = c.vocab_size;
  auto& ts = plan.tensors;

  if (c.rope_scaling == HfRopeScaling::kLlama3) {
    auto freqs = std::make_shared<const std::vector<float>>(llama3_rope_freqs(c));
    PlannedTensor t;
    t.name = "rope_freqs.weight";
    t.shape = {static_cast<int64_t>(freqs->size())};
    t.source = "llama3 rope scaling in config.json";
    t.read = [freqs](int64_t, int64_t, float* out) {
      std::copy(freqs->begin(), freqs->end(), out);
      return Status();
    };
    ts.push_back(std::move(t));
  }

  // The embedding; a checkpoint with tied embeddings may store it only as lm_head.weight
  // (safetensors drops one of two tensors sharing memory).
  const StTensor* embd = index.find("model.embed_tokens.weight");
  const char* embd_name = "model.embed_tokens.weight";
  if (embd == nullptr && c.tie_word_embeddings) {
    embd = index.find("lm_head.weight");
    embd_name = "lm_head.weight (tied embeddings)";
  }
  if (embd == nullptr) return format_error("tensor model.embed_tokens.weight is missing");
  LATHE_ASSIGN_OR_RETURN(embd, index.check(embd, embd_name, {c.vocab_size, H}));
  ts.push_back(from_source(set, embd, gguf::tensor_name(R::kTokenEmbd), 0));

  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string hf = cat("model.layers.", l, ".");
    auto add = [&](const std::string& hf_name, R role, std::string_view suffix,
                   const std::vector<int64_t>& shape, int64_t permute_heads) -> Status {
      LATHE_ASSIGN_OR_RETURN(const StTensor* src, index.require(hf + hf_name, shape));
      ts.push_back(from_source(set, src, gguf::tensor_name(role, l, suffix), permute_heads));
      return Status();
    };
    const int64_t q_heads = c.permute_qk() ? c.n_heads : 0;
    const int64_t k_heads = c.permute_qk() ? c.n_kv_heads : 0;
    LATHE_RETURN_IF_ERROR(add("input_layernorm.weight", R::kAttnNorm, "weight", {H}, 0));
    LATHE_RETURN_IF_ERROR(add("self_attn.q_proj.weight", R::kAttnQ, "weight", {n_q, H}, q_heads));
    if (c.attention_bias) {
      LATHE_RETURN_IF_ERROR(add("self_attn.q_proj.bias", R::kAttnQ, "bias", {n_q}, q_heads));
    }
    LATHE_RETURN_IF_ERROR(add("self_attn.k_proj.weight", R::kAttnK, "weight", {n_kv, H}, k_heads));
    if (c.attention_bias) {
      LATHE_RETURN_IF_ERROR(add("self_attn.k_proj.bias", R::kAttnK, "bias", {n_kv}, k_heads));
    }
    LATHE_RETURN_IF_ERROR(add("self_attn.v_proj.weight", R::kAttnV, "weight", {n_kv, H}, 0));
    if (c.attention_bias) {
      LATHE_RETURN_IF_ERROR(add("self_attn.v_proj.bias", R::kAttnV, "bias", {n_kv}, 0));
    }
    if (c.qk_norm) {
      LATHE_RETURN_IF_ERROR(add("self_attn.q_norm.weight", R::kAttnQNorm, "weight", {hd}, 0));
      LATHE_RETURN_IF_ERROR(add("self_attn.k_norm.weight", R::kAttnKNorm, "weight", {hd}, 0));
    }
    LATHE_RETURN_IF_ERROR(add("self_attn.o_proj.weight", R::kAttnOutput, "weight", {H, n_q}, 0));
    // Llama with attention_bias has an output projection bias too; Qwen2 does not.
    if (c.attention_bias && c.arch == "llama") {
      LATHE_RETURN_IF_ERROR(add("self_attn.o_proj.bias", R::kAttnOutput, "bias", {H}, 0));
    }
    LATHE_RETURN_IF_ERROR(add("post_attention_layernorm.weight", R::kFfnNorm, "weight", {H}, 0));
    LATHE_RETURN_IF_ERROR(add("mlp.gate_proj.weight", R::kFfnGate, "weight", {F, H}, 0));
    LATHE_RETURN_IF_ERROR(add("mlp.up_proj.weight", R::kFfnUp, "weight", {F, H}, 0));
    LATHE_RETURN_IF_ERROR(add("mlp.down_proj.weight", R::kFfnDown, "weight", {H, F}, 0));
  }
  LATHE_ASSIGN_OR_RETURN(const StTensor* norm, index.require("model.norm.weight", {H}));
  ts.push_back(from_source(set, norm, gguf::tensor_name(R::kOutputNorm), 0));
  if (c.tie_word_embeddings) {
    // The output projection is the embedding; GGUF omits output.weight and loaders reuse
    // token_embd. A stored copy is not needed.
    if (set->find("lm_head.weight") != nullptr) index.mark_used("lm_head.weight");
  } else {
    const StTensor* head = index.find("lm_head.weight");
    if (head == nullptr) {
      return format_error(
          "tensor lm_head.weight is missing and config.json does not tie it to "
          "the embedding (tie_word_embeddings is false)");
    }
    LATHE_ASSIGN_OR_RETURN(head, index.check(head, "lm_head.weight", {c.vocab_size, H}));
    ts.push_back(from_source(set, head, gguf::tensor_name(R::kOutput), 0));
  }

  const auto unused = index.unused();
  if (!unused.empty()) {
    std::string names;
    for (size_t i = 0; i < unused.size() && i < 5; ++i) names += (i ? ", " : "") + unused[i];
    if (unused.size() > 5) names += cat(" and ", unused.size() - 5, " more");
    return unsupported("the checkpoint holds tensors a ", c.hf_architecture, " with this ",
                       "config.json does not have: ", names);
  }

  // The vocabulary: the folder's tokenizer.json, or the one given.
  std::string tokenizer_path = options.tokenizer;
  if (tokenizer_path.empty()) {
    tokenizer_path = dir + "/tokenizer.json";
    std::error_code ec;
    if (!std::filesystem::exists(tokenizer_path, ec)) {
      const bool spm = std::filesystem::exists(dir + "/tokenizer.model", ec);
      return unsupported(dir, ": no tokenizer.json",
                         spm ? " (lathe does not read sentencepiece tokenizer.model files; "
                               "give a tokenizer.json with --tokenizer)"
                             : "; give one with --tokenizer");
    }
  }
  LATHE_ASSIGN_OR_RETURN(tokenizer::VocabSpec vocab,
                         internal::load_vocab(tokenizer_path, dir, c.vocab_size, log));

  gguf::Writer& w = plan.metadata;
  const std::string name = options.name.empty() ? internal::default_name(dir, false) : options.name;
  LATHE_RETURN_IF_ERROR(internal::write_general(w, c.arch, name, options.type));
  write_hparams(c, w);
  tokenizer::write_vocab_metadata(vocab, w);

  plan.description =
      cat(c.hf_architecture, " (", c.arch, "): hidden ", H, ", ", c.n_layers, " layers, ",
          c.n_heads, "/", c.n_kv_heads, " heads of ", hd, ", ffn ", F, ", vocab ", c.vocab_size,
          ", context ", c.max_position_embeddings, c.tie_word_embeddings ? ", tied embeddings" : "",
          ", ", set->file_count(), " safetensors file", set->file_count() == 1 ? "" : "s");
  return plan;
}

}  // namespace lathe::convert
