// The packed layout of the float formats (F32, F16, BF16; RepackKernels with group_rows = 4):
// the rows of a group of 4 are interleaved step by step, so that a tile over the group's rows reads
// one sequential stream. Step j of group g is 4 chunks of kStep elements, chunk r holding elements
// kStep j .. kStep j + kStep - 1 of row 4 g + r; rows and elements past the matrix are zero. The
// step is the SIMD width of the kernels that read it (16 elements for AVX-512, 8 for AVX2).
//
// A kernel on this layout gives each (weight row, activation row) pair the same accumulator and
// the same steps as the row-major kernel, so both give the same bits; what changes is the
// generation kernel, which takes the group's 4 rows at once (4 independent FMA chains per
// activation row, where one row-major row at a time is a single chain of dependent FMAs, and 4
// row-major rows side by side are 4 short streams the hardware prefetcher does not follow).
#pragma once

#include <xmmintrin.h>

#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/cpu/kernels.h"

namespace lathe::kernels::x86::rows4 {

inline constexpr int kRows = 4;

template <int kStep, int kElementBytes>
struct Layout {
  static constexpr int64_t kChunkBytes = int64_t{kStep} * kElementBytes;
  // Bytes from one step of a row to the next.
  static constexpr int64_t kStepStride = kRows * kChunkBytes;

  // Bytes from one step of a row to the next in this layout (kPacked) or in a row-major row.
  template <bool kPacked>
  static constexpr int64_t step_stride() {
    return kPacked ? kStepStride : kChunkBytes;
  }

  // A group is one stream that the hardware prefetcher follows only so far; as for the packed
  // integer formats (pack16::prefetch_distance), its lines are asked for a few KiB ahead of
  // `step`, the start of the step being read. A plain loop: GCC 12 drops a prefetch inside
  // static_for's generic lambda.
  static constexpr int64_t kPrefetchBytes = 4096;
  static void prefetch_ahead(const uint8_t* step) {
    for (int64_t line = 0; line < kStepStride; line += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(step + line + kPrefetchBytes), _MM_HINT_T0);
    }
  }

  static int64_t steps(int64_t k) { return (k + kStep - 1) / kStep; }
  static uint64_t group_bytes(int64_t k) {
    return static_cast<uint64_t>(steps(k)) * static_cast<uint64_t>(kStepStride);
  }
  // Where row `row` (of a group starting on a multiple of kRows) starts.
  static const uint8_t* row_start(const uint8_t* packed, int64_t k, int64_t row) {
    return packed + static_cast<uint64_t>(row / kRows) * group_bytes(k) +
           static_cast<uint64_t>(row % kRows * kChunkBytes);
  }

  static uint64_t size(int64_t rows, uint64_t row_bytes) {
    const auto k = static_cast<int64_t>(row_bytes / kElementBytes);
    return static_cast<uint64_t>((rows + kRows - 1) / kRows) * group_bytes(k);
  }

  static void pack(const uint8_t* weights, uint64_t row_bytes, int64_t rows, int64_t k,
                   int64_t group_begin, int64_t group_end, uint8_t* packed) {
    const int64_t full_steps = k / kStep;
    const int64_t all_steps = steps(k);
    for (int64_t g = group_begin; g < group_end; ++g) {
      uint8_t* dst = packed + static_cast<uint64_t>(g) * group_bytes(k);
      for (int r = 0; r < kRows; ++r) {
        if (g * kRows + r >= rows) {
          for (int64_t j = 0; j < all_steps; ++j)
            std::memset(dst + j * kStepStride + r * kChunkBytes, 0, kChunkBytes);
          continue;
        }
        const uint8_t* src = weights + static_cast<uint64_t>(g * kRows + r) * row_bytes;
        // A constant size: the compiler moves each chunk inline, where a call per chunk made
        // packing a 3 GB model take seconds.
        for (int64_t j = 0; j < full_steps; ++j) {
          std::memcpy(dst + j * kStepStride + r * kChunkBytes, src + j * kChunkBytes, kChunkBytes);
        }
        if (full_steps < all_steps) {
          uint8_t* last = dst + full_steps * kStepStride + r * kChunkBytes;
          const auto tail = static_cast<size_t>((k - full_steps * kStep) * kElementBytes);
          std::memset(last, 0, kChunkBytes);
          std::memcpy(last, src + full_steps * kChunkBytes, tail);
        }
      }
    }
  }
};

// The RepackKernels entry of layout L read by `matmul` (any row length).
template <class L>
RepackKernels repack_kernels(MatmulFn matmul) {
  RepackKernels r;
  r.group_rows = kRows;
  r.size = &L::size;
  r.pack = &L::pack;
  r.matmul = matmul;
  r.max_k = std::numeric_limits<int64_t>::max();
  return r;
}

}  // namespace lathe::kernels::x86::rows4
