#include "model/model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <map>
#include <numbers>

#include "gguf/tensor_names.h"
#include "model/arch.h"
#include "quant/quant.h"

namespace lathe::model {

namespace {

// The llama3 frequency scaling, as Meta defines it: long wavelengths are slowed by `factor`,
// short ones kept, and a smooth blend in between. Returned as divisors of each pair's frequency.
std::vector<float> llama3_freq_factors(const HParams& hp) {
  std::vector<float> factors(static_cast<size_t>(hp.n_rot / 2));
  const double orig_ctx = static_cast<double>(hp.rope_orig_ctx > 0 ? hp.rope_orig_ctx : 8192);
  const double low_wavelen = orig_ctx / hp.rope_low_freq_factor;
  const double high_wavelen = orig_ctx / hp.rope_high_freq_factor;
  for (size_t i = 0; i < factors.size(); ++i) {
    const double freq = std::pow(static_cast<double>(hp.rope_freq_base),
                                 -2.0 * static_cast<double>(i) / static_cast<double>(hp.n_rot));
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double divisor = 1.0;
    if (wavelen > low_wavelen) {
      divisor = hp.rope_scaling_factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (orig_ctx / wavelen - hp.rope_low_freq_factor) /
                            (hp.rope_high_freq_factor - hp.rope_low_freq_factor);
      divisor = 1.0 / ((1.0 - smooth) / hp.rope_scaling_factor + smooth);
    }
    factors[i] = static_cast<float>(divisor);
  }
  return factors;
}

}  // namespace

Expected<std::shared_ptr<const Model>> Model::load(const std::string& path,
                                                   const LoadOptions& options) {
  LATHE_ASSIGN_OR_RETURN(gguf::File file, gguf::File::open(path, options.mode));
  return from_gguf(std::move(file), options);
}

Expected<std::shared_ptr<const Model>> Model::from_gguf(gguf::File file,
                                                        const LoadOptions& options) {
  std::shared_ptr<Model> model(new Model());
  model->file_ = std::move(file);
  Status status = model->bind(options);
  if (!status.ok()) return status.with_context(model->file_.path());
  return std::shared_ptr<const Model>(std::move(model));
}

Expected<WeightMatrix> Model::matrix(const std::string& name, int64_t cols, int64_t rows) const {
  const gguf::TensorInfo* t = file_.find_tensor(name);
  if (t == nullptr) return format_error("tensor '", name, "' is missing");
  if (t->shape.size() > 2 && !(t->shape.size() == 3 && t->shape[2] == 1)) {
    return format_error("tensor '", name, "' has shape ", t->shape_string(), ", expected [", cols,
                        ", ", rows, "]");
  }
  if (t->dim(0) != cols || t->dim(1) != rows) {
    return format_error("tensor '", name, "' has shape ", t->shape_string(), ", expected [", cols,
                        ", ", rows, "]");
  }
  if (!quant::is_supported(t->type)) {
    return unsupported("tensor '", name, "' has type ", tensor_type_name(t->type),
                       ", which lathe cannot compute with");
  }
  WeightMatrix m;
  m.name = name;
  m.type = t->type;
  m.rows = rows;
  m.cols = cols;
  m.row_bytes = t->n_bytes / static_cast<uint64_t>(rows);
  m.data = t->data;
  const MappedFile& mapped = file_.mapped();
  m.source_identity = mapped.identity();
  m.source_offset = static_cast<uint64_t>(t->data - mapped.data());
  if (mapped.is_mmapped()) m.source_mapping = &mapped;
  return m;
}

Expected<const float*> Model::vector_f32(const std::string& name, int64_t n, bool required) {
  const gguf::TensorInfo* t = file_.find_tensor(name);
  if (t == nullptr) {
    if (required) return format_error("tensor '", name, "' is missing");
    return static_cast<const float*>(nullptr);
  }
  if (static_cast<int64_t>(t->n_elements) != n || t->dim(0) != n) {
    return format_error("tensor '", name, "' has shape ", t->shape_string(), ", expected [", n,
                        "]");
  }
  if (t->type == TensorType::kF32) {
    if (reinterpret_cast<uintptr_t>(t->data) % alignof(float) != 0) {
      return format_error("tensor '", name, "' is not aligned for f32");
    }
    const MappedFile& mapped = file_.mapped();
    if (!mapped.is_mmapped()) return reinterpret_cast<const float*>(t->data);
    // A copy of a mapped vector, and its pages released: a norm read every step through the
    // mapping keeps the page around it resident, which is a whole 2 MiB folio where the page
    // cache uses large folios, i.e. megabytes of released weights per layer.
    auto values = std::make_unique<std::vector<float>>(static_cast<size_t>(n));
    std::memcpy(values->data(), t->data, static_cast<size_t>(n) * sizeof(float));
    mapped.release(t->data, static_cast<size_t>(n) * sizeof(float));
    converted_.push_back(std::move(values));
    return static_cast<const float*>(converted_.back()->data());
  }
  if (t->type != TensorType::kF16 && t->type != TensorType::kBF16) {
    return unsupported("tensor '", name, "' has type ", tensor_type_name(t->type),
                       " (vectors must be f32, f16 or bf16)");
  }
  auto values = std::make_unique<std::vector<float>>(static_cast<size_t>(n));
  LATHE_RETURN_IF_ERROR(quant::dequantize_rows(t->type, t->data, values->data(), 1, n));
  converted_.push_back(std::move(values));
  return static_cast<const float*>(converted_.back()->data());
}

Status Model::bind(const LoadOptions& options) {
  using gguf::TensorRole;
  const Logger& log = options.logger ? *options.logger : Logger::default_logger();
  LATHE_ASSIGN_OR_RETURN(hparams_, read_hparams(file_, options.extra_archs));
  HParams& hp = hparams_;
  const auto name = [](TensorRole role, int64_t layer = -1, std::string_view suffix = "weight") {
    return gguf::tensor_name(role, layer, suffix);
  };

  const std::string embd_name = name(TensorRole::kTokenEmbd);
  const gguf::TensorInfo* embd = file_.find_tensor(embd_name);
  if (embd == nullptr) return format_error("tensor '", embd_name, "' is missing");
  hp.n_vocab = embd->dim(1);
  if (const gguf::Value* tokens = file_.find("tokenizer.ggml.tokens");
      tokens != nullptr && tokens->type() == gguf::ValueType::kArray &&
      static_cast<int64_t>(tokens->array_size()) != hp.n_vocab) {
    log.warn("vocabulary has ", tokens->array_size(), " tokens but token_embd has ", hp.n_vocab,
             " rows");
  }
  LATHE_ASSIGN_OR_RETURN(token_embd_, matrix(embd_name, hp.n_embd, hp.n_vocab));
  LATHE_ASSIGN_OR_RETURN(output_norm_, vector_f32(name(TensorRole::kOutputNorm), hp.n_embd, true));
  if (file_.find_tensor(name(TensorRole::kOutput)) != nullptr) {
    LATHE_ASSIGN_OR_RETURN(output_, matrix(name(TensorRole::kOutput), hp.n_embd, hp.n_vocab));
    hp.tied_output = false;
  } else {
    output_ = token_embd_;
    hp.tied_output = true;
  }

  if (file_.find_tensor(name(TensorRole::kRopeFreqs)) != nullptr) {
    LATHE_ASSIGN_OR_RETURN(const float* f,
                           vector_f32(name(TensorRole::kRopeFreqs), hp.n_rot / 2, true));
    rope_freq_factors_.assign(f, f + hp.n_rot / 2);
  } else if (hp.rope_scaling == RopeScaling::kLlama3) {
    rope_freq_factors_ = llama3_freq_factors(hp);
  }
  LATHE_ASSIGN_OR_RETURN(spec_,
                         describe_model(file_, hp, rope_freq_factors(), options.extra_archs));

  const int64_t n_q = hp.n_embd_q();
  const int64_t n_k = hp.n_embd_k();
  const int64_t n_v = hp.n_embd_v();
  layers_.resize(static_cast<size_t>(hp.n_layer));
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const LayerSpec& ls = spec_.layers[static_cast<size_t>(il)];
    LayerWeights& L = layers_[static_cast<size_t>(il)];
    auto linear = [&](Linear& out, TensorRole role, int64_t cols, int64_t rows,
                      bool bias_required) -> Status {
      LATHE_ASSIGN_OR_RETURN(out.weight, matrix(name(role, il), cols, rows));
      LATHE_ASSIGN_OR_RETURN(out.bias, vector_f32(name(role, il, "bias"), rows, bias_required));
      return Status();
    };
    auto norm = [&](const float*& out, TensorRole role, int64_t n) -> Status {
      LATHE_ASSIGN_OR_RETURN(out, vector_f32(name(role, il), n, true));
      return Status();
    };
    if (ls.qkv == QkvLayout::kSeparate &&
        file_.find_tensor(name(TensorRole::kAttnQ, il)) == nullptr &&
        file_.find_tensor(name(TensorRole::kAttnQkv, il)) != nullptr) {
      return unsupported("layer ", il, " has a fused attn_qkv tensor, which ", hp.architecture,
                         " does not have");
    }
    LATHE_RETURN_IF_ERROR(norm(L.attn_norm, TensorRole::kAttnNorm, hp.n_embd));
    if (ls.qkv == QkvLayout::kSeparate) {
      LATHE_RETURN_IF_ERROR(linear(L.wq, TensorRole::kAttnQ, hp.n_embd, n_q, ls.qkv_bias));
      LATHE_RETURN_IF_ERROR(linear(L.wk, TensorRole::kAttnK, hp.n_embd, n_k, ls.qkv_bias));
      LATHE_RETURN_IF_ERROR(linear(L.wv, TensorRole::kAttnV, hp.n_embd, n_v, ls.qkv_bias));
    } else {
      LATHE_RETURN_IF_ERROR(
          linear(L.wqkv, TensorRole::kAttnQkv, hp.n_embd, n_q + n_k + n_v, false));
    }
    LATHE_RETURN_IF_ERROR(linear(L.wo, TensorRole::kAttnOutput, n_q, hp.n_embd, false));
    if (ls.qk_norm) {
      LATHE_RETURN_IF_ERROR(norm(L.q_norm, TensorRole::kAttnQNorm, hp.head_dim_k));
      LATHE_RETURN_IF_ERROR(norm(L.k_norm, TensorRole::kAttnKNorm, hp.head_dim_k));
    }
    if (ls.attn_post_norm) {
      LATHE_RETURN_IF_ERROR(norm(L.attn_post_norm, TensorRole::kAttnPostNorm, hp.n_embd));
    }
    LATHE_RETURN_IF_ERROR(norm(L.ffn_norm, TensorRole::kFfnNorm, hp.n_embd));
    if (ls.ffn == FfnLayout::kGateUp) {
      LATHE_RETURN_IF_ERROR(linear(L.ffn_gate, TensorRole::kFfnGate, hp.n_embd, hp.n_ff, false));
      LATHE_RETURN_IF_ERROR(linear(L.ffn_up, TensorRole::kFfnUp, hp.n_embd, hp.n_ff, false));
    } else {
      LATHE_RETURN_IF_ERROR(linear(L.ffn_up, TensorRole::kFfnUp, hp.n_embd, 2 * hp.n_ff, false));
    }
    LATHE_RETURN_IF_ERROR(linear(L.ffn_down, TensorRole::kFfnDown, hp.n_ff, hp.n_embd, false));
    if (ls.ffn_post_norm) {
      LATHE_RETURN_IF_ERROR(norm(L.ffn_post_norm, TensorRole::kFfnPostNorm, hp.n_embd));
    }
  }
  return Status();
}

uint64_t Model::weight_bytes() const {
  return file_.tensor_data_bytes();
}

uint64_t Model::bytes_read_per_token() const {
  uint64_t total = 0;
  for (const auto& t : file_.tensors()) total += t.n_bytes;
  // A step reads one row of the embedding table, not all of it (unless it is also the output).
  if (!hparams_.tied_output) total -= token_embd_.bytes() - token_embd_.row_bytes;
  return total;
}

int64_t Model::parameter_count() const {
  int64_t total = 0;
  for (const auto& t : file_.tensors()) total += static_cast<int64_t>(t.n_elements);
  return total;
}

std::string Model::weight_type_summary() const {
  std::map<TensorType, uint64_t> bytes_by_type;
  for (const auto& L : layers_) {
    for (const Linear* lin : L.linears()) {
      bytes_by_type[lin->weight.type] += lin->weight.bytes();
    }
  }
  if (bytes_by_type.empty()) return "none";
  auto main = std::max_element(bytes_by_type.begin(), bytes_by_type.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  std::string name(tensor_type_name(main->first));
  for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return bytes_by_type.size() > 1 ? name + " (mixed)" : name;
}

}  // namespace lathe::model
