// Helpers for the speculative decoding tests: models in contexts, a re-quantized copy of a GGUF
// model, and plain decoding to compare against.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"
#include "quant/quant.h"
#include "runtime/context.h"
#include "sampling/sampler.h"
#include "spec/decoder.h"
#include "spec/plain.h"
#include "support/fixtures.h"
#include "tokenizer/tokenizer.h"

namespace lathe::spec::testing_util {

struct Loaded {
  std::shared_ptr<const model::Model> model;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<runtime::Context> context;
};

inline std::shared_ptr<backend::CpuBackend> make_backend(int threads = 2) {
  backend::CpuBackendOptions options;
  options.n_threads = threads;
  return std::make_shared<backend::CpuBackend>(options);
}

inline Expected<Loaded> load(const std::string& path,
                             const std::shared_ptr<backend::CpuBackend>& backend,
                             int64_t n_ctx = 256) {
  Loaded out;
  LATHE_ASSIGN_OR_RETURN(out.model, model::Model::load(path));
  const Logger quiet(LogLevel::kError, stderr);
  LATHE_ASSIGN_OR_RETURN(tokenizer::Tokenizer tok,
                         tokenizer::Tokenizer::from_gguf(out.model->file(), quiet));
  out.tokenizer = std::make_shared<const tokenizer::Tokenizer>(std::move(tok));
  runtime::ContextParams params;
  params.n_ctx = n_ctx;
  LATHE_ASSIGN_OR_RETURN(out.context, runtime::Context::create(out.model, backend, params));
  return out;
}

// A new context on the same model (the draft = target case, and plain baselines).
inline std::unique_ptr<runtime::Context> another_context(
    const Loaded& loaded, const std::shared_ptr<backend::CpuBackend>& backend, int64_t n_ctx) {
  runtime::ContextParams params;
  params.n_ctx = n_ctx;
  auto ctx = runtime::Context::create(loaded.model, backend, params);
  EXPECT_TRUE(ctx) << ctx.error().message();
  return ctx ? std::move(ctx).value() : nullptr;
}

// How copy_model changes a model on the way.
struct CopyOptions {
  // The type of the 2-D weights (rows that are not whole blocks of it go to f16), through
  // dequantize/quantize of each tensor as `lathe quantize` would; nullopt keeps every tensor's
  // bytes as they are.
  std::optional<TensorType> type;
  // Called after the metadata is copied, to change it (e.g. a token's text).
  std::function<void(gguf::Writer&)> edit_metadata;
};

// Writes a copy of a GGUF model: a second precision of an in-repo fixture (so "a quantized draft
// for a finer target" needs no large file), or a model with an edited vocabulary.
inline Status copy_model(const std::string& src_path, const std::string& dst_path,
                         const CopyOptions& options) {
  LATHE_ASSIGN_OR_RETURN(gguf::File src, gguf::File::open(src_path));
  gguf::Writer writer(src.alignment());
  for (const auto& kv : src.metadata()) LATHE_RETURN_IF_ERROR(writer.set_value(kv.key, kv.value));
  if (options.edit_metadata) options.edit_metadata(writer);
  std::vector<std::vector<uint8_t>> data;
  for (const auto& t : src.tensors()) {
    if (!options.type) {
      LATHE_RETURN_IF_ERROR(writer.add_tensor(t.name, t.type, t.shape));
      data.emplace_back(t.bytes().begin(), t.bytes().end());
      continue;
    }
    TensorType out_type = t.type;
    if (t.shape.size() == 2) {
      const TensorTypeInfo& info = tensor_type_info(*options.type);
      out_type = t.shape[0] % info.block_elems == 0 ? *options.type : TensorType::kF16;
    }
    const auto rows = static_cast<int64_t>(t.n_rows());
    const int64_t width = t.shape[0];
    std::vector<float> f32(static_cast<size_t>(rows * width));
    LATHE_RETURN_IF_ERROR(quant::dequantize_rows(t.type, t.data, f32.data(), rows, width));
    LATHE_RETURN_IF_ERROR(writer.add_tensor(t.name, out_type, t.shape));
    std::vector<uint8_t> bytes(writer.tensor_bytes(writer.tensor_count() - 1));
    LATHE_RETURN_IF_ERROR(quant::quantize_rows(out_type, f32.data(), bytes.data(), rows, width));
    data.push_back(std::move(bytes));
  }
  std::vector<std::span<const uint8_t>> views(data.begin(), data.end());
  return writer.write_file(dst_path, views);
}

// A copy whose 2-D weights are in `type` (see CopyOptions::type).
inline Status requantize(const std::string& src_path, const std::string& dst_path,
                         TensorType type) {
  CopyOptions options;
  options.type = type;
  return copy_model(src_path, dst_path, options);
}

// A copy whose token `id` reads `text`: a vocabulary that differs from the original at one id.
inline Status copy_with_token_text(const std::string& src_path, const std::string& dst_path,
                                   int32_t id, const std::string& text) {
  LATHE_ASSIGN_OR_RETURN(gguf::File src, gguf::File::open(src_path));
  const gguf::Value* tokens = nullptr;
  for (const auto& kv : src.metadata()) {
    if (kv.key == "tokenizer.ggml.tokens") tokens = &kv.value;
  }
  if (tokens == nullptr || id < 0 || static_cast<size_t>(id) >= tokens->array_strings().size()) {
    return invalid_argument(src_path, " has no token ", id);
  }
  std::vector<std::string_view> texts = tokens->array_strings();
  texts[static_cast<size_t>(id)] = text;
  CopyOptions options;
  options.edit_metadata = [&texts](gguf::Writer& w) {
    w.set_string_array("tokenizer.ggml.tokens", std::span<const std::string_view>(texts));
  };
  return copy_model(src_path, dst_path, options);
}

// Greedy-or-sampled plain decoding of n tokens with a fresh context on `loaded`'s model.
inline std::vector<TokenId> plain_tokens(const Loaded& loaded,
                                         const std::shared_ptr<backend::CpuBackend>& backend,
                                         const sampling::SamplerParams& params,
                                         const std::vector<TokenId>& prompt, int64_t n) {
  auto ctx = another_context(loaded, backend, 512);
  auto sampler = sampling::Sampler::create(params, static_cast<int32_t>(ctx->n_vocab()));
  EXPECT_TRUE(sampler) << sampler.error().message();
  for (TokenId t : prompt) EXPECT_TRUE(sampler->accept(t).ok());
  auto out = generate_plain(*ctx, *sampler, prompt, 0, n);
  EXPECT_TRUE(out) << out.error().message();
  return out ? out->tokens : std::vector<TokenId>{};
}

inline sampling::SamplerParams greedy_params() {
  sampling::SamplerParams p;
  p.temp = 0.0f;
  p.seed = 1;
  return p;
}

}  // namespace lathe::spec::testing_util
