// Packing of weights into groups of 16 interleaved rows (layouts in pack16.cpp), the input of the
// AVX-512 packed kernels. Signatures follow kernels::RepackKernels.
#pragma once

#include <algorithm>
#include <cstdint>

namespace lathe::kernels::x86::pack16 {

inline constexpr int kRows = 16;

// How far ahead of the block being read the packed kernels prefetch: whole blocks, at least two
// and at least 4 KiB, so that a stream of small blocks keeps enough lines in flight to cover the
// memory latency.
inline constexpr uint64_t prefetch_distance(uint64_t block_bytes) {
  constexpr uint64_t kMinBytes = 4096;
  return std::max<uint64_t>(2, (kMinBytes + block_bytes - 1) / block_bytes) * block_bytes;
}

uint64_t size(int64_t rows, uint64_t row_bytes);

void pack_q4_0(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
               int64_t g1, uint8_t* packed);
void pack_q8_0(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
               int64_t g1, uint8_t* packed);
void pack_q4_1(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
               int64_t g1, uint8_t* packed);
void pack_iq4_xs(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
                 int64_t g1, uint8_t* packed);
void pack_q4_k(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
               int64_t g1, uint8_t* packed);
void pack_q6_k(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t k, int64_t g0,
               int64_t g1, uint8_t* packed);

}  // namespace lathe::kernels::x86::pack16
