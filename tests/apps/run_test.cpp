// `lathe run` and `lathe chat` through the built binary.
#include <gtest/gtest.h>

#include <regex>

#include "support/fixtures.h"
#include "support/reference.h"

namespace lathe {
namespace {

using testing::lathe_binary;
using testing::run_command;

class RunCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto path = testing::any_fixture_path("models/tiny-llama-q4_0.gguf");
    if (!path) GTEST_SKIP() << "models/tiny-llama-q4_0.gguf is absent";
    model_ = *path;
  }
  std::string model_;
};

TEST_F(RunCommandTest, GeneratesAndReportsTimings) {
  const std::string dir = testing::make_temp_dir("run");
  std::string out;
  const int rc = run_command(lathe_binary() + " run -m " + model_ +
                                 " -p Hello -n 8 --temp 0 -t 2 --logits-out " + dir + "/l.f32",
                             &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(prompt: 2 tokens in [0-9.]+ s \([0-9.]+ t/s\) \| generated: 8 tokens)")))
      << out;
  EXPECT_EQ(out.rfind("Hello", 0), 0u) << "the prompt is echoed first";

  // The logits written are those of the prompt "Hello" (BOS, 15043) that llama.cpp produced.
  const auto logits = testing::read_f32_file(dir + "/l.f32");
  ASSERT_EQ(logits.size(), 32000u);
  auto ref_dir = testing::any_fixture_path("reference/tiny-llama-q4_0.json");
  if (ref_dir) {
    const auto ref = testing::load_reference(ref_dir->substr(0, ref_dir->rfind('/')),
                                             "tiny-llama-q4_0.json");
    EXPECT_EQ(ref.cases[0].prompt, "Hello");
    EXPECT_LT(testing::relative_rms(logits.data(), ref.cases[0].logits.data(), logits.size()), 0.05);
  }
}

TEST_F(RunCommandTest, GreedyRunsAreReproducibleAndSeededRunsToo) {
  std::string a, b, c, d;
  const std::string base = lathe_binary() + " run -m " + model_ + " -p 'Once upon' -n 12 -t 2";
  // Only stdout: the timing line on stderr differs between runs.
  auto quiet = [](const std::string& cmd) { return "(" + cmd + " 2>/dev/null)"; };
  ASSERT_EQ(run_command(quiet(base + " --temp 0 --no-display-prompt"), &a), 0);
  ASSERT_EQ(run_command(quiet(base + " --temp 0 --no-display-prompt"), &b), 0);
  EXPECT_EQ(a, b);
  ASSERT_EQ(run_command(quiet(base + " --seed 7 --no-display-prompt"), &c), 0);
  ASSERT_EQ(run_command(quiet(base + " --seed 7 --no-display-prompt"), &d), 0);
  EXPECT_EQ(c, d);
  EXPECT_FALSE(a.empty());
}

TEST_F(RunCommandTest, BadInputIsOneClearLine) {
  std::string out;
  EXPECT_EQ(run_command(lathe_binary() + " run -m /nonexistent.gguf -p hi", &out), 1);
  EXPECT_NE(out.find("lathe run: cannot open /nonexistent.gguf"), std::string::npos) << out;
  EXPECT_EQ(run_command(lathe_binary() + " run -m " + model_ +
                            " -c 8 -p 'a prompt that is certainly longer than eight tokens here'",
                        &out),
            1);
  EXPECT_NE(out.find("the context holds 8"), std::string::npos) << out;
  EXPECT_EQ(run_command(lathe_binary() + " run -m " + model_ + " -p hi -ctk q5_0", &out), 1);
  EXPECT_NE(out.find("-ctk"), std::string::npos) << out;
  EXPECT_EQ(run_command(lathe_binary() + " run --frobnicate", &out), 1);
  EXPECT_NE(out.find("unknown flag '--frobnicate'"), std::string::npos) << out;
  EXPECT_EQ(run_command(lathe_binary() + " run -m " + model_ + " -p hi --top-k", &out), 1);
  EXPECT_NE(out.find("needs a value"), std::string::npos) << out;
}

TEST_F(RunCommandTest, ChatThroughAPseudoTerminal) {
  std::string out;
  const int rc = run_command("python3 " + std::string(LATHE_TEST_SOURCE_DIR) +
                                 "/apps/chat_pty.py " + lathe_binary() + " " + model_,
                             &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("(conversation reset)"), std::string::npos) << out;
  // Four prompts were answered, plus the first prompt marker.
  size_t prompts = 0;
  for (size_t at = out.find("> "); at != std::string::npos; at = out.find("> ", at + 2)) ++prompts;
  EXPECT_GE(prompts, 5u) << out;
}

}  // namespace
}  // namespace lathe

namespace lathe {
namespace {

// llama2.c's run.c prints this text at temperature 0 for "Once upon a time" (64 positions).
TEST(RunGolden, Stories260KReproducesLlama2cText) {
  LATHE_SHARED_FIXTURE_OR_SKIP(model, "real/stories260K/stories260K.gguf");
  LATHE_SHARED_FIXTURE_OR_SKIP(golden_path, "real/stories260K/golden_greedy_n64.txt");
  const auto golden_bytes = testing::read_file_bytes(golden_path);
  std::string golden(golden_bytes.begin(), golden_bytes.end());
  while (!golden.empty() && golden.back() == '\n') golden.pop_back();
  std::string out;
  ASSERT_EQ(testing::run_command("(" + testing::lathe_binary() + " run -m " + model +
                                     " -p 'Once upon a time' -n 60 --temp 0 -t 1 2>/dev/null)",
                                 &out),
            0);
  EXPECT_EQ(out.substr(0, golden.size()), golden) << out;
}

}  // namespace
}  // namespace lathe
