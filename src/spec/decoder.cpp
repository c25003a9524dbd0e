#include "spec/decoder.h"

#include <algorithm>
#include <cmath>

#include "core/timer.h"

namespace lathe::spec {

double expected_speedup(double alpha, double c, double n) {
  alpha = std::clamp(alpha, 0.0, 1.0);
  n = std::max(n, 0.0);
  c = std::max(c, 0.0);
  // Expected tokens per pass: 1 + alpha + ... + alpha^n, whose closed form divides by zero at
  // alpha = 1, where the sum is n + 1.
  const double tokens =
      alpha > 1.0 - 1e-9 ? n + 1.0 : (1.0 - std::pow(alpha, n + 1.0)) / (1.0 - alpha);
  return tokens / (1.0 + c * n);
}

double expected_speedup_at_pass_cost(double alpha, double c, double n, double pass_cost) {
  if (!(pass_cost > 0)) return 0.0;
  const double cn = std::max(c, 0.0) * std::max(n, 0.0);
  return expected_speedup(alpha, c, n) * (1.0 + cn) / (pass_cost + cn);
}

SpeculativeDecoder::SpeculativeDecoder(runtime::Context& target, sampling::Sampler sampler,
                                       std::unique_ptr<DraftSource> draft, const SpecParams& params)
    : target_(&target), sampler_(std::move(sampler)), draft_(std::move(draft)), params_(params) {}

Expected<SpeculativeDecoder> SpeculativeDecoder::create(runtime::Context& target,
                                                        sampling::Sampler sampler,
                                                        std::unique_ptr<DraftSource> draft,
                                                        const SpecParams& params) {
  if (!draft) return invalid_argument("speculative decoding needs a draft source");
  if (params.n_draft < 0) return invalid_argument("--draft must not be negative");
  if (params.n_draft_min < 0) return invalid_argument("--draft-min must not be negative");
  if (params.n_draft_min > params.n_draft) {
    return invalid_argument("--draft-min ", params.n_draft_min, " exceeds --draft ",
                            params.n_draft);
  }
  if (params.seq < 0 || params.seq >= kv::kMaxSequences) {
    return invalid_argument("sequence ", params.seq, " is outside 0..", kv::kMaxSequences - 1);
  }
  if (sampler.n_vocab() != target.n_vocab()) {
    return invalid_argument("the sampler covers ", sampler.n_vocab(), " tokens but the target has ",
                            target.n_vocab());
  }
  SpeculativeDecoder dec(target, std::move(sampler), std::move(draft), params);
  dec.q_dense_.assign(static_cast<size_t>(target.n_vocab()), 0.0f);
  dec.batch_.reserve(static_cast<size_t>(params.n_draft) + 1);
  return dec;
}

int64_t SpeculativeDecoder::room() const {
  if (history_.empty()) return 0;
  return target_->params().n_ctx - (static_cast<int64_t>(history_.size()) - 1);
}

Status SpeculativeDecoder::prefill(std::span<const TokenId> prompt, int64_t n_cached) {
  started_ = false;
  if (prompt.empty()) return invalid_argument("the prompt is empty");
  const int64_t n_ctx = target_->params().n_ctx;
  if (static_cast<int64_t>(prompt.size()) > n_ctx) {
    return out_of_range("the prompt has ", prompt.size(), " tokens but the context holds ", n_ctx);
  }
  const int64_t pending = static_cast<int64_t>(prompt.size()) - 1;
  const int64_t keep = std::clamp<int64_t>(n_cached, 0, pending);
  kv::KvCache& kv = target_->kv();
  if (keep > 0 && kv.seq_pos_max(params_.seq) < keep - 1) {
    return invalid_argument("prefill: the target holds ", kv.seq_pos_max(params_.seq) + 1,
                            " positions of the sequence, not the ", keep, " said to be cached");
  }
  kv.seq_rm(params_.seq, static_cast<int32_t>(keep), -1);

  stats_ = {};
  stats_.n_prompt = static_cast<int64_t>(prompt.size());
  Stopwatch timer;
  if (keep < pending) {
    batch_.clear();
    batch_.add_sequence(
        prompt.subspan(static_cast<size_t>(keep), static_cast<size_t>(pending - keep)),
        static_cast<int32_t>(keep), params_.seq, /*last_wants_logits=*/false);
    LATHE_RETURN_IF_ERROR(target_->decode(batch_));
  }
  stats_.prefill_target_seconds = timer.elapsed_s();
  for (TokenId t : prompt) LATHE_RETURN_IF_ERROR(sampler_.accept(t));
  history_.assign(prompt.begin(), prompt.end());

  timer.restart();
  draft_->reset_cost();
  LATHE_RETURN_IF_ERROR(draft_->begin(prompt).with_context("draft"));
  stats_.prefill_draft_seconds = timer.elapsed_s();
  started_ = true;
  return Status();
}

Expected<TokenId> SpeculativeDecoder::draw_residual(std::span<const sampling::TokenData> p,
                                                    std::span<const sampling::TokenData> q,
                                                    TokenId point_mass) {
  const auto n_vocab = static_cast<TokenId>(q_dense_.size());
  auto in_vocab = [n_vocab](TokenId t) { return t >= 0 && t < n_vocab; };
  if (q.empty()) {
    if (in_vocab(point_mass)) q_dense_[static_cast<size_t>(point_mass)] = 1.0f;
  } else {
    for (const auto& td : q) {
      if (in_vocab(td.id)) q_dense_[static_cast<size_t>(td.id)] += td.p;
    }
  }
  residual_.clear();
  double sum = 0.0;
  // Tokens outside p's support have p = 0, so their residual is 0: only p's candidates matter.
  for (const auto& td : p) {
    const float r = td.p - q_dense_[static_cast<size_t>(td.id)];
    if (r > 0.0f) {
      residual_.push_back({td.id, td.logit, r});
      sum += r;
    }
  }
  if (q.empty()) {
    if (in_vocab(point_mass)) q_dense_[static_cast<size_t>(point_mass)] = 0.0f;
  } else {
    for (const auto& td : q) {
      if (in_vocab(td.id)) q_dense_[static_cast<size_t>(td.id)] = 0.0f;
    }
  }
  // A rejection means p(d) < q(d), so some other token has p > q and the sum is positive. Only
  // rounding (p and q equal up to float error) can leave it empty; p itself is then the answer.
  if (residual_.empty() || !(sum > 0.0)) return sampler_.draw();
  const double u = sampler_.uniform() * sum;
  double cum = 0.0;
  for (const auto& td : residual_) {
    cum += td.p;
    if (cum > u) return td.id;
  }
  return residual_.back().id;
}

Expected<StepResult> SpeculativeDecoder::step(int64_t max_tokens) {
  if (!started_) return invalid_argument("step: call prefill() first");
  StepResult result;
  if (max_tokens == 0) return result;
  Stopwatch pass_timer;
  const int64_t n_ctx = target_->params().n_ctx;
  const int64_t n_past = static_cast<int64_t>(history_.size()) - 1;  // the pending token's position
  if (n_past >= n_ctx) {
    return out_of_range("the target's context of ", n_ctx, " tokens is full");
  }
  // Verification decodes positions n_past .. n_past + n; a pass commits at most n + 1 tokens.
  int64_t max_draft = std::min<int64_t>(params_.n_draft, n_ctx - n_past - 1);
  if (max_tokens > 0) max_draft = std::min(max_draft, max_tokens - 1);

  Draft& draft = draft_tokens_;
  draft.clear();
  if (max_draft > 0 && max_draft >= params_.n_draft_min) {
    Stopwatch timer;
    LATHE_RETURN_IF_ERROR(
        draft_->propose(history_, static_cast<int>(max_draft), draft).with_context("draft"));
    stats_.draft_seconds += timer.elapsed_s();
    if (draft.dists.size() != draft.tokens.size()) {
      return internal_error("draft: ", draft.tokens.size(), " tokens but ", draft.dists.size(),
                            " distributions");
    }
    draft.truncate(static_cast<size_t>(max_draft));
    // A token the target cannot decode (vocabularies may differ in padding) ends the draft.
    for (size_t i = 0; i < draft.size(); ++i) {
      if (draft.tokens[i] < 0 || draft.tokens[i] >= target_->n_vocab()) {
        draft.truncate(i);
        break;
      }
    }
    if (static_cast<int64_t>(draft.size()) < params_.n_draft_min) draft.clear();
  }

  const size_t n = draft.size();
  batch_.clear();
  batch_.add(history_.back(), static_cast<int32_t>(n_past), {params_.seq}, true);
  for (size_t i = 0; i < n; ++i) {
    batch_.add(draft.tokens[i], static_cast<int32_t>(n_past + 1 + static_cast<int64_t>(i)),
               {params_.seq}, true);
  }
  Stopwatch timer;
  LATHE_RETURN_IF_ERROR(target_->decode(batch_));
  stats_.target_seconds += timer.elapsed_s();

  timer.restart();
  const auto n_vocab = static_cast<size_t>(target_->n_vocab());
  for (size_t i = 0; i <= n; ++i) {
    const float* row = target_->logits(i);
    if (row == nullptr) return internal_error("the target returned no logits for position ", i);
    LATHE_ASSIGN_OR_RETURN(std::span<const sampling::TokenData> p,
                           sampler_.distribution(std::span<const float>(row, n_vocab)));
    TokenId token = 0;
    bool rejected = false;
    if (i < n) {
      ++result.n_checked;
      const TokenId d = draft.tokens[i];
      const float p_d = sampler_.probability(d);
      float q_d = 1.0f;
      if (!draft.dists[i].empty()) {
        q_d = 0.0f;
        for (const auto& td : draft.dists[i]) {
          if (td.id == d) q_d += td.p;
        }
      }
      // Keep d with probability min(1, p/q). No random number is spent when p >= q, so a draft
      // the target fully agrees with (the greedy case) leaves the stream untouched.
      if (p_d >= q_d || sampler_.uniform() * static_cast<double>(q_d) < static_cast<double>(p_d)) {
        token = d;
        ++result.n_accepted;
      } else {
        LATHE_ASSIGN_OR_RETURN(token, draw_residual(p, draft.dists[i], d));
        rejected = true;
      }
    } else {
      LATHE_ASSIGN_OR_RETURN(token, sampler_.draw());
    }
    LATHE_RETURN_IF_ERROR(sampler_.accept(token));
    result.tokens.push_back(token);
    if (params_.is_end && params_.is_end(token)) {
      result.ended = true;
      break;
    }
    if (rejected) break;
    if (max_tokens > 0 && static_cast<int64_t>(result.tokens.size()) >= max_tokens) break;
  }
  stats_.sample_seconds += timer.elapsed_s();
  result.n_drafted = static_cast<int>(n);

  // The committed tokens sit at n_past + 1 .. n_past + m; all but the last are accepted drafts,
  // already in the cache. The last one becomes the pending token, and everything from its
  // position on (rejected drafts included) leaves the cache.
  const int64_t m = static_cast<int64_t>(result.tokens.size());
  target_->kv().seq_rm(params_.seq, static_cast<int32_t>(n_past + m), -1);
  history_.insert(history_.end(), result.tokens.begin(), result.tokens.end());

  stats_.n_passes += 1;
  stats_.n_drafted += result.n_drafted;
  stats_.n_checked += result.n_checked;
  stats_.n_accepted += result.n_accepted;
  stats_.n_generated += m;
  stats_.generate_seconds += pass_timer.elapsed_s();
  return result;
}

Expected<GenerateResult> SpeculativeDecoder::generate(const GenerateOptions& options) {
  GenerateResult out;
  while (options.n_tokens < 0 || static_cast<int64_t>(out.tokens.size()) < options.n_tokens) {
    if (room() <= 0) {
      out.context_full = true;
      break;
    }
    const int64_t left =
        options.n_tokens < 0 ? -1 : options.n_tokens - static_cast<int64_t>(out.tokens.size());
    LATHE_ASSIGN_OR_RETURN(StepResult r, step(left));
    out.tokens.insert(out.tokens.end(), r.tokens.begin(), r.tokens.end());
    if (options.on_tokens) LATHE_RETURN_IF_ERROR(options.on_tokens(r.tokens));
    if (r.ended) {
      out.ended = true;
      break;
    }
  }
  return out;
}

}  // namespace lathe::spec
