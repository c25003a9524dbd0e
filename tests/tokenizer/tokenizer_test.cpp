// Behaviour beyond llama.cpp's fixture cases: special tokens, BOS/EOS, end-of-generation sets,
// decoding rules, malformed input, and llama.cpp's SPM round-trip checks (test-tokenizer-1-spm).
#include <gtest/gtest.h>

#include <algorithm>

#include "tokenizer/test_util.h"
#include "tokenizer/unicode.h"

namespace lathe::tokenizer {
namespace {

using testing::load_tokenizer;
using testing::vocab_fixture;

// Loads ggml-vocab-NAME.gguf or skips the test.
#define LOAD_VOCAB_OR_SKIP(var, name)                                           \
  auto var##_path = vocab_fixture(std::string("ggml-vocab-") + name + ".gguf"); \
  if (!var##_path) GTEST_SKIP() << "ggml-vocab-" << name << ".gguf is absent";  \
  auto var##_loaded = load_tokenizer(*var##_path);                              \
  ASSERT_TRUE(var##_loaded.has_value()) << var##_loaded.error().to_string();    \
  const Tokenizer& var = *var##_loaded

std::vector<TokenId> ids(std::initializer_list<TokenId> list) {
  return list;
}

TEST(Tokenizer, SpmAddsBosAndSpacePrefix) {
  LOAD_VOCAB_OR_SKIP(tok, "llama-spm");
  EXPECT_EQ(tok.vocab().type(), VocabType::kSpm);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_FALSE(tok.add_eos());
  EXPECT_EQ(tok.bos(), 1);
  EXPECT_EQ(tok.eos(), 2);
  EXPECT_EQ(tok.nl(), 13);  // <0x0A>
  EXPECT_EQ(tok.encode("Hello", true, false), ids({1, 15043}));
  EXPECT_EQ(tok.encode("Hello", false, false), ids({15043}));
  EXPECT_EQ(tok.encode("", true, false), ids({1}));
  EXPECT_TRUE(tok.encode("", false, false).empty());
}

TEST(Tokenizer, SpmSpecialTokensInText) {
  LOAD_VOCAB_OR_SKIP(tok, "llama-spm");
  // Parsed: "<s>" is BOS, and the text after a special token gets the space prefix again.
  EXPECT_EQ(tok.encode("<s>Hello</s>", false, true), ids({1, 15043, 2}));
  // Not parsed: control tokens are plain text.
  const auto plain = tok.encode("<s>Hello", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 1), 0);
  EXPECT_GT(plain.size(), 2u);
}

TEST(Tokenizer, SpmDecodeRules) {
  LOAD_VOCAB_OR_SKIP(tok, "llama-spm");
  EXPECT_EQ(tok.decode(ids({15043, 3186})), "Hello world");  // first piece loses its space
  // With a BOS in front the space stays (llama.cpp's rule), rendered or removed.
  EXPECT_EQ(tok.decode(ids({1, 15043})), " Hello");
  DecodeOptions remove;
  remove.remove_special = true;
  EXPECT_EQ(tok.decode(ids({1, 15043}), remove), " Hello");
  DecodeOptions render;
  render.render_special = true;
  EXPECT_EQ(tok.decode(ids({1, 15043, 2}), render), "<s> Hello</s>");
  EXPECT_EQ(tok.token_to_piece(1, true), "<s>");
  EXPECT_EQ(tok.token_to_piece(1, false), "");
  EXPECT_EQ(tok.token_to_piece(13, false), "\n");  // byte token
  EXPECT_EQ(tok.token_to_piece(15043, false), " Hello");
  // Ids outside the vocabulary render as nothing rather than failing.
  EXPECT_EQ(tok.decode(ids({15043, -5, 3186, 1 << 30})), "Hello world");
  EXPECT_EQ(tok.token_to_piece(-1, true), "");
}

TEST(Tokenizer, SpmByteFallback) {
  LOAD_VOCAB_OR_SKIP(tok, "llama-spm");
  // 🦙 has no token: its four UTF-8 bytes come out as <0xF0> <0x9F> <0xA6> <0x99>.
  EXPECT_EQ(tok.encode("\xF0\x9F\xA6\x99", false, false), ids({29871, 243, 162, 169, 156}));
  EXPECT_EQ(tok.decode(tok.encode("\xF0\x9F\xA6\x99", false, false)), "\xF0\x9F\xA6\x99");
  // Malformed UTF-8 survives the round trip byte for byte (without spaces: a broken lead byte
  // swallows the first byte of the "▁" that replaced a space, exactly as in llama.cpp).
  const std::string bad =
      "a\xFF\xC3"
      "b\xE2\x82";
  EXPECT_EQ(tok.decode(tok.encode(bad, false, false)), bad);
}

TEST(Tokenizer, SpmEndOfGeneration) {
  LOAD_VOCAB_OR_SKIP(tok, "llama-spm");
  EXPECT_EQ(tok.vocab().eog_ids(), ids({2}));
  EXPECT_TRUE(tok.is_eog(2));
  EXPECT_FALSE(tok.is_eog(1));
  EXPECT_FALSE(tok.is_eog(kNoToken));
}

TEST(Tokenizer, Phi3EndOfGenerationAndUserDefined) {
  LOAD_VOCAB_OR_SKIP(tok, "phi-3");
  EXPECT_EQ(tok.eos(), 32000);
  EXPECT_TRUE(tok.is_eog(32000));  // <|endoftext|>
  EXPECT_TRUE(tok.is_eog(32007));  // <|end|>
  EXPECT_TRUE(tok.is_eog(2));      // </s>
  EXPECT_FALSE(tok.is_eog(32001));
  EXPECT_EQ(tok.eot(), 32007);  // <|end|> ranks before <|endoftext|> among end-of-turn texts
  // "</s>" is typed user-defined, but as an end-of-generation text it becomes control too, so it
  // is matched only with parse_special; phi-3 strips the whitespace to its right.
  EXPECT_EQ(tok.encode("a</s>  b", false, true), ids({263, 2, 289}));
  const auto unparsed = tok.encode("a</s>  b", false, false);
  EXPECT_EQ(std::count(unparsed.begin(), unparsed.end(), 2), 0);
  EXPECT_EQ(tok.encode("<|user|>\nHi<|end|>", false, true).front(), 32010);
  EXPECT_EQ(tok.encode("<|user|>\nHi<|end|>", false, true).back(), 32007);
  // rstrip: the newline after <|user|> is dropped.
  const auto with = tok.encode("<|user|>\nHi", false, true);
  const auto without = tok.encode("<|user|>Hi", false, true);
  EXPECT_EQ(with, without);
}

TEST(Tokenizer, Gpt2NoBosAndCleanUp) {
  LOAD_VOCAB_OR_SKIP(tok, "gpt-2");
  EXPECT_EQ(tok.vocab().type(), VocabType::kBpe);
  EXPECT_EQ(tok.vocab().pre_type(), PreTokenizerType::kGpt2);
  EXPECT_FALSE(tok.add_bos());
  EXPECT_EQ(tok.encode("Hello world", true, false), ids({15496, 995}));
  EXPECT_EQ(tok.vocab().eog_ids(), ids({50256}));
  EXPECT_EQ(tok.nl(), 198);
  // clean_up_tokenization_spaces, as llama.cpp decodes GPT-2 vocabularies.
  EXPECT_EQ(tok.decode(tok.encode("Hello , world ! It 's ok", false, false)),
            "Hello, world! It's ok");
  DecodeOptions raw;
  raw.clean_spaces = DecodeOptions::CleanSpaces::kOff;
  EXPECT_EQ(tok.decode(tok.encode("Hello , world", false, false), raw), "Hello , world");
  EXPECT_EQ(tok.encode("<|endoftext|>", false, true), ids({50256}));
  EXPECT_NE(tok.encode("<|endoftext|>", false, false), ids({50256}));
}

TEST(Tokenizer, BpeMalformedUtf8BecomesReplacementCharacter) {
  LOAD_VOCAB_OR_SKIP(tok, "gpt-2");
  // llama.cpp decodes text to codepoints before splitting it, turning bad bytes into U+FFFD.
  EXPECT_EQ(tok.encode("a\xFF"
                       "b",
                       false, false),
            tok.encode("a\xEF\xBF\xBD"
                       "b",
                       false, false));
  EXPECT_EQ(tok.encode("\xE2\x82", false, false),
            tok.encode("\xEF\xBF\xBD\xEF\xBF\xBD", false, false));
}

TEST(Tokenizer, Llama3BosEotAndChatTokens) {
  LOAD_VOCAB_OR_SKIP(tok, "llama-bpe");
  EXPECT_EQ(tok.vocab().pre_type(), PreTokenizerType::kLlama3);
  EXPECT_TRUE(tok.add_bos());  // llama-bpe implies add_bos
  EXPECT_EQ(tok.encode("Hello", true, false), ids({128000, 9906}));
  EXPECT_EQ(tok.eot(), 128009);
  for (TokenId id : {128001, 128009}) EXPECT_TRUE(tok.is_eog(id)) << id;
  EXPECT_FALSE(tok.is_eog(128000));
  const auto chat =
      tok.encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", true, true);
  EXPECT_EQ(chat, ids({128000, 128006, 882, 128007, 271, 13347, 128009}));
  EXPECT_EQ(tok.decode(chat), "user\n\nHi");
  DecodeOptions render;
  render.render_special = true;
  EXPECT_EQ(tok.decode(chat, render),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
}

TEST(Tokenizer, Qwen2ChatTokens) {
  LOAD_VOCAB_OR_SKIP(tok, "qwen2");
  EXPECT_FALSE(tok.add_bos());
  const auto chat = tok.encode("<|im_start|>user\nHi<|im_end|>", true, true);
  ASSERT_GE(chat.size(), 3u);
  EXPECT_EQ(chat.front(), 151644);
  EXPECT_EQ(chat.back(), 151645);
  EXPECT_TRUE(tok.is_eog(151643));
  EXPECT_TRUE(tok.is_eog(151645));
  EXPECT_FALSE(tok.is_eog(151644));
  const auto plain = tok.encode("<|im_start|>", false, false);
  EXPECT_GT(plain.size(), 1u);
}

TEST(Tokenizer, DeepseekUserDefinedTokensAlwaysMatch) {
  LOAD_VOCAB_OR_SKIP(tok, "deepseek-llm");
  EXPECT_EQ(tok.vocab().pre_type(), PreTokenizerType::kDeepseekLlm);
  // "ö" is a user-defined token (100003) and is cut out even without parse_special.
  EXPECT_EQ(tok.encode("ö", false, false), ids({100003}));
  EXPECT_EQ(tok.encode("Hi", true, false).front(), 100000);
}

// llama.cpp's test-tokenizer-1-spm: every token's text re-tokenizes to the same text, and every
// codepoint round-trips (surrogates, the big unassigned planes and U+2581 "▁" excepted).
TEST(Tokenizer, SpmRoundTripsEveryTokenAndCodepoint) {
  LOAD_VOCAB_OR_SKIP(tok, "llama-spm");
  DecodeOptions render;
  render.render_special = true;
  for (TokenId id = 0; id < tok.n_tokens(); ++id) {
    const std::string text = tok.decode(std::vector<TokenId>{id}, render);
    const auto again = tok.encode(text, false, true);
    ASSERT_EQ(tok.decode(again, render), text) << "token " << id;
  }
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    if ((cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x40000 && cp <= 0xE0000) || cp == 0x2581) {
      continue;
    }
    std::string text;
    append_utf8(cp, text);
    ASSERT_EQ(tok.decode(tok.encode(text, false, false), render), text) << "codepoint " << cp;
  }
}

// The same codepoint round trip for byte-level BPE vocabularies.
TEST(Tokenizer, BpeRoundTripsEveryCodepoint) {
  for (const char* name : {"gpt-2", "llama-bpe", "qwen2", "deepseek-llm"}) {
    const auto path = vocab_fixture(std::string("ggml-vocab-") + name + ".gguf");
    if (!path) continue;
    auto tok = load_tokenizer(*path);
    ASSERT_TRUE(tok.has_value());
    for (uint32_t cp = 0; cp < 0x110000; cp += (cp < 0x30000 ? 1 : 97)) {
      if ((cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x40000 && cp <= 0xE0000)) continue;
      std::string text;
      append_utf8(cp, text);
      ASSERT_EQ(tok->decode(tok->encode(text, false, false)), text) << name << " codepoint " << cp;
    }
  }
}

}  // namespace
}  // namespace lathe::tokenizer
