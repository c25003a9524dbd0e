// llama.cpp's own tokenizer test cases (tests/test-tokenizer-0.cpp: add_special = false,
// parse_special = false) on its six vocab-only GGUFs: every case must give the same ids.
#include <gtest/gtest.h>

#include "tokenizer/test_util.h"

namespace lathe::tokenizer {
namespace {

using testing::load_tokenizer;
using testing::read_vocab_cases;
using testing::vocab_fixture;

class VocabFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabFixtureTest, MatchesLlamaCppIds) {
  const std::string name = "ggml-vocab-" + GetParam() + ".gguf";
  const auto gguf = vocab_fixture(name);
  if (!gguf)
    GTEST_SKIP() << name << " is absent (tests/fixtures/tokenizer, ../shared/fixtures/tokenizer)";
  const auto inp = vocab_fixture(name + ".inp");
  const auto out = vocab_fixture(name + ".out");
  ASSERT_TRUE(inp && out) << name << ".inp/.out missing";
  auto tok = load_tokenizer(*gguf);
  ASSERT_TRUE(tok.has_value()) << tok.error().to_string();
  const auto cases = read_vocab_cases(*inp, *out);
  ASSERT_FALSE(cases.empty()) << "unreadable or mismatched .inp/.out";

  size_t passed = 0;
  for (const auto& c : cases) {
    const auto ids = tok->encode(c.text, /*add_special=*/false, /*parse_special=*/false);
    if (ids == c.ids) {
      ++passed;
    } else {
      ADD_FAILURE() << GetParam() << ": '" << c.text << "'\n  expected "
                    << testing::ids_to_string(c.ids) << "\n  got      "
                    << testing::ids_to_string(ids);
    }
  }
  std::printf("[ vocab    ] %s: %zu/%zu cases match llama.cpp\n", GetParam().c_str(), passed,
              cases.size());
  EXPECT_EQ(passed, cases.size());
}

// decode(encode(s)) == s for every case: byte-level BPE and SPM with byte fallback lose nothing.
// GPT-2 style vocabularies clean up spaces before punctuation when decoding (as llama.cpp does),
// so the plain round trip is checked with that clean-up off, and with it on where the input has
// nothing to clean.
TEST_P(VocabFixtureTest, RoundTripsFixtureInputs) {
  const std::string name = "ggml-vocab-" + GetParam() + ".gguf";
  const auto gguf = vocab_fixture(name);
  if (!gguf) GTEST_SKIP() << name << " is absent";
  auto tok = load_tokenizer(*gguf);
  ASSERT_TRUE(tok.has_value()) << tok.error().to_string();
  const auto cases = read_vocab_cases(*vocab_fixture(name + ".inp"), *vocab_fixture(name + ".out"));
  ASSERT_FALSE(cases.empty());
  DecodeOptions raw;
  raw.clean_spaces = DecodeOptions::CleanSpaces::kOff;
  for (const auto& c : cases) {
    const auto ids = tok->encode(c.text, false, false);
    EXPECT_EQ(tok->decode(ids, raw), c.text) << GetParam();
    const bool has_cleanable = [&] {
      for (const char* p : {" ?", " !", " .", " ,", " ' ", " 's", " 'm", " 're", " 've"}) {
        if (c.text.find(p) != std::string::npos) return true;
      }
      return false;
    }();
    if (!has_cleanable) {
      EXPECT_EQ(tok->decode(ids), c.text) << GetParam();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(LlamaCppVocabs, VocabFixtureTest,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "llama-bpe", "qwen2",
                                           "deepseek-llm"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace lathe::tokenizer
