#include "spec/plain.h"

#include <algorithm>

#include "core/timer.h"

namespace lathe::spec {

Expected<PlainResult> generate_plain(runtime::Context& target, sampling::Sampler& sampler,
                                     std::span<const TokenId> prompt, int64_t n_cached,
                                     int64_t n_tokens, kv::SeqId seq) {
  if (prompt.empty()) return invalid_argument("the prompt is empty");
  if (n_tokens < 0) return invalid_argument("plain decoding needs a token count");
  const int64_t n_ctx = target.params().n_ctx;
  const int64_t pending = static_cast<int64_t>(prompt.size()) - 1;
  if (pending + n_tokens > n_ctx) {
    return out_of_range("the prompt (", prompt.size(), " tokens) and ", n_tokens,
                        " generated tokens need more than the context's ", n_ctx);
  }
  const int64_t keep = std::clamp<int64_t>(n_cached, 0, pending);
  if (keep > 0 && target.kv().seq_pos_max(seq) < keep - 1) {
    return invalid_argument("plain decoding: the target holds fewer than the ", keep,
                            " positions said to be cached");
  }
  target.kv().seq_rm(seq, static_cast<int32_t>(keep), -1);

  PlainResult out;
  runtime::Batch batch;
  Stopwatch timer;
  if (keep < pending) {
    batch.add_sequence(
        prompt.subspan(static_cast<size_t>(keep), static_cast<size_t>(pending - keep)),
        static_cast<int32_t>(keep), seq, false);
    LATHE_RETURN_IF_ERROR(target.decode(batch));
  }
  out.prefill_seconds = timer.elapsed_s();

  out.tokens.reserve(static_cast<size_t>(n_tokens));
  const auto n_vocab = static_cast<size_t>(target.n_vocab());
  TokenId next = prompt.back();
  int64_t pos = pending;
  timer.restart();
  for (int64_t i = 0; i < n_tokens; ++i) {
    batch.clear();
    batch.add(next, static_cast<int32_t>(pos++), {seq}, true);
    Stopwatch decode_timer;
    LATHE_RETURN_IF_ERROR(target.decode(batch));
    out.decode_seconds += decode_timer.elapsed_s();
    out.n_decodes += 1;
    LATHE_ASSIGN_OR_RETURN(next, sampler.sample(std::span<const float>(target.logits(0), n_vocab)));
    LATHE_RETURN_IF_ERROR(sampler.accept(next));
    out.tokens.push_back(next);
  }
  out.generate_seconds = timer.elapsed_s();
  return out;
}

}  // namespace lathe::spec
