// `lathe perplexity` through the built binary.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>

#include "support/fixtures.h"

namespace lathe {
namespace {

TEST(PerplexityCommand, ScoresChunksAndReportsTheEstimate) {
  LATHE_FIXTURE_OR_SKIP(model, "models/tiny-llama-q4_0.gguf");
  const std::string dir = testing::make_temp_dir("ppl");
  {
    std::ofstream text(dir + "/text.txt");
    for (int i = 0; i < 40; ++i) {
      text << "The quick brown fox jumps over the lazy dog, and the dog sleeps on. " << i << "\n";
    }
  }
  std::string out;
  ASSERT_EQ(testing::run_command(testing::lathe_binary() + " perplexity -m " + model + " -f " +
                                     dir + "/text.txt -c 64 --chunks 3 -t 2",
                                 &out),
            0)
      << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\[1\][0-9.]+,\[2\][0-9.]+,\[3\][0-9.]+,)"))) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+))")))
      << out;
  const double ppl = std::stod(m[1]);
  // Random weights over a 32000-token vocabulary: far from 1, finite, and not absurd.
  EXPECT_GT(ppl, 10.0);
  EXPECT_LT(ppl, 1e7);
  EXPECT_GT(std::stod(m[2]), 0.0);

  // Too short a text for two chunks is a clear error.
  {
    std::ofstream text(dir + "/short.txt");
    text << "Too short.";
  }
  ASSERT_EQ(testing::run_command(testing::lathe_binary() + " perplexity -m " + model + " -f " +
                                     dir + "/short.txt -c 64",
                                 &out),
            1);
  EXPECT_NE(out.find("at least 2 × 64"), std::string::npos) << out;
}

}  // namespace
}  // namespace lathe
