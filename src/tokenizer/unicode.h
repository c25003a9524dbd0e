// Unicode facts the tokenizers need: UTF-8 decoding with llama.cpp's leniency, the General_Category
// class and White_Space property of a codepoint (tables generated from the Unicode Character
// Database by scripts/gen-unicode-tables.py), and GPT-2's byte <-> codepoint mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lathe::tokenizer {

// The General_Category major class of a codepoint (\p{N}, \p{L}, ...). kUndefined is Cn
// (unassigned); surrogates, private use and format characters are kControl.
enum class UnicodeClass : uint8_t {
  kUndefined = 0,
  kNumber = 1,
  kLetter = 2,
  kSeparator = 3,
  kMark = 4,
  kPunctuation = 5,
  kSymbol = 6,
  kControl = 7,
};

namespace unicode_detail {
extern const uint16_t kUnicodeStage1[];
extern const uint8_t kUnicodeStage2[];
extern const char kUnicodeTablesSource[];
inline constexpr uint32_t kMaxCodepoint = 0x10FFFF;
inline constexpr uint8_t kClassMask = 0x07;
inline constexpr uint8_t kWhiteSpaceBit = 0x08;
}  // namespace unicode_detail

// Class and White_Space bit of `cp`; codepoints past U+10FFFF are undefined.
inline uint8_t unicode_flags(uint32_t cp) {
  using namespace unicode_detail;
  if (cp > kMaxCodepoint) return 0;
  return kUnicodeStage2[static_cast<size_t>(kUnicodeStage1[cp >> 8]) * 256 + (cp & 255)];
}
inline UnicodeClass unicode_class(uint32_t cp) {
  return static_cast<UnicodeClass>(unicode_flags(cp) & unicode_detail::kClassMask);
}
inline bool unicode_is_whitespace(uint32_t cp) {
  return (unicode_flags(cp) & unicode_detail::kWhiteSpaceBit) != 0;
}
// Which Unicode release the tables came from ("Unicode Character Database 15.0.0 (...)").
inline std::string_view unicode_tables_source() {
  return unicode_detail::kUnicodeTablesSource;
}

// Length of the UTF-8 sequence that `lead` starts, judged by its top four bits only (1 for a stray
// continuation byte). llama.cpp splits text into symbols this way, valid or not.
inline size_t utf8_sequence_length(uint8_t lead) {
  static constexpr uint8_t kLength[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLength[lead >> 4];
}

inline constexpr uint32_t kReplacementCharacter = 0xFFFD;

// Decodes the codepoint at `pos` and advances past it. A malformed sequence (bad lead byte,
// missing or bad continuation bytes, truncated at the end) yields U+FFFD and advances one byte,
// as llama.cpp does. Overlong forms and surrogates are decoded, not rejected (llama.cpp again).
uint32_t decode_utf8(std::string_view text, size_t& pos);

// Appends the UTF-8 form of `cp`; codepoints past U+10FFFF are written as U+FFFD.
void append_utf8(uint32_t cp, std::string& out);
size_t utf8_length_of(uint32_t cp);

// Bytes at the end of `text` that begin a UTF-8 sequence still missing continuation bytes (0 when
// the text ends on a character boundary, or when the tail is malformed and will never complete).
size_t incomplete_utf8_suffix(std::string_view text);

// GPT-2's reversible byte-level encoding: every byte maps to one printable codepoint (printable
// Latin-1 bytes to themselves, the rest to U+0100..U+0143 in byte order).
uint32_t gpt2_byte_to_codepoint(uint8_t byte);
// The byte for a codepoint of that encoding, or -1 when `cp` is not one of the 256.
int gpt2_codepoint_to_byte(uint32_t cp);

}  // namespace lathe::tokenizer
