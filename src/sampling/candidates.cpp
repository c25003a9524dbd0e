#include "sampling/candidates.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lathe::sampling {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Up to this k a heap selection (std::partial_sort) wins: for random logits almost every element
// only costs one comparison against the heap's worst. Beyond it, nth_element's linear selection
// followed by sorting the k survivors is cheaper.
constexpr size_t kHeapSelectMaxK = 256;

}  // namespace

void Candidates::reset(std::span<const float> logits) {
  if (buf_.size() < logits.size()) buf_.resize(logits.size());
  TokenData* out = buf_.data();
  const size_t n = logits.size();
  for (size_t i = 0; i < n; ++i) {
    const float l = logits[i];
    out[i] = TokenData{static_cast<int32_t>(i), std::isnan(l) ? kNegInf : l, 0.0f};
  }
  size_ = n;
  sorted_ = false;
  identity_ = true;
}

void Candidates::truncate(size_t n) {
  if (n >= size_) return;
  size_ = n;
  identity_ = false;
}

void Candidates::assign(std::span<const TokenData> tokens) {
  load(tokens, false);
}

void Candidates::load(std::span<const TokenData> tokens, bool sorted) {
  // Never shrink buf_: growing it back in reset() would zero-fill a whole vocabulary each step.
  if (buf_.size() < tokens.size()) buf_.resize(tokens.size());
  std::copy(tokens.begin(), tokens.end(), buf_.begin());
  size_ = tokens.size();
  sorted_ = sorted;
  identity_ = false;
}

void Candidates::sort() {
  if (sorted_) return;
  std::sort(buf_.data(), buf_.data() + size_, ranks_before);
  sorted_ = true;
  identity_ = false;
}

void Candidates::keep_best(size_t k) {
  if (k >= size_) {
    sort();
    return;
  }
  TokenData* first = buf_.data();
  if (!sorted_) {
    if (k <= kHeapSelectMaxK) {
      std::partial_sort(first, first + k, first + size_, ranks_before);
    } else {
      std::nth_element(first, first + (k - 1), first + size_, ranks_before);
      std::sort(first, first + k, ranks_before);
    }
  }
  size_ = k;
  sorted_ = true;
  identity_ = false;
}

float softmax(Candidates& c) {
  const size_t n = c.size();
  if (n == 0) return kNegInf;
  TokenData* d = c.data();
  float max_l = d[0].logit;
  if (!c.sorted()) {
    for (size_t i = 1; i < n; ++i) max_l = std::max(max_l, d[i].logit);
  }
  if (max_l == kNegInf) {
    for (size_t i = 0; i < n; ++i) d[i].p = 0.0f;
    return max_l;
  }
  if (std::isinf(max_l)) {
    // Logits of +inf (a bias of +inf, or a tiny temperature) share all the probability.
    size_t count = 0;
    for (size_t i = 0; i < n; ++i) count += d[i].logit == max_l;
    const float share = 1.0f / static_cast<float>(count);
    for (size_t i = 0; i < n; ++i) d[i].p = d[i].logit == max_l ? share : 0.0f;
    return max_l;
  }
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const float e = std::exp(d[i].logit - max_l);
    d[i].p = e;
    sum += e;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (size_t i = 0; i < n; ++i) d[i].p *= inv;
  return max_l;
}

void top_k(Candidates& c, int32_t k) {
  if (k <= 0 || static_cast<size_t>(k) >= c.size()) return;
  c.keep_best(static_cast<size_t>(k));
}

namespace {

// The nucleus rule for a best-first prefix of m candidates holding probability mass cum.
bool nucleus_complete(double cum, size_t m, float p, size_t min_keep) {
  return cum >= p && m >= min_keep;
}

// Reorders d[0, n) so that the nucleus comes first and returns its size, in expected linear time:
// a quickselect on probability mass instead of a sort. Invariant: d[0, lo) holds candidates that
// rank before everything in [lo, n), with mass `acc`, and does not complete the nucleus; a prefix
// of `hi` candidates does (or hi == n).
size_t select_nucleus(TokenData* d, size_t n, float p, size_t min_keep) {
  constexpr size_t kSortBelow = 64;
  size_t lo = 0;
  size_t hi = n;
  double acc = 0.0;
  while (hi - lo > kSortBelow) {
    // Median of three as the pivot, moved to the end of the range.
    TokenData* a = d + lo;
    TokenData* b = d + lo + (hi - lo) / 2;
    TokenData* c = d + hi - 1;
    if (ranks_before(*b, *a)) std::swap(*a, *b);
    if (ranks_before(*c, *b)) std::swap(*b, *c);
    if (ranks_before(*b, *a)) std::swap(*a, *b);
    std::swap(*b, d[hi - 1]);
    const TokenData pivot = d[hi - 1];
    TokenData* mid = std::partition(d + lo, d + hi - 1,
                                    [&](const TokenData& t) { return ranks_before(t, pivot); });
    std::swap(*mid, d[hi - 1]);
    const size_t m = static_cast<size_t>(mid - d);
    double better = 0.0;
    for (size_t i = lo; i < m; ++i) better += d[i].p;
    if (nucleus_complete(acc + better, m, p, min_keep)) {
      hi = m;
      continue;
    }
    acc += better + d[m].p;
    lo = m + 1;
    if (nucleus_complete(acc, lo, p, min_keep)) return lo;
  }
  std::sort(d + lo, d + hi, ranks_before);
  for (size_t i = lo; i < hi; ++i) {
    acc += d[i].p;
    if (nucleus_complete(acc, i + 1, p, min_keep)) return i + 1;
  }
  return hi;
}

}  // namespace

void top_p(Candidates& c, float p, size_t min_keep) {
  if (p >= 1.0f || c.empty()) return;
  softmax(c);
  const size_t n = c.size();
  if (c.sorted()) {
    double cum = 0.0;
    for (size_t i = 0; i < n; ++i) {
      cum += c[i].p;
      if (nucleus_complete(cum, i + 1, p, min_keep)) {
        c.truncate(i + 1);
        return;
      }
    }
    return;
  }
  const size_t end = select_nucleus(c.data(), n, p, min_keep);
  c.set_identity(false);
  if (end < n) c.truncate(end);
}

void min_p(Candidates& c, float p, size_t min_keep) {
  if (p <= 0.0f || c.empty()) return;
  const size_t n = c.size();
  TokenData* d = c.data();
  if (c.sorted()) {
    const float threshold = d[0].logit + std::log(p);
    size_t i = 1;  // the best candidate always passes
    while (i < n && (d[i].logit >= threshold || i < min_keep)) ++i;
    c.truncate(i);
    return;
  }
  float max_l = d[0].logit;
  for (size_t i = 1; i < n; ++i) max_l = std::max(max_l, d[i].logit);
  const float threshold = max_l + std::log(p);
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) count += d[i].logit >= threshold;
  if (count >= min_keep) {
    if (count == n) return;
    // Compacts in place, keeping the surviving candidates' order.
    size_t out = 0;
    for (size_t i = 0; i < n; ++i) {
      if (d[i].logit >= threshold) d[out++] = d[i];
    }
    c.truncate(out);
    return;
  }
  // Too few pass: keep the min_keep best, as the sorted path would.
  c.keep_best(std::max(count, min_keep));
}

void typical(Candidates& c, float p, size_t min_keep) {
  if (p >= 1.0f || c.empty()) return;
  softmax(c);
  const size_t n = c.size();
  const TokenData* d = c.data();

  double entropy = 0.0;
  for (size_t i = 0; i < n; ++i) {
    if (d[i].p > 0.0f) entropy -= static_cast<double>(d[i].p) * std::log(d[i].p);
  }
  std::vector<float>& score = c.scratch_floats();
  std::vector<uint32_t>& order = c.scratch_indices();
  score.resize(n);
  order.resize(n);
  for (size_t i = 0; i < n; ++i) {
    // A token with p == 0 is as atypical as it gets.
    score[i] = d[i].p > 0.0f
                   ? static_cast<float>(std::fabs(-std::log(static_cast<double>(d[i].p)) - entropy))
                   : std::numeric_limits<float>::infinity();
    order[i] = static_cast<uint32_t>(i);
  }
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (score[a] != score[b]) return score[a] < score[b];
    return ranks_before(d[a], d[b]);
  });

  size_t last = n;
  double cum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cum += d[order[i]].p;
    if (cum > p && (min_keep == 0 || i + 1 >= min_keep)) {
      last = i + 1;
      break;
    }
  }
  std::vector<TokenData>& kept = c.scratch_tokens();
  kept.resize(last);
  for (size_t i = 0; i < last; ++i) kept[i] = d[order[i]];
  std::copy(kept.begin(), kept.end(), c.data());
  c.truncate(last);
  c.set_sorted(false);
  c.set_identity(false);
}

void temperature(Candidates& c, float t) {
  if (c.empty()) return;
  TokenData* d = c.data();
  const size_t n = c.size();
  if (t <= 0.0f) {
    size_t best = 0;
    if (!c.sorted()) {
      for (size_t i = 1; i < n; ++i) {
        if (ranks_before(d[i], d[best])) best = i;
      }
    }
    d[0] = d[best];
    c.truncate(1);
    c.set_sorted(true);
    c.set_identity(false);
    return;
  }
  // Multiplying by the reciprocal would round differently from llama.cpp's division.
  for (size_t i = 0; i < n; ++i) d[i].logit /= t;
}

void top_n_sigma(Candidates& c, float n_sigma) {
  const size_t n = c.size();
  if (n_sigma <= 0.0f || n <= 1) return;
  TokenData* d = c.data();
  float max_l = kNegInf;
  double sum = 0.0;
  size_t valid = 0;
  for (size_t i = 0; i < n; ++i) {
    if (d[i].logit == kNegInf) continue;
    max_l = std::max(max_l, d[i].logit);
    sum += d[i].logit;
    ++valid;
  }
  if (valid == 0) return;
  const double mean = sum / static_cast<double>(valid);
  double acc = 0.0;
  for (size_t i = 0; i < n; ++i) {
    if (d[i].logit == kNegInf) continue;
    const double dev = d[i].logit - mean;
    acc += dev * dev;
  }
  const float sigma = static_cast<float>(std::sqrt(acc / static_cast<double>(valid)));
  const float threshold = max_l - n_sigma * sigma;
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    if (d[i].logit >= threshold) d[out++] = d[i];
  }
  c.truncate(out);
}

size_t draw_index(const Candidates& c, double u) {
  const size_t n = c.size();
  double cum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cum += c[i].p;
    if (cum > u) return i;
  }
  for (size_t i = n; i-- > 0;) {
    if (c[i].p > 0.0f) return i;
  }
  return 0;
}

}  // namespace lathe::sampling
