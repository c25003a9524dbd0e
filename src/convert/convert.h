// `lathe convert`: llama2.c checkpoints and Hugging Face Llama-family folders to GGUF.
//
// A conversion is planned first: the metadata (hyper-parameters and the tokenizer's vocabulary)
// and a list of output tensors, each with a reader that produces its rows as f32 on demand from
// the memory-mapped input. Writing then streams tensor by tensor, a few rows at a time: rows are
// read, quantized to the tensor's type on a thread pool and appended to the GGUF being written,
// so memory stays at a few megabytes of buffers whatever the model's size.
//
// Tensor names, metadata keys and type rules follow llama.cpp's converters
// (convert_hf_to_gguf.py, examples/convert-llama2c-to-ggml); docs/CONVERT.md lists where lathe
// differs and why.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/status.h"
#include "core/tensor_type.h"
#include "gguf/gguf_writer.h"

namespace lathe::convert {

// Rows [row_begin, row_begin + n_rows) of a tensor as f32, back to back. Must be safe to call
// from several threads at once (readers only read the mapped input).
using RowReader = std::function<Status(int64_t row_begin, int64_t n_rows, float* out)>;

struct PlannedTensor {
  std::string name;            // GGUF name: "blk.0.attn_q.weight"
  std::vector<int64_t> shape;  // ggml order: shape[0] is the row length
  // llama.cpp's rule for what --outtype applies to: a weight of two or more dimensions that is
  // not a norm. Everything else stays F32.
  bool quantizable = false;
  std::string source;  // where the values come from, for messages and --verbose
  RowReader read;

  int64_t n_cols() const { return shape.empty() ? 1 : shape[0]; }
  int64_t n_rows() const;
};

enum class InputKind { kLlama2c, kHfDirectory };

struct ConvertOptions {
  // The type of the quantizable tensors. llama.cpp's converter defaults to f16 as well.
  TensorType type = TensorType::kF16;
  // llama2.c: the tokenizer (llama2.c tokenizer.bin, or a Hugging Face tokenizer.json), required.
  // Hugging Face folder: replaces the folder's tokenizer.json when set.
  std::string tokenizer;
  std::string name;  // general.name; empty: the input's file or folder name
  int n_threads = 1;
  const Logger* logger = nullptr;  // warnings; null: Logger::default_logger()
  // Chooses each tensor's type instead of default_tensor_type (e.g. llama-quantize's mixes).
  std::function<TensorType(const PlannedTensor&)> choose_type;
  // Told before each tensor is written: its index, the tensor count, the tensor and its type.
  std::function<void(size_t, size_t, const PlannedTensor&, TensorType)> on_tensor;
};

struct ConversionPlan {
  InputKind kind = InputKind::kLlama2c;
  std::string description;  // one line: "llama2.c checkpoint (legacy): dim 64, 5 layers, ..."
  // The model's shape, as the metadata states it (for type mixes and messages).
  std::string arch;  // general.architecture
  int64_t n_layer = 0, n_head = 0, n_head_kv = 0, n_vocab = 0;
  gguf::Writer metadata;  // every key; the tensors are added when the file is written
  std::vector<PlannedTensor> tensors;
};

// A folder (or a file inside one: config.json, *.safetensors) is a Hugging Face model; another
// file is a llama2.c checkpoint. GGUF files are refused.
Expected<InputKind> detect_input(const std::string& input);

Expected<ConversionPlan> plan_llama2c(const std::string& checkpoint, const ConvertOptions& options);
Expected<ConversionPlan> plan_hf(const std::string& dir, const ConvertOptions& options);
Expected<ConversionPlan> plan_conversion(const std::string& input, const ConvertOptions& options);

// convert_hf_to_gguf.py's --outtype rule: `requested` for quantizable tensors, F32 for the rest;
// a tensor whose rows are not whole blocks of `requested` falls back to F16, as llama.cpp's
// converter does (and `note`, when given, says so).
TensorType default_tensor_type(const PlannedTensor& tensor, TensorType requested,
                               std::string* note = nullptr);
// Whether lathe can write tensors of this type (F32, F16, BF16 and the quantizers lathe has).
bool is_writable_type(TensorType type);
// general.file_type (llama_ftype) of a file whose quantizable tensors are mostly `type`.
Expected<uint32_t> file_type_for(TensorType type);

struct ConvertResult {
  size_t n_tensors = 0;
  uint64_t n_bytes = 0;            // tensor data
  std::vector<std::string> notes;  // fallbacks and other things worth telling the user
};

// Writes the plan to `path` (the file appears only when complete).
Expected<ConvertResult> write_gguf(const ConversionPlan& plan, const std::string& path,
                                   const ConvertOptions& options);
// plan_conversion + write_gguf.
Expected<ConvertResult> convert(const std::string& input, const std::string& output,
                                const ConvertOptions& options);

// For row `row` of a q or k weight in GGUF's rope layout (adjacent pairs), the row of the Hugging
// Face weight (rotate-half: the first half of each head's rows, then the second) it comes from.
// head_rows is the rows of one head (head size); must be even.
inline int64_t rope_source_row(int64_t row, int64_t head_rows) {
  const int64_t head = row / head_rows, within = row % head_rows, half = head_rows / 2;
  return head * head_rows + (within % 2) * half + within / 2;
}

}  // namespace lathe::convert
