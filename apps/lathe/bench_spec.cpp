#include "bench_spec.h"

#include <algorithm>

#include "gguf/gguf.h"
#include "sampling/sampler.h"
#include "spec/model_draft.h"
#include "spec/plain.h"
#include "spec/vocab_check.h"
#include "tokenizer/vocab.h"

namespace lathe::cli {

namespace {

// Greedy: the chain keeps one candidate, so the draft's guesses are point masses and the output
// is the target's argmax sequence whichever way it is generated.
sampling::SamplerParams greedy() {
  sampling::SamplerParams p;
  p.temp = 0.0f;
  p.seed = 0;
  return p;
}

void add(spec::SpecStats& sum, const spec::SpecStats& s) {
  sum.n_prompt = s.n_prompt;
  sum.n_passes += s.n_passes;
  sum.n_drafted += s.n_drafted;
  sum.n_checked += s.n_checked;
  sum.n_accepted += s.n_accepted;
  sum.n_generated += s.n_generated;
  sum.draft_seconds += s.draft_seconds;
  sum.target_seconds += s.target_seconds;
  sum.sample_seconds += s.sample_seconds;
  sum.generate_seconds += s.generate_seconds;
}

double per(double seconds, int64_t count) {
  return count > 0 ? seconds / static_cast<double>(count) : 0.0;
}

}  // namespace

double SpecBenchResult::cost_ratio() const {
  const double target = per(target_decode_seconds, target_decodes);
  return target > 0 ? per(draft_decode_seconds, draft_decodes) / target : 0.0;
}

double SpecBenchResult::pass_cost() const {
  const double target = per(target_decode_seconds, target_decodes);
  return target > 0 ? per(stats.target_seconds, stats.n_passes) / target : 0.0;
}

double SpecBenchResult::expected_speedup() const {
  return spec::expected_speedup(stats.alpha(), cost_ratio(), stats.drafted_per_pass());
}

double SpecBenchResult::expected_speedup_at_pass_cost() const {
  return spec::expected_speedup_at_pass_cost(stats.alpha(), cost_ratio(), stats.drafted_per_pass(),
                                             pass_cost());
}

Expected<SpecBenchResult> run_spec_bench(const std::shared_ptr<const model::Model>& target,
                                         const std::shared_ptr<backend::Backend>& target_backend,
                                         const std::shared_ptr<const model::Model>& draft,
                                         const std::shared_ptr<backend::Backend>& draft_backend,
                                         const SpecBenchParams& params,
                                         const std::function<void(const std::string&)>& progress) {
  if (params.prompt.empty()) return invalid_argument("the sd test needs a start token");
  if (params.n_gen < 1 || params.n_draft < 1) {
    return invalid_argument("the sd test needs -n and --draft of at least 1");
  }
  const std::vector<int32_t>& prompt = params.prompt;
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  // Room for every generated token and a full draft after the last one, so that no pass is cut
  // short by the context.
  runtime::ContextParams cp = params.context;
  cp.n_ctx = n_prompt + params.n_gen + params.n_draft;
  LATHE_ASSIGN_OR_RETURN(auto target_ctx, runtime::Context::create(target, target_backend, cp));
  LATHE_ASSIGN_OR_RETURN(auto draft_ctx, runtime::Context::create(draft, draft_backend, cp));
  const auto n_vocab = static_cast<int32_t>(target_ctx->n_vocab());

  spec::ModelDraftParams dp;
  dp.sampler = greedy();
  LATHE_ASSIGN_OR_RETURN(auto source, spec::ModelDraft::create(*draft_ctx, dp));
  LATHE_ASSIGN_OR_RETURN(sampling::Sampler sampler, sampling::Sampler::create(greedy(), n_vocab));
  spec::SpecParams sp;
  sp.n_draft = params.n_draft;  // no end tokens: every run generates exactly n_gen tokens
  LATHE_ASSIGN_OR_RETURN(
      spec::SpeculativeDecoder dec,
      spec::SpeculativeDecoder::create(*target_ctx, std::move(sampler), std::move(source), sp));

  // The start (BOS and the depth) is decoded once, untimed, and kept by every run.
  progress(params.warmup ? "warm-up" : "decoding the start");
  {
    LATHE_ASSIGN_OR_RETURN(sampling::Sampler plain, sampling::Sampler::create(greedy(), n_vocab));
    LATHE_ASSIGN_OR_RETURN(
        spec::PlainResult ignored,
        spec::generate_plain(*target_ctx, plain, prompt, 0, params.warmup ? 1 : 0));
    (void)ignored;
  }
  if (params.warmup) {
    // One full pass: the draft's decodes and a verification batch of N+1 positions.
    LATHE_RETURN_IF_ERROR(dec.prefill(prompt, n_prompt));
    spec::GenerateOptions go;
    go.n_tokens = std::min(params.n_gen, params.n_draft + 1);
    LATHE_ASSIGN_OR_RETURN(spec::GenerateResult ignored, dec.generate(go));
    (void)ignored;
  }

  SpecBenchResult out;
  for (int rep = 0; rep < params.reps; ++rep) {
    progress("run " + std::to_string(rep + 1) + "/" + std::to_string(params.reps));
    // The target alone first, then speculation, each from the same cached start.
    LATHE_ASSIGN_OR_RETURN(sampling::Sampler plain_sampler,
                           sampling::Sampler::create(greedy(), n_vocab));
    LATHE_ASSIGN_OR_RETURN(
        spec::PlainResult plain,
        spec::generate_plain(*target_ctx, plain_sampler, prompt, n_prompt, params.n_gen));
    out.baseline_samples_ns.push_back(plain.generate_seconds * 1e9);
    out.target_decodes += plain.n_decodes;
    out.target_decode_seconds += plain.decode_seconds;

    LATHE_RETURN_IF_ERROR(dec.prefill(prompt, n_prompt));
    spec::GenerateOptions go;
    go.n_tokens = params.n_gen;
    LATHE_ASSIGN_OR_RETURN(spec::GenerateResult gen, dec.generate(go));
    if (static_cast<int64_t>(gen.tokens.size()) != params.n_gen) {
      return internal_error("speculative decoding stopped after ", gen.tokens.size(), " of ",
                            params.n_gen, " tokens");
    }
    const spec::SpecStats& s = dec.stats();
    out.samples_ns.push_back(s.generate_seconds * 1e9);
    add(out.stats, s);
    const spec::DraftCost cost = dec.draft().cost();
    out.draft_decodes += cost.n_single_decodes;
    out.draft_decode_seconds += cost.single_decode_seconds;
    out.identical = out.identical && gen.tokens == plain.tokens;
  }
  return out;
}

Status check_draft_vocab(const std::string& target_path, const std::string& draft_path) {
  const Logger silent;  // a vocabulary's warnings would break the one-line error
  auto read = [&silent](const std::string& path) -> Expected<tokenizer::Vocab> {
    auto file = gguf::File::open(path);
    if (!file) return file.error().with_context(path);
    auto vocab = tokenizer::Vocab::from_gguf(*file, silent);
    if (!vocab) return vocab.error().with_context(path);
    return vocab;
  };
  LATHE_ASSIGN_OR_RETURN(tokenizer::Vocab target, read(target_path));
  LATHE_ASSIGN_OR_RETURN(tokenizer::Vocab draft, read(draft_path));
  return spec::check_vocab_compatible(target, draft);
}

}  // namespace lathe::cli
