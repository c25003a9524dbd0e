// The sampler chain: llama.cpp's sampling flags, a configurable order, and a seeded draw.
//
//   SamplerParams params;                       // llama.cpp's defaults
//   params.temp = 0.7f;                         // --temp 0.7
//   LATHE_ASSIGN_OR_RETURN(params.sequence, parse_sampler_sequence("k,m,t"));  // --sampling-seq
//   LATHE_ASSIGN_OR_RETURN(Sampler sampler, Sampler::create(params, n_vocab));
//   for (;;) {
//     LATHE_ASSIGN_OR_RETURN(int32_t token, sampler.sample(logits));
//     LATHE_RETURN_IF_ERROR(sampler.accept(token));  // feeds the repetition penalties
//   }
//
// Speculative decoding needs the chain's distribution itself: distribution() applies the chain and
// returns the normalized probabilities of the surviving candidates, draw() then picks one of them,
// and uniform() hands out the same seeded random stream for acceptance tests.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sampling/candidates.h"

namespace lathe::sampling {

// The stages llama.cpp's --sampling-seq names, with its letters. Logit bias is not among them: it
// always runs first, before the sequence, as in llama.cpp.
enum class SamplerKind : uint8_t {
  kPenalties,    // 'e' repeat / presence / frequency penalties
  kDry,          // 'd' accepted for compatibility; lathe has no DRY parameters, so it does nothing
  kTopNSigma,    // 's'
  kTopK,         // 'k'
  kTypicalP,     // 'y'
  kTopP,         // 'p'
  kMinP,         // 'm'
  kXtc,          // 'x' accepted for compatibility; lathe has no XTC parameters, so it does nothing
  kTemperature,  // 't'
};

char sampler_letter(SamplerKind kind);
std::string_view sampler_name(SamplerKind kind);  // llama.cpp's --samplers name, e.g. "top_k"

// llama.cpp's default order, "edskypmxt".
std::vector<SamplerKind> default_sampler_sequence();

// Parses --sampling-seq / --sampler-seq and --samplers. Accepts letters ("kmt", "edskypmxt"),
// letters with separators ("k,m,t", "k;m;t", "k m t") and names separated by ';' or ','
// ("top_k;min_p;temperature", "top-k,min-p,temp"; the aliases llama.cpp knows). Letters llama.cpp
// knows but lathe does not implement ('i' infill, 'a' adaptive-p) are an error, as is anything else
// unknown; llama.cpp only warns and drops those.
Expected<std::vector<SamplerKind>> parse_sampler_sequence(std::string_view text);

// The sequence as letters, e.g. "kmt".
std::string sampler_sequence_letters(std::span<const SamplerKind> sequence);

struct LogitBias {
  int32_t token;
  float bias;  // may be -inf to ban the token
};

// Parses one --logit-bias value: TOKEN_ID followed by '+' or '-' and the bias ("15043+1",
// "15043-1.5", "2-inf").
Expected<LogitBias> parse_logit_bias(std::string_view text);

// llama.cpp's seed value that asks for a random seed (LLAMA_DEFAULT_SEED).
constexpr uint32_t kRandomSeed = 0xFFFFFFFFu;

// Mirrors llama.cpp's sampling flags and their defaults (common/common.h).
struct SamplerParams {
  uint32_t seed = kRandomSeed;      // --seed; kRandomSeed draws one from std::random_device
  float temp = 0.80f;               // --temp; <= 0 picks the best candidate left at 't' (greedy)
  int32_t top_k = 40;               // --top-k; <= 0 disables
  float top_p = 0.95f;              // --top-p; 1 disables
  float min_p = 0.05f;              // --min-p; 0 disables
  float typical_p = 1.00f;          // --typical; 1 disables
  float top_n_sigma = -1.00f;       // --top-nsigma; <= 0 disables
  int32_t repeat_last_n = 64;       // --repeat-last-n; 0 disables the penalties
  float repeat_penalty = 1.00f;     // --repeat-penalty; 1 disables
  float presence_penalty = 0.00f;   // --presence-penalty
  float frequency_penalty = 0.00f;  // --frequency-penalty
  int32_t min_keep = 0;             // top-p, min-p and typical keep at least this many (llama.cpp's
                                    // min_keep; its server takes it, its CLI has no flag)
  std::vector<LogitBias> logit_bias;  // --logit-bias, repeatable; entries for one token add up
  std::vector<SamplerKind> sequence = default_sampler_sequence();  // --sampling-seq

  // Checks every value against n_vocab; the error names the flag.
  Status validate(int32_t n_vocab) const;
};

class Sampler {
 public:
  // Builds the chain for a vocabulary of n_vocab tokens. Stages whose parameters disable them are
  // left out, so the default chain costs only what it does.
  static Expected<Sampler> create(const SamplerParams& params, int32_t n_vocab);

  // Applies logit bias and the chain to one row of n_vocab logits and returns the surviving
  // candidates with normalized probabilities p (sum 1). The view stays valid until the next call.
  // Its order is unspecified (sorted best-first when a sorting stage ran).
  Expected<std::span<const TokenData>> distribution(std::span<const float> logits);

  // Draws a token from the last distribution() with the seeded generator.
  Expected<int32_t> draw();

  // distribution() then draw(). Does not accept the token: call accept() with the token that is
  // actually kept (speculative decoding may keep another one).
  Expected<int32_t> sample(std::span<const float> logits);

  // The probability of `token` in the last distribution(), 0 when it was filtered out.
  float probability(int32_t token) const;

  // Records a token that entered the sequence (prompt or generated) in the penalty history.
  // Fails only for a token outside the vocabulary.
  Status accept(int32_t token);

  // Forgets the penalty history and restarts the random stream from the seed.
  void reset();

  // The next number in [0, 1) of the seeded stream that draw() uses.
  double uniform();

  uint32_t seed() const { return seed_; }  // the resolved seed (never kRandomSeed)
  int32_t n_vocab() const { return n_vocab_; }
  const SamplerParams& params() const { return params_; }

  // The chain as it runs, e.g. "logit-bias -> top_k(40) -> min_p(0.05) -> temperature(0.80) ->
  // dist(seed 42)".
  std::string describe() const;

 private:
  Sampler() = default;
  void apply_logit_bias();
  void apply_penalties();
  void collect_history_tokens();
  void select_top_k_fused(std::span<const float> logits);

  SamplerParams params_;
  int32_t n_vocab_ = 0;
  uint32_t seed_ = 0;
  std::vector<SamplerKind> stages_;  // the enabled stages, in order
  // When the chain starts with top-k (after nothing but penalties), the first fused_stages_ stages
  // and the logit bias run as one scan over the raw logits, without building the full candidate
  // array. 0 when the chain does not start that way.
  size_t fused_stages_ = 0;
  std::vector<TokenData> overrides_;  // scratch: biased / penalized tokens, by id
  std::vector<TokenData> heap_;       // scratch: the fused top-k selection
  std::vector<LogitBias> bias_;       // merged per token, sorted by token
  std::mt19937 rng_;
  Candidates cand_;
  bool have_distribution_ = false;

  // Penalty history: a ring of the last repeat_last_n tokens and each token's count in it.
  std::vector<int32_t> ring_;
  size_t ring_head_ = 0;  // next slot to write
  size_t ring_size_ = 0;
  std::vector<int32_t> counts_;    // n_vocab entries
  std::vector<int32_t> distinct_;  // scratch: distinct tokens of the ring
};

}  // namespace lathe::sampling
