// Speculative decoding: a cheap source drafts N tokens, the target checks them all in ONE decode
// of N+1 positions, and every token the target agrees with is kept for the price of that one
// pass.
//
//   SpecParams params;
//   params.n_draft = 8;
//   params.is_end = [&](TokenId t) { return tokenizer.is_eog(t); };
//   LATHE_ASSIGN_OR_RETURN(auto draft, ModelDraft::create(draft_ctx, draft_params));
//   LATHE_ASSIGN_OR_RETURN(SpeculativeDecoder dec,
//       SpeculativeDecoder::create(target_ctx, std::move(sampler), std::move(draft), params));
//   LATHE_RETURN_IF_ERROR(dec.prefill(prompt));
//   while (...) {
//     LATHE_ASSIGN_OR_RETURN(StepResult r, dec.step());
//     // r.tokens: the accepted drafts, then the token the target chose
//   }
//
// Acceptance keeps the target's distribution exactly (Leviathan et al. 2023, Chen et al. 2023):
// at each drafted position the target's sampler chain gives p, the draft's gave q; the drafted
// token d is kept with probability min(1, p(d)/q(d)); on the first rejection a token is drawn
// from max(0, p - q), normalized, and the pass ends; when every draft is kept, one more token is
// drawn from the target's p at the position after them. With a greedy chain p and q are point
// masses, so this keeps exactly the tokens the target alone would pick.
//
// Invariant between passes: the target's cache holds every committed token but the last one,
// which is decoded first in the next pass, followed by the draft. Rejected positions are removed
// from the target's cache at once, and from a draft model's cache at its next proposal.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "runtime/context.h"
#include "sampling/sampler.h"
#include "spec/draft.h"

namespace lathe::spec {

struct SpecParams {
  int n_draft = 16;     // most tokens drafted per target pass (--draft)
  int n_draft_min = 0;  // a shorter draft is dropped and the target decodes alone (--draft-min)
  kv::SeqId seq = 0;    // the target's sequence
  // A token for which this returns true ends generation: a pass stops right after it. Empty: no
  // such tokens (--ignore-eos).
  std::function<bool(TokenId)> is_end;
};

// Counters since prefill(). "Pass" = one target decode during generation.
struct SpecStats {
  int64_t n_prompt = 0;
  double prefill_target_seconds = 0.0;  // target prompt processing
  double prefill_draft_seconds = 0.0;   // draft source's prompt processing
  int64_t n_passes = 0;
  int64_t n_drafted = 0;    // tokens proposed and decoded by the target in its passes
  int64_t n_checked = 0;    // drafted tokens the acceptance test reached (it stops at the first
                            // rejection, so the tokens after it are never tested)
  int64_t n_accepted = 0;   // drafted tokens the target kept
  int64_t n_generated = 0;  // tokens committed: accepted drafts plus one per pass (fewer at an end)
  double draft_seconds = 0.0;     // in the draft source (decodes and its sampling)
  double target_seconds = 0.0;    // in target decodes
  double sample_seconds = 0.0;    // target-side sampling and acceptance tests
  double generate_seconds = 0.0;  // wall time of all passes

  // Fraction of drafted tokens accepted, llama-speculative's "accept" (n_accept / n_drafted); 0
  // when nothing was drafted.
  double acceptance() const {
    return n_drafted > 0 ? static_cast<double>(n_accepted) / static_cast<double>(n_drafted) : 0.0;
  }
  // The per-token acceptance rate alpha of the expected speed-up: the fraction of tested drafts
  // that passed. Tokens after a rejection are drafted but never tested, so counting them (as
  // acceptance() does) would understate alpha.
  double alpha() const {
    return n_checked > 0 ? static_cast<double>(n_accepted) / static_cast<double>(n_checked) : 0.0;
  }
  // Tokens committed per target pass (mean accepted length including the target's own token).
  double tokens_per_pass() const {
    return n_passes > 0 ? static_cast<double>(n_generated) / static_cast<double>(n_passes) : 0.0;
  }
  double drafted_per_pass() const {
    return n_passes > 0 ? static_cast<double>(n_drafted) / static_cast<double>(n_passes) : 0.0;
  }
  double accepted_per_pass() const {
    return n_passes > 0 ? static_cast<double>(n_accepted) / static_cast<double>(n_passes) : 0.0;
  }
  double tokens_per_second() const {
    return generate_seconds > 0 ? static_cast<double>(n_generated) / generate_seconds : 0.0;
  }
};

struct StepResult {
  std::vector<TokenId> tokens;  // accepted drafts, then the target's token (may end early at an
                                // end token or at max_tokens)
  int n_drafted = 0;            // drafted tokens the target decoded
  int n_checked = 0;            // of which the acceptance test reached
  int n_accepted = 0;           // of which it kept
  bool ended = false;           // the last token is an end token
};

struct GenerateOptions {
  int64_t n_tokens = -1;  // stop after this many tokens; -1: at an end token or a full context
  // Called after each pass with its tokens; an error stops generation and is returned.
  std::function<Status(std::span<const TokenId>)> on_tokens;
};

struct GenerateResult {
  std::vector<TokenId> tokens;
  bool ended = false;         // stopped at an end token
  bool context_full = false;  // stopped because the target's context is full
};

// The expected speed-up of speculative decoding over the target alone, from Leviathan et al.:
// (1 - alpha^(n+1)) / ((1 - alpha)(1 + c n)), with alpha the acceptance rate, n the tokens
// drafted per pass, and c the cost of one draft decode relative to one target decode of a single
// token. It assumes that verifying n+1 positions costs what decoding one does (true when decoding
// is bound by memory bandwidth) and that tokens are accepted independently with probability
// alpha.
double expected_speedup(double alpha, double c, double n);

// The same with the measured cost of a verification pass (in single-token target decodes) in
// place of the 1 the formula assumes: tokens per pass / (pass_cost + c n). 0 when pass_cost is
// not positive.
double expected_speedup_at_pass_cost(double alpha, double c, double n, double pass_cost);

class SpeculativeDecoder {
 public:
  // `target` must outlive the decoder. `sampler` is the target's chain (over target.n_vocab());
  // the decoder owns it from here and feeds it the prompt and every committed token.
  static Expected<SpeculativeDecoder> create(runtime::Context& target, sampling::Sampler sampler,
                                             std::unique_ptr<DraftSource> draft,
                                             const SpecParams& params);

  // Starts a generation from `prompt`. The target's sequence may already hold the first
  // n_cached tokens of the prompt at positions 0.. (a prompt decoded earlier, e.g. by a bench):
  // they are kept, and the rest is decoded, except the last token, which the first pass decodes
  // with the first draft. Resets the statistics.
  Status prefill(std::span<const TokenId> prompt, int64_t n_cached = 0);

  // One target pass: draft, verify in one decode, keep the accepted tokens. max_tokens caps the
  // tokens this pass may commit (-1: no cap); the draft is shortened to fit. Fails with
  // out_of_range when the target's context cannot take another token.
  Expected<StepResult> step(int64_t max_tokens = -1);

  // Passes until n_tokens are committed, an end token, or a full context.
  Expected<GenerateResult> generate(const GenerateOptions& options);

  const SpecStats& stats() const { return stats_; }
  // Every committed token, the prompt first.
  std::span<const TokenId> history() const { return history_; }
  // Tokens the target can still take before its context is full.
  int64_t room() const;
  DraftSource& draft() { return *draft_; }
  runtime::Context& target() { return *target_; }
  const sampling::Sampler& sampler() const { return sampler_; }
  const SpecParams& params() const { return params_; }

 private:
  SpeculativeDecoder(runtime::Context& target, sampling::Sampler sampler,
                     std::unique_ptr<DraftSource> draft, const SpecParams& params);
  // Draws from max(0, p - q), normalized, with the target sampler's stream.
  Expected<TokenId> draw_residual(std::span<const sampling::TokenData> p,
                                  std::span<const sampling::TokenData> q, TokenId point_mass);

  runtime::Context* target_;
  sampling::Sampler sampler_;
  std::unique_ptr<DraftSource> draft_;
  SpecParams params_;
  std::vector<TokenId> history_;
  bool started_ = false;
  SpecStats stats_;
  Draft draft_tokens_;
  runtime::Batch batch_;
  std::vector<float> q_dense_;                 // q by token id during a residual draw
  std::vector<sampling::TokenData> residual_;  // scratch
};

}  // namespace lathe::spec
