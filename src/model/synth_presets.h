// Shapes of real models for `lathe synth`, the tensors such a model consists of, and the
// tensor-type mix that `lathe synth` and `lathe quantize` share.
//
// The shapes, metadata keys and tensor names are those llama.cpp's convert_hf_to_gguf.py writes
// for the real checkpoints, so a synthetic file exercises exactly the code paths (and costs
// exactly the bytes per token) of the real one; only the weight values are random.
//
// The mix follows llama-quantize (src/llama-quant.cpp, llama_tensor_get_type) for the file types
// lathe can write. Where llama.cpp would pick a type lathe cannot write (Q5_0, Q5_1, Q5_K), the
// smallest writable type with at least as many bits per weight that fits the row is used instead
// (Q5_K -> Q6_K, Q5_0/Q5_1 -> Q8_0); substitution() reports that it happened.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/tensor_type.h"

namespace lathe::model::synth {

// How a generated vocabulary looks (when none is copied from a file).
enum class VocabStyle {
  kBpeLlama3,  // byte-level BPE, tokenizer.ggml.pre "llama-bpe", Llama 3 special tokens
  kBpeQwen2,   // byte-level BPE, pre "qwen2", ChatML special tokens
  kBpeSmollm,  // byte-level BPE, pre "smollm", ChatML special tokens first
  kSpm,        // SentencePiece-like: <unk> <s> </s>, <0xXX> byte fallback, scored pieces
};

Expected<VocabStyle> parse_vocab_style(std::string_view name);
std::string_view vocab_style_name(VocabStyle style);

struct ModelShape {
  std::string preset = "custom";  // the preset's name, or "custom"
  std::string architecture = "llama";
  std::string display_name;  // general.name
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // 0: n_embd / n_head
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 4096;
  bool tied_output = false;
  // Whether {arch}.attention.key_length/value_length are written (the converter writes them when
  // config.json names head_dim; they are needed whenever head_dim != n_embd / n_head).
  bool head_dim_keys = false;
  double rope_freq_base = 10000.0;
  double rms_eps = 1e-5;
  // Llama 3.x rope scaling. The converter stores it as the rope_freqs.weight tensor (one divisor
  // per dimension pair), not as keys, and so does synth.
  bool llama3_rope = false;
  double rope_factor = 8.0;
  double rope_low_freq_factor = 1.0;
  double rope_high_freq_factor = 4.0;
  int64_t rope_orig_ctx = 8192;
  VocabStyle vocab = VocabStyle::kBpeLlama3;

  int64_t head_size() const { return head_dim > 0 ? head_dim : n_embd / n_head; }
  int64_t n_embd_q() const { return n_head * head_size(); }
  int64_t n_embd_kv() const { return n_head_kv * head_size(); }
};

// The named presets, in a stable order.
std::span<const ModelShape> presets();
// nullptr when no preset has that name.
const ModelShape* find_preset(std::string_view name);
// Every architecture synth can write: llama, qwen2, qwen3.
bool is_synth_architecture(std::string_view arch);
// Checks the shape is one lathe (and llama.cpp) can load: positive sizes, heads dividing, ...
Status validate(const ModelShape& shape);

// What a tensor is for. Decides its initial values and, in the mix, its type.
enum class TensorRole {
  kTokenEmbd,
  kOutput,
  kOutputNorm,
  kRopeFreqs,
  kAttnNorm,
  kFfnNorm,
  kQkNorm,  // attn_q_norm / attn_k_norm (Qwen3)
  kBias,    // attn_{q,k,v}.bias (Qwen2)
  kAttnQ,
  kAttnK,
  kAttnV,
  kAttnOutput,
  kFfnGate,
  kFfnUp,
  kFfnDown,
  kOther,
};

// The role of a tensor named as llama.cpp names it ("blk.3.ffn_down.weight" -> kFfnDown).
TensorRole role_from_name(std::string_view name);

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;  // ggml order: shape[0] is the row length
  TensorRole role = TensorRole::kOther;
  int64_t layer = -1;
  // Whether the mix may quantize it (2-D weights other than norms): llama-quantize's rule.
  bool quantizable = false;
};

// The tensors of a model of this shape, in the order synth writes them.
std::vector<TensorSpec> plan_tensors(const ModelShape& shape);

// llama.cpp's per-tensor divisors for Llama 3 rope scaling (rope_freqs.weight), head_size/2 values.
std::vector<float> llama3_rope_factors(const ModelShape& shape);

// general.file_type values (llama.cpp's llama_ftype) of the mixes lathe writes.
enum class FileType : uint32_t {
  kAllF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ8_0 = 7,
  kQ4_K_S = 14,
  kQ4_K_M = 15,
  kQ6_K = 18,
  kIQ4_NL = 25,
  kIQ4_XS = 30,
  kBF16 = 32,
};

// llama-quantize's names, any case: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K (= Q4_K_M), Q4_K_S,
// Q4_K_M, Q6_K, IQ4_XS, IQ4_NL.
Expected<FileType> parse_file_type(std::string_view name);
std::string_view file_type_name(FileType type);  // "Q4_K_M"
// The type of most 2-D weights: Q4_K for Q4_K_M.
TensorType base_tensor_type(FileType type);
std::string file_type_names();  // for help texts and errors

// Chooses each tensor's type the way llama-quantize does for a file type. Stateful like
// llama.cpp's quantize_state: attn_v and ffn_down tensors are counted in the order they are
// asked for, and "more bits" goes to the first and last eighth of them.
class TypeChooser {
 public:
  struct ModelInfo {
    std::string architecture;
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    bool tied_output = false;
    int64_t n_attn_v = 0;    // attn_v tensors in the file
    int64_t n_ffn_down = 0;  // ffn_down tensors in the file
  };
  struct Options {
    bool pure = false;  // every quantizable tensor in the base type (llama-quantize --pure)
    std::optional<TensorType> output_type;      // --output-tensor-type
    std::optional<TensorType> token_embd_type;  // --token-embedding-type
  };

  TypeChooser(FileType file_type, ModelInfo info, Options options);

  // The type for a tensor of `role` and shape, or `current` when the tensor is not quantized.
  TensorType choose(const TensorSpec& tensor, TensorType current);

  // Tensors whose type was changed because of the row length or because llama.cpp's choice is
  // not one lathe writes: "blk.0.ffn_down.weight: q4_K -> q8_0 (896 is not a multiple of 256)".
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  TensorType mix_choice(const TensorSpec& tensor, TensorType type);
  TensorType substitute(const TensorSpec& tensor, TensorType wanted, std::string_view why);

  FileType file_type_;
  ModelInfo info_;
  Options options_;
  int64_t i_attn_v_ = 0;
  int64_t i_ffn_down_ = 0;
  std::vector<std::string> notes_;
};

// Whether lathe can write (quantize into) the type.
bool is_writable_type(TensorType type);

}  // namespace lathe::model::synth
