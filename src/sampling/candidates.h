// The candidate array that a sampler chain filters and reshapes, and the stateless transforms on
// it.
//
// Semantics follow llama.cpp's samplers (src/llama-sampler.cpp) so that flags mean the same thing
// in lathe; the algorithms differ where that is cheaper: filters remove candidates instead of
// setting their logits to -inf, which leaves the final distribution unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace lathe::sampling {

struct TokenData {
  int32_t id;
  float logit;
  float p;  // valid after softmax(); the chain's final distribution sums to 1
};

// Strict "ranks before" order: higher logit first, ties broken by the lower id. A total order
// keeps partial sorts, selections and greedy picks deterministic whatever algorithm runs.
inline bool ranks_before(const TokenData& a, const TokenData& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// One sampling step's candidates. It owns its storage (and scratch space for the transforms), so a
// sampler that keeps one Candidates object allocates only on its first step.
class Candidates {
 public:
  // Loads every token's logit: data[i] = {i, logits[i], 0}. NaN logits become -inf so that a broken
  // row of logits can never make the sort comparators inconsistent.
  void reset(std::span<const float> logits);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  TokenData* data() { return buf_.data(); }
  const TokenData* data() const { return buf_.data(); }
  std::span<TokenData> view() { return {buf_.data(), size_}; }
  std::span<const TokenData> view() const { return {buf_.data(), size_}; }
  TokenData& operator[](size_t i) { return buf_[i]; }
  const TokenData& operator[](size_t i) const { return buf_[i]; }

  // Keeps the first n candidates (n <= size()).
  void truncate(size_t n);

  // Sets the candidates explicitly (tests, and callers that build their own sets). Not sorted.
  void assign(std::span<const TokenData> tokens);
  // Replaces the candidates with `tokens` (already in ranks_before order when `sorted`). Reuses the
  // storage, so it does not allocate once the buffer has held a full vocabulary.
  void load(std::span<const TokenData> tokens, bool sorted);

  // [0, size) is in ranks_before order.
  bool sorted() const { return sorted_; }
  // data[i].id == i for every i: nothing has been removed or reordered since reset(), so a token's
  // entry is found by indexing instead of searching.
  bool identity() const { return identity_; }
  void set_sorted(bool sorted) { sorted_ = sorted; }
  void set_identity(bool identity) { identity_ = identity; }

  // Sorts [0, size) into ranks_before order (no-op when already sorted).
  void sort();
  // Moves the best k candidates, in order, to the front and keeps only them.
  void keep_best(size_t k);

  // Scratch space for the transforms, reused between steps.
  std::vector<TokenData>& scratch_tokens() { return scratch_tokens_; }
  std::vector<float>& scratch_floats() { return scratch_floats_; }
  std::vector<uint32_t>& scratch_indices() { return scratch_indices_; }

 private:
  std::vector<TokenData> buf_;
  size_t size_ = 0;
  bool sorted_ = false;
  bool identity_ = false;
  std::vector<TokenData> scratch_tokens_;
  std::vector<float> scratch_floats_;
  std::vector<uint32_t> scratch_indices_;
};

// Fills p with the softmax of the current logits (no sorting). Returns the largest logit; when it
// is -inf every candidate is banned and p is left at 0.
float softmax(Candidates& c);

// Keeps the k best candidates, sorted. k <= 0 or k >= size keeps everything (unsorted).
void top_k(Candidates& c, int32_t k);

// Nucleus: keeps the smallest best-first prefix whose probability reaches p, and at least min_keep
// candidates. p >= 1 keeps everything. The result is sorted only when the input was.
void top_p(Candidates& c, float p, size_t min_keep);

// Keeps candidates whose probability is at least p times the best one's (logit >= max + ln p), and
// at least min_keep. p <= 0 keeps everything.
void min_p(Candidates& c, float p, size_t min_keep);

// Locally typical sampling: ranks candidates by |-ln p - H| and keeps the prefix whose probability
// exceeds p (at least min_keep). p >= 1 keeps everything. The result is in that typicality order.
void typical(Candidates& c, float p, size_t min_keep);

// Divides the logits by t. t <= 0 keeps only the best candidate (greedy), as llama.cpp's
// temperature sampler does when it sets every other logit to -inf.
void temperature(Candidates& c, float t);

// Keeps candidates within n standard deviations of the best logit (statistics over the finite
// logits). n <= 0 keeps everything.
void top_n_sigma(Candidates& c, float n);

// The first i in [begin, end) with x[i] > threshold, or end. Vectorized: it checks 16 values per
// step, which is what makes a top-k scan over a 128k vocabulary cheap. NaN never matches.
size_t find_greater(const float* x, size_t begin, size_t end, float threshold);

// Draws an index into c from its probabilities p (which must sum to ~1) given u in [0, 1).
// Candidates with p == 0 are never chosen; rounding that leaves u past the total picks the last
// candidate with p > 0.
size_t draw_index(const Candidates& c, double u);

}  // namespace lathe::sampling
