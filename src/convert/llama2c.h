// Reader for llama2.c model checkpoints (karpathy/llama2.c export.py).
//
// Two layouts of float32 weights are read:
//  - legacy (version 0): a 7 x int32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
//    vocab_size, seq_len). A negative vocab_size means the file ends with a separate classifier;
//    a positive one means the classifier is the token embedding. Weights are grouped by kind
//    (every layer's wq, then every layer's wk, ...), and the rope tables freq_cis_real/imag
//    (seq_len * head_size / 2 floats each) sit between the final norm and the classifier.
//  - version 1: magic "ak42", int32 version 1, the same 7 params, a uint8 shared-classifier flag,
//    zero padding to 256 bytes; then the norms first, the embedding, the matrices, no rope tables.
// Version 2 (int8 weights with per-group scales) is refused with a clear error.
//
// llama2.c stores q and k in the layout of Meta's original checkpoints (rope on adjacent pairs),
// which is GGUF's layout too, so the weights are used as they are.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/mapped_file.h"
#include "core/status.h"

namespace lathe::convert {

struct Llama2cConfig {
  int version = 0;  // 0 legacy, 1
  int64_t dim = 0;
  int64_t hidden_dim = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t vocab_size = 0;  // always positive here
  int64_t seq_len = 0;
  bool shared_classifier = true;

  int64_t head_size() const { return dim / n_heads; }
  int64_t kv_dim() const { return n_kv_heads * head_size(); }
};

inline constexpr uint32_t kLlama2cMagic = 0x616b3432;  // "ak42" read as a little-endian uint32

// The weight kinds of a checkpoint, each one tensor per layer except the first/last three.
enum class Llama2cWeight {
  kTokenEmbedding,  // [vocab, dim]
  kRmsAtt,          // per layer [dim]
  kWq,              // per layer [dim (rows), dim]
  kWk,              // per layer [kv_dim, dim]
  kWv,              // per layer [kv_dim, dim]
  kWo,              // per layer [dim, dim]
  kRmsFfn,          // per layer [dim]
  kW1,              // per layer [hidden, dim] (gate)
  kW2,              // per layer [dim, hidden] (down)
  kW3,              // per layer [hidden, dim] (up)
  kRmsFinal,        // [dim]
  kClassifier,      // [vocab, dim]; the token embedding when the classifier is shared
};

class Llama2cCheckpoint {
 public:
  static Expected<Llama2cCheckpoint> open(const std::string& path);
  static Expected<Llama2cCheckpoint> parse(MappedFile bytes, std::string name = "<memory>");

  const Llama2cConfig& config() const { return config_; }
  const std::string& path() const { return path_; }

  // Rows and columns of one weight (a vector is 1 row).
  int64_t rows(Llama2cWeight w) const;
  int64_t cols(Llama2cWeight w) const;
  bool per_layer(Llama2cWeight w) const;
  // The weight's float32 bytes (layer ignored for the non-per-layer kinds).
  std::span<const uint8_t> bytes(Llama2cWeight w, int64_t layer) const;
  // Rows [row_begin, row_begin + n_rows) as floats. Errors only for rows out of range.
  Status read_rows(Llama2cWeight w, int64_t layer, int64_t row_begin, int64_t n_rows,
                   float* out) const;

 private:
  static constexpr int kKinds = 12;
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  Llama2cConfig config_;
  uint64_t offset_[kKinds] = {};  // byte offset of the kind's first tensor
};

}  // namespace lathe::convert
