#include "spec/model_draft.h"

#include <algorithm>

#include "core/timer.h"

namespace lathe::spec {

namespace {

bool has_penalties(const sampling::SamplerParams& p) {
  const bool in_chain = std::find(p.sequence.begin(), p.sequence.end(),
                                  sampling::SamplerKind::kPenalties) != p.sequence.end();
  const bool active =
      p.repeat_last_n != 0 &&
      (p.repeat_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f);
  return in_chain && active;
}

// Picks from a normalized distribution with u in [0, 1), as Sampler::draw does; rounding that
// leaves u past the total picks the last candidate with p > 0.
TokenId pick(std::span<const sampling::TokenData> dist, double u) {
  double cum = 0.0;
  for (const auto& td : dist) {
    cum += td.p;
    if (cum > u) return td.id;
  }
  for (size_t i = dist.size(); i-- > 0;) {
    if (dist[i].p > 0.0f) return dist[i].id;
  }
  return dist.empty() ? 0 : dist[0].id;
}

}  // namespace

uint32_t derive_draft_seed(uint32_t target_seed) {
  // A fixed odd multiplier and offset (splitmix-style) keep the mapping one-to-one, and never
  // produce the "random seed" marker.
  uint32_t s = target_seed * 0x9E3779B1u + 0x7F4A7C15u;
  return s == sampling::kRandomSeed ? 0u : s;
}

ModelDraft::ModelDraft(runtime::Context& context, const ModelDraftParams& params,
                       sampling::Sampler committed, sampling::Sampler confidence)
    : ctx_(&context),
      params_(params),
      penalties_(has_penalties(params.sampler)),
      committed_(std::move(committed)),
      work_(committed_),
      confidence_(std::move(confidence)) {}

Expected<std::unique_ptr<ModelDraft>> ModelDraft::create(runtime::Context& context,
                                                         const ModelDraftParams& params) {
  if (!(params.p_min >= 0.0f && params.p_min <= 1.0f)) {
    return invalid_argument("draft p-min ", params.p_min, " is outside [0, 1]");
  }
  if (params.seq < 0 || params.seq >= kv::kMaxSequences) {
    return invalid_argument("draft sequence ", params.seq, " is outside 0..",
                            kv::kMaxSequences - 1);
  }
  const auto n_vocab = static_cast<int32_t>(context.n_vocab());
  auto committed = sampling::Sampler::create(params.sampler, n_vocab);
  if (!committed) return committed.error().with_context("draft sampler");
  // llama.cpp's confidence measure: top-k 10, then softmax at temperature 1.
  sampling::SamplerParams conf;
  conf.seed = 0;
  conf.temp = 1.0f;
  conf.top_k = std::min<int32_t>(10, n_vocab);
  conf.top_p = 1.0f;
  conf.min_p = 0.0f;
  conf.repeat_last_n = 0;
  conf.sequence = {sampling::SamplerKind::kTopK};
  LATHE_ASSIGN_OR_RETURN(sampling::Sampler confidence, sampling::Sampler::create(conf, n_vocab));
  context.kv().seq_rm(params.seq, 0, -1);
  return std::unique_ptr<ModelDraft>(
      new ModelDraft(context, params, std::move(committed).value(), std::move(confidence)));
}

std::string ModelDraft::describe() const {
  std::string out = "model";
  if (!params_.name.empty()) out += " " + params_.name;
  if (params_.p_min > 0.0f) out += cat(", p-min ", params_.p_min);
  return out;
}

Status ModelDraft::decode(const runtime::Batch& batch) {
  Stopwatch timer;
  LATHE_RETURN_IF_ERROR(ctx_->decode(batch));
  const double s = timer.elapsed_s();
  cost_.n_decode_calls += 1;
  cost_.n_tokens_decoded += static_cast<int64_t>(batch.size());
  cost_.decode_seconds += s;
  if (batch.size() == 1) {
    cost_.n_single_decodes += 1;
    cost_.single_decode_seconds += s;
  }
  return Status();
}

Status ModelDraft::catch_up(std::span<const TokenId> history, bool* fits) {
  *fits = true;
  if (history.empty()) return invalid_argument("draft: the history is empty");
  if (static_cast<int64_t>(history.size()) > ctx_->params().n_ctx) {
    *fits = false;
    return Status();
  }
  const int64_t n_vocab = ctx_->n_vocab();
  size_t common = 0;
  while (common < cached_.size() && common < history.size() && cached_[common] == history[common]) {
    ++common;
  }
  if (common == history.size()) {
    // Everything is cached; the logits of the last token may still be at hand.
    if (logits_pos_ == static_cast<int64_t>(history.size()) - 1) {
      if (cached_.size() > common) {
        ctx_->kv().seq_rm(params_.seq, static_cast<int32_t>(common), -1);
        cached_.resize(common);
      }
      return Status();
    }
    --common;  // decode the last token again for its logits
  }
  for (size_t i = common; i < history.size(); ++i) {
    if (history[i] < 0 || history[i] >= n_vocab) {
      return invalid_argument("draft: token ", history[i], " is outside the draft model's ",
                              n_vocab, "-token vocabulary");
    }
  }
  ctx_->kv().seq_rm(params_.seq, static_cast<int32_t>(common), -1);
  cached_.resize(common);
  logits_pos_ = -1;
  batch_.clear();
  batch_.add_sequence(history.subspan(common), static_cast<int32_t>(common), params_.seq);
  LATHE_RETURN_IF_ERROR(decode(batch_));
  cached_.insert(cached_.end(), history.begin() + static_cast<std::ptrdiff_t>(common),
                 history.end());
  logits_pos_ = static_cast<int64_t>(history.size()) - 1;
  logits_index_ = batch_.size() - 1;
  return Status();
}

Status ModelDraft::begin(std::span<const TokenId> prompt) {
  // The prompt enters the penalty history as it does the target's (the decoder accepts it into
  // the target's sampler the same way).
  for (TokenId t : prompt) LATHE_RETURN_IF_ERROR(committed_.accept(t));
  n_committed_ = prompt.size();
  bool fits = true;
  return catch_up(prompt, &fits);  // a prompt the draft cannot hold just means no drafts
}

float ModelDraft::confidence(std::span<const float> logits) {
  auto dist = confidence_.distribution(logits);
  if (!dist) return 0.0f;
  float best = 0.0f;
  for (const auto& td : *dist) best = std::max(best, td.p);
  return best;
}

Status ModelDraft::propose(std::span<const TokenId> history, int max_tokens, Draft& out) {
  out.clear();
  if (history.size() < n_committed_) {
    return invalid_argument("draft: the history shrank (", history.size(), " tokens after ",
                            n_committed_, "); call begin() for a new generation");
  }
  for (size_t i = n_committed_; i < history.size(); ++i) {
    LATHE_RETURN_IF_ERROR(committed_.accept(history[i]));
  }
  n_committed_ = history.size();
  if (max_tokens <= 0) return Status();

  bool fits = true;
  LATHE_RETURN_IF_ERROR(catch_up(history, &fits));
  if (!fits) return Status();

  // Drafted tokens enter a copy of the penalty history, so that rejected ones leave no trace.
  // Without penalties the chain does not read the history and no copy is needed.
  sampling::Sampler* chain = &committed_;
  if (penalties_) {
    work_ = committed_;
    chain = &work_;
  }
  const auto n_vocab = static_cast<size_t>(ctx_->n_vocab());
  const int64_t n_ctx = ctx_->params().n_ctx;
  for (int i = 0; i < max_tokens; ++i) {
    const float* row = ctx_->logits(logits_index_);
    if (row == nullptr) return internal_error("draft: the context holds no logits");
    const std::span<const float> logits(row, n_vocab);
    if (params_.p_min > 0.0f && confidence(logits) < params_.p_min) break;
    LATHE_ASSIGN_OR_RETURN(std::span<const sampling::TokenData> dist, chain->distribution(logits));
    // The draw uses committed_'s stream, which keeps running across passes; work_ is a copy
    // made each pass, and drawing from it would reuse the same numbers every pass.
    const TokenId token = pick(dist, committed_.uniform());
    out.tokens.push_back(token);
    out.dists.emplace_back();
    if (dist.size() > 1) out.dists.back().assign(dist.begin(), dist.end());

    if (i + 1 == max_tokens) break;  // the last draft needs no logits
    if (params_.is_end && params_.is_end(token)) break;
    const int64_t pos = static_cast<int64_t>(cached_.size());
    if (pos >= n_ctx) break;
    if (penalties_) LATHE_RETURN_IF_ERROR(work_.accept(token));
    batch_.clear();
    batch_.add(token, static_cast<int32_t>(pos), {params_.seq}, true);
    LATHE_RETURN_IF_ERROR(decode(batch_));
    cached_.push_back(token);
    logits_pos_ = pos;
    logits_index_ = 0;
  }
  return Status();
}

}  // namespace lathe::spec
