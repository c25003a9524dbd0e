// `lathe speculative`: a draft model (or n-gram lookup) guesses, the target verifies N guesses in
// one decode. Streams the text like `lathe run`, then prints llama-speculative's summary lines
// and what lathe adds: mean accepted length, the draft/target cost ratio, the measured speed-up
// over the target alone (plain decoding of the same number of tokens, same context, same run),
// and the speed-up the acceptance rate and cost ratio predict.
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "commands.h"
#include "common.h"
#include "core/cpu_features.h"
#include "core/timer.h"
#include "spec/decoder.h"
#include "spec/lookup_draft.h"
#include "spec/model_draft.h"
#include "spec/plain.h"
#include "spec/vocab_check.h"
#include "spec_command.h"

namespace lathe::cli {

namespace {

struct SpecOptions {
  std::string draft_path;    // -md
  int draft_threads = -1;    // -td; -1: same as -t
  int64_t draft_ctx = -1;    // -cd; -1: same as -c
  std::string draft_type_k;  // -ctkd; empty: same as -ctk
  std::string draft_type_v;  // -ctvd
  int n_draft = 16;          // --draft
  int n_draft_min = 0;       // --draft-min
  float p_min = 0.0f;        // --draft-p-min
  int lookup = 0;            // --lookup N: n-gram drafts of up to N tokens
  int lookup_ngram = 3;      // --lookup-ngram
  std::string prompt;
  std::string prompt_file;
  int64_t n_predict = -1;
  bool escape = false;
  bool ignore_eos = false;
  bool no_display_prompt = false;
  bool baseline = true;
};

std::string unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    switch (text[++i]) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case '\\':
        out += '\\';
        break;
      case '"':
        out += '"';
        break;
      case '\'':
        out += '\'';
        break;
      default:
        out += '\\';
        out += text[i];
    }
  }
  return out;
}

// ArgParser's messages start with "speculative: ", which fail() already writes.
std::string without_prefix(const std::string& message) {
  const std::string prefix = "speculative: ";
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

std::string file_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The draft model: its own weights, tokenizer and context. It shares the target's backend (and
// so its thread pool) when the thread counts agree: two pools taking turns on the same cores
// would only spin against each other. A different -td gets a backend of its own, as a draft on
// another device later will.
struct DraftModel {
  std::shared_ptr<const model::Model> model;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::shared_ptr<backend::Backend> backend;
  std::unique_ptr<runtime::Context> context;
};

Expected<DraftModel> load_draft(const ModelFlags& target_flags, const LoadedModel& target,
                                const SpecOptions& opt, const Logger& log) {
  ModelFlags flags = target_flags;
  flags.model_path = opt.draft_path;
  if (opt.draft_ctx >= 0) flags.n_ctx = opt.draft_ctx;
  if (!opt.draft_type_k.empty()) flags.cache_type_k = opt.draft_type_k;
  if (!opt.draft_type_v.empty()) flags.cache_type_v = opt.draft_type_v;
  auto params = context_params(flags);
  if (!params) return params.error().with_context("draft");
  DraftModel out;
  model::LoadOptions load_options;
  load_options.mode = flags.no_mmap ? FileLoadMode::kRead : FileLoadMode::kMmap;
  load_options.logger = &log;
  LATHE_ASSIGN_OR_RETURN(out.model, model::Model::load(flags.model_path, load_options));
  auto tok = tokenizer::Tokenizer::from_gguf(out.model->file(), log);
  if (!tok) return tok.error().with_context(flags.model_path);
  out.tokenizer = std::make_shared<const tokenizer::Tokenizer>(std::move(tok).value());
  // -t and -td were resolved when parsed (0: one per physical core); an absent -t is still 0.
  const int target_threads =
      target_flags.threads > 0 ? target_flags.threads : default_thread_count();
  const int threads = opt.draft_threads < 0 ? target_threads : opt.draft_threads;
  if (threads == target_threads) {
    out.backend = target.backend;
  } else {
    backend::BackendOptions backend_options;
    backend_options.n_threads = threads;
    LATHE_ASSIGN_OR_RETURN(out.backend,
                           backend::create(backend::BackendKind::kCpu, backend_options));
  }
  LATHE_ASSIGN_OR_RETURN(out.context, runtime::Context::create(out.model, out.backend, *params));
  return out;
}

void print_rate(const char* what, int64_t tokens, double seconds) {
  std::fprintf(stderr, "%s %4" PRId64 " tokens in %8.3f seconds, speed: %8.3f t/s\n", what, tokens,
               seconds, seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0);
}

Status speculate(ModelFlags& model_flags, SamplingFlags& sampling_flags, SpecOptions& opt) {
  const Logger log(model_flags.verbose ? LogLevel::kInfo : LogLevel::kWarn, stderr);
  const bool use_lookup = opt.lookup > 0;
  if (use_lookup && !opt.draft_path.empty()) {
    return invalid_argument("give a draft model (-md) or --lookup, not both");
  }
  if (!use_lookup && opt.draft_path.empty()) {
    return invalid_argument("no draft given: -md FILE (a draft model) or --lookup N (n-grams)");
  }
  if (opt.lookup < 0) return invalid_argument("--lookup must not be negative");
  if (!(opt.p_min >= 0.0f && opt.p_min <= 1.0f)) {
    return invalid_argument("--draft-p-min ", opt.p_min, " is outside [0, 1]");
  }
  if (!opt.prompt_file.empty()) {
    std::ifstream in(opt.prompt_file, std::ios::binary);
    if (!in) return io_error("cannot read prompt file ", opt.prompt_file);
    std::ostringstream text;
    text << in.rdbuf();
    opt.prompt = text.str();
  }
  if (opt.escape) opt.prompt = unescape(opt.prompt);

  LATHE_ASSIGN_OR_RETURN(LoadedModel target, load_model(model_flags, log));
  if (model_flags.verbose) print_model_summary(target, stderr);
  runtime::Context& ctx = *target.context;
  const tokenizer::Tokenizer& tok = *target.tokenizer;
  LATHE_ASSIGN_OR_RETURN(sampling::Sampler sampler,
                         make_sampler(sampling_flags, static_cast<int32_t>(ctx.n_vocab())));
  const sampling::SamplerParams resolved = [&] {
    sampling::SamplerParams p = sampler.params();
    p.seed = sampler.seed();
    return p;
  }();
  std::function<bool(spec::TokenId)> is_end;
  if (!opt.ignore_eos) is_end = [&tok](spec::TokenId t) { return tok.is_eog(t); };

  DraftModel draft_model;
  std::unique_ptr<spec::DraftSource> source;
  if (use_lookup) {
    spec::LookupParams lp;
    lp.ngram_max = opt.lookup_ngram;
    LATHE_ASSIGN_OR_RETURN(source, spec::LookupDraft::create(lp));
    opt.n_draft = opt.lookup;
  } else {
    LATHE_ASSIGN_OR_RETURN(draft_model, load_draft(model_flags, target, opt, log));
    LATHE_RETURN_IF_ERROR(
        spec::check_vocab_compatible(tok.vocab(), draft_model.tokenizer->vocab()));
    spec::ModelDraftParams dp;
    dp.sampler = resolved;
    dp.sampler.seed = spec::derive_draft_seed(resolved.seed);
    dp.p_min = opt.p_min;
    dp.is_end = is_end;
    dp.name = file_name(opt.draft_path);
    LATHE_ASSIGN_OR_RETURN(source, spec::ModelDraft::create(*draft_model.context, dp));
  }
  const std::string source_text = source->describe();
  if (model_flags.verbose) {
    std::fprintf(stderr, "sampler: %s\n", sampler.describe().c_str());
    std::fprintf(stderr, "draft: %s; backend %s\n", source_text.c_str(),
                 draft_model.backend ? draft_model.backend->description().c_str() : "none");
  }

  std::vector<int32_t> prompt =
      tok.encode(opt.prompt, /*add_special=*/true, /*parse_special=*/true);
  if (prompt.empty())
    return invalid_argument("the prompt is empty and the model adds no BOS token");
  const int64_t n_ctx = ctx.params().n_ctx;
  if (static_cast<int64_t>(prompt.size()) > n_ctx) {
    return out_of_range("the prompt has ", prompt.size(), " tokens but the context holds ", n_ctx,
                        " (use a larger -c)");
  }

  spec::SpecParams sp;
  sp.n_draft = opt.n_draft;
  sp.n_draft_min = opt.n_draft_min;
  sp.is_end = is_end;
  LATHE_ASSIGN_OR_RETURN(spec::SpeculativeDecoder dec,
                         spec::SpeculativeDecoder::create(ctx, sampler, std::move(source), sp));

  if (!opt.no_display_prompt) {
    std::fputs(opt.prompt.c_str(), stdout);
    std::fflush(stdout);
  }
  LATHE_RETURN_IF_ERROR(dec.prefill(prompt));

  tokenizer::StreamingDetokenizer::Options detok_options;
  detok_options.strip_leading_space = false;  // the text continues the prompt
  tokenizer::StreamingDetokenizer detok(tok, detok_options);
  spec::GenerateOptions go;
  go.n_tokens = opt.n_predict;
  go.on_tokens = [&](std::span<const spec::TokenId> tokens) {
    for (spec::TokenId t : tokens) {
      if (is_end && is_end(t)) break;
      const std::string text = detok.push(t);
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
    std::fflush(stdout);
    return Status();
  };
  LATHE_ASSIGN_OR_RETURN(spec::GenerateResult gen, dec.generate(go));
  const std::string rest = detok.flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputs("\n", stdout);
  std::fflush(stdout);
  if (gen.context_full) {
    std::fprintf(stderr,
                 "lathe speculative: stopped: the context of %" PRId64 " tokens is full (use -c)\n",
                 n_ctx);
  }

  const spec::SpecStats& s = dec.stats();
  const spec::DraftCost cost = dec.draft().cost();
  print_rate("encoded", s.n_prompt, s.prefill_target_seconds + s.prefill_draft_seconds);
  print_rate("decoded", s.n_generated, s.generate_seconds);
  std::fprintf(stderr, "\n");
  std::fprintf(stderr, "n_draft   = %d\n", sp.n_draft);
  std::fprintf(stderr, "n_predict = %" PRId64 "\n", s.n_generated);
  std::fprintf(stderr, "n_drafted = %" PRId64 "\n", s.n_drafted);
  std::fprintf(stderr, "n_accept  = %" PRId64 "\n", s.n_accepted);
  std::fprintf(stderr, "accept    = %.3f%%\n", 100.0 * s.acceptance());
  std::fprintf(stderr,
               "alpha     = %.3f (%" PRId64 " accepted of %" PRId64
               " tested; a rejection ends a pass untested)\n",
               s.alpha(), s.n_accepted, s.n_checked);
  std::fprintf(stderr, "\n");
  std::fprintf(stderr, "draft:    %s; --draft %d, --draft-min %d\n", source_text.c_str(),
               sp.n_draft, sp.n_draft_min);
  std::fprintf(stderr,
               "passes:   %" PRId64
               " target decodes; mean accepted length %.2f tokens per pass "
               "(%.2f drafted, %.2f accepted + 1 from the target)\n",
               s.n_passes, s.tokens_per_pass(), s.drafted_per_pass(), s.accepted_per_pass());
  std::fprintf(stderr, "time:     draft %.3f s, target %.3f s, sampling %.3f s\n", s.draft_seconds,
               s.target_seconds, s.sample_seconds);

  if (!opt.baseline || s.n_generated == 0) {
    std::fprintf(stderr, "speed-up: not measured (%s)\n",
                 opt.baseline ? "nothing was generated" : "--no-baseline");
    return Status();
  }
  // The baseline: the target alone, one token per decode, the same number of tokens from the
  // same prompt (kept in the cache), with a fresh copy of the same sampler chain.
  LATHE_ASSIGN_OR_RETURN(sampling::Sampler plain_sampler,
                         sampling::Sampler::create(resolved, static_cast<int32_t>(ctx.n_vocab())));
  for (int32_t t : prompt) LATHE_RETURN_IF_ERROR(plain_sampler.accept(t));
  LATHE_ASSIGN_OR_RETURN(spec::PlainResult plain,
                         spec::generate_plain(ctx, plain_sampler, prompt,
                                              static_cast<int64_t>(prompt.size()), s.n_generated));
  const double t_target = plain.seconds_per_decode();
  // c: one draft decode of one token over one target decode of one token. A model-free source
  // has no decodes; its time per drafted token stands in.
  double t_draft = cost.seconds_per_single_decode();
  if (cost.n_single_decodes == 0) {
    t_draft = s.n_drafted > 0 ? s.draft_seconds / static_cast<double>(s.n_drafted) : 0.0;
  }
  const double c = t_target > 0 ? t_draft / t_target : 0.0;
  const double n_mean = s.drafted_per_pass();
  const double expected = spec::expected_speedup(s.alpha(), c, n_mean);
  // The formula assumes a pass of N+1 positions costs one single-token decode; this says what it
  // costs here.
  const double pass_cost = s.n_passes > 0 && t_target > 0
                               ? s.target_seconds / static_cast<double>(s.n_passes) / t_target
                               : 0.0;
  const double measured = s.generate_seconds > 0 ? plain.generate_seconds / s.generate_seconds : 0;
  print_rate("baseline:", s.n_generated, plain.generate_seconds);
  std::fprintf(stderr, "cost:     1-token decode: draft %.3f ms, target %.3f ms -> c = %.3f\n",
               t_draft * 1e3, t_target * 1e3, c);
  // The same formula with the measured pass cost in place of 1: what is left unexplained after
  // it is overhead (sampling, catching the draft up, timer noise).
  const double expected_at_cost =
      spec::expected_speedup_at_pass_cost(s.alpha(), c, n_mean, pass_cost);
  std::fprintf(stderr,
               "verify:   a target pass of %.2f positions costs %.2f single-token decodes (the "
               "formula assumes 1; at %.2f it expects %.2fx)\n",
               n_mean + 1.0, pass_cost, pass_cost, expected_at_cost);
  std::fprintf(
      stderr,
      "speed-up = %.2fx over the target alone (expected %.2fx = (1 - a^(N+1)) / ((1 - a)(1 "
      "+ cN)) with a = %.3f, c = %.3f, N = %.2f drafted per pass)\n",
      measured, expected, s.alpha(), c, n_mean);
  if (resolved.temp <= 0.0f) {
    const auto& spec_tokens = gen.tokens;
    size_t first_diff = 0;
    while (first_diff < spec_tokens.size() && first_diff < plain.tokens.size() &&
           spec_tokens[first_diff] == plain.tokens[first_diff]) {
      ++first_diff;
    }
    if (first_diff == spec_tokens.size()) {
      std::fprintf(stderr, "greedy:   output identical to the target alone (%zu tokens)\n",
                   spec_tokens.size());
    } else {
      std::fprintf(stderr, "greedy:   output DIFFERS from the target alone at token %zu\n",
                   first_diff);
    }
  }
  return Status();
}

}  // namespace

int run_speculative(int argc, char** argv) {
  ModelFlags model_flags;
  SamplingFlags sampling_flags;
  SpecOptions opt;
  ArgParser args("speculative",
                 "Speculative decoding: a draft model (-md) or n-gram lookup (--lookup) guesses "
                 "tokens, the target (-m) checks them in one decode. Streams the text; ends with "
                 "acceptance, timings and the speed-up over the target alone on stderr.");
  add_model_flags(args, model_flags);
  args.option({"-md", "--model-draft"}, "FILE", "draft model (GGUF) with the target's vocabulary",
              &opt.draft_path);
  args.threads({"-td", "--threads-draft"},
               "threads for the draft (default: as -t; then both share one thread pool)",
               &opt.draft_threads);
  args.option({"-cd", "--ctx-size-draft"}, "N", "draft context size (default: as -c)",
              &opt.draft_ctx);
  args.option({"-ctkd", "--cache-type-k-draft"}, "TYPE",
              "draft KV cache type for K (default: -ctk)", &opt.draft_type_k);
  args.option({"-ctvd", "--cache-type-v-draft"}, "TYPE",
              "draft KV cache type for V (default: -ctv)", &opt.draft_type_v);
  args.option({"--draft", "--draft-max", "--draft-n"}, "N",
              "most tokens drafted per target pass (default 16)", &opt.n_draft);
  args.option({"--draft-min", "--draft-n-min"}, "N",
              "drop drafts shorter than this; the target decodes alone (default 0)",
              &opt.n_draft_min);
  args.option({"--draft-p-min"}, "P",
              "stop drafting when the draft's best token is less likely than P (default 0: never)",
              &opt.p_min);
  args.option({"--lookup"}, "N",
              "no draft model: draft up to N tokens per pass from n-grams of the prompt and output",
              &opt.lookup);
  args.option({"--lookup-ngram"}, "N", "longest n-gram --lookup matches (default 3)",
              &opt.lookup_ngram);
  args.option({"-p", "--prompt"}, "TEXT", "the prompt", &opt.prompt);
  args.option({"-f", "--file"}, "FILE", "read the prompt from a file", &opt.prompt_file);
  args.option({"-n", "--n-predict"}, "N",
              "tokens to generate (default -1: until end of text or a full context)",
              &opt.n_predict);
  args.flag({"-e", "--escape"}, "process escapes (\\n, \\t, ...) in the prompt", &opt.escape);
  args.flag({"--ignore-eos"}, "keep generating past end-of-text tokens", &opt.ignore_eos);
  args.flag({"--no-display-prompt"}, "print only the generated text", &opt.no_display_prompt);
  args.flag({"--baseline"},
            "measure the target alone on as many tokens, for the speed-up (default)",
            [&opt] { opt.baseline = true; });
  args.flag({"--no-baseline"}, "skip the baseline", [&opt] { opt.baseline = false; });
  add_sampling_flags(args, sampling_flags);
  Status status = args.parse(argc, argv);
  if (!status.ok()) return fail("speculative", without_prefix(status.message()));
  if (args.help_requested()) {
    std::fputs(args.help().c_str(), stdout);
    return 0;
  }
  status = speculate(model_flags, sampling_flags, opt);
  if (!status.ok()) return fail("speculative", status.message());
  return 0;
}

}  // namespace lathe::cli
