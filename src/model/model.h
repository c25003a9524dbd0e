// A loaded model: hyper-parameters and views of its weights in the (mapped) GGUF file.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <span>
#include "core/log.h"
#include "core/mapped_file.h"
#include "core/status.h"
#include "core/tensor_type.h"
#include "gguf/gguf.h"

#include "model/arch.h"
#include "model/hparams.h"
#include "model/spec.h"
#include "ops/weight.h"

namespace lathe::model {

using ops::WeightMatrix;

// A projection y = W x (+ b).
struct Linear {
  WeightMatrix weight;
  const float* bias = nullptr;  // rows values, or null
};

// The tensors of one layer. Which of them are bound follows the layer's LayerSpec: wq/wk/wv or
// wqkv, ffn_gate + ffn_up or ffn_up alone (fused), the post-norms only where the spec has them.
struct LayerWeights {
  const float* attn_norm = nullptr;
  Linear wq, wk, wv, wqkv, wo;
  const float* q_norm = nullptr;  // per-head, head_dim values (Qwen3)
  const float* k_norm = nullptr;
  const float* attn_post_norm = nullptr;
  const float* ffn_norm = nullptr;
  Linear ffn_gate, ffn_up, ffn_down;
  const float* ffn_post_norm = nullptr;

  // The layer's projections that the file has, each read once by a step.
  std::vector<const Linear*> linears() const {
    std::vector<const Linear*> out;
    for (const Linear* l : {&wq, &wk, &wv, &wqkv, &wo, &ffn_gate, &ffn_up, &ffn_down}) {
      if (l->weight.data != nullptr) out.push_back(l);
    }
    return out;
  }
};

struct LoadOptions {
  FileLoadMode mode = FileLoadMode::kMmap;
  const Logger* logger = nullptr;
  // Architectures of the caller's own, looked up before lathe's (a variant under test).
  std::span<const ArchSpec* const> extra_archs;
};

class Model {
 public:
  static Expected<std::shared_ptr<const Model>> load(const std::string& path,
                                                     const LoadOptions& options = {});
  // From an already-open file (the model keeps it).
  static Expected<std::shared_ptr<const Model>> from_gguf(gguf::File file,
                                                          const LoadOptions& options = {});

  const HParams& hparams() const { return hparams_; }
  const ModelSpec& spec() const { return spec_; }
  const gguf::File& file() const { return file_; }
  const WeightMatrix& token_embd() const { return token_embd_; }
  const float* output_norm() const { return output_norm_; }
  const WeightMatrix& output() const { return output_; }  // token_embd when tied
  const std::vector<LayerWeights>& layers() const { return layers_; }
  // Per-dimension-pair frequency divisors (llama3 scaling), n_rot/2 values, or null.
  const float* rope_freq_factors() const {
    return rope_freq_factors_.empty() ? nullptr : rope_freq_factors_.data();
  }

  // Bytes of all weights, and the bytes one decode step reads (every weight once, the
  // embedding table only one row per token).
  uint64_t weight_bytes() const;
  uint64_t bytes_read_per_token() const;
  int64_t parameter_count() const;
  // "Q4_0", or "Q4_K (mixed)" when matrices differ.
  std::string weight_type_summary() const;

 private:
  Model() = default;
  Status bind(const LoadOptions& options);
  Expected<WeightMatrix> matrix(const std::string& name, int64_t cols, int64_t rows) const;
  Expected<const float*> vector_f32(const std::string& name, int64_t n, bool required);

  gguf::File file_;
  HParams hparams_;
  ModelSpec spec_;
  WeightMatrix token_embd_;
  const float* output_norm_ = nullptr;
  WeightMatrix output_;
  std::vector<LayerWeights> layers_;
  std::vector<float> rope_freq_factors_;
  // Norm vectors: f16/bf16 ones converted at load, f32 ones of a mapped file copied (see
  // vector_f32).
  std::vector<std::unique_ptr<std::vector<float>>> converted_;
};

}  // namespace lathe::model
