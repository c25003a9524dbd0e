// Conversions between f32 and the 16-bit float formats (IEEE binary16 "f16" and bfloat16), with
// the exact results ggml produces: round to nearest, ties to even, and ggml's NaN conventions.
//
// Every quantized format stores its scales as f16, so the f16 rounding decides the bytes of every
// quantized block. These are written with integer operations only, so the result does not depend
// on the compiler's floating-point flags or on F16C being present.
#pragma once

#include <bit>
#include <cstdint>

namespace lathe::quant {

static_assert(std::endian::native == std::endian::little,
              "GGUF data is little-endian and lathe reads it in place");

// Exact: every f16 value is representable in f32.
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) {
    // Inf keeps its sign; a NaN keeps its payload and comes out quiet, as ggml's conversion (a
    // float multiply) and the F16C instruction both make it.
    const uint32_t quiet = mantissa != 0 ? 0x00400000u : 0u;
    return std::bit_cast<float>(sign | 0x7f800000u | quiet | (mantissa << 13));
  }
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in f32 (at most 10 significant bits).
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(magnitude));
  }
  // Normal: rebias the exponent from 15 to 127.
  return std::bit_cast<float>(sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13));
}

// Round to nearest, ties to even. Values of magnitude 65520 or more become inf; every NaN becomes
// the quiet NaN 0x7e00 with the input's sign (ggml drops the payload).
inline uint16_t f32_to_f16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;

  if (magnitude > 0x7f800000u) return sign | 0x7e00u;
  // 65520 is halfway between 65504 (largest finite f16, odd mantissa) and 65536, so it rounds up.
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;

  if (magnitude < 0x38800000u) {
    // Below 2^-14, the smallest normal f16: the result is a subnormal count of 2^-24 steps.
    // value = m * 2^(e - 150) with the implicit bit in m, so the count is m >> (126 - e).
    const uint32_t exponent = magnitude >> 23;
    const uint32_t shift = 126 - exponent;
    // With a shift of 25 or more the value is below 2^-25 (half the smallest step): rounds to 0.
    if (shift > 24) return sign;
    const uint32_t m = (magnitude & 0x7fffffu) | 0x800000u;
    uint32_t count = m >> shift;
    const uint32_t remainder = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (remainder > half || (remainder == half && (count & 1u))) ++count;
    // A carry into bit 10 gives 0x400, the encoding of the smallest normal: still correct.
    return sign | static_cast<uint16_t>(count);
  }

  // Normal: drop 13 mantissa bits and rebias the exponent; a carry out of the mantissa moves into
  // the exponent, which is the correctly rounded result (the inf case was handled above).
  uint32_t h = (magnitude >> 13) - ((127u - 15u) << 10);
  const uint32_t dropped = magnitude & 0x1fffu;
  if (dropped > 0x1000u || (dropped == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

// Exact: bf16 is the upper half of an f32.
inline float bf16_to_f32(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

// Round to nearest, ties to even; subnormals are kept (not flushed). A NaN keeps its upper payload
// bits and is made quiet, as ggml does.
inline uint16_t f32_to_bf16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

}  // namespace lathe::quant
