// llama2.c checkpoint -> GGUF plan, as llama.cpp's convert-llama2c-to-ggml lays it out: the same
// tensor names, shapes and order (an output.weight even when the classifier is shared), the
// vocabulary from tokenizer.bin, and rms epsilon 1e-5 (llama2.c's only value).
#include <memory>

#include "convert/convert.h"
#include "convert/convert_internal.h"
#include "convert/llama2c.h"
#include "gguf/tensor_names.h"
#include "tokenizer/import.h"

namespace lathe::convert {

namespace {

using W = Llama2cWeight;

PlannedTensor tensor_of(const std::shared_ptr<const Llama2cCheckpoint>& ck, W w, int64_t layer,
                        std::string name, std::string source) {
  PlannedTensor t;
  t.name = std::move(name);
  const int64_t rows = ck->rows(w), cols = ck->cols(w);
  const bool norm = w == W::kRmsAtt || w == W::kRmsFfn || w == W::kRmsFinal;
  t.shape = norm ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
  t.quantizable = !norm;
  t.source = std::move(source);
  t.read = [ck, w, layer](int64_t r0, int64_t n, float* out) {
    return ck->read_rows(w, layer, r0, n, out);
  };
  return t;
}

}  // namespace

Expected<ConversionPlan> plan_llama2c(const std::string& path, const ConvertOptions& options) {
  const Logger& log = internal::logger_of(options);
  if (options.tokenizer.empty()) {
    return invalid_argument(
        "a llama2.c checkpoint has no vocabulary: give its tokenizer with --tokenizer "
        "(llama2.c tokenizer.bin or a Hugging Face tokenizer.json)");
  }
  LATHE_ASSIGN_OR_RETURN(Llama2cCheckpoint loaded, Llama2cCheckpoint::open(path));
  auto ck = std::make_shared<const Llama2cCheckpoint>(std::move(loaded));
  const Llama2cConfig& c = ck->config();
  LATHE_ASSIGN_OR_RETURN(tokenizer::VocabSpec vocab,
                         internal::load_vocab(options.tokenizer, "", c.vocab_size, log));

  ConversionPlan plan;
  plan.kind = InputKind::kLlama2c;
  plan.description =
      cat("llama2.c checkpoint (", c.version == 0 ? "legacy" : "version 1", "): dim ", c.dim, ", ",
          c.n_layers, " layers, ", c.n_heads, "/", c.n_kv_heads, " heads, ffn ", c.hidden_dim,
          ", vocab ", c.vocab_size, ", context ", c.seq_len,
          c.shared_classifier ? ", shared classifier" : ", own classifier");
  plan.arch = "llama";
  plan.n_layer = c.n_layers;
  plan.n_head = c.n_heads;
  plan.n_head_kv = c.n_kv_heads;
  plan.n_vocab = c.vocab_size;
  gguf::Writer& w = plan.metadata;
  const std::string name = options.name.empty() ? internal::default_name(path, true) : options.name;
  LATHE_RETURN_IF_ERROR(internal::write_general(w, "llama", name, options.type));
  // llama.cpp's converter writes a fixed 128 here (its own default n_ctx, not the checkpoint's);
  // the checkpoint's seq_len is what the model was trained on.
  w.set_u32("llama.context_length", static_cast<uint32_t>(c.seq_len));
  w.set_u32("llama.embedding_length", static_cast<uint32_t>(c.dim));
  w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(c.hidden_dim));
  w.set_u32("llama.attention.head_count", static_cast<uint32_t>(c.n_heads));
  w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  w.set_u32("llama.block_count", static_cast<uint32_t>(c.n_layers));
  // llama2.c rotates the whole head. (llama.cpp's converter caps this at 64, which is wrong for
  // heads larger than 64; equal for every tinyllamas checkpoint.)
  w.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(c.head_size()));
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_f32("llama.rope.freq_base", 10000.0f);  // run.c's constant
  w.set_u32("llama.vocab_size", static_cast<uint32_t>(c.vocab_size));
  tokenizer::write_vocab_metadata(vocab, w);

  auto& ts = plan.tensors;
  using R = gguf::TensorRole;
  ts.push_back(tensor_of(ck, W::kTokenEmbedding, 0, gguf::tensor_name(R::kTokenEmbd),
                         "token_embedding_table"));
  ts.push_back(
      tensor_of(ck, W::kRmsFinal, 0, gguf::tensor_name(R::kOutputNorm), "rms_final_weight"));
  ts.push_back(
      tensor_of(ck, W::kClassifier, 0, gguf::tensor_name(R::kOutput),
                c.shared_classifier ? "token_embedding_table (shared classifier)" : "wcls"));
  struct LayerTensor {
    W weight;
    R role;
    const char* source;
  };
  // llama.cpp's per-layer order.
  constexpr LayerTensor kLayer[] = {
      {W::kWq, R::kAttnQ, "wq"},
      {W::kWk, R::kAttnK, "wk"},
      {W::kWv, R::kAttnV, "wv"},
      {W::kWo, R::kAttnOutput, "wo"},
      {W::kRmsAtt, R::kAttnNorm, "rms_att_weight"},
      {W::kW1, R::kFfnGate, "w1"},
      {W::kW2, R::kFfnDown, "w2"},
      {W::kW3, R::kFfnUp, "w3"},
      {W::kRmsFfn, R::kFfnNorm, "rms_ffn_weight"},
  };
  for (int64_t l = 0; l < c.n_layers; ++l) {
    for (const auto& lt : kLayer) {
      ts.push_back(
          tensor_of(ck, lt.weight, l, gguf::tensor_name(lt.role, l), cat(lt.source, "[", l, "]")));
    }
  }
  return plan;
}

}  // namespace lathe::convert
