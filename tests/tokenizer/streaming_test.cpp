// StreamingDetokenizer: emits only whole UTF-8 characters and adds up to decode().
#include <gtest/gtest.h>

#include "tokenizer/test_util.h"
#include "tokenizer/unicode.h"

namespace lathe::tokenizer {
namespace {

bool is_well_formed_utf8(const std::string& s) {
  for (size_t pos = 0; pos < s.size();) {
    const size_t start = pos;
    const uint32_t cp = decode_utf8(s, pos);
    if (pos - start != utf8_length_of(cp)) return false;
  }
  return true;
}

const char* const kTexts[] = {
    "Hello world",
    " leading space",
    "🦙 llamas and 😶‍🌫️ emoji, 我想在apple工作1314151天～ нещо на "
    "Български",
    "ied 4 ½ months\n\n\tTabs and\r\nnewlines   ",
    "",
};

void check_stream(const Tokenizer& tok, const std::string& name) {
  DecodeOptions raw;
  raw.clean_spaces = DecodeOptions::CleanSpaces::kOff;
  for (const char* text : kTexts) {
    const auto ids = tok.encode(text, false, false);
    StreamingDetokenizer stream(tok);
    std::string streamed;
    for (TokenId id : ids) {
      const std::string chunk = stream.push(id);
      EXPECT_TRUE(is_well_formed_utf8(chunk)) << name << ": chunk '" << chunk << "'";
      streamed += chunk;
    }
    streamed += stream.flush();
    EXPECT_EQ(streamed, tok.decode(ids, raw)) << name;
    EXPECT_EQ(streamed, text) << name;
  }
}

TEST(StreamingDetokenizer, WholeCharactersAndSameTextAsDecode) {
  for (const char* name : {"llama-spm", "phi-3", "gpt-2", "llama-bpe", "qwen2", "deepseek-llm"}) {
    const auto path = testing::vocab_fixture(std::string("ggml-vocab-") + name + ".gguf");
    if (!path) continue;
    auto tok = testing::load_tokenizer(*path);
    ASSERT_TRUE(tok.has_value());
    check_stream(*tok, name);
  }
}

TEST(StreamingDetokenizer, HoldsBackSplitCharacterUntilComplete) {
  const auto path = testing::vocab_fixture("ggml-vocab-llama-spm.gguf");
  ASSERT_TRUE(path.has_value());
  auto tok = testing::load_tokenizer(*path);
  ASSERT_TRUE(tok.has_value());
  // 🦙 is four byte tokens: nothing comes out until the last one.
  StreamingDetokenizer stream(*tok);
  EXPECT_EQ(stream.push(15043), "Hello");  // "▁Hello", first space stripped
  EXPECT_EQ(stream.push(29871), " ");
  EXPECT_EQ(stream.push(243), "");
  EXPECT_EQ(stream.push(162), "");
  EXPECT_EQ(stream.push(169), "");
  EXPECT_EQ(stream.push(156), "\xF0\x9F\xA6\x99");
  // A sequence that never completes comes out on flush, as the raw bytes.
  EXPECT_EQ(stream.push(243), "");
  EXPECT_EQ(stream.flush(), "\xF0");
  // Continuing a prompt: the leading space is real.
  StreamingDetokenizer::Options continuing;
  continuing.strip_leading_space = false;
  StreamingDetokenizer gen(*tok, continuing);
  EXPECT_EQ(gen.push(15043), " Hello");
  // Control tokens render only when asked.
  EXPECT_EQ(gen.push(2), "");
  StreamingDetokenizer::Options render;
  render.render_special = true;
  StreamingDetokenizer special(*tok, render);
  EXPECT_EQ(special.push(2), "</s>");
}

TEST(Unicode, IncompleteSuffix) {
  EXPECT_EQ(incomplete_utf8_suffix(""), 0u);
  EXPECT_EQ(incomplete_utf8_suffix("abc"), 0u);
  EXPECT_EQ(incomplete_utf8_suffix("a\xF0"), 1u);
  EXPECT_EQ(incomplete_utf8_suffix("a\xF0\x9F"), 2u);
  EXPECT_EQ(incomplete_utf8_suffix("a\xF0\x9F\xA6"), 3u);
  EXPECT_EQ(incomplete_utf8_suffix("a\xF0\x9F\xA6\x99"), 0u);
  EXPECT_EQ(incomplete_utf8_suffix("a\xC3"), 1u);
  EXPECT_EQ(incomplete_utf8_suffix("\x80\x80"), 0u);  // stray continuation bytes never complete
  EXPECT_EQ(incomplete_utf8_suffix("\xFF"), 0u);
}

TEST(Unicode, TablesAgreeWithKnownCategories) {
  EXPECT_EQ(unicode_class('A'), UnicodeClass::kLetter);
  EXPECT_EQ(unicode_class('7'), UnicodeClass::kNumber);
  EXPECT_EQ(unicode_class('$'), UnicodeClass::kSymbol);
  EXPECT_EQ(unicode_class('_'), UnicodeClass::kPunctuation);
  EXPECT_EQ(unicode_class(0x00BD), UnicodeClass::kNumber);     // ½
  EXPECT_EQ(unicode_class(0x0301), UnicodeClass::kMark);       // combining acute
  EXPECT_EQ(unicode_class(0x4E00), UnicodeClass::kLetter);     // 一
  EXPECT_EQ(unicode_class(0x1F999), UnicodeClass::kSymbol);    // 🦙
  EXPECT_EQ(unicode_class(0x200D), UnicodeClass::kControl);    // ZWJ (Cf)
  EXPECT_EQ(unicode_class(0x0378), UnicodeClass::kUndefined);  // unassigned
  EXPECT_EQ(unicode_class(0x110000), UnicodeClass::kUndefined);
  for (uint32_t cp : {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u,
                      0x200Au, 0x2028u, 0x2029u, 0x202Fu, 0x205Fu, 0x3000u}) {
    EXPECT_TRUE(unicode_is_whitespace(cp)) << cp;
  }
  for (uint32_t cp : {0x1Cu, 0x1Fu, 0x200Bu, 0xFEFFu, 0x41u})
    EXPECT_FALSE(unicode_is_whitespace(cp)) << cp;
  EXPECT_EQ(gpt2_byte_to_codepoint(' '), 0x120u);   // Ġ
  EXPECT_EQ(gpt2_byte_to_codepoint('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(gpt2_byte_to_codepoint('a'), static_cast<uint32_t>('a'));
  for (int b = 0; b < 256; ++b) EXPECT_EQ(gpt2_codepoint_to_byte(gpt2_byte_to_codepoint(b)), b);
}

}  // namespace
}  // namespace lathe::tokenizer
