// Where speculative decoding gets its guesses: the draft-source interface, and what a draft is.
//
// A draft source proposes tokens that probably follow the committed text. The target model then
// checks them all in one decode (see decoder.h). Sources differ in how they guess and what it
// costs: a small model of the same vocabulary (model_draft.h), or n-grams that already occur in
// the prompt and output (lookup_draft.h). Anything else that can guess (a tree of drafts, a model
// on another device, a server cache) fits behind the same interface.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/batch.h"
#include "sampling/candidates.h"

namespace lathe::spec {

using runtime::TokenId;

// The tokens a source proposes, with what acceptance needs to keep the target's distribution:
// the distribution q each token was drawn from.
struct Draft {
  std::vector<TokenId> tokens;
  // dists[i] holds the normalized distribution tokens[i] was drawn from (ids and p; other fields
  // unused). An empty dists[i] means a point mass on tokens[i]: the source chose it
  // deterministically (n-gram lookup, a greedy chain, or a chain that kept one candidate).
  // Always the same length as tokens.
  std::vector<std::vector<sampling::TokenData>> dists;

  void clear() {
    tokens.clear();
    dists.clear();
  }
  size_t size() const { return tokens.size(); }
  bool empty() const { return tokens.empty(); }
  void truncate(size_t n) {
    if (n < tokens.size()) {
      tokens.resize(n);
      dists.resize(n);
    }
  }
};

// What a source has spent on model decodes, for reports and for the draft/target cost ratio c
// of the expected speed-up (decoder.h, expected_speedup).
struct DraftCost {
  int64_t n_decode_calls = 0;  // every decode, prompt processing included
  int64_t n_tokens_decoded = 0;
  double decode_seconds = 0.0;
  int64_t n_single_decodes = 0;  // decodes of exactly one token: drafting steps
  double single_decode_seconds = 0.0;

  double seconds_per_single_decode() const {
    return n_single_decodes > 0 ? single_decode_seconds / static_cast<double>(n_single_decodes)
                                : 0.0;
  }
};

class DraftSource {
 public:
  virtual ~DraftSource() = default;

  // One line for reports, e.g. "model stories260K-q8_0.gguf" or "lookup (n-grams 3..1)".
  virtual std::string describe() const = 0;

  // A new generation starts from `prompt`, which the target has (or is about to have) in its
  // cache. A model source processes the prompt here, so that its cost counts as prompt
  // processing and not as drafting.
  virtual Status begin(std::span<const TokenId> prompt) = 0;

  // Proposes at most max_tokens tokens to follow `history`: every committed token, the prompt
  // first. `history` only grows between calls after begin(), by the tokens the decoder accepted
  // (so a source may keep state, such as a KV cache holding a prefix of it). Proposing fewer
  // tokens, or none, is always allowed: the target then decodes alone for that pass.
  virtual Status propose(std::span<const TokenId> history, int max_tokens, Draft& out) = 0;

  // What the source has spent since it was created or since reset_cost().
  virtual DraftCost cost() const { return {}; }
  virtual void reset_cost() {}
};

}  // namespace lathe::spec
