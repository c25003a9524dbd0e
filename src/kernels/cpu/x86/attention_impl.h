// The SIMD attention kernel, written once over a vector policy `S` and compiled per instruction
// set: attention_avx512.cpp and attention_avx2.cpp each define their policy and include this file
// with LATHE_ATTENTION_ISA naming their namespace. Everything here has internal linkage, so the
// two compilations (with different ISA flags) never share a symbol.
//
// One call computes a work item (AttentionItem): tokens [t0, t1) × KV heads [g0, g1), each KV head
// with its g = n_head / n_head_kv query heads: rows = tokens × KV heads × g. The cells that some
// token of the item sees are walked in blocks of up to 64:
//   1. scores, scale·q·k, for every row whose token sees part of the block: register tiles of
//      4 rows × 4 cells (S::kScoreRows rows), each K vector loaded once for the tile's rows, the
//      16 dot products folded by one shuffle tree (S::hsum4); hidden cells score −inf;
//   2. flash: an online softmax per row (rescale the accumulator when the maximum grows);
//      plain: the scores are kept for the whole span, and softmax runs once they are all known;
//   3. acc[row] += Σ_cells p·v: register tiles of S::kPvRows rows × 4 vectors of the head, over 8
//      cells at a time, each V vector loaded once for the tile's rows.
// K and V are read straight from the cache, converted to f32 in registers (S::F16, S::Q8_0,
// S::Q4_0): no f32 copy of a block is written, which would double the bytes moved and halve the
// bandwidth once it outgrows L1 (measured: 11 GB/s instead of 33 for an f16 stream). Both steps
// walk the block cell group by cell group, and within a group KV head by KV head, so an item
// that covers all KV heads reads the cache in address order: a stream the hardware prefetcher
// follows. Cells that no token of the item sees, and the padding of the last group, read a zero
// row instead (an unwritten cell may hold NaN, and 0·NaN would poison the sum).
//
// Caches whose K and V types differ, or other types, are converted to f32 by the table's
// dequantizers into per-block buffers first (S::F32 then reads those).
//
// Numerics: q is converted to K's vec_dot type and back to f32 first (f16 for an f16 cache, q8_0
// for quantized ones), and K and V are dequantized exactly, so a score is the reference's dot
// product up to the order of the float additions. The plain path follows the reference (and
// llama.cpp's plain path): max, exp, a sum in double, and probabilities rounded to f16 before they
// meet an f16 V. exp is the vectorized one (≤ 1 ulp, see exp_avx512.h).
#pragma once

#if !defined(LATHE_ATTENTION_ISA)
#error "define LATHE_ATTENTION_ISA (the ISA namespace) before including attention_impl.h"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/ref/ref.h"
#include "kernels/cpu/x86/static_for.h"

namespace lathe::kernels::x86::LATHE_ATTENTION_ISA {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int64_t kBlock = kAttentionBlockCells;
constexpr int kScoreCells = 4;  // cells per score tile
constexpr int kPvCells = 8;     // cells per P·V step

// Asks for rows [r0, r1) of a cache (`run` bytes from `base` in each row, the item's heads).
//
// The cache is only read while a block's scores (K) or its P·V (V) are computed. So that memory
// stays busy the whole time, each step asks for the bytes the next one reads: the scores of a cell
// group ask for the same cells' V rows, and P·V asks for the K rows of the cells after the block
// (where the walk most often goes next). Measured without this on f16 generation: 10 GB/s, three
// quarters of the time waiting on V.
inline void prefetch_rows(const uint8_t* base, uint64_t row_bytes, uint64_t run, int64_t r0,
                          int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* p = base + static_cast<uint64_t>(r) * row_bytes;
    for (uint64_t o = 0; o < run; o += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(p + o), _MM_HINT_T0);
    }
  }
}

// One cache row of zeros in every format (f16 and f32 zeros; q8_0 and q4_0 blocks with scale 0),
// up to 256 f32 values.
alignas(64) constexpr uint8_t kZeroRow[1024] = {};

// The fallback for caches without a direct loader: cells [0, n) of a block, KV heads
// [0, n_heads), to f32 rows (cell j of head h at dst + (h·cells + j)·d) with the table's
// dequantizer; cells whose bit in `wanted` is clear, and cells n .. n_zero − 1, become zeros.
void convert_block(const uint8_t* base, uint64_t row_bytes, uint64_t head_bytes, int64_t n_heads,
                   int64_t cells, int64_t d, int64_t n, int64_t n_zero, uint64_t wanted,
                   DequantizeRowFn dequantize, float* dst) {
  for (int64_t j = 0; j < n_zero; ++j) {
    const bool convert = j < n && ((wanted >> j) & 1u) != 0;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* row = dst + (h * cells + j) * d;
      if (convert) {
        dequantize(
            base + static_cast<uint64_t>(j) * row_bytes + static_cast<uint64_t>(h) * head_bytes,
            row, d);
      } else {
        std::memset(row, 0, static_cast<size_t>(d) * sizeof(float));
      }
    }
  }
}

// Bits [b, e) of a 64-bit mask (0 ≤ b ≤ e ≤ 64).
inline uint64_t bit_range(int64_t b, int64_t e) {
  if (e <= b) return 0;
  const uint64_t upto_e = e >= 64 ? ~uint64_t{0} : (uint64_t{1} << e) - 1;
  return upto_e & ~((uint64_t{1} << b) - 1);
}

// Scores (unscaled) of RT rows against 4 cells: out[r][j] = q[r]·k[j], k[j] a cache row of D =
// NC·kLanes values in the loader's format. Each K vector is loaded once for the RT rows; the
// accumulators (RT × 4 vectors) stay in registers.
template <class S, class KL, int NC, int RT>
inline void score_tile(const float* const* q, const uint8_t* const* k, float* const* out) {
  using V = typename S::V;
  constexpr int L = S::kLanes;
  V acc[RT][kScoreCells];
  static_for<RT>([&](auto r) { static_for<kScoreCells>([&](auto j) { acc[r][j] = S::zero(); }); });
  static_for<NC>([&](auto c) {
    V kv[kScoreCells];
    static_for<kScoreCells>([&](auto j) { kv[j] = KL::template load<decltype(c)::value>(k[j]); });
    static_for<RT>([&](auto r) {
      const V qv = S::load(q[r] + c * L);
      static_for<kScoreCells>([&](auto j) { acc[r][j] = S::fmadd(kv[j], qv, acc[r][j]); });
    });
  });
  static_for<RT>([&](auto r) { _mm_storeu_ps(out[r], S::hsum4(acc[r])); });
}

// acc[r] += Σ_j p[r][j]·v[j] for RT rows over kPvCells cells (v[j] a cache row, p[r] the row's
// probabilities of those cells). The accumulators of RT rows × up to kPvCols vectors stay in
// registers over the cells; each V vector is loaded once for the RT rows.
template <class S, class VL, int NC, int RT>
inline void pv_tile(float* const* acc, const float* const* p, const uint8_t* const* v) {
  using V = typename S::V;
  constexpr int L = S::kLanes;
  constexpr int CG = S::kPvCols;
  static_for<(NC + CG - 1) / CG>([&](auto g) {
    constexpr int c0 = decltype(g)::value * CG;
    constexpr int cn = NC - c0 < CG ? NC - c0 : CG;
    V a[RT][cn];
    static_for<RT>(
        [&](auto r) { static_for<cn>([&](auto c) { a[r][c] = S::load(acc[r] + (c0 + c) * L); }); });
    for (int j = 0; j < kPvCells; ++j) {
      V vv[cn];
      static_for<cn>([&](auto c) { vv[c] = VL::template load<c0 + decltype(c)::value>(v[j]); });
      static_for<RT>([&](auto r) {
        const V pj = S::set1(p[r][j]);
        static_for<cn>([&](auto c) { a[r][c] = S::fmadd(pj, vv[c], a[r][c]); });
      });
    }
    static_for<RT>(
        [&](auto r) { static_for<cn>([&](auto c) { S::store(acc[r] + (c0 + c) * L, a[r][c]); }); });
  });
}

// Runs Tile<RT> over `n` rows in groups of kMax (the last group smaller): the rows' pointers are
// gathered by `row(i, r)` into arrays the tile reads.
template <int kMax, class Fn>
inline void in_row_groups(int64_t n, Fn&& fn) {
  int64_t i = 0;
  for (; i + kMax <= n; i += kMax) fn(i, std::integral_constant<int, kMax>{});
  const int64_t left = n - i;
  if constexpr (kMax > 1) {
    if (left == 1) fn(i, std::integral_constant<int, 1>{});
  }
  if constexpr (kMax > 2) {
    if (left == 2) fn(i, std::integral_constant<int, 2>{});
  }
  if constexpr (kMax > 3) {
    if (left == 3) fn(i, std::integral_constant<int, 3>{});
  }
  static_assert(kMax <= 4, "in_row_groups handles groups of up to 4 rows");
}

// Scales a row's scores of one block and hides the cells its token does not see (−inf), over
// round_up(n, kLanes) values.
template <class S>
inline void finish_scores(float* s, int64_t n, float scale, uint64_t bits) {
  constexpr int L = S::kLanes;
  const typename S::V vscale = S::set1(scale);
  for (int64_t j = 0; j < n; j += L) {
    S::store(s + j, S::keep(S::mul(S::load(s + j), vscale), static_cast<uint32_t>(bits >> j)));
  }
}

// An item's buffers, carved out of AttentionScratch::block (sized by attention_block_floats).
struct Buffers {
  float* q;       // rows × d: q rows, converted to K's dot type and back
  float* acc;     // rows × d
  float* kf;      // kv_heads × cells × d
  float* vf;      // kv_heads × cells × d
  float* scores;  // rows × stride
  float* m;       // rows: running maximum (flash)
  float* l;       // rows: running sum (flash)
  int64_t stride;
};

inline Buffers carve(AttentionScratch& ws, int64_t d, int64_t kv_heads, int64_t cells, int64_t rows,
                     int64_t span) {
  const auto pad = [](int64_t n) { return (n + 15) / 16 * 16; };
  auto addr = reinterpret_cast<uintptr_t>(ws.block.data());
  float* p = reinterpret_cast<float*>((addr + 63) / 64 * 64);
  Buffers b;
  b.stride = pad(std::max(span + 16, kBlock));  // as attention_block_floats
  b.q = p;
  p += pad(rows * d);
  b.acc = p;
  p += pad(rows * d);
  b.kf = p;
  p += pad(kv_heads * cells * d);
  b.vf = p;
  p += pad(kv_heads * cells * d);
  b.scores = p;
  p += rows * b.stride;
  b.m = p;
  p += pad(rows);
  b.l = p;
  return b;
}

// Walks the blocks of cells in [c0, c1) that some token of the item sees, in increasing order.
// Each token's ranges are sorted and disjoint; a cursor per token skips the ranges already passed.
class BlockWalker {
 public:
  BlockWalker(const ops::AttentionMask& mask, int64_t t0, int64_t nt, int64_t c0, int64_t c1,
              int64_t block, int64_t* cursor, uint64_t* bits)
      : mask_(mask), t0_(t0), nt_(nt), block_(block), cursor_(cursor), bits_(bits) {
    for (int64_t ti = 0; ti < nt_; ++ti) {
      const int32_t r0 = mask_.offsets[t0_ + ti];
      const int32_t r1 = mask_.offsets[t0_ + ti + 1];
      if (r1 > r0) {
        lo_ = std::min<int64_t>(lo_, mask_.ranges[r0].begin);
        hi_ = std::max<int64_t>(hi_, mask_.ranges[r1 - 1].end);
      }
    }
    lo_ = std::max(lo_, c0);
    hi_ = std::min(hi_, c1);
    if (hi_ < lo_) hi_ = lo_ = 0;
    restart();
  }

  int64_t lo() const { return lo_; }
  int64_t hi() const { return hi_; }
  void restart() {
    for (int64_t ti = 0; ti < nt_; ++ti) cursor_[ti] = mask_.offsets[t0_ + ti];
    next_ = lo_;
  }

  // The next block: [c0, c0 + n) starting at the first cell at or after the previous block that
  // some token sees, with each token's visible cells in bits[ti] and their union in `any`.
  bool next(int64_t& c0, int64_t& n, uint64_t& any) {
    int64_t start = hi_;
    for (int64_t ti = 0; ti < nt_; ++ti) {
      const int32_t r1 = mask_.offsets[t0_ + ti + 1];
      int64_t& k = cursor_[ti];
      while (k < r1 && mask_.ranges[k].end <= next_) ++k;
      if (k < r1) start = std::min<int64_t>(start, std::max<int64_t>(next_, mask_.ranges[k].begin));
    }
    if (start >= hi_) return false;
    c0 = start;
    n = std::min(block_, hi_ - start);
    any = 0;
    for (int64_t ti = 0; ti < nt_; ++ti) {
      const int32_t r1 = mask_.offsets[t0_ + ti + 1];
      uint64_t b = 0;
      for (int64_t k = cursor_[ti]; k < r1 && mask_.ranges[k].begin < c0 + n; ++k) {
        b |= bit_range(std::max<int64_t>(mask_.ranges[k].begin, c0) - c0,
                       std::min<int64_t>(mask_.ranges[k].end, c0 + n) - c0);
      }
      bits_[ti] = b;
      any |= b;
    }
    next_ = c0 + n;
    return true;
  }

 private:
  const ops::AttentionMask& mask_;
  int64_t t0_, nt_, block_;
  int64_t* cursor_;
  uint64_t* bits_;
  int64_t lo_ = std::numeric_limits<int64_t>::max();
  int64_t hi_ = 0;
  int64_t next_ = 0;
};

// Online softmax over one block for one row: turns the scores into weights relative to the new
// running maximum, rescales what the row accumulated if the maximum grew, and adds to the sum.
template <class S, int NC>
void online_softmax(float* s, int64_t n, float& m, float& l, float* acc_row) {
  using V = typename S::V;
  constexpr int L = S::kLanes;
  V mx = S::set1(kNegInf);
  for (int64_t j = 0; j < n; j += L) mx = S::max(mx, S::load(s + j));
  const float m_new = std::max(m, S::reduce_max(mx));
  if (m_new == kNegInf) {
    // Nothing finite yet: the block adds nothing.
    for (int64_t j = 0; j < n; j += L) S::store(s + j, S::zero());
    return;
  }
  const V vm = S::set1(m_new);
  V sum = S::zero();
  for (int64_t j = 0; j < n; j += L) {
    const V e = S::exp(S::sub(S::load(s + j), vm));
    S::store(s + j, e);
    sum = S::add(sum, e);
  }
  if (m_new > m) {
    const float correction = m == kNegInf ? 0.0f : std::exp(m - m_new);
    l *= correction;
    const V vc = S::set1(correction);
    static_for<NC>(
        [&](auto c) { S::store(acc_row + c * L, S::mul(S::load(acc_row + c * L), vc)); });
    m = m_new;
  }
  l += S::reduce_add(sum);
}

// Plain softmax over a row's whole span (scores of hidden cells are −inf): max, exp, a sum in
// double, normalization, and the rounding to f16 when V is f16.
template <class S>
void plain_softmax(float* s, int64_t span, bool round_f16) {
  using V = typename S::V;
  constexpr int L = S::kLanes;
  V mx = S::set1(kNegInf);
  for (int64_t j = 0; j < span; j += L) mx = S::max(mx, S::load(s + j));
  const float max_score = S::reduce_max(mx);
  if (max_score == kNegInf) {
    for (int64_t j = 0; j < span; j += L) S::store(s + j, S::zero());
    return;
  }
  const V vm = S::set1(max_score);
  typename S::DoubleSum sum{};
  for (int64_t j = 0; j < span; j += L) {
    const V e = S::exp(S::sub(S::load(s + j), vm));
    S::store(s + j, e);
    S::add_double(sum, e);
  }
  const double total = S::reduce_double(sum);
  const V inv = S::set1(total > 0.0 ? static_cast<float>(1.0 / total) : 0.0f);
  for (int64_t j = 0; j < span; j += L) {
    V w = S::mul(S::load(s + j), inv);
    if (round_f16) w = S::round_f16(w);
    S::store(s + j, w);
  }
}

template <class S, class KL, class VL, int NC>
void attention_item_d(const AttentionArgs& a, const AttentionItem& item, AttentionScratch& ws) {
  constexpr int L = S::kLanes;
  constexpr int64_t D = static_cast<int64_t>(NC) * L;
  // The fallback reads K and V from f32 copies of each block (see the top of the file).
  constexpr bool kConverted = std::is_same_v<KL, typename S::F32>;
  const ops::AttentionParams& p = *a.params;
  const ops::KvLayerView& kv = *a.kv;
  const KernelTable& table = *a.table;
  const int64_t gqa = p.n_head / p.n_head_kv;
  const int64_t nt = item.t1 - item.t0;
  const int64_t ng = item.g1 - item.g0;
  const int64_t head_rows = nt * gqa;  // rows of one KV head: token-major, then query head
  const int64_t rows = ng * head_rows;
  const int64_t cells = kConverted ? attention_block_cells(ng, D) : kBlock;

  BlockWalker walker(*a.mask, item.t0, nt, item.c0, item.c1, cells, ws.cursor.data(),
                     ws.bits.data());
  const int64_t span = p.flash ? 0 : walker.hi() - walker.lo();
  Buffers b = carve(ws, D, ng, attention_block_cells(ng, D), rows, span);
  // Row r is query head (g0 + r / head_rows)·gqa + r % gqa of token t0 + r / gqa % nt.
  const auto qo_offset = [&](int64_t r) {
    return ((item.t0 + r / gqa % nt) * p.n_head + (item.g0 + r / head_rows) * gqa + r % gqa) * D;
  };

  // q rows in K's dot type, back in f32.
  const TensorType q_type = table.vec_dot_type_for(kv.type_k);
  const QuantizeRowFn quantize_q = table.quantize_for(q_type);
  const DequantizeRowFn dequantize_q = table.dequantize_for(q_type);
  for (int64_t r = 0; r < rows; ++r) {
    quantize_q(a.q + qo_offset(r), ws.q_converted.data(), D);
    dequantize_q(ws.q_converted.data(), b.q + r * D, D);
  }
  std::memset(b.acc, 0, static_cast<size_t>(rows * D) * sizeof(float));
  for (int64_t r = 0; r < rows; ++r) {
    b.m[r] = kNegInf;
    b.l[r] = 0.0f;
  }
  if (!p.flash) std::fill(b.scores, b.scores + rows * b.stride, kNegInf);

  const uint64_t k_head_bytes = kv.k_row_bytes / static_cast<uint64_t>(p.n_head_kv);
  const uint64_t v_head_bytes = kv.v_row_bytes / static_cast<uint64_t>(p.n_head_kv);
  const auto* k_base =
      static_cast<const uint8_t*>(kv.k) + static_cast<uint64_t>(item.g0) * k_head_bytes;
  const auto* v_base =
      static_cast<const uint8_t*>(kv.v) + static_cast<uint64_t>(item.g0) * v_head_bytes;
  // The rows of one KV head whose token sees part of the block (the same for every head).
  int64_t* active = ws.active_rows.data();
  const auto list_active = [&] {
    int64_t count = 0;
    for (int64_t ti = 0; ti < nt; ++ti) {
      if (ws.bits[static_cast<size_t>(ti)] == 0) continue;
      for (int64_t j = 0; j < gqa; ++j) active[count++] = ti * gqa + j;
    }
    return count;
  };

  int64_t c0 = 0, n = 0;
  uint64_t any = 0;
  // Cell j of the block in head h: the cache row (or its f32 copy), or the zero row for a cell no
  // token sees and for padding.
  const auto k_cell = [&](int64_t h, int64_t j) -> const uint8_t* {
    if constexpr (kConverted) {
      return reinterpret_cast<const uint8_t*>(b.kf + (h * cells + j) * D);
    } else {
      if (j >= n || ((any >> j) & 1u) == 0) return kZeroRow;
      return k_base + static_cast<uint64_t>(c0 + j) * kv.k_row_bytes +
             static_cast<uint64_t>(h) * k_head_bytes;
    }
  };
  const auto v_cell = [&](int64_t h, int64_t j) -> const uint8_t* {
    if constexpr (kConverted) {
      return j < n ? reinterpret_cast<const uint8_t*>(b.vf + (h * cells + j) * D) : kZeroRow;
    } else {
      if (j >= n || ((any >> j) & 1u) == 0) return kZeroRow;
      return v_base + static_cast<uint64_t>(c0 + j) * kv.v_row_bytes +
             static_cast<uint64_t>(h) * v_head_bytes;
    }
  };
  const auto convert_v = [&] {
    if constexpr (kConverted) {
      convert_block(v_base + static_cast<uint64_t>(c0) * kv.v_row_bytes, kv.v_row_bytes,
                    v_head_bytes, ng, cells, D, n, n, any, table.dequantize_for(kv.type_v), b.vf);
    }
  };
  // acc += P·V over the block for the active rows; P of row r at p_row(h, r) (cell 0 of the block).
  const uint64_t k_run = static_cast<uint64_t>(ng) * k_head_bytes;
  const uint64_t v_run = static_cast<uint64_t>(ng) * v_head_bytes;
  const auto accumulate = [&](int64_t n_active, auto p_row) {
    for (int64_t j0 = 0; j0 < n; j0 += kPvCells) {
      if (p.flash)
        prefetch_rows(k_base, kv.k_row_bytes, k_run, c0 + n + j0, c0 + n + j0 + kPvCells);
      for (int64_t h = 0; h < ng; ++h) {
        const uint8_t* v[kPvCells];
        for (int j = 0; j < kPvCells; ++j) v[j] = v_cell(h, j0 + j);
        in_row_groups<S::kPvRows>(n_active, [&](int64_t i, auto rt) {
          constexpr int RT = decltype(rt)::value;
          float* acc[RT];
          const float* pr[RT];
          for (int r = 0; r < RT; ++r) {
            acc[r] = b.acc + (h * head_rows + active[i + r]) * D;
            pr[r] = p_row(h, active[i + r]) + j0;
          }
          pv_tile<S, VL, NC, RT>(acc, pr, v);
        });
      }
    }
  };

  while (walker.next(c0, n, any)) {
    const int64_t n_active = list_active();
    if constexpr (kConverted) {
      convert_block(k_base + static_cast<uint64_t>(c0) * kv.k_row_bytes, kv.k_row_bytes,
                    k_head_bytes, ng, cells, D, n,
                    (n + kScoreCells - 1) / kScoreCells * kScoreCells, any,
                    table.dequantize_for(kv.type_k), b.kf);
    }
    // Scores: cell groups outermost, then KV heads, so the cache is read in address order.
    const int64_t score_offset = p.flash ? 0 : c0 - walker.lo();
    for (int64_t j0 = 0; j0 < n; j0 += kScoreCells) {
      if (p.flash) prefetch_rows(v_base, kv.v_row_bytes, v_run, c0 + j0, c0 + j0 + kScoreCells);
      for (int64_t h = 0; h < ng; ++h) {
        const uint8_t* k[kScoreCells];
        for (int j = 0; j < kScoreCells; ++j) k[j] = k_cell(h, j0 + j);
        in_row_groups<S::kScoreRows>(n_active, [&](int64_t i, auto rt) {
          constexpr int RT = decltype(rt)::value;
          const float* q[RT];
          float* out[RT];
          for (int r = 0; r < RT; ++r) {
            const int64_t row = h * head_rows + active[i + r];
            q[r] = b.q + row * D;
            out[r] = b.scores + row * b.stride + score_offset + j0;
          }
          score_tile<S, KL, NC, RT>(q, k, out);
        });
      }
    }
    for (int64_t h = 0; h < ng; ++h) {
      for (int64_t i = 0; i < n_active; ++i) {
        const int64_t r = h * head_rows + active[i];
        float* s = b.scores + r * b.stride + score_offset;
        finish_scores<S>(s, n, p.scale, ws.bits[static_cast<size_t>(active[i] / gqa)]);
        if (p.flash) online_softmax<S, NC>(s, n, b.m[r], b.l[r], b.acc + r * D);
      }
    }
    if (!p.flash) continue;
    convert_v();
    accumulate(n_active,
               [&](int64_t h, int64_t r) { return b.scores + (h * head_rows + r) * b.stride; });
  }

  if (!p.flash) {
    const bool round_f16 = kv.type_v == TensorType::kF16;
    for (int64_t r = 0; r < rows; ++r) plain_softmax<S>(b.scores + r * b.stride, span, round_f16);
    walker.restart();
    while (walker.next(c0, n, any)) {
      const int64_t n_active = list_active();
      convert_v();
      const int64_t offset = c0 - walker.lo();
      accumulate(n_active, [&](int64_t h, int64_t r) {
        return b.scores + (h * head_rows + r) * b.stride + offset;
      });
    }
  }

  if (item.partial != nullptr) {
    // A share of the cells (flash): the unnormalized state, for merge_attention_partials.
    for (int64_t r = 0; r < rows; ++r) {
      float* out = item.partial + r * (D + 2);
      std::memcpy(out, b.acc + r * D, static_cast<size_t>(D) * sizeof(float));
      out[D] = b.m[r];
      out[D + 1] = b.l[r];
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* out = a.out + qo_offset(r);
    const float inv = p.flash ? (b.l[r] > 0.0f ? 1.0f / b.l[r] : 0.0f) : 1.0f;
    const typename S::V vinv = S::set1(inv);
    static_for<NC>(
        [&](auto c) { S::store(out + c * L, S::mul(S::load(b.acc + r * D + c * L), vinv)); });
  }
}

// Head sizes with a compiled kernel: multiples of the vector width from 32 to 256 that models
// use; caches with K and V both f16, q8_0 or q4_0 read directly, others through f32 copies.
// Anything else goes to the reference.
template <class S, int NC>
void attention_types(const AttentionArgs& a, const AttentionItem& item, AttentionScratch& ws) {
  const TensorType tk = a.kv->type_k;
  if (tk == a.kv->type_v) {
    switch (tk) {
      case TensorType::kF16:
        return attention_item_d<S, typename S::F16, typename S::F16, NC>(a, item, ws);
      case TensorType::kQ8_0:
        return attention_item_d<S, typename S::Q8_0, typename S::Q8_0, NC>(a, item, ws);
      case TensorType::kQ4_0:
        return attention_item_d<S, typename S::Q4_0, typename S::Q4_0, NC>(a, item, ws);
      default:
        break;
    }
  }
  attention_item_d<S, typename S::F32, typename S::F32, NC>(a, item, ws);
}

// Sanitizer builds compile the head sizes the kernel tests exercise (32, 64, 80, 128) and send
// the others to the reference: each head size is a set of fully unrolled tiles, and all eight of
// them took ~10 minutes and ~5 GB to compile per ISA under ASan + UBSan. The tiles differ only in
// their trip counts, so these four cover the code the sanitizers check.
constexpr bool head_dim_compiled(int d) {
#ifdef LATHE_SANITIZER_BUILD
  return d == 32 || d == 64 || d == 80 || d == 128;
#else
  return d >= 32 && d <= 256;
#endif
}

template <class S>
void attention(const AttentionArgs& a, const AttentionItem& item, AttentionScratch& ws) {
  const int64_t d = a.params->head_dim;
  constexpr int L = S::kLanes;
  const bool grouped = a.params->n_head_kv > 0 && a.params->n_head % a.params->n_head_kv == 0;
  if (grouped && d % L == 0) {
    switch (d / L) {
#define LATHE_ATTENTION_CASE(nc)               \
  case nc:                                     \
    if constexpr (head_dim_compiled(nc * L)) { \
      attention_types<S, nc>(a, item, ws);     \
      return;                                  \
    }                                          \
    break;
      LATHE_ATTENTION_CASE(2)
      LATHE_ATTENTION_CASE(4)
      LATHE_ATTENTION_CASE(5)
      LATHE_ATTENTION_CASE(6)
      LATHE_ATTENTION_CASE(8)
      LATHE_ATTENTION_CASE(10)
      LATHE_ATTENTION_CASE(12)
      LATHE_ATTENTION_CASE(16)
      LATHE_ATTENTION_CASE(32)
#undef LATHE_ATTENTION_CASE
      default:
        break;
    }
  }
  ref::attention_item(a, item, ws);
}

}  // namespace

}  // namespace lathe::kernels::x86::LATHE_ATTENTION_ISA
