// Plain decoding with the target alone, one token per decode: the baseline a speculative
// speed-up is measured against, run on the same context so that both use the same weights,
// cache type, threads and prompt.
#pragma once

#include <span>
#include <vector>

#include "runtime/context.h"
#include "sampling/sampler.h"
#include "spec/draft.h"

namespace lathe::spec {

struct PlainResult {
  std::vector<TokenId> tokens;
  double prefill_seconds = 0.0;   // prompt tokens that were not cached, but the last
  double generate_seconds = 0.0;  // n_tokens decodes of one token, with sampling
  int64_t n_decodes = 0;          // one-token decodes in generate_seconds
  double decode_seconds = 0.0;    // their decode time alone

  double seconds_per_decode() const {
    return n_decodes > 0 ? decode_seconds / static_cast<double>(n_decodes) : 0.0;
  }
  double tokens_per_second() const {
    return generate_seconds > 0 ? static_cast<double>(tokens.size()) / generate_seconds : 0.0;
  }
};

// Generates exactly n_tokens tokens after `prompt` (end tokens do not stop it, so the count
// matches the run it is compared with), under the same rules as SpeculativeDecoder::prefill: the
// sequence's first n_cached prompt positions are kept, the rest of the prompt but its last token
// is decoded untimed, and the timed part decodes the last prompt token and then one token per
// generated token. The sampler is used as is: give it the prompt (accept()) first for penalties.
// Leaves the prompt and the generated tokens but the last in the cache.
Expected<PlainResult> generate_plain(runtime::Context& target, sampling::Sampler& sampler,
                                     std::span<const TokenId> prompt, int64_t n_cached,
                                     int64_t n_tokens, kv::SeqId seq = 0);

}  // namespace lathe::spec
