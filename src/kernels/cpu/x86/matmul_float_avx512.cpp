// AVX-512 matmuls of the float formats: F32 (activations f32), F16 (f16) and BF16 (bf16).
//
// Every (weight row, activation row) pair owns one 16-lane f32 accumulator that walks k in the
// same steps whatever the tile around it, and ends in the same horizontal sum (F16: one per slice
// of 2048, the sums added in order): a result never depends on the batch size or on the row
// split. A tile of 4 weight rows × up to 6 activation rows (1 weight row for batches of up to 4,
// 4 in the packed layout) converts each loaded vector once for all the pairs that use it.
//
// F32, F16 and BF16 weights are repacked at load (RepackKernels) into groups of 4 interleaved rows.
//
// BF16 uses vdpbf16ps (two products per lane and step) where the CPU has AVX512_BF16.
#include <algorithm>
#include <type_traits>

#include "kernels/cpu/x86/common_avx512.h"
#include "kernels/cpu/x86/pack_rows4.h"
#include "kernels/cpu/x86/static_for.h"
#include "kernels/cpu/x86/x86_kernels.h"

namespace lathe::kernels::x86::avx512 {

namespace {

// F16 rows are summed in slices of this many elements: each slice's 16-lane accumulator is reduced
// to a float and the slices' floats are added in order. The GEMM (matmul_f16_gemm) then carries
// one float per result from a slice to the next instead of 16 lanes, and can keep its f32
// activation buffer to one slice of many rows.
constexpr int64_t kF16SliceElements = 2048;

// Loads 16 elements as f32; `mask` selects the valid ones (the rest read as 0).
struct F32 {
  static constexpr int kStep = 16;
  static constexpr int64_t kSlice = 0;
  static constexpr int kElementBytes = 4;
  using Vec = __m512;
  static Vec load(const uint8_t* p, int64_t i, __mmask16 mask) {
    return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(p) + i);
  }
  static __m512 madd(__m512 acc, Vec w, Vec x) { return _mm512_fmadd_ps(w, x, acc); }
  static Vec load_x(const uint8_t* p, int64_t i, __mmask16 mask) { return load(p, i, mask); }
};

struct F16 {
  static constexpr int kStep = 16;
  static constexpr int64_t kSlice = kF16SliceElements;
  static constexpr int kElementBytes = 2;
  using Vec = __m512;
  static Vec load(const uint8_t* p, int64_t i, __mmask16 mask) {
    return _mm512_cvtph_ps(
        _mm256_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(p) + i));
  }
  static __m512 madd(__m512 acc, Vec w, Vec x) { return _mm512_fmadd_ps(w, x, acc); }
  static Vec load_x(const uint8_t* p, int64_t i, __mmask16 mask) { return load(p, i, mask); }
};

struct BF16 {
  static constexpr int kStep = 16;
  static constexpr int64_t kSlice = 0;
  static constexpr int kElementBytes = 2;
  using Vec = __m512;
  static Vec load(const uint8_t* p, int64_t i, __mmask16 mask) {
    const __m256i h = _mm256_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(p) + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static __m512 madd(__m512 acc, Vec w, Vec x) { return _mm512_fmadd_ps(w, x, acc); }
  static Vec load_x(const uint8_t* p, int64_t i, __mmask16 mask) { return load(p, i, mask); }
};

// 32 bf16 per step, paired products with vdpbf16ps.
struct BF16Dot {
  static constexpr int kStep = 32;
  static constexpr int64_t kSlice = 0;
  static constexpr int kElementBytes = 2;
  using Vec = __m512i;
  static Vec load(const uint8_t* p, int64_t i, __mmask32 mask) {
    return _mm512_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(p) + i);
  }
  static __m512 madd(__m512 acc, Vec w, Vec x) {
    return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh&>(w), reinterpret_cast<__m512bh&>(x));
  }
  static Vec load_x(const uint8_t* p, int64_t i, __mmask32 mask) { return load(p, i, mask); }
};

template <class T>
auto tail_mask(int64_t n) {
  if constexpr (T::kStep == 32) {
    return static_cast<__mmask32>(n >= 32 ? 0xffffffffu : (1u << n) - 1);
  } else {
    return static_cast<__mmask16>(n >= 16 ? 0xffffu : (1u << n) - 1);
  }
}

// kTileRows weight rows × C activation rows. The accumulators are only ever indexed through
// static_for (see static_for.h), so they live in registers. A tile at the end of the range repeats
// its last row and drops the extra results.
constexpr int kRows = 4;
constexpr int kCols = 6;

// The packed layout of T (pack_rows4.h): steps of T::kStep elements.
template <class T>
using Packed = rows4::Layout<T::kStep, T::kElementBytes>;
static_assert(rows4::kRows == kRows, "a packed group is one tile of rows");

template <class T, int C, int kTileRows, bool kPacked>
void tile(const MatmulArgs& a, int64_t r0, int64_t n_rows, int64_t c0) {
  static_assert(!kPacked || kTileRows == kRows, "a packed tile is one group");
  const uint8_t* w[kTileRows];
  const uint8_t* x[C];
  for (int r = 0; r < kTileRows; ++r) {
    w[r] = kPacked ? Packed<T>::row_start(a.weights, a.k, r0 + r)
                   : a.weights + static_cast<uint64_t>(r0 + std::min<int64_t>(r, n_rows - 1)) *
                                     a.weight_row_bytes;
  }
  constexpr int64_t kStride = Packed<T>::template step_stride<kPacked>();
  for (int c = 0; c < C; ++c) x[c] = activation_row(a, c0 + c);
  float sum[kTileRows][C];
  const int64_t slice = T::kSlice > 0 ? T::kSlice : a.k;
  for (int64_t s0 = 0; s0 < a.k; s0 += slice) {
    const int64_t s1 = std::min(a.k, s0 + slice);
    __m512 acc[kTileRows][C];
    static_for<C>(
        [&](auto c) { static_for<kTileRows>([&](auto r) { acc[r][c] = _mm512_setzero_ps(); }); });
    // One loop for the body and the tail (a partial mask on the last step).
    const auto full = tail_mask<T>(T::kStep);
    for (int64_t i = s0; i < s1; i += T::kStep) {
      const auto mask = i + T::kStep <= a.k ? full : tail_mask<T>(a.k - i);
      const int64_t offset = i / T::kStep * kStride;
      if constexpr (kPacked) {
        Packed<T>::prefetch_ahead(w[0] + offset);
      } else {
        // A line ahead in every row. A plain loop: GCC 12 drops a prefetch inside static_for's
        // generic lambda.
        for (int r = 0; r < kTileRows; ++r) {
          _mm_prefetch(reinterpret_cast<const char*>(w[r] + offset + kPrefetchBytes), _MM_HINT_T0);
        }
      }
      typename T::Vec wv[kTileRows];
      if constexpr (kPacked) {
        // One base for the group's rows. With four row pointers GCC spilled some to the stack and
        // reloaded them every step: the packed BF16 GEMM ran 10-25 % below the row-major one.
        const uint8_t* step = w[0] + offset;
        static_for<kTileRows>(
            [&](auto r) { wv[r] = T::load(step + r * Packed<T>::kChunkBytes, 0, mask); });
      } else {
        static_for<kTileRows>([&](auto r) { wv[r] = T::load(w[r] + offset, 0, mask); });
      }
      static_for<C>([&](auto c) {
        const typename T::Vec xv = T::load_x(x[c], i, mask);
        static_for<kTileRows>([&](auto r) { acc[r][c] = T::madd(acc[r][c], wv[r], xv); });
      });
    }
    static_for<C>([&](auto c) {
      static_for<kTileRows>([&](auto r) {
        const float v = _mm512_reduce_add_ps(acc[r][c]);
        sum[r][c] = s0 == 0 ? v : sum[r][c] + v;
      });
    });
  }
  static_for<C>([&](auto c) {
    float* out = a.out + (c0 + c) * a.out_stride + r0;
    static_for<kTileRows>([&](auto r) {
      if (r < n_rows) out[r] = a.bias != nullptr ? sum[r][c] + a.bias[r0 + r] : sum[r][c];
    });
  });
}

template <class T, int C, int kTileRows, bool kPacked>
void tile_cols(const MatmulArgs& a, int64_t r0, int64_t n_rows, int64_t c0, int64_t n) {
  if constexpr (C > 0) {
    if (n == C) {
      tile<T, C, kTileRows, kPacked>(a, r0, n_rows, c0);
    } else {
      tile_cols<T, C - 1, kTileRows, kPacked>(a, r0, n_rows, c0, n);
    }
  }
}

// Activation rows are taken in blocks of about kColumnBlockBytes, half of a Zen 4/5 or recent
// Intel L2, and every weight tile of the range runs over one block before the next: the block is
// then read from L2 rather than L3 for each weight tile (BF16 GEMM +20-30 %, F32 +40 % at 512
// rows). F16 has its own GEMM, matmul_f16_gemm.
constexpr int64_t kColumnBlockBytes = 512 << 10;

template <class T, int kTileRows, int kTileCols, bool kPacked>
void matmul_rows(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  const int64_t block = std::max<int64_t>(
      kTileCols, kColumnBlockBytes / (a.k * T::kElementBytes) / kTileCols * kTileCols);
  for (int64_t c0 = 0; c0 < a.n_b; c0 += block) {
    const int64_t c1 = std::min<int64_t>(a.n_b, c0 + block);
    for (int64_t r = row_begin; r < row_end; r += kTileRows) {
      const int64_t n_rows = std::min<int64_t>(kTileRows, row_end - r);
      for (int64_t c = c0; c < c1; c += kTileCols)
        tile_cols<T, kTileCols, kTileRows, kPacked>(a, r, n_rows, c,
                                                    std::min<int64_t>(kTileCols, c1 - c));
    }
  }
}

// F16 prompt processing. Converting each activation vector once per weight tile cost 10
// vcvtph2ps per 24 FMAs in a 4 × 6 tile, so each thread converts a block of activation rows to f32
// once (exactly: every f16 is an f32) into a buffer that stays in L2, and the tiles read it as f32:
// 4 conversions per 24 FMAs. The products, their order and the slice sums are F16's (see
// kF16SliceElements), so are the results.
//
// Around that buffer the loops keep every operand in a cache:
//  - the buffer holds one k slice of 48 activation rows (whole rows of 8192 gave 12, and the
//    weights were then read from DRAM once per 12 activation rows). A result's slice sums are
//    added up in `out`;
//  - the weight rows of a thread are taken in blocks of about kRowBlockBytes (32 rows of a slice)
//    that stay in L2 while every column tile of the buffer passes over them;
//  - the next weight block, and the f16 activations of the next buffer, are prefetched into L2 a
//    few lines after each tile, so that only the first block of a call waits on DRAM (before,
//    every weight tile's first pass did: 2048-wide rows +20 %, 8192-wide +17 %).
constexpr int64_t kBufferFloats = 96 * 1024;  // 384 KiB of activations on the stack
constexpr int64_t kRowBlockBytes = 128 << 10;

// One 4 × C tile over the k slice [i0, i1) of a.k. `w` points at element i0 of the weight rows,
// `x` at the slice's f32 activation rows (zero past a.k).
template <int C, bool kPacked>
void f16_slice_tile(const MatmulArgs& a, const uint8_t* const* w, const float* const* x, int64_t i0,
                    int64_t i1, int64_t r0, int64_t n_rows, int64_t c0) {
  __m512 acc[kRows][C];
  static_for<C>(
      [&](auto c) { static_for<kRows>([&](auto r) { acc[r][c] = _mm512_setzero_ps(); }); });
  const auto full = tail_mask<F16>(16);
  for (int64_t i = i0; i < i1; i += 16) {
    const auto mask = i + 16 <= a.k ? full : tail_mask<F16>(a.k - i);
    __m512 wv[kRows];
    const int64_t offset = (i - i0) / 16 * Packed<F16>::template step_stride<kPacked>();
    static_for<kRows>([&](auto r) { wv[r] = F16::load(w[r] + offset, 0, mask); });
    static_for<C>([&](auto c) {
      const __m512 xv = _mm512_load_ps(x[c] + (i - i0));
      static_for<kRows>([&](auto r) { acc[r][c] = _mm512_fmadd_ps(wv[r], xv, acc[r][c]); });
    });
  }
  static_for<C>([&](auto c) {
    float* out = a.out + (c0 + c) * a.out_stride + r0;
    static_for<kRows>([&](auto r) {
      if (r < n_rows) {
        const float v = _mm512_reduce_add_ps(acc[r][c]);
        float sum = i0 == 0 ? v : out[r] + v;
        if (i1 >= a.k && a.bias != nullptr) sum += a.bias[r0 + r];
        out[r] = sum;
      }
    });
  });
}

template <int C, bool kPacked>
void f16_slice_tile_cols(const MatmulArgs& a, const uint8_t* const* w, const float* const* x,
                         int64_t i0, int64_t i1, int64_t r0, int64_t n_rows, int64_t c0,
                         int64_t n) {
  if constexpr (C > 0) {
    if (n == C) {
      f16_slice_tile<C, kPacked>(a, w, x, i0, i1, r0, n_rows, c0);
    } else {
      f16_slice_tile_cols<C - 1, kPacked>(a, w, x, i0, i1, r0, n_rows, c0, n);
    }
  }
}

// The cache lines of rows [row, row_end) between bytes [begin, end) of each row, asked for into
// L2 a few at a time over `calls` calls.
class BlockPrefetch {
 public:
  BlockPrefetch() = default;
  BlockPrefetch(const uint8_t* base, uint64_t row_bytes, int64_t row, int64_t row_end,
                int64_t begin, int64_t end, int64_t calls)
      : row_(base + static_cast<uint64_t>(row) * row_bytes),
        last_row_(base + static_cast<uint64_t>(row_end) * row_bytes),
        row_bytes_(row_bytes),
        begin_(begin),
        end_(end),
        offset_(begin) {
    const int64_t lines = (row_end - row) * ((end - begin + 63) / 64);
    lines_per_call_ = (lines + calls - 1) / calls;
  }
  void next_lines() {
    for (int64_t i = 0; i < lines_per_call_ && row_ < last_row_; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(row_ + offset_), _MM_HINT_T1);
      offset_ += 64;
      if (offset_ >= end_) {
        offset_ = begin_;
        row_ += row_bytes_;
      }
    }
  }

 private:
  const uint8_t* row_ = nullptr;
  const uint8_t* last_row_ = nullptr;
  uint64_t row_bytes_ = 0;
  int64_t begin_ = 0, end_ = 0, offset_ = 0, lines_per_call_ = 0;
};

template <bool kPacked>
void matmul_f16_gemm(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  const int64_t k_padded = (a.k + 15) / 16 * 16;
  const int64_t slice = std::min(k_padded, kF16SliceElements);
  const int64_t buffer_rows = kBufferFloats / slice / kCols * kCols;
  const int64_t block_rows = std::max<int64_t>(kRows, kRowBlockBytes / (slice * 2) / kRows * kRows);
  const int64_t row_tiles = (row_end - row_begin + kRows - 1) / kRows;
  alignas(64) float buffer[kBufferFloats];

  for (int64_t c0 = 0; c0 < a.n_b; c0 += buffer_rows) {
    const int64_t n = std::min(buffer_rows, a.n_b - c0);
    const int64_t col_tiles = (n + kCols - 1) / kCols;
    for (int64_t s0 = 0; s0 < k_padded; s0 += slice) {
      const int64_t s1 = std::min(k_padded, s0 + slice);
      for (int64_t c = 0; c < n; ++c) {
        const uint8_t* src = activation_row(a, c0 + c);
        float* dst = buffer + c * slice;
        for (int64_t i = s0; i < s1; i += 16) {
          const auto mask = tail_mask<F16>(std::max<int64_t>(a.k - i, 0));
          _mm512_store_ps(dst + (i - s0), F16::load(src, i, mask));
        }
      }
      // The next buffer's activations (the next slice, or the next rows' first one).
      const int64_t next_s0 = s1 < k_padded ? s1 : 0;
      const int64_t next_c0 = s1 < k_padded ? c0 : c0 + n;
      BlockPrefetch next_activations;
      if (next_c0 < a.n_b) {
        next_activations = BlockPrefetch(a.activations, a.activation_row_bytes, next_c0,
                                         std::min(a.n_b, next_c0 + buffer_rows), next_s0 * 2,
                                         std::min(next_s0 + slice, a.k) * 2, row_tiles * col_tiles);
      }
      for (int64_t rb = row_begin; rb < row_end; rb += block_rows) {
        const int64_t rb_end = std::min(row_end, rb + block_rows);
        // The next weight block: the next rows of this slice, or the first rows of the next one.
        BlockPrefetch next_weights;
        const bool more_rows = rb_end < row_end;
        if (more_rows || next_c0 < a.n_b) {
          const int64_t row = more_rows ? rb_end : row_begin;
          const int64_t slice_begin = more_rows ? s0 : next_s0;
          const int64_t rows_end = std::min(row_end, row + block_rows);
          const int64_t slice_end = std::min(slice_begin + slice, a.k);
          const int64_t calls = (rb_end - rb + kRows - 1) / kRows * col_tiles;
          // Packed, a group of kRows rows is one "row" of the prefetch.
          next_weights =
              kPacked
                  ? BlockPrefetch(a.weights, Packed<F16>::group_bytes(a.k), row / kRows,
                                  (rows_end + kRows - 1) / kRows,
                                  slice_begin / 16 * Packed<F16>::kStepStride,
                                  Packed<F16>::steps(slice_end) * Packed<F16>::kStepStride, calls)
                  : BlockPrefetch(a.weights, a.weight_row_bytes, row, rows_end, slice_begin * 2,
                                  slice_end * 2, calls);
        }
        for (int64_t c = 0; c < n; c += kCols) {
          const float* x[kCols];
          for (int j = 0; j < kCols; ++j) x[j] = buffer + std::min(c + j, n - 1) * slice;
          for (int64_t r = rb; r < rb_end; r += kRows) {
            const int64_t n_rows = std::min<int64_t>(kRows, rb_end - r);
            const uint8_t* w[kRows];
            for (int j = 0; j < kRows; ++j) {
              if constexpr (kPacked) {
                w[j] = Packed<F16>::row_start(a.weights, a.k, r + j) +
                       s0 / 16 * Packed<F16>::kStepStride;
              } else {
                const int64_t row = r + std::min<int64_t>(j, n_rows - 1);
                w[j] = a.weights + static_cast<uint64_t>(row) * a.weight_row_bytes + s0 * 2;
              }
            }
            f16_slice_tile_cols<kCols, kPacked>(a, w, x, s0, s1, r, n_rows, c0 + c,
                                                std::min<int64_t>(kCols, n - c));
            next_weights.next_lines();
            next_activations.next_lines();
          }
        }
      }
    }
  }
}

// Up to 4 activation rows (generation, small batches) are bound by reading the weights: one
// weight row at a time makes each thread's reads one sequential stream, which the hardware
// prefetcher follows. Four rows side by side are four short streams (a 2048-wide F16 row is one
// 4 KiB page) that it does not: F16 streamed 19 GB/s per thread that way, 31 GB/s this way. The
// packed layout gives both: one stream, and a tile of kRows weight rows.
// Larger batches are bound by compute and reuse each converted weight vector for six
// activation rows and each activation vector for four weight rows.
template <class T, bool kPacked>
void matmul(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  if (a.n_b <= 4) {
    if constexpr (kPacked) {
      matmul_rows<T, kRows, 4, true>(a, row_begin, row_end);
    } else {
      matmul_rows<T, 1, 4, false>(a, row_begin, row_end);
    }
  } else if constexpr (std::is_same_v<T, F16>) {
    matmul_f16_gemm<kPacked>(a, row_begin, row_end);
  } else {
    matmul_rows<T, kRows, kCols, kPacked>(a, row_begin, row_end);
  }
}

}  // namespace

void install_matmul_float(KernelTable& table, bool bf16) {
  table.matmul[static_cast<size_t>(TensorType::kF32)] = &matmul<F32, false>;
  table.matmul[static_cast<size_t>(TensorType::kF16)] = &matmul<F16, false>;
  table.matmul[static_cast<size_t>(TensorType::kBF16)] =
      bf16 ? &matmul<BF16Dot, false> : &matmul<BF16, false>;
  table.repack[static_cast<size_t>(TensorType::kF32)] =
      rows4::repack_kernels<Packed<F32>>(&matmul<F32, true>);
  table.repack[static_cast<size_t>(TensorType::kF16)] =
      rows4::repack_kernels<Packed<F16>>(&matmul<F16, true>);
  table.repack[static_cast<size_t>(TensorType::kBF16)] =
      bf16 ? rows4::repack_kernels<Packed<BF16Dot>>(&matmul<BF16Dot, true>)
           : rows4::repack_kernels<Packed<BF16>>(&matmul<BF16, true>);
}

}  // namespace lathe::kernels::x86::avx512
