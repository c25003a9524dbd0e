// A draft model: a smaller model of the same vocabulary guesses the next tokens one at a time.
//
//   ModelDraftParams params;
//   params.sampler = target_sampler_params;   // the same chain, so q resembles p
//   params.sampler.seed = derive_draft_seed(target_sampler.seed());
//   LATHE_ASSIGN_OR_RETURN(auto draft, ModelDraft::create(draft_context, params));
//
// The draft runs in its own Context, which may use another backend or thread count than the
// target's. The source owns one sequence of that context and keeps a prefix of the committed
// tokens in it between calls: after a pass, only the tokens the target did not accept are
// removed, and only the new ones are decoded.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "sampling/sampler.h"
#include "spec/draft.h"

namespace lathe::spec {

struct ModelDraftParams {
  // The chain the draft samples from. Use the target's parameters (with another seed): the
  // closer q is to the target's p, the more tokens are accepted. A chain that keeps a single
  // candidate (temperature 0) drafts greedily.
  sampling::SamplerParams sampler;
  // Adaptive drafting: stop drafting when the draft's confidence in its best token falls below
  // this. Confidence is llama.cpp's --draft-p-min measure: the best token's probability in a
  // softmax over the draft's 10 best logits (temperature 1). 0 drafts every token asked for.
  float p_min = 0.0f;
  kv::SeqId seq = 0;  // the sequence of the draft context this source owns
  // Drafting stops after a token for which this returns true (end of generation): nothing
  // follows it. Empty: no such tokens.
  std::function<bool(TokenId)> is_end;
  // A name for describe(), e.g. the model's file name.
  std::string name;
};

// A seed for the draft's chain that differs from the target's, so the two random streams are
// not the same numbers (which would correlate drafts with acceptance tests).
uint32_t derive_draft_seed(uint32_t target_seed);

class ModelDraft : public DraftSource {
 public:
  // `context` must outlive the source. The source clears its sequence in it.
  static Expected<std::unique_ptr<ModelDraft>> create(runtime::Context& context,
                                                      const ModelDraftParams& params);

  std::string describe() const override;
  Status begin(std::span<const TokenId> prompt) override;
  Status propose(std::span<const TokenId> history, int max_tokens, Draft& out) override;
  DraftCost cost() const override { return cost_; }
  void reset_cost() override { cost_ = {}; }

  runtime::Context& context() { return *ctx_; }
  const sampling::Sampler& sampler() const { return committed_; }

 private:
  ModelDraft(runtime::Context& context, const ModelDraftParams& params, sampling::Sampler committed,
             sampling::Sampler confidence);

  // Makes the draft's cache hold exactly `history` and the context's logits be those of its last
  // token. Sets *fits to false (and changes nothing) when the draft's context is too small.
  Status catch_up(std::span<const TokenId> history, bool* fits);
  Status decode(const runtime::Batch& batch);
  float confidence(std::span<const float> logits);

  runtime::Context* ctx_;
  ModelDraftParams params_;
  bool penalties_ = false;        // the chain has penalty stages: drafting must not touch history
  sampling::Sampler committed_;   // penalty history of the committed tokens; the draw stream
  sampling::Sampler work_;        // committed_ plus this pass's drafted tokens (when penalties_)
  sampling::Sampler confidence_;  // top-10 softmax for p_min
  size_t n_committed_ = 0;        // history tokens accepted into committed_ since begin()

  std::vector<TokenId> cached_;  // tokens in the draft's cache, at positions 0..size-1
  int64_t logits_pos_ = -1;      // position whose logits the context holds, -1: none
  size_t logits_index_ = 0;      // their batch index in the last decode
  runtime::Batch batch_;
  DraftCost cost_;
};

}  // namespace lathe::spec
