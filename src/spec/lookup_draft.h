// Prompt lookup decoding: drafts come from the text itself, with no model.
//
// The last n tokens of the history (n from ngram_max down to ngram_min) are searched for earlier
// in the history, most recent occurrence first; the tokens that followed that occurrence are the
// draft. It pays off when the output repeats the prompt (summaries, code edits, extraction) and
// costs almost nothing when it does not: a pass with no match decodes the target alone.
//
// The draft is deterministic, a point mass for the acceptance test, so sampling still keeps the
// target's distribution exactly: a drafted token d is accepted with probability p(d).
#pragma once

#include <memory>

#include "spec/draft.h"

namespace lathe::spec {

struct LookupParams {
  int ngram_min = 1;  // shortest suffix to look up
  int ngram_max = 3;  // longest suffix to look up (tried first)
};

class LookupDraft : public DraftSource {
 public:
  static Expected<std::unique_ptr<LookupDraft>> create(const LookupParams& params);

  std::string describe() const override;
  Status begin(std::span<const TokenId> prompt) override;
  Status propose(std::span<const TokenId> history, int max_tokens, Draft& out) override;

  // The draft for `history` (static: the search itself, for tests).
  static void lookup(std::span<const TokenId> history, int ngram_min, int ngram_max, int max_tokens,
                     std::vector<TokenId>& out);

 private:
  explicit LookupDraft(const LookupParams& params) : params_(params) {}
  LookupParams params_;
};

}  // namespace lathe::spec
