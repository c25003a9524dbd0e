// A loaded model: hyper-parameters and views of its weights in the (mapped) GGUF file.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/mapped_file.h"
#include "core/status.h"
#include "core/tensor_type.h"
#include "gguf/gguf.h"
#include "model/hparams.h"

namespace lathe::model {

// A 2-D weight: `rows` output features, each a row of `cols` input features in `type`.
// (GGUF shape [cols, rows].)
struct WeightMatrix {
  std::string name;
  TensorType type = TensorType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  uint64_t row_bytes = 0;
  const void* data = nullptr;
  // Where the bytes come from: the file's identity (MappedFile::identity, 0 when unknown) and the
  // offset in it. Equal (identity, offset, type, shape) means equal content, so a backend can keep
  // a converted copy across loads of the same file.
  uint64_t source_identity = 0;
  uint64_t source_offset = 0;
  // The mapping the bytes live in, when they may be dropped from memory once a backend has its
  // own copy (MappedFile::release); null otherwise.
  const MappedFile* source_mapping = nullptr;

  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_bytes; }
  uint64_t bytes() const { return row_bytes * static_cast<uint64_t>(rows); }
};

// A projection y = W x (+ b).
struct Linear {
  WeightMatrix weight;
  const float* bias = nullptr;  // rows values, or null
};

struct LayerWeights {
  const float* attn_norm = nullptr;
  Linear wq, wk, wv, wo;
  const float* q_norm = nullptr;  // per-head, head_dim values (Qwen3)
  const float* k_norm = nullptr;
  const float* ffn_norm = nullptr;
  Linear ffn_gate, ffn_up, ffn_down;

  // The layer's seven projections, each read once by a step.
  std::array<const Linear*, 7> linears() const {
    return {&wq, &wk, &wv, &wo, &ffn_gate, &ffn_up, &ffn_down};
  }
};

struct LoadOptions {
  FileLoadMode mode = FileLoadMode::kMmap;
  const Logger* logger = nullptr;
};

class Model {
 public:
  static Expected<std::shared_ptr<const Model>> load(const std::string& path,
                                                     const LoadOptions& options = {});
  // From an already-open file (the model keeps it).
  static Expected<std::shared_ptr<const Model>> from_gguf(gguf::File file,
                                                          const LoadOptions& options = {});

  const HParams& hparams() const { return hparams_; }
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
