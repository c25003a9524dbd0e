// The byte layouts of ggml's quantized blocks, as they lie in a GGUF file.
//
// Kernels read weights in place from the mapped file, so these structs must match the file format
// byte for byte; the static_asserts pin each size to tensor_type.h's block_bytes. Scales stored as
// f16 are kept as raw uint16_t bits (convert with fp16.h), because the bits are the format.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lathe::quant {

// Weights per block.
inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK8_1 = 32;
inline constexpr int kQK4_NL = 32;
inline constexpr int kQK_K = 256;        // super-block of the k-quants, IQ4_XS and Q8_K
inline constexpr int kKScaleBytes = 12;  // Q4_K's 8 scales and 8 mins, 6 bits each

// The 16 values an IQ4_NL / IQ4_XS nibble selects (before scaling). They are spaced to fit the
// roughly normal distribution of weights better than the evenly spaced levels of Q4_0.
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// 32 weights: value = (nibble - 8) * d. Element j is in the low nibble of qs[j] for j < 16 and in
// the high nibble of qs[j - 16] otherwise.
struct BlockQ4_0 {
  uint16_t d;  // f16
  uint8_t qs[kQK4_0 / 2];
};

// 32 weights: value = nibble * d + m, nibbles arranged as in Q4_0.
struct BlockQ4_1 {
  uint16_t d;  // f16
  uint16_t m;  // f16
  uint8_t qs[kQK4_1 / 2];
};

// 32 weights: value = qs[j] * d.
struct BlockQ8_0 {
  uint16_t d;  // f16
  int8_t qs[kQK8_0];
};

// Activations for Q4_1: Q8_0 plus s = d * sum(qs), which lets the dot product apply Q4_1's
// offset m once per block instead of once per weight.
struct BlockQ8_1 {
  uint16_t d;  // f16
  uint16_t s;  // f16
  int8_t qs[kQK8_1];
};

// 32 weights: value = kIQ4NLValues[nibble] * d, nibbles arranged as in Q4_0.
struct BlockIQ4_NL {
  uint16_t d;  // f16
  uint8_t qs[kQK4_NL / 2];
};

// 256 weights in 8 sub-blocks of 32. Sub-block ib has the 6-bit scale
//   ls = (scales_l[ib/2] >> 4*(ib%2)) & 0xf | ((scales_h >> 2*ib) & 3) << 4
// and value = kIQ4NLValues[nibble] * d * (ls - 32); nibbles of each sub-block as in IQ4_NL.
struct BlockIQ4_XS {
  uint16_t d;  // f16
  uint16_t scales_h;
  uint8_t scales_l[kQK_K / 64];
  uint8_t qs[kQK_K / 2];
};

// 256 weights in 8 sub-blocks of 32: value = d * sc[j] * nibble - dmin * m[j], where the 6-bit
// sc[j] and m[j] are packed into `scales` (see unpack_q4_k_scale_min). The 64 weights of sub-blocks
// 2k and 2k+1 share qs[32k .. 32k+31]: sub-block 2k in the low nibbles, 2k+1 in the high ones.
struct BlockQ4_K {
  uint16_t d;     // f16, scale of the sub-block scales
  uint16_t dmin;  // f16, scale of the sub-block mins
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};

// 256 weights in 16 sub-blocks of 16: value = d * scales[j] * (q - 32) with 6-bit q, the low 4 bits
// in ql and the high 2 in qh. Per 128 weights (ql 64 bytes, qh 32 bytes), weight l + 32k
// (l < 32, k < 4) takes nibble k/2 of ql[l + 32*(k%2)] and bits 2k..2k+1 of qh[l].
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;  // f16
};

// Activations for the k-quants and IQ4_XS: 256 int8 with an f32 scale, and the sums of each group
// of 16, which Q4_K's dot product uses to apply the mins.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// Q4_K's 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes: sub-blocks 0-3 keep
// theirs in the low 6 bits of bytes j and j+4; sub-blocks 4-7 keep the low 4 bits in byte j+4's
// nibbles and the high 2 bits in the top bits of bytes j-4 and j.
inline void unpack_q4_k_scale_min(int j, const uint8_t* scales, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((scales[j + 4] & 0xf) | ((scales[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

}  // namespace lathe::quant
