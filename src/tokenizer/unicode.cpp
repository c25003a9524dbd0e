#include "tokenizer/unicode.h"

#include <array>

namespace lathe::tokenizer {

uint32_t decode_utf8(std::string_view text, size_t& pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const auto is_continuation = [&](size_t i) {
    return i < text.size() && (byte(i) & 0xC0) == 0x80;
  };
  const uint8_t lead = byte(pos);
  if (lead < 0x80) {
    pos += 1;
    return lead;
  }
  if ((lead & 0xE0) == 0xC0 && is_continuation(pos + 1)) {
    const uint32_t cp = ((lead & 0x1Fu) << 6) | (byte(pos + 1) & 0x3Fu);
    pos += 2;
    return cp;
  }
  if ((lead & 0xF0) == 0xE0 && is_continuation(pos + 1) && is_continuation(pos + 2)) {
    const uint32_t cp =
        ((lead & 0x0Fu) << 12) | ((byte(pos + 1) & 0x3Fu) << 6) | (byte(pos + 2) & 0x3Fu);
    pos += 3;
    return cp;
  }
  if ((lead & 0xF8) == 0xF0 && is_continuation(pos + 1) && is_continuation(pos + 2) &&
      is_continuation(pos + 3)) {
    const uint32_t cp = ((lead & 0x07u) << 18) | ((byte(pos + 1) & 0x3Fu) << 12) |
                        ((byte(pos + 2) & 0x3Fu) << 6) | (byte(pos + 3) & 0x3Fu);
    pos += 4;
    return cp;
  }
  pos += 1;
  return kReplacementCharacter;
}

size_t utf8_length_of(uint32_t cp) {
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp < 0x10000) return 3;
  if (cp <= unicode_detail::kMaxCodepoint) return 4;
  return 3;  // written as U+FFFD
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp > unicode_detail::kMaxCodepoint) cp = kReplacementCharacter;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t incomplete_utf8_suffix(std::string_view text) {
  // A sequence is at most 4 bytes, so only the last 3 bytes can be an unfinished one.
  const size_t n = text.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const uint8_t b = static_cast<uint8_t>(text[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation: keep looking for the lead byte
    if (b < 0x80) return 0;
    size_t need = 0;
    if ((b & 0xE0) == 0xC0) {
      need = 2;
    } else if ((b & 0xF0) == 0xE0) {
      need = 3;
    } else if ((b & 0xF8) == 0xF0) {
      need = 4;
    } else {
      return 0;  // not a lead byte: malformed, nothing to wait for
    }
    return back < need ? back : 0;
  }
  return 0;
}

namespace {

struct Gpt2ByteTables {
  std::array<uint16_t, 256> to_cp{};
  std::array<int16_t, 324> to_byte{};
};

constexpr bool gpt2_keeps_byte(int b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

constexpr Gpt2ByteTables make_gpt2_tables() {
  Gpt2ByteTables t;
  for (auto& v : t.to_byte) v = -1;
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const int cp = gpt2_keeps_byte(b) ? b : next++;
    t.to_cp[b] = static_cast<uint16_t>(cp);
    t.to_byte[cp] = static_cast<int16_t>(b);
  }
  return t;
}

constexpr Gpt2ByteTables kGpt2Tables = make_gpt2_tables();

}  // namespace

uint32_t gpt2_byte_to_codepoint(uint8_t byte) {
  return kGpt2Tables.to_cp[byte];
}

int gpt2_codepoint_to_byte(uint32_t cp) {
  return cp < kGpt2Tables.to_byte.size() ? kGpt2Tables.to_byte[cp] : -1;
}

}  // namespace lathe::tokenizer
