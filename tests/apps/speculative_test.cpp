// `lathe speculative` through the built binary: the summary lines, greedy output equal to `lathe
// run`, the vocabulary check, lookup drafting, and one-line errors.
//
// The tests run on tests/fixtures/models/tiny-llama-q4_0.gguf (in the repository) and copies of
// it written at test time (an f16 target, an edited vocabulary); the stories260K variants, a
// trained model from ../shared, run when it is present.
#include <gtest/gtest.h>

#include <regex>

#include "spec/spec_test_util.h"
#include "support/fixtures.h"

namespace lathe {
namespace {

using testing::lathe_binary;
using testing::run_command;

// The value after "NAME = " in the summary (e.g. "accept    = 97.500%"), or -1.
double summary_value(const std::string& out, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("(?:^|\n)" + name + R"( *= *([0-9.]+))"))) return -1;
  return std::stod(m[1]);
}

class SpeculativeCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto path = testing::any_fixture_path("models/tiny-llama-q4_0.gguf");
    if (!path) GTEST_SKIP() << "models/tiny-llama-q4_0.gguf is absent";
    model_ = *path;
    std::string out;
    if (run_command(lathe_binary() + " speculative --help", &out) != 0 &&
        out.find("unknown command") != std::string::npos) {
      GTEST_SKIP() << "this lathe binary has no speculative command yet (apps/lathe/main.cpp)";
    }
  }
  std::string model_;
};

TEST_F(SpeculativeCommandTest, DraftEqualToTargetAcceptsAllAndMatchesRun) {
  std::string out;
  const std::string args = " -p 'Once upon a time' -n 25 --temp 0 -t 2";
  ASSERT_EQ(run_command(lathe_binary() + " speculative -m " + model_ + " -md " + model_ + args +
                            " --draft 4",
                        &out),
            0)
      << out;
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(encoded +5 tokens in +[0-9.]+ seconds, speed: +[0-9.]+ t/s)")))
      << out;
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(decoded +25 tokens in +[0-9.]+ seconds, speed: +[0-9.]+ t/s)")))
      << out;
  EXPECT_EQ(summary_value(out, "n_draft"), 4);
  EXPECT_EQ(summary_value(out, "n_predict"), 25);
  EXPECT_EQ(summary_value(out, "accept"), 100.0) << out;
  EXPECT_NE(out.find("mean accepted length 5.00 tokens per pass"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(speed-up = [0-9.]+x over the target alone \(expected [0-9.]+x = .* with )"
                      R"(a = 1\.000, c = [0-9.]+, N = 4\.00 drafted per pass\))")))
      << out;
  EXPECT_NE(out.find("greedy:   output identical to the target alone (25 tokens)"),
            std::string::npos)
      << out;

  // The streamed text is what `lathe run` prints.
  std::string spec_text, run_text;
  ASSERT_EQ(run_command("(" + lathe_binary() + " speculative -m " + model_ + " -md " + model_ +
                            args + " 2>/dev/null)",
                        &spec_text),
            0);
  ASSERT_EQ(
      run_command("(" + lathe_binary() + " run -m " + model_ + args + " 2>/dev/null)", &run_text),
      0);
  EXPECT_EQ(spec_text, run_text);
}

TEST_F(SpeculativeCommandTest, QuantizedDraftForAFinerTarget) {
  // The q4_0 fixture drafts for an f16 copy of itself, with threads of its own (-td).
  const std::string f16 = testing::make_temp_dir("spec") + "/tiny-llama-f16.gguf";
  ASSERT_TRUE(spec::testing_util::requantize(model_, f16, TensorType::kF16).ok());
  std::string out;
  ASSERT_EQ(run_command(lathe_binary() + " speculative -m " + f16 + " -md " + model_ +
                            " -p 'Once upon a time' -n 40 --temp 0 --draft 4 -t 1 -td 2",
                        &out),
            0)
      << out;
  EXPECT_EQ(summary_value(out, "n_predict"), 40) << out;
  EXPECT_GT(summary_value(out, "n_accept"), 0) << out;
  EXPECT_NE(out.find("greedy:   output identical to the target alone (40 tokens)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("draft:    model tiny-llama-q4_0.gguf; --draft 4"), std::string::npos) << out;

  // Sampling: a seed makes it reproducible.
  std::string a, b;
  const std::string sampled = lathe_binary() + " speculative -m " + f16 + " -md " + model_ +
                              " -p 'Once upon a time' -n 24 --seed 5 --temp 0.9 --no-baseline" +
                              " 2>/dev/null";
  ASSERT_EQ(run_command("(" + sampled + ")", &a), 0);
  ASSERT_EQ(run_command("(" + sampled + ")", &b), 0);
  EXPECT_EQ(a, b);
}

TEST_F(SpeculativeCommandTest, QuantizedDraftOfATrainedModel) {
  auto stories = testing::any_fixture_path("real/stories260K/stories260K.gguf");
  if (!stories) GTEST_SKIP() << "real/stories260K/stories260K.gguf is absent";
  const std::string q8 = testing::make_temp_dir("spec") + "/stories260K-q8_0.gguf";
  ASSERT_TRUE(spec::testing_util::requantize(*stories, q8, TensorType::kQ8_0).ok());
  std::string out;
  ASSERT_EQ(run_command(lathe_binary() + " speculative -m " + *stories + " -md " + q8 +
                            " -p 'Once upon a time' -n 100 --temp 0 --draft 8 -t 1 -td 2",
                        &out),
            0)
      << out;
  EXPECT_GT(summary_value(out, "accept"), 80.0) << out;
  EXPECT_NE(out.find("greedy:   output identical to the target alone (100 tokens)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("draft:    model stories260K-q8_0.gguf; --draft 8"), std::string::npos) << out;
  EXPECT_NE(out.find("Once upon a time, there was a little girl"), std::string::npos) << out;

  // Sampling: a seed makes it reproducible.
  std::string a, b;
  const std::string sampled = lathe_binary() + " speculative -m " + *stories + " -md " + q8 +
                              " -p 'Once upon a time' -n 40 --seed 5 --temp 0.9 --no-baseline" +
                              " 2>/dev/null";
  ASSERT_EQ(run_command("(" + sampled + ")", &a), 0);
  ASSERT_EQ(run_command("(" + sampled + ")", &b), 0);
  EXPECT_EQ(a, b);
}

TEST_F(SpeculativeCommandTest, LookupDraftsWithoutAModelOnTheFixture) {
  // The random model seldom continues the pattern, so the guesses are mostly rejected; the
  // output must still be the target's.
  std::string out;
  ASSERT_EQ(run_command(lathe_binary() + " speculative -m " + model_ +
                            " --lookup 6 -p 'a b c a b c a b c a b' -n 40 --temp 0 -t 2",
                        &out),
            0)
      << out;
  EXPECT_GT(summary_value(out, "n_drafted"), 0) << out;
  EXPECT_NE(out.find("draft:    lookup (n-grams 3..1); --draft 6"), std::string::npos) << out;
  EXPECT_NE(out.find("greedy:   output identical to the target alone (40 tokens)"),
            std::string::npos)
      << out;
}

TEST_F(SpeculativeCommandTest, LookupDraftsWithoutAModel) {
  auto stories = testing::any_fixture_path("real/stories260K/stories260K.gguf");
  if (!stories) GTEST_SKIP() << "real/stories260K/stories260K.gguf is absent";
  std::string out;
  ASSERT_EQ(run_command(lathe_binary() + " speculative -m " + *stories +
                            " --lookup 6 -p 'Once upon a time, there was a little girl named "
                            "Lily. Once upon a time, there was a little' -n 60 --temp 0 -t 1",
                        &out),
            0)
      << out;
  EXPECT_GT(summary_value(out, "n_accept"), 0) << out;
  EXPECT_NE(out.find("draft:    lookup (n-grams 3..1); --draft 6"), std::string::npos) << out;
  EXPECT_NE(out.find("greedy:   output identical to the target alone (60 tokens)"),
            std::string::npos)
      << out;
}

TEST_F(SpeculativeCommandTest, ErrorsAreOneClearLine) {
  std::string out;
  // The fixture with token 259 renamed.
  const std::string edited = testing::make_temp_dir("spec") + "/edited.gguf";
  ASSERT_TRUE(spec::testing_util::copy_with_token_text(model_, edited, 259, "<draft-only>").ok());
  EXPECT_EQ(
      run_command(lathe_binary() + " speculative -m " + model_ + " -md " + edited + " -p hi -n 4",
                  &out),
      1);
  EXPECT_EQ(out,
            "lathe speculative: the draft's vocabulary differs from the target's at token 259: "
            "target '\xe2\x96\x81\xe2\x96\x81', draft '<draft-only>' (speculative decoding "
            "needs the same tokens)\n");
  auto stories = testing::any_fixture_path("real/stories260K/stories260K.gguf");
  if (stories) {
    EXPECT_EQ(run_command(
                  lathe_binary() + " speculative -m " + model_ + " -md " + *stories + " -p hi -n 4",
                  &out),
              1);
    EXPECT_NE(out.find("lathe speculative: the draft's vocabulary differs from the target's at "
                       "token 259: target '\xe2\x96\x81\xe2\x96\x81', draft '"),
              std::string::npos)
        << out;
  }
  EXPECT_EQ(run_command(lathe_binary() + " speculative -m " + model_ + " -p hi", &out), 1);
  EXPECT_NE(out.find("lathe speculative: no draft given: -md FILE"), std::string::npos) << out;
  EXPECT_EQ(run_command(lathe_binary() + " speculative -m " + model_ + " -md " + model_ +
                            " --lookup 4 -p hi",
                        &out),
            1);
  EXPECT_NE(out.find("not both"), std::string::npos) << out;
  EXPECT_EQ(run_command(lathe_binary() + " speculative -m " + model_ + " -md " + model_ +
                            " --draft 2 --draft-min 3 -p hi",
                        &out),
            1);
  EXPECT_NE(out.find("--draft-min 3 exceeds --draft 2"), std::string::npos) << out;
  EXPECT_EQ(
      run_command(lathe_binary() + " speculative -m " + model_ + " -md /nonexistent.gguf -p hi",
                  &out),
      1);
  EXPECT_NE(out.find("lathe speculative: cannot open /nonexistent.gguf"), std::string::npos) << out;
  EXPECT_EQ(run_command(lathe_binary() + " speculative --frobnicate", &out), 1);
  EXPECT_NE(out.find("lathe speculative: unknown flag '--frobnicate'"), std::string::npos) << out;
}

}  // namespace
}  // namespace lathe
