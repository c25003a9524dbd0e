#include "sampling/candidates.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace lathe::sampling {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Up to this k a heap selection (std::partial_sort) wins: for random logits almost every element
// only costs one comparison against the heap's worst. Beyond it, nth_element's linear selection
// followed by sorting the k survivors is cheaper.
constexpr size_t kHeapSelectMaxK = 256;

// Below this many candidates top_p simply sorts them; above, it buckets by logit.
constexpr size_t kSortTopPBelow = 1024;

// Four-lane vectors through the GCC/Clang vector extensions: they compile to SSE2 on any x86-64
// (and NEON on ARM) without per-file ISA flags, which is all a 128k-entry softmax needs.
typedef float F4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));

// e^x for x <= 0 in four lanes; exactly 0 below -87 (so -inf, a banned token, gets p = 0).
// Cody-Waite reduction x = n ln2 + r with |r| <= ln2/2, then a degree-6 Taylor polynomial: the
// relative error stays under ~2e-7, close to libm's expf, at a fraction of its cost per element.
inline F4 exp4_nonpositive(F4 x) {
  const I4 in_range = x >= -87.0f;  // all-ones lanes where x is in range; false for NaN too
  x = reinterpret_cast<F4>((reinterpret_cast<I4>(x) & in_range) |
                           (reinterpret_cast<I4>(F4{} - 87.0f) & ~in_range));
  // Round x / ln2 to the nearest integer with the 1.5 * 2^23 trick: n lands in the low mantissa.
  constexpr float kMagic = 12582912.0f;
  const F4 t = x * 1.44269504088896341f + kMagic;
  const F4 n = t - kMagic;
  const I4 ni = reinterpret_cast<I4>(t) - reinterpret_cast<I4>(F4{} + kMagic);
  const F4 r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  F4 p = r * (1.0f / 720) + (1.0f / 120);
  p = p * r + (1.0f / 24);
  p = p * r + (1.0f / 6);
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const F4 scale = reinterpret_cast<F4>((ni + 127) << 23);  // 2^n, n >= -126 here
  return reinterpret_cast<F4>(reinterpret_cast<I4>(p * scale) & in_range);
}

// Sum of p over [first, last) with independent accumulators, so the additions overlap instead of
// waiting on one another (a single running double sum is latency-bound on 128k entries).
// Largest logit of d[0, n) (n >= 1), with independent running maxima for the same reason.
float max_logit(const TokenData* d, size_t n) {
  float m[4] = {d[0].logit, d[0].logit, d[0].logit, d[0].logit};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    m[0] = std::max(m[0], d[i].logit);
    m[1] = std::max(m[1], d[i + 1].logit);
    m[2] = std::max(m[2], d[i + 2].logit);
    m[3] = std::max(m[3], d[i + 3].logit);
  }
  for (; i < n; ++i) m[0] = std::max(m[0], d[i].logit);
  return std::max(std::max(m[0], m[1]), std::max(m[2], m[3]));
}

double sum_p(const TokenData* d, size_t first, size_t last) {
  double acc[4] = {0, 0, 0, 0};
  size_t i = first;
  for (; i + 4 <= last; i += 4) {
    acc[0] += d[i].p;
    acc[1] += d[i + 1].p;
    acc[2] += d[i + 2].p;
    acc[3] += d[i + 3].p;
  }
  for (; i < last; ++i) acc[0] += d[i].p;
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

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
  const float max_l = c.sorted() ? d[0].logit : max_logit(d, n);
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
  // Blocks of 256 accumulate in float lanes (error ~1e-7 relative per block), then in double.
  double sum = 0.0;
  size_t i = 0;
  while (i + 4 <= n) {
    const size_t block_end = std::min(n - n % 4, i + 256);
    F4 acc{};
    for (; i < block_end; i += 4) {
      const F4 x = F4{d[i].logit, d[i + 1].logit, d[i + 2].logit, d[i + 3].logit} - max_l;
      const F4 e = exp4_nonpositive(x);
      d[i].p = e[0];
      d[i + 1].p = e[1];
      d[i + 2].p = e[2];
      d[i + 3].p = e[3];
      acc += e;
    }
    sum += static_cast<double>((acc[0] + acc[1]) + (acc[2] + acc[3]));
  }
  for (; i < n; ++i) {
    const F4 e = exp4_nonpositive(F4{} + (d[i].logit - max_l));
    d[i].p = e[0];
    sum += e[0];
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

// Keeps the nucleus of an unsorted candidate set in two linear passes. Probability falls with the
// logit, so the nucleus is every candidate above some logit plus a best-first part of the
// candidates at it: a histogram of probability mass over logit buckets finds the bucket where the
// nucleus ends, and only that bucket is sorted. Returns the nucleus size; c is compacted to it.
size_t keep_nucleus_bucketed(Candidates& c, float max_l, float p, size_t min_keep) {
  // 1024 buckets over the 32 nats below the best logit; anything lower (relative probability under
  // e^-32) shares the last bucket.
  constexpr int kBuckets = 1024;
  constexpr float kScale = kBuckets / 32.0f;
  const auto bucket_of = [&](float logit) {
    const float x = (max_l - logit) * kScale;  // >= 0; +inf for -inf logits
    return x < static_cast<float>(kBuckets - 1) ? static_cast<int>(x) : kBuckets - 1;
  };
  TokenData* d = c.data();
  const size_t n = c.size();
  double mass[kBuckets] = {};
  uint32_t count[kBuckets] = {};
  for (size_t i = 0; i < n; ++i) {
    const int b = bucket_of(d[i].logit);
    mass[b] += d[i].p;
    ++count[b];
  }
  int last = -1;  // the bucket where the nucleus ends
  double cum = 0.0;
  size_t cnt = 0;
  for (int b = 0; b < kBuckets; ++b) {
    if (nucleus_complete(cum + mass[b], cnt + count[b], p, min_keep)) {
      last = b;
      break;
    }
    cum += mass[b];
    cnt += count[b];
  }
  if (last < 0) return n;  // p (or min_keep) is never reached: keep everything

  std::vector<TokenData>& edge = c.scratch_tokens();
  edge.clear();
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    // Branch-free: which side a candidate falls on is unpredictable in a flat distribution.
    const TokenData t = d[i];
    const int b = bucket_of(t.logit);
    d[out] = t;
    out += b < last;
    if (b == last) edge.push_back(t);
  }
  std::sort(edge.begin(), edge.end(), ranks_before);
  size_t take = edge.size();  // rounding may leave the bucket short of p: then all of it
  for (size_t j = 0; j < edge.size(); ++j) {
    cum += edge[j].p;
    if (nucleus_complete(cum, out + j + 1, p, min_keep)) {
      take = j + 1;
      break;
    }
  }
  std::copy(edge.begin(), edge.begin() + static_cast<std::ptrdiff_t>(take), d + out);
  out += take;
  c.set_identity(false);
  c.truncate(out);
  return out;
}

}  // namespace

void top_p(Candidates& c, float p, size_t min_keep) {
  if (p >= 1.0f || c.empty()) return;
  const float max_l = softmax(c);
  const size_t n = c.size();
  if (!c.sorted() && n > kSortTopPBelow) {
    keep_nucleus_bucketed(c, max_l, p, min_keep);
    return;
  }
  c.sort();
  double cum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cum += c[i].p;
    if (nucleus_complete(cum, i + 1, p, min_keep)) {
      c.truncate(i + 1);
      return;
    }
  }
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
  const float threshold = max_logit(d, n) + std::log(p);
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) count += d[i].logit >= threshold;
  if (count >= min_keep) {
    if (count == n) return;
    // Compacts in place, keeping the surviving candidates' order; branch-free as above.
    size_t out = 0;
    for (size_t i = 0; i < n; ++i) {
      const TokenData t = d[i];
      d[out] = t;
      out += t.logit >= threshold;
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
  // The reciprocal turns 128k divisions into multiplications; the result differs from llama.cpp's
  // division by at most one rounding step.
  const float inv = 1.0f / t;
  for (size_t i = 0; i < n; ++i) d[i].logit *= inv;
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

size_t find_greater(const float* x, size_t begin, size_t end, float threshold) {
  size_t i = begin;
  const F4 t = F4{} + threshold;
  for (; i + 16 <= end; i += 16) {
    F4 a, b, c, d;
    std::memcpy(&a, x + i, sizeof a);
    std::memcpy(&b, x + i + 4, sizeof b);
    std::memcpy(&c, x + i + 8, sizeof c);
    std::memcpy(&d, x + i + 12, sizeof d);
    const I4 m = (a > t) | (b > t) | (c > t) | (d > t);
    if ((m[0] | m[1] | m[2] | m[3]) != 0) break;
  }
  for (; i < end; ++i) {
    if (x[i] > threshold) return i;
  }
  return end;
}

size_t draw_index(const Candidates& c, double u) {
  const size_t n = c.size();
  const TokenData* d = c.data();
  double cum = 0.0;
  size_t i = 0;
  // Skip whole blocks whose mass keeps the running sum at or below u, then walk one by one.
  constexpr size_t kBlock = 64;
  while (i + kBlock <= n) {
    const double block = sum_p(d, i, i + kBlock);
    if (cum + block > u) break;
    cum += block;
    i += kBlock;
  }
  for (; i < n; ++i) {
    cum += d[i].p;
    if (cum > u) return i;
  }
  for (size_t i = n; i-- > 0;) {
    if (c[i].p > 0.0f) return i;
  }
  return 0;
}

}  // namespace lathe::sampling
