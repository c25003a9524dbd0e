// Repacking of quantized weights into groups of 16 rows for the AVX-512 packed kernels
// (matmul_packed_avx512.cpp). Plain C++: packing runs once per weight.
//
// Within a group, each block of the file format becomes, for the 16 rows together:
//   - the block's scales of the 16 rows side by side (16 × f16 = one 256-bit load → 16 lanes), and
//   - the quantized bytes as "chunks" of 64 bytes: chunk j holds bytes 4j..4j+3 of every row,
//     row r at 4r. One 512-bit load of a chunk is then a vpdpbusd operand whose lane r is row r,
//     against four activation bytes broadcast to all lanes; no shuffles and no reductions.
// Each packed block has exactly 16 times the file's block bytes. Layouts per type are below.
#include <cstring>

#include "kernels/cpu/x86/pack16.h"
#include "quant/blocks.h"

namespace lathe::kernels::x86::pack16 {

namespace {

using quant::BlockIQ4_XS;
using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ4_K;
using quant::BlockQ6_K;
using quant::BlockQ8_0;

// Rows of group g; rows past the end repeat the last row.
struct Rows {
  const uint8_t* row[kRows];
};

Rows group_rows(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t g) {
  Rows r;
  for (int i = 0; i < kRows; ++i) {
    const int64_t idx = std::min<int64_t>(g * kRows + i, rows - 1);
    r.row[i] = w + static_cast<uint64_t>(idx) * row_bytes;
  }
  return r;
}

// 16 scales (2 bytes at `offset` of each row's block) side by side.
void put_u16(const Rows& r, uint64_t offset, uint8_t* dst) {
  for (int i = 0; i < kRows; ++i) std::memcpy(dst + 2 * i, r.row[i] + offset, 2);
}

// Chunks of `n_chunks` × 4 bytes starting at `offset` of each row's block, optionally with the
// sign bit flipped (signed bytes stored as unsigned value + 128).
void put_chunks(const Rows& r, uint64_t offset, int n_chunks, uint8_t* dst, bool flip = false) {
  for (int j = 0; j < n_chunks; ++j) {
    for (int i = 0; i < kRows; ++i) {
      uint8_t* d = dst + 64 * j + 4 * i;
      std::memcpy(d, r.row[i] + offset + 4 * j, 4);
      if (flip) {
        for (int b = 0; b < 4; ++b) d[b] ^= 0x80;
      }
    }
  }
}

template <class Block, class PackBlock>
void pack_groups(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
                 int64_t g1, uint8_t* packed, int64_t block_elems, PackBlock&& pack_block) {
  const int64_t nb = k / block_elems;
  const uint64_t packed_block = kRows * sizeof(Block);
  for (int64_t g = g0; g < g1; ++g) {
    Rows r = group_rows(w, row_bytes, rows, g);
    uint8_t* dst = packed + static_cast<uint64_t>(g) * kRows * row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      pack_block(r, dst + static_cast<uint64_t>(b) * packed_block);
      for (auto& p : r.row) p += sizeof(Block);
    }
  }
}

}  // namespace

uint64_t size(int64_t rows, uint64_t row_bytes) {
  return static_cast<uint64_t>((rows + kRows - 1) / kRows) * kRows * row_bytes;
}

// Q4_0, 288 bytes: d[16] | 4 chunks of qs.
void pack_q4_0(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
               int64_t g1, uint8_t* packed) {
  pack_groups<BlockQ4_0>(w, row_bytes, rows, k, g0, g1, packed, quant::kQK4_0,
                         [](const Rows& r, uint8_t* dst) {
                           put_u16(r, 0, dst);
                           put_chunks(r, 2, 4, dst + 32);
                         });
}

// Q8_0, 544 bytes: d[16] | 8 chunks of qs + 128.
void pack_q8_0(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
               int64_t g1, uint8_t* packed) {
  pack_groups<BlockQ8_0>(w, row_bytes, rows, k, g0, g1, packed, quant::kQK8_0,
                         [](const Rows& r, uint8_t* dst) {
                           put_u16(r, 0, dst);
                           put_chunks(r, 2, 8, dst + 32, true);
                         });
}

// Q4_1, 320 bytes: d[16] | m[16] | 4 chunks of qs.
void pack_q4_1(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
               int64_t g1, uint8_t* packed) {
  pack_groups<BlockQ4_1>(w, row_bytes, rows, k, g0, g1, packed, quant::kQK4_1,
                         [](const Rows& r, uint8_t* dst) {
                           put_u16(r, 0, dst);
                           put_u16(r, 2, dst + 32);
                           put_chunks(r, 4, 4, dst + 64);
                         });
}

// IQ4_XS, 2176 bytes: d[16] | scales_h[16] | scales_l (1 chunk) | 32 chunks of qs (sub-block ib
// is chunks 4ib..4ib+3).
void pack_iq4_xs(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
                 int64_t g1, uint8_t* packed) {
  pack_groups<BlockIQ4_XS>(w, row_bytes, rows, k, g0, g1, packed, quant::kQK_K,
                           [](const Rows& r, uint8_t* dst) {
                             put_u16(r, 0, dst);
                             put_u16(r, 2, dst + 32);
                             put_chunks(r, 4, 1, dst + 64);
                             put_chunks(r, 8, 32, dst + 128);
                           });
}

// Q4_K, 2304 bytes: d[16] | dmin[16] | 3 chunks of scales | 32 chunks of qs (pair k of
// sub-blocks is chunks 8k..8k+7).
void pack_q4_k(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
               int64_t g1, uint8_t* packed) {
  pack_groups<BlockQ4_K>(w, row_bytes, rows, k, g0, g1, packed, quant::kQK_K,
                         [](const Rows& r, uint8_t* dst) {
                           put_u16(r, 0, dst);
                           put_u16(r, 2, dst + 32);
                           put_chunks(r, 4, 3, dst + 64);
                           put_chunks(r, 16, 32, dst + 256);
                         });
}

// Q6_K, 3360 bytes: d[16] | scales as [sub-block][row] bytes (256) | 32 chunks of ql | 16 chunks
// of qh. ql chunk (2h + kk) * 8 + j holds ql bytes 64h + 32kk + 4j..; qh chunk 8h + j holds qh
// bytes 32h + 4j...
void pack_q6_k(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
               int64_t g1, uint8_t* packed) {
  pack_groups<BlockQ6_K>(w, row_bytes, rows, k, g0, g1, packed, quant::kQK_K,
                         [](const Rows& r, uint8_t* dst) {
                           put_u16(r, offsetof(BlockQ6_K, d), dst);
                           for (int s = 0; s < quant::kQK_K / 16; ++s) {
                             for (int i = 0; i < kRows; ++i) {
                               dst[32 + 16 * s + i] = r.row[i][offsetof(BlockQ6_K, scales) + s];
                             }
                           }
                           put_chunks(r, offsetof(BlockQ6_K, ql), 32, dst + 288);
                           put_chunks(r, offsetof(BlockQ6_K, qh), 16, dst + 2336);
                         });
}

}  // namespace lathe::kernels::x86::pack16
