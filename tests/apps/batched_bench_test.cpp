// `lathe batched-bench` on a tiny synthetic model: llama-batched-bench's table and JSON, the
// speed-up and roofline columns, shared prompts, skipped cases, the plot, and errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/fixtures.h"

namespace lathe {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

struct Outcome {
  int exit_code;
  std::string out;
  std::string err;
};

Outcome lathe(const std::string& args, const std::string& dir) {
  Outcome r;
  const std::string out_path = dir + "/stdout.txt";
  r.exit_code =
      // run_command appends 2>&1: the parentheses keep stdout in the file and stderr apart.
      testing::run_command("(" + testing::lathe_binary() + " " + args + " > " + out_path + ")",
                           &r.err);
  std::ifstream in(out_path);
  std::stringstream text;
  text << in.rdbuf();
  r.out = text.str();
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string make_model(const std::string& dir) {
  const std::string path = dir + "/tiny.gguf";
  std::string output;
  EXPECT_EQ(testing::run_command(testing::lathe_binary() +
                                     " synth -q --dim 64 --layers 2 --heads 4 --kv-heads 2 "
                                     "--ffn 128 --vocab 300 --type Q4_0 " +
                                     path,
                                 &output),
            0)
      << output;
  return path;
}

std::string make_profile(const std::string& dir) {
  const std::string path = dir + "/hw.json";
  std::ofstream out(path);
  out << R"({"schema": 1, "cpu": {"brand": "Test CPU", "features": "", "logical_cores": 1,
  "physical_cores": 1}, "measured_at": "2025-01-01T00:00:00Z", "buffer_bytes": 1073741824,
  "repetitions": 5, "kernels": {"read": "scalar", "int8": "scalar", "f32": "scalar", "bf16": null},
  "results": [{"threads": 1, "read_gb_per_s": 10.0, "int8_gops": 100.0, "f32_gops": 50.0,
  "bf16_gops": null}]})";
  return path;
}

TEST(BatchedBench, TableHasLlamaBatchedBenchColumns) {
  const std::string dir = testing::make_temp_dir("batched");
  const std::string model = make_model(dir);
  const Outcome run = lathe("batched-bench -m " + model +
                                " -npp 8,16 -ntg 4 -npl 1,2,4 -c 128 -t 1 -q --hw-profile " +
                                make_profile(dir) + " --plot " + dir + "/b.svg",
                            dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto lines = lines_of(run.out);
  ASSERT_GE(lines.size(), 9u) << run.out;
  EXPECT_THAT(lines[0], HasSubstr("n_kv_max = 128, n_batch = 2048, n_ubatch = 512"));
  EXPECT_EQ(lines[1].rfind("|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | "
                           "S_TG t/s |      T s |    S t/s |",
                           0),
            0u)
      << lines[1];
  EXPECT_THAT(lines[1], HasSubstr("TG x"));
  EXPECT_THAT(lines[1], HasSubstr("% roof |  % now |"));
  EXPECT_THAT(run.out, HasSubstr("% now: "));
  // PP 8, TG 4: N_KV = B x (PP + TG).
  EXPECT_EQ(lines[3].rfind("|     8 |      4 |    1 |     12 |", 0), 0u) << lines[3];
  EXPECT_EQ(lines[4].rfind("|     8 |      4 |    2 |     24 |", 0), 0u) << lines[4];
  EXPECT_EQ(lines[8].rfind("|    16 |      4 |    4 |     80 |", 0), 0u) << lines[8];
  EXPECT_THAT(lines[3], HasSubstr("|   1.00 |"));  // B = 1 is its own baseline
  EXPECT_THAT(run.out, HasSubstr("peak RSS: "));

  std::string check;
  if (testing::run_command("python3 -c pass", &check) != 0) GTEST_SKIP() << "no python3";
  EXPECT_EQ(testing::run_command("python3 -c \"import sys, xml.etree.ElementTree as E; "
                                 "E.parse(sys.argv[1])\" " +
                                     dir + "/b.svg",
                                 &check),
            0)
      << check;
}

TEST(BatchedBench, JsonlFieldsSharedPromptAndSkippedCases) {
  const std::string dir = testing::make_temp_dir("batched");
  const std::string model = make_model(dir);
  const std::string profile = make_profile(dir);
  const Outcome run =
      lathe("batched-bench -m " + model +
                " -npp 8 -ntg 4 -npl 1,2,32 -c 64 -t 1 -o jsonl --hw-profile " + profile,
            dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // B = 32 needs 32 x 12 cells, more than -c 64: skipped, and said so.
  EXPECT_THAT(run.err, HasSubstr("skipping PP 8, TG 4, B 32"));
  const auto lines = lines_of(run.out);
  ASSERT_EQ(lines.size(), 2u) << run.out;
  const Json one = Json::parse(lines[0]);
  const Json two = Json::parse(lines[1]);
  for (const char* field : {"n_kv_max",
                            "n_batch",
                            "n_ubatch",
                            "flash_attn",
                            "is_pp_shared",
                            "n_gpu_layers",
                            "n_threads",
                            "n_threads_batch",
                            "pp",
                            "tg",
                            "pl",
                            "n_kv",
                            "t_pp",
                            "speed_pp",
                            "t_tg",
                            "speed_tg",
                            "t",
                            "speed",
                            "speedup_tg",
                            "ceiling_tg",
                            "roof_pct",
                            "ceiling_tg_now",
                            "now_roof_pct"}) {
    EXPECT_TRUE(one.contains(field)) << field;
  }
  EXPECT_EQ(one["pl"], 1);
  EXPECT_EQ(two["pl"], 2);
  EXPECT_EQ(two["n_kv"], 24);
  EXPECT_DOUBLE_EQ(one["speedup_tg"].get<double>(), 1.0);
  EXPECT_NEAR(two["speedup_tg"].get<double>(),
              two["speed_tg"].get<double>() / one["speed_tg"].get<double>(), 1e-9);
  EXPECT_NEAR(two["speed_tg"].get<double>(), 2 * 4 / two["t_tg"].get<double>(), 1e-6);
  EXPECT_NEAR(two["speed_pp"].get<double>(), 2 * 8 / two["t_pp"].get<double>(), 1e-6);
  EXPECT_NEAR(two["speed"].get<double>(), (2 * 8 + 2 * 4) / two["t"].get<double>(), 1e-6);
  // The memory roof grows with B (weights are read once per step for all sequences).
  EXPECT_GT(two["ceiling_tg"].get<double>(), one["ceiling_tg"].get<double>());
  // The roof of the moment: measured whatever the profile, and consistent with its ceiling.
  EXPECT_GT(one["ceiling_tg_now"].get<double>(), 0);
  EXPECT_NEAR(one["now_roof_pct"].get<double>(),
              100 * one["speed_tg"].get<double>() / one["ceiling_tg_now"].get<double>(), 1e-6);

  const Outcome shared = lathe(
      "batched-bench -m " + model + " -npp 8 -ntg 4 -npl 3 -pps -c 64 -t 1 -q -o json --no-hw",
      dir);
  ASSERT_EQ(shared.exit_code, 0) << shared.err;
  const Json rows = Json::parse(shared.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["is_pp_shared"], 1);
  EXPECT_EQ(rows[0]["n_kv"], 8 + 3 * 4);  // the prompt once, then each sequence's tokens
  EXPECT_NEAR(rows[0]["speed_pp"].get<double>(), 8 / rows[0]["t_pp"].get<double>(), 1e-6);
  EXPECT_TRUE(rows[0]["ceiling_tg"].is_null());
  EXPECT_GT(rows[0]["ceiling_tg_now"].get<double>(), 0);  // --no-hw: no profile, but measured
  EXPECT_TRUE(rows[0]["speedup_tg"].is_null());           // B = 1 was not run
}

TEST(BatchedBench, BadFlagsGiveOneClearLine) {
  const std::string dir = testing::make_temp_dir("batched");
  const std::string model = make_model(dir);
  struct Case {
    std::string args;
    std::string message;
  };
  const Case cases[] = {
      {"-npp 8", "give a model with -m FILE"},
      {"-m " + model + " -npl 0", "-npl 0 is out of range (1..256)"},
      {"-m " + model + " -npl 300", "-npl 300 is out of range"},
      {"-m " + model + " -o csv", "-o expects md, json or jsonl"},
      {"-m " + model + " -c 0", "-c must be positive"},
      {"-m " + model + " -ctk f8", "-ctk: "},
      {"-m " + dir + "/missing.gguf", "missing.gguf"},
      {"-m " + model + " --parallel 4", "unknown flag '--parallel'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const Outcome run = lathe("batched-bench --no-hw -q " + c.args, dir);
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_THAT(run.err, HasSubstr("lathe batched-bench: "));
    EXPECT_THAT(run.err, HasSubstr(c.message));
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  }
}

}  // namespace
}  // namespace lathe
