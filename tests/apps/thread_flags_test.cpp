// -t (and -td, quantize's NTHREADS) through the built binary: every command reads a thread count
// the same way, 0 meaning one per physical core, and refuses a count it cannot sensibly start
// with one clear line instead of trying to create the threads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "core/cpu_features.h"
#include "support/fixtures.h"

namespace lathe {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Outcome {
  int exit_code;
  std::string output;
};

Outcome lathe(const std::string& args) {
  Outcome r;
  r.exit_code = testing::run_command(testing::lathe_binary() + " " + args, &r.output);
  return r;
}

// Standard output alone (the JSON), with stderr dropped.
Outcome lathe_stdout(const std::string& args) {
  Outcome r;
  r.exit_code =
      testing::run_command("(" + testing::lathe_binary() + " " + args + " 2>/dev/null)", &r.output);
  return r;
}

std::string tiny_model() {
  auto path = testing::any_fixture_path("models/tiny-llama-q4_0.gguf");
  return path ? *path : std::string();
}

TEST(ThreadFlags, OutOfRangeCountsGiveOneClearLineInEveryCommand) {
  const std::string dir = testing::make_temp_dir("thread-flags");
  // The model need not exist: the flags are checked before anything is opened.
  const std::string m = " -m " + dir + "/model.gguf";
  const std::string io = " " + dir + "/in.gguf " + dir + "/out.gguf";
  struct Case {
    std::string command;
    std::string args;  // N stands for the thread count
    std::string flag;
  };
  const Case cases[] = {
      {"run", m + " -p hi -t N", "-t"},
      {"chat", m + " -t N", "-t"},
      {"perplexity", m + " -f " + dir + "/text.txt -t N", "-t"},
      {"speculative", m + " -md " + dir + "/draft.gguf -p hi -t N", "-t"},
      {"speculative", m + " -md " + dir + "/draft.gguf -p hi -td N", "-td"},
      {"bench", m + " -t N", "-t"},
      {"bench", m + " -t 1,N", "-t"},
      {"bench", m + " -md " + dir + "/draft.gguf -td N", "-td"},
      {"batched-bench", m + " -t N", "-t"},
      {"hw", " --no-cache -t 1,N", "-t"},
      {"quantize", " -t N" + io + " q4_0", "-t"},
      {"quantize", io + " q4_0 N", "NTHREADS"},
      {"convert", " -t N " + dir + "/model " + dir + "/out.gguf", "-t"},
      {"synth", " -t N " + dir + "/out.gguf", "-t"},
  };
  for (const Case& c : cases) {
    for (const std::string n : {"100000", "1025", "-1"}) {
      std::string args = c.args;
      args.replace(args.find('N'), 1, n);
      SCOPED_TRACE(c.command + args);
      const auto start = std::chrono::steady_clock::now();
      const Outcome run = lathe(c.command + args);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      EXPECT_EQ(run.exit_code, 1);
      EXPECT_THAT(run.output, StartsWith("lathe " + c.command + ": " + c.flag + ": "));
      EXPECT_THAT(run.output, HasSubstr("expected a thread count from 1 to 1024, or 0 for one per "
                                        "physical core, got " +
                                        n));
      EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << run.output;
      // Refused up front, not after trying to start the threads.
      EXPECT_LT(seconds, 5.0);
    }
  }
}

TEST(ThreadFlags, ZeroMeansOnePerPhysicalCoreEverywhere) {
  const std::string model = tiny_model();
  if (model.empty()) GTEST_SKIP() << "models/tiny-llama-q4_0.gguf is absent";
  const int cores = default_thread_count();
  const std::string n_threads = ", " + std::to_string(cores) + " threads)";

  const Outcome run = lathe("run -m " + model + " -p hi -n 2 --temp 0 --verbose -t 0");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr(n_threads));
  const Outcome one = lathe("run -m " + model + " -p hi -n 2 --temp 0 --verbose -t 1");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_THAT(one.output, HasSubstr(", 1 threads)"));

  const Outcome bench =
      lathe_stdout("bench -q --no-hw -m " + model + " -p 0 -n 2 -r 1 -o json -t 0");
  ASSERT_EQ(bench.exit_code, 0) << bench.output;
  const auto results = nlohmann::json::parse(bench.output);
  ASSERT_EQ(results.size(), 1u) << bench.output;
  EXPECT_EQ(results[0]["n_threads"].get<int>(), cores);

  const Outcome hw = lathe_stdout("hw --no-cache --buffer-mb 8 -r 1 -o json -t 0");
  ASSERT_EQ(hw.exit_code, 0) << hw.output;
  const auto profile = nlohmann::json::parse(hw.output);
  ASSERT_EQ(profile["results"].size(), 1u) << hw.output;
  EXPECT_EQ(profile["results"][0]["threads"].get<int>(), cores);

  // quantize's NTHREADS is -t spelled as llama-quantize spells it.
  const std::string dir = testing::make_temp_dir("thread-flags");
  const Outcome synth = lathe("synth -q -t 0 --dim 64 --layers 1 --heads 2 --ffn 128 --vocab 300 " +
                              dir + "/in.gguf");
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  const std::string io = dir + "/in.gguf " + dir + "/out.gguf q8_0";
  const Outcome quantize = lathe("quantize -q " + io + " 0");
  ASSERT_EQ(quantize.exit_code, 0) << quantize.output;
  EXPECT_THAT(quantize.output, HasSubstr(", " + std::to_string(cores) + " threads, "));
  const Outcome quantize_t = lathe("quantize -q -t 0 " + io);
  ASSERT_EQ(quantize_t.exit_code, 0) << quantize_t.output;
  EXPECT_THAT(quantize_t.output, HasSubstr(", " + std::to_string(cores) + " threads, "));
}

}  // namespace
}  // namespace lathe
