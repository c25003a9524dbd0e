#include "common.h"

#include <cinttypes>

#include "core/timer.h"
#include "kv/kv_cache.h"

namespace lathe::cli {

void add_model_flags(ArgParser& args, ModelFlags& flags) {
  args.option({"-m", "--model"}, "FILE", "model file (GGUF)", &flags.model_path);
  args.threads({"-t", "--threads"}, "threads (default 0)", &flags.threads);
  args.option({"-c", "--ctx-size"}, "N",
              "context size in tokens (default 4096; 0 = the model's training context)",
              &flags.n_ctx);
  args.option({"-ub", "--ubatch-size"}, "N", "tokens per forward pass (default 512)",
              &flags.n_ubatch);
  args.option({"-ctk", "--cache-type-k"}, "TYPE", "KV cache type for K: f16, q8_0, q4_0",
              &flags.cache_type_k);
  args.option({"-ctv", "--cache-type-v"}, "TYPE", "KV cache type for V: f16, q8_0, q4_0",
              &flags.cache_type_v);
  args.option({"-fa", "--flash-attn"}, "on|off|auto",
              "fused attention (default auto = on); off uses the plain path", &flags.flash_attention);
  args.flag({"--no-mmap"}, "read the model into memory instead of mapping it", &flags.no_mmap);
  args.flag({"--verbose"}, "print model, memory and backend details", &flags.verbose);
}

void add_sampling_flags(ArgParser& args, SamplingFlags& flags) {
  auto& p = flags.params;
  args.option({"-s", "--seed"}, "N", "random seed (default: random)", [&p](std::string_view v) {
    LATHE_ASSIGN_OR_RETURN(int64_t seed, parse_int(v));
    if (seed == -1) {
      p.seed = sampling::kRandomSeed;
      return Status();
    }
    if (seed < 0 || seed > UINT32_MAX) return invalid_argument("seed ", v, " is out of range");
    p.seed = static_cast<uint32_t>(seed);
    return Status();
  });
  args.option({"--temp"}, "T", "temperature (default 0.8; 0 = greedy)", &p.temp);
  args.option({"--top-k"}, "N", "top-k (default 40; 0 = off)", &p.top_k);
  args.option({"--top-p"}, "P", "top-p (default 0.95; 1 = off)", &p.top_p);
  args.option({"--min-p"}, "P", "min-p (default 0.05; 0 = off)", &p.min_p);
  args.option({"--typical"}, "P", "locally typical sampling (default 1 = off)", &p.typical_p);
  args.option({"--top-nsigma"}, "N", "top-n-sigma (default -1 = off)", &p.top_n_sigma);
  args.option({"--repeat-penalty"}, "F", "repetition penalty (default 1 = off)", &p.repeat_penalty);
  args.option({"--repeat-last-n"}, "N", "tokens the penalties look back at (default 64)",
              &p.repeat_last_n);
  args.option({"--presence-penalty"}, "F", "presence penalty (default 0)", &p.presence_penalty);
  args.option({"--frequency-penalty"}, "F", "frequency penalty (default 0)", &p.frequency_penalty);
  args.option({"--min-keep"}, "N", "candidates every sampler keeps at least (default 0)",
              &p.min_keep);
  args.option({"-l", "--logit-bias"}, "TOKEN(+|-)BIAS", "adds to a token's logit, e.g. 15043+1",
              [&p](std::string_view v) {
                LATHE_ASSIGN_OR_RETURN(sampling::LogitBias bias, sampling::parse_logit_bias(v));
                p.logit_bias.push_back(bias);
                return Status();
              });
  args.option({"--sampling-seq", "--sampler-seq", "--samplers"}, "SEQ",
              "sampler order, e.g. k,m,t or top_k;min_p;temperature (default edskypmxt)",
              &flags.sequence);
}

Expected<sampling::Sampler> make_sampler(SamplingFlags& flags, int32_t n_vocab) {
  if (!flags.sequence.empty()) {
    LATHE_ASSIGN_OR_RETURN(flags.params.sequence, sampling::parse_sampler_sequence(flags.sequence));
  }
  return sampling::Sampler::create(flags.params, n_vocab);
}

Expected<runtime::ContextParams> context_params(const ModelFlags& flags) {
  runtime::ContextParams params;
  params.n_ctx = flags.n_ctx;
  params.n_ubatch = flags.n_ubatch;
  if (flags.n_ctx < 0) return invalid_argument("-c must not be negative");
  if (flags.n_ubatch <= 0) return invalid_argument("-ub must be positive");
  auto type_k = kv::parse_kv_type(flags.cache_type_k);
  if (!type_k) return type_k.error().with_context("-ctk");
  auto type_v = kv::parse_kv_type(flags.cache_type_v);
  if (!type_v) return type_v.error().with_context("-ctv");
  params.type_k = *type_k;
  params.type_v = *type_v;
  auto fa = parse_on_off_auto(flags.flash_attention);
  if (!fa) return fa.error().with_context("-fa");
  params.flash_attention = *fa != 0;
  return params;
}

Expected<LoadedModel> load_model(const ModelFlags& flags, const Logger& log) {
  if (flags.model_path.empty()) return invalid_argument("no model given (-m FILE)");
  if (flags.threads < 0) return invalid_argument("-t must not be negative");
  LATHE_ASSIGN_OR_RETURN(runtime::ContextParams params, context_params(flags));
  Stopwatch timer;
  LoadedModel loaded;
  model::LoadOptions load_options;
  load_options.mode = flags.no_mmap ? FileLoadMode::kRead : FileLoadMode::kMmap;
  load_options.logger = &log;
  LATHE_ASSIGN_OR_RETURN(loaded.model, model::Model::load(flags.model_path, load_options));
  auto tok = tokenizer::Tokenizer::from_gguf(loaded.model->file(), log);
  if (!tok) return tok.error().with_context(flags.model_path);
  loaded.tokenizer = std::make_shared<const tokenizer::Tokenizer>(std::move(tok).value());
  backend::BackendOptions backend_options;
  backend_options.n_threads = flags.threads;
  LATHE_ASSIGN_OR_RETURN(loaded.backend,
                         backend::create(backend::BackendKind::kCpu, backend_options));
  LATHE_ASSIGN_OR_RETURN(loaded.context,
                         runtime::Context::create(loaded.model, loaded.backend, params));
  loaded.load_seconds = timer.elapsed_s();
  return loaded;
}

void print_model_summary(const LoadedModel& loaded, std::FILE* out) {
  const auto& hp = loaded.model->hparams();
  const auto& ctx = *loaded.context;
  std::fprintf(out,
               "model: %s (%s), %" PRId64 " layers, dim %" PRId64 ", heads %" PRId64 "/%" PRId64
               ", ffn %" PRId64 ", vocab %" PRId64 ", %s%s\n",
               hp.name.empty() ? loaded.model->file().path().c_str() : hp.name.c_str(),
               hp.architecture.c_str(), hp.n_layer, hp.n_embd, hp.n_head, hp.n_head_kv, hp.n_ff,
               hp.n_vocab, loaded.model->weight_type_summary().c_str(),
               hp.tied_output ? ", tied output" : "");
  std::fprintf(out, "weights: %.1f MiB (%s), %.2f B parameters; one decode step reads %.1f MiB\n",
               static_cast<double>(loaded.model->weight_bytes()) / (1 << 20),
               loaded.model->file().mapped().is_mmapped() ? "mapped" : "read into memory",
               static_cast<double>(loaded.model->parameter_count()) * 1e-9,
               static_cast<double>(loaded.model->bytes_read_per_token()) / (1 << 20));
  std::fprintf(out, "context: %" PRId64 " cells, KV cache %s/%s %.1f MiB, micro-batch %" PRId64
               ", attention %s\n",
               ctx.params().n_ctx, std::string(tensor_type_name(ctx.params().type_k)).c_str(),
               std::string(tensor_type_name(ctx.params().type_v)).c_str(),
               static_cast<double>(ctx.kv().bytes()) / (1 << 20), ctx.params().n_ubatch,
               ctx.params().flash_attention ? "fused" : "plain");
  std::fprintf(out, "backend: %s; loaded in %.2f s\n", loaded.backend->description().c_str(),
               loaded.load_seconds);
}

std::string rate_text(int64_t tokens, double seconds) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%" PRId64 " tokens in %.2f s (%.1f t/s)", tokens, seconds,
                seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0);
  return buf;
}

}  // namespace lathe::cli
