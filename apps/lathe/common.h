// What the generating commands (run, chat, speculative, serve) share: model/context flags,
// sampling flags, and loading a model with its tokenizer into a ready context.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "args.h"
#include "backend/backend.h"
#include "core/log.h"
#include "model/model.h"
#include "runtime/context.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace lathe::cli {

struct ModelFlags {
  std::string model_path;
  int threads = 0;          // -t; 0: one per physical core
  int64_t n_ctx = 4096;     // -c; 0: the model's training context
  int64_t n_ubatch = 512;   // -ub
  std::string cache_type_k = "f16";  // -ctk
  std::string cache_type_v = "f16";  // -ctv
  std::string flash_attention = "auto";  // -fa on|off|auto
  bool no_mmap = false;     // --no-mmap
  bool verbose = false;     // --verbose
};

// -m, -t, -c, -ub, -ctk, -ctv, -fa, --no-mmap, --verbose.
void add_model_flags(ArgParser& args, ModelFlags& flags);

struct SamplingFlags {
  sampling::SamplerParams params;
  std::string sequence;  // --sampling-seq / --samplers, parsed after the flags
};

// --seed, --temp, --top-k, --top-p, --min-p, --typical, --top-nsigma, --repeat-penalty,
// --repeat-last-n, --presence-penalty, --frequency-penalty, --min-keep, --logit-bias,
// --sampling-seq, --samplers.
void add_sampling_flags(ArgParser& args, SamplingFlags& flags);
// Resolves the textual flags into params (sequence) and checks them against the vocabulary.
Expected<sampling::Sampler> make_sampler(SamplingFlags& flags, int32_t n_vocab);

// A model ready to run: weights, tokenizer, backend and one context.
struct LoadedModel {
  std::shared_ptr<const model::Model> model;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::shared_ptr<backend::Backend> backend;
  std::unique_ptr<runtime::Context> context;
  double load_seconds = 0;
};

Expected<runtime::ContextParams> context_params(const ModelFlags& flags);
Expected<LoadedModel> load_model(const ModelFlags& flags, const Logger& log);

// Writes --verbose details: model shape, weights, memory, backend.
void print_model_summary(const LoadedModel& loaded, std::FILE* out);

// "12 tokens in 0.05 s (240.0 t/s)"
std::string rate_text(int64_t tokens, double seconds);

}  // namespace lathe::cli
