// The SIMD attention kernel, written once over a vector policy `S` and compiled per instruction
// set: attention_avx512.cpp and attention_avx2.cpp each define their policy and include this file
// with LATHE_ATTENTION_ISA naming their namespace. Everything here has internal linkage, so the
// two compilations (with different ISA flags) never share a symbol.
//
// One call computes a work item: tokens [t0, t1) × the g = n_head / n_head_kv query heads of one
// KV head, R = (t1 − t0)·g rows. The visible cells are walked in blocks of up to 64:
//   1. the block's K and V rows are converted to f32 once (zeros for cells no token of the tile
//      sees, so an unwritten cell can never put a NaN into the sum through a zero probability);
//   2. every row whose token sees part of the block gets the block's scores, scale·q·k, as a
//      kLanes-wide group of dot products folded into one vector (S::hsum); hidden cells score −inf;
//   3. flash: an online softmax per row (rescale the accumulator when the maximum grows);
//      plain: the scores are kept for the whole span, and softmax runs once they are all known;
//   4. acc[row] += Σ_cells p·v as a small register-tiled GEMM (rows × head_dim, k = cells).
// So K and V are read from memory once per item, for all its rows, instead of once per head and
// token, and the per-cell work is plain FMAs over f32 with no function call.
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

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include <immintrin.h>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/ref/ref.h"
#include "kernels/cpu/x86/static_for.h"
#include "quant/blocks.h"

namespace lathe::kernels::x86::LATHE_ATTENTION_ISA {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int64_t kBlock = kAttentionBlockCells;

// Converts cells [0, n) of a block, KV heads [0, n_heads) (cell j, head h at base + j·row_bytes +
// h·head_bytes), to f32 rows of d values: cell j of head h at dst + (h·cells + j)·d. Cells whose
// bit in `wanted` is clear, and cells n .. n_zero − 1, become zeros.
struct BlockLayout {
  uint64_t row_bytes;
  uint64_t head_bytes;
  int64_t n_heads;
  int64_t cells;  // rows per head in dst
  int64_t d;
};
using ConvertBlockFn = void (*)(const uint8_t* base, const BlockLayout& layout, int64_t n,
                                int64_t n_zero, uint64_t wanted, float* dst,
                                DequantizeRowFn fallback);

// A cell's heads are converted front to back, so a block reads its rows' bytes in address order
// when the item covers all KV heads (one head's slice alone is a strided stream, a few lines every
// row, that the hardware prefetchers follow badly).
//
// Memory is only read while a block is converted; the scores and sums that follow read the f32
// copies. So that DRAM stays busy during that compute too, the item asks for the next block's rows
// (the cells after this block, where the walk most often goes next) in as many parts as it has
// heads, one part before each head's compute: a steady trickle of prefetches, rather than one burst
// that would overflow the core's queue of outstanding misses.
inline void prefetch_rows(const uint8_t* base, uint64_t row_bytes, uint64_t run, int64_t r0,
                          int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* p = base + static_cast<uint64_t>(r) * row_bytes;
    for (uint64_t o = 0; o < run; o += 64)
      _mm_prefetch(reinterpret_cast<const char*>(p + o), _MM_HINT_T0);
  }
}

template <class Format>
void convert_block(const uint8_t* base, const BlockLayout& l, int64_t n, int64_t n_zero,
                   uint64_t wanted, float* dst, DequantizeRowFn fallback) {
  for (int64_t j = 0; j < n_zero; ++j) {
    const bool convert = j < n && ((wanted >> j) & 1u) != 0;
    const uint8_t* src = base + static_cast<uint64_t>(j) * l.row_bytes;
    for (int64_t h = 0; h < l.n_heads; ++h) {
      float* row = dst + (h * l.cells + j) * l.d;
      if (convert) {
        Format::convert(src + static_cast<uint64_t>(h) * l.head_bytes, row, l.d, fallback);
      } else {
        std::memset(row, 0, static_cast<size_t>(l.d) * sizeof(float));
      }
    }
  }
}

template <class S>
struct F16Rows {
  static void convert(const uint8_t* src, float* out, int64_t d, DequantizeRowFn) {
    S::f16_to_f32(reinterpret_cast<const uint16_t*>(src), out, d);
  }
};

template <class S>
struct Q8_0Rows {
  static void convert(const uint8_t* src, float* out, int64_t d, DequantizeRowFn) {
    S::q8_0_to_f32(reinterpret_cast<const quant::BlockQ8_0*>(src), out, d);
  }
};

template <class S>
struct Q4_0Rows {
  static void convert(const uint8_t* src, float* out, int64_t d, DequantizeRowFn) {
    S::q4_0_to_f32(reinterpret_cast<const quant::BlockQ4_0*>(src), out, d);
  }
};

// Any other cache type: the table's dequantizer, one call per row.
struct OtherRows {
  static void convert(const uint8_t* src, float* out, int64_t d, DequantizeRowFn f) {
    f(src, out, d);
  }
};

template <class S>
ConvertBlockFn converter_for(TensorType type) {
  switch (type) {
    case TensorType::kF16:
      return &convert_block<F16Rows<S>>;
    case TensorType::kQ8_0:
      return &convert_block<Q8_0Rows<S>>;
    case TensorType::kQ4_0:
      return &convert_block<Q4_0Rows<S>>;
    default:
      return &convert_block<OtherRows>;
  }
}

// Bits [b, e) of a 64-bit mask (0 ≤ b ≤ e ≤ 64).
inline uint64_t bit_range(int64_t b, int64_t e) {
  if (e <= b) return 0;
  const uint64_t upto_e = e >= 64 ? ~uint64_t{0} : (uint64_t{1} << e) - 1;
  return upto_e & ~((uint64_t{1} << b) - 1);
}

// Scores of one row against the block's n cells (kf: rows of D = NC·kLanes floats), times
// `scale`; cells whose bit is clear get −inf. Writes round_up(n, kLanes) values.
template <class S, int NC>
void score_row(const float* q, const float* kf, int64_t n, float scale, uint64_t bits, float* out) {
  using V = typename S::V;
  constexpr int L = S::kLanes;
  constexpr int64_t D = static_cast<int64_t>(NC) * L;
  V qv[NC];
  static_for<NC>([&](auto c) { qv[c] = S::load(q + c * L); });
  const V vscale = S::set1(scale);
  for (int64_t j0 = 0; j0 < n; j0 += L) {
    V acc[L];
    static_for<L>([&](auto j) { acc[j] = S::zero(); });
    const float* k = kf + j0 * D;
    static_for<NC>([&](auto c) {
      static_for<L>([&](auto j) { acc[j] = S::fmadd(S::load(k + j * D + c * L), qv[c], acc[j]); });
    });
    const V s = S::mul(S::hsum(acc), vscale);
    S::store(out + j0, S::keep(s, static_cast<uint32_t>(bits >> j0)));
  }
}

// acc[rows[i]] += Σ_j p[rows[i]][j] · vf[j] for RT rows (p rows at p_base + row·p_stride), over
// n cells. The accumulators of RT rows × CG vectors of head_dim stay in registers for the whole
// block; each V vector loaded serves all RT rows.
template <class S, int NC, int RT>
void pv_rows(const int64_t* rows, float* acc, const float* p_base, int64_t p_stride,
             const float* vf, int64_t n) {
  using V = typename S::V;
  constexpr int L = S::kLanes;
  constexpr int64_t D = static_cast<int64_t>(NC) * L;
  constexpr int CG = S::kPvCols;
  float* a_row[RT];
  const float* p_row[RT];
  static_for<RT>([&](auto r) {
    a_row[r] = acc + rows[r] * D;
    p_row[r] = p_base + rows[r] * p_stride;
  });
  static_for<(NC + CG - 1) / CG>([&](auto g) {
    constexpr int c0 = g * CG;
    constexpr int cn = NC - c0 < CG ? NC - c0 : CG;
    V a[RT][cn];
    static_for<RT>([&](auto r) {
      static_for<cn>([&](auto c) { a[r][c] = S::load(a_row[r] + (c0 + c) * L); });
    });
    for (int64_t j = 0; j < n; ++j) {
      V v[cn];
      static_for<cn>([&](auto c) { v[c] = S::load(vf + j * D + (c0 + c) * L); });
      static_for<RT>([&](auto r) {
        const V pj = S::set1(p_row[r][j]);
        static_for<cn>([&](auto c) { a[r][c] = S::fmadd(pj, v[c], a[r][c]); });
      });
    }
    static_for<RT>([&](auto r) {
      static_for<cn>([&](auto c) { S::store(a_row[r] + (c0 + c) * L, a[r][c]); });
    });
  });
}

template <class S, int NC>
void pv(const int64_t* rows, int64_t n_rows, float* acc, const float* p_base, int64_t p_stride,
        const float* vf, int64_t n) {
  constexpr int RT = S::kPvRows;
  int64_t i = 0;
  for (; i + RT <= n_rows; i += RT) pv_rows<S, NC, RT>(rows + i, acc, p_base, p_stride, vf, n);
  // The remaining rows, one at a time (fewer than RT).
  for (; i < n_rows; ++i) pv_rows<S, NC, 1>(rows + i, acc, p_base, p_stride, vf, n);
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
  BlockWalker(const backend::AttentionMask& mask, int64_t t0, int64_t nt, int64_t c0, int64_t c1,
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
  const backend::AttentionMask& mask_;
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

template <class S, int NC>
void attention_item_d(const AttentionArgs& a, const AttentionItem& item, AttentionScratch& ws) {
  constexpr int L = S::kLanes;
  constexpr int64_t D = static_cast<int64_t>(NC) * L;
  const backend::AttentionParams& p = *a.params;
  const backend::KvLayerView& kv = *a.kv;
  const KernelTable& table = *a.table;
  const int64_t gqa = p.n_head / p.n_head_kv;
  const int64_t nt = item.t1 - item.t0;
  const int64_t ng = item.g1 - item.g0;
  const int64_t head_rows = nt * gqa;  // rows of one KV head: token-major, then query head
  const int64_t rows = ng * head_rows;
  const int64_t cells = attention_block_cells(ng, D);

  BlockWalker walker(*a.mask, item.t0, nt, item.c0, item.c1, cells, ws.cursor.data(),
                     ws.bits.data());
  const int64_t span = p.flash ? 0 : walker.hi() - walker.lo();
  Buffers b = carve(ws, D, ng, cells, rows, span);
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

  const ConvertBlockFn convert_k = converter_for<S>(kv.type_k);
  const ConvertBlockFn convert_v = converter_for<S>(kv.type_v);
  const DequantizeRowFn dequantize_k = table.dequantize_for(kv.type_k);
  const DequantizeRowFn dequantize_v = table.dequantize_for(kv.type_v);
  const uint64_t k_head_bytes = kv.k_row_bytes / static_cast<uint64_t>(p.n_head_kv);
  const uint64_t v_head_bytes = kv.v_row_bytes / static_cast<uint64_t>(p.n_head_kv);
  const uint64_t k_run = static_cast<uint64_t>(ng) * k_head_bytes;  // the item's heads in a row
  const uint64_t v_run = static_cast<uint64_t>(ng) * v_head_bytes;
  const BlockLayout k_layout{kv.k_row_bytes, k_head_bytes, ng, cells, D};
  const BlockLayout v_layout{kv.v_row_bytes, v_head_bytes, ng, cells, D};
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
  while (walker.next(c0, n, any)) {
    const int64_t n_pad = (n + L - 1) / L * L;
    const int64_t n_active = list_active();
    convert_k(k_base + static_cast<uint64_t>(c0) * kv.k_row_bytes, k_layout, n, n_pad, any, b.kf,
              dequantize_k);
    if (p.flash) {
      convert_v(v_base + static_cast<uint64_t>(c0) * kv.v_row_bytes, v_layout, n, n, any, b.vf,
                dequantize_v);
    }
    for (int64_t h = 0; h < ng; ++h) {
      const int64_t next = c0 + n;
      const int64_t p0 = next + h * cells / ng, p1 = next + (h + 1) * cells / ng;
      prefetch_rows(k_base, kv.k_row_bytes, k_run, p0, p1);
      if (p.flash) prefetch_rows(v_base, kv.v_row_bytes, v_run, p0, p1);
      const float* kf = b.kf + h * cells * D;
      float* scores = b.scores + h * head_rows * b.stride + (p.flash ? 0 : c0 - walker.lo());
      float* acc = b.acc + h * head_rows * D;
      for (int64_t i = 0; i < n_active; ++i) {
        const int64_t r = active[i];
        score_row<S, NC>(b.q + (h * head_rows + r) * D, kf, n, p.scale,
                         ws.bits[static_cast<size_t>(r / gqa)], scores + r * b.stride);
      }
      if (!p.flash) continue;
      for (int64_t i = 0; i < n_active; ++i) {
        const int64_t r = active[i];
        online_softmax<S, NC>(scores + r * b.stride, n, b.m[h * head_rows + r],
                              b.l[h * head_rows + r], acc + r * D);
      }
      pv<S, NC>(active, n_active, acc, scores, b.stride, b.vf + h * cells * D, n);
    }
  }

  if (!p.flash) {
    const bool round_f16 = kv.type_v == TensorType::kF16;
    for (int64_t r = 0; r < rows; ++r) plain_softmax<S>(b.scores + r * b.stride, span, round_f16);
    walker.restart();
    while (walker.next(c0, n, any)) {
      const int64_t n_active = list_active();
      convert_v(v_base + static_cast<uint64_t>(c0) * kv.v_row_bytes, v_layout, n, n, any, b.vf,
                dequantize_v);
      for (int64_t h = 0; h < ng; ++h) {
        const int64_t next = c0 + n;
        prefetch_rows(v_base, kv.v_row_bytes, v_run, next + h * cells / ng,
                      next + (h + 1) * cells / ng);
        pv<S, NC>(active, n_active, b.acc + h * head_rows * D,
                  b.scores + h * head_rows * b.stride + (c0 - walker.lo()), b.stride,
                  b.vf + h * cells * D, n);
      }
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

// Head sizes with a compiled kernel: multiples of the vector width from 32 to 256 that models use.
// Anything else goes to the reference.
template <class S>
void attention(const AttentionArgs& a, const AttentionItem& item, AttentionScratch& ws) {
  const int64_t d = a.params->head_dim;
  constexpr int L = S::kLanes;
  const bool grouped = a.params->n_head_kv > 0 && a.params->n_head % a.params->n_head_kv == 0;
  if (grouped && d % L == 0) {
    switch (d / L) {
#define LATHE_ATTENTION_CASE(nc)                   \
  case nc:                                         \
    if constexpr (nc * L >= 32 && nc * L <= 256) { \
      attention_item_d<S, nc>(a, item, ws);        \
      return;                                      \
    }                                              \
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
