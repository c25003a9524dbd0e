#include "spec/lookup_draft.h"

#include <algorithm>

namespace lathe::spec {

Expected<std::unique_ptr<LookupDraft>> LookupDraft::create(const LookupParams& params) {
  if (params.ngram_min < 1 || params.ngram_max < params.ngram_min) {
    return invalid_argument("lookup n-gram sizes ", params.ngram_min, "..", params.ngram_max,
                            " are not 1 <= min <= max");
  }
  return std::unique_ptr<LookupDraft>(new LookupDraft(params));
}

std::string LookupDraft::describe() const {
  return cat("lookup (n-grams ", params_.ngram_max, "..", params_.ngram_min, ")");
}

Status LookupDraft::begin(std::span<const TokenId>) {
  return Status();
}

void LookupDraft::lookup(std::span<const TokenId> history, int ngram_min, int ngram_max,
                         int max_tokens, std::vector<TokenId>& out) {
  out.clear();
  const auto h = static_cast<int64_t>(history.size());
  if (max_tokens <= 0) return;
  // Longer suffixes first: a longer match predicts the continuation better.
  for (int64_t n = std::min<int64_t>(ngram_max, h - 1); n >= ngram_min; --n) {
    const TokenId* key = history.data() + (h - n);
    // Most recent earlier occurrence first: recent text is the likeliest to be repeated. The
    // occurrence must end before the suffix itself so that something follows it.
    for (int64_t j = h - n - 1; j >= 0; --j) {
      if (history[static_cast<size_t>(j)] != key[0] ||
          !std::equal(key, key + n, history.data() + j)) {
        continue;
      }
      const int64_t from = j + n;
      const int64_t to = std::min<int64_t>(h, from + max_tokens);
      out.assign(history.begin() + from, history.begin() + to);
      return;
    }
  }
}

Status LookupDraft::propose(std::span<const TokenId> history, int max_tokens, Draft& out) {
  out.clear();
  lookup(history, params_.ngram_min, params_.ngram_max, max_tokens, out.tokens);
  out.dists.resize(out.tokens.size());  // point masses
  return Status();
}

}  // namespace lathe::spec
