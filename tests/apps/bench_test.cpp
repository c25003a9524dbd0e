// `lathe bench` on tiny synthetic models: formats, test names, roofline columns against a
// hand-written hardware profile, the SVG plot, and errors. Runs are tiny (-p 8 -n 4 -r 2 -t 1):
// the numbers are checked for sanity and consistency, not speed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
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
  std::string out;  // stdout
  std::string err;  // stderr
};

// stdout and stderr apart: JSON on stdout must parse whatever the progress line says.
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

// A model small enough that every test here takes milliseconds: dim 128, 2 layers, 4/2 heads of
// 32 (a q8_0 K cache needs heads of a multiple of 32).
std::string make_model(const std::string& dir, const std::string& type = "Q8_0",
                       const std::string& name = "tiny.gguf") {
  const std::string path = dir + "/" + name;
  std::string ignored;
  EXPECT_EQ(testing::run_command(testing::lathe_binary() +
                                     " synth -q --dim 128 --layers 2 --heads 4 --kv-heads 2 "
                                     "--ffn 256 --vocab 300 --type " +
                                     type + " " + path,
                                 &ignored),
            0)
      << ignored;
  return path;
}

// 10 GB/s and 100 G int8-ops/s at 1 thread: the percentages below are checked against these.
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

TEST(Bench, JsonHasLlamaBenchFieldsAndRooflineColumns) {
  const std::string dir = testing::make_temp_dir("bench");
  const std::string model = make_model(dir);
  const std::string profile = make_profile(dir);
  const Outcome run = lathe("bench -m " + model + " -p 8 -n 4 -r 2 -t 1 -o json --hw-profile " +
                                profile + " --plot " + dir + "/p.svg",
                            dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const Json results = Json::parse(run.out);
  ASSERT_TRUE(results.is_array());
  ASSERT_EQ(results.size(), 2u);
  for (const char* field : {"cpu_info",        "backends",
                            "model_filename",  "model_type",
                            "model_size",      "model_n_params",
                            "n_batch",         "n_ubatch",
                            "n_threads",       "type_k",
                            "type_v",          "n_gpu_layers",
                            "flash_attn",      "n_prompt",
                            "n_gen",           "n_depth",
                            "test_time",       "avg_ns",
                            "stddev_ns",       "avg_ts",
                            "stddev_ts",       "samples_ns",
                            "samples_ts",      "test",
                            "bytes_per_token", "effective_gb_per_s",
                            "bandwidth_pct",   "achieved_tops",
                            "peak_pct",        "peak_rss_bytes",
                            "ceiling_ts"}) {
    EXPECT_TRUE(results[0].contains(field)) << field;
  }
  const Json& pp = results[0];
  const Json& tg = results[1];
  EXPECT_EQ(pp["test"], "pp8");
  EXPECT_EQ(tg["test"], "tg4");
  EXPECT_EQ(pp["n_prompt"], 8);
  EXPECT_EQ(tg["n_gen"], 4);
  EXPECT_EQ(pp["n_threads"], 1);
  EXPECT_EQ(pp["backends"], "CPU");
  EXPECT_EQ(pp["type_k"], "f16");
  EXPECT_THAT(pp["model_type"].get<std::string>(), HasSubstr("llama"));
  EXPECT_THAT(pp["model_type"].get<std::string>(), HasSubstr("Q8_0"));
  for (const Json* r : {&pp, &tg}) {
    ASSERT_EQ((*r)["samples_ns"].size(), 2u);
    EXPECT_GT((*r)["avg_ts"].get<double>(), 0);
    EXPECT_GE((*r)["stddev_ts"].get<double>(), 0);
    EXPECT_GT((*r)["peak_rss_bytes"].get<double>(), 1e6);
    // avg_ts is the mean of the per-run rates, as llama-bench computes it.
    const double ts0 = 1e9 * ((*r)["n_prompt"].get<int>() + (*r)["n_gen"].get<int>()) /
                       (*r)["samples_ns"][0].get<double>();
    EXPECT_NEAR((*r)["samples_ts"][0].get<double>(), ts0, ts0 * 1e-9);
  }
  // tg: bandwidth columns, consistent with the profile's 10 GB/s; no TOPS.
  const double bytes = tg["bytes_per_token"].get<double>();
  EXPECT_GT(bytes, 0.5 * pp["model_size"].get<double>());
  EXPECT_NEAR(tg["effective_gb_per_s"].get<double>(), bytes * tg["avg_ts"].get<double>() / 1e9,
              1e-9);
  EXPECT_NEAR(tg["bandwidth_pct"].get<double>(), tg["effective_gb_per_s"].get<double>() * 10, 1e-6);
  EXPECT_TRUE(tg["achieved_tops"].is_null());
  // tg: the bandwidth of read passes over the model's weights around each run, and the runs'
  // bandwidth against it; pp runs have neither.
  EXPECT_GT(tg["now_gb_per_s"].get<double>(), 0);
  EXPECT_GT(tg["now_bandwidth_pct"].get<double>(), 0);
  EXPECT_TRUE(pp["now_gb_per_s"].is_null());
  EXPECT_TRUE(pp["now_bandwidth_pct"].is_null());
  EXPECT_NEAR(tg["ceiling_ts"].get<double>(),
              std::min(10e9 / bytes, 100e9 / tg["ops_per_token"].get<double>()), 1e-6);
  // pp: compute columns against the int8 peak (Q8_0 weights); no bandwidth.
  EXPECT_EQ(pp["peak_kind"], "int8");
  EXPECT_TRUE(pp["effective_gb_per_s"].is_null());
  EXPECT_NEAR(pp["peak_pct"].get<double>(), pp["achieved_tops"].get<double>() * 1e12 / 100e9 * 100,
              1e-6);
  // Two ops per multiply-add of every matmul (the output once per batch) plus attention.
  // Per layer q 128x128, k and v 128x64, o 128x128, gate/up/down 128x256; 2 layers; untied
  // output 300x128; attention: 2 layers x 4 heads x (32 + 32) multiply-adds per visible cell.
  const double layer = 2.0 * 2 * (128 * 128 + 2 * 128 * 64 + 128 * 128 + 3 * 128 * 256);
  const double output = 2.0 * 128 * 300;
  const double attn_per_cell = 2.0 * 2 * 4 * (32 + 32);
  const double expect_pp = (8 * layer + output + attn_per_cell * (8 * 9 / 2.0)) / 8;
  EXPECT_NEAR(pp["ops_per_token"].get<double>(), expect_pp, 1e-6);
  const double expect_tg = layer + output + attn_per_cell * 2.5;
  EXPECT_NEAR(tg["ops_per_token"].get<double>(), expect_tg, 1e-6);

  // The plot is well-formed XML with a line per series.
  std::string check;
  if (testing::run_command("python3 -c pass", &check) != 0) GTEST_SKIP() << "no python3";
  const int xml = testing::run_command(
      "python3 -c \"import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
      "assert r.tag.endswith('svg'); print(len(r.findall('.//{http://www.w3.org/2000/svg}"
      "polyline')))\" " +
          dir + "/p.svg",
      &check);
  EXPECT_EQ(xml, 0) << check;
  EXPECT_GE(std::stoi(check), 4) << check;  // measured and ceiling lines for pp and tg
}

TEST(Bench, MarkdownCsvJsonlAndTestNames) {
  const std::string dir = testing::make_temp_dir("bench");
  const std::string model = make_model(dir, "Q4_0");
  const std::string common = "bench -m " + model + " -r 1 -t 1 --no-hw -p 8 -n 4 -pg 8,4 -d 0,8";
  const Outcome md = lathe(common, dir);
  ASSERT_EQ(md.exit_code, 0) << md.err;
  const auto lines = lines_of(md.out);
  ASSERT_GE(lines.size(), 8u) << md.out;
  EXPECT_THAT(lines[0], HasSubstr("| model "));
  for (const char* column : {"size", "params", "backend", "threads", "test", "t/s", "GB/s", "% bw",
                             "% now", "TOPS", "% peak"}) {
    EXPECT_THAT(lines[0], HasSubstr(column));
  }
  EXPECT_THAT(md.out, HasSubstr("% now (tg): "));
  EXPECT_THAT(lines[1], HasSubstr("| ---"));
  for (const char* test :
       {"pp8 |", "tg4 |", "pp8+tg4 |", "pp8 @ d8 |", "tg4 @ d8 |", "pp8+tg4 @ d8 |"}) {
    EXPECT_THAT(md.out, HasSubstr(test));
  }
  EXPECT_THAT(md.out, HasSubstr(" ± "));
  EXPECT_THAT(md.out, HasSubstr("peak RSS: llama"));
  // llama-bench's size and params cells.
  EXPECT_THAT(lines[2], HasSubstr(" MiB |"));
  EXPECT_THAT(lines[2], HasSubstr(" M |"));

  const Outcome csv = lathe(common + " -o csv", dir);
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const auto csv_lines = lines_of(csv.out);
  ASSERT_EQ(csv_lines.size(), 7u);
  EXPECT_EQ(csv_lines[0].rfind("cpu_info,backends,model_filename,", 0), 0u) << csv_lines[0];
  EXPECT_THAT(csv_lines[1], HasSubstr("\"pp8\""));

  const Outcome jsonl = lathe(common + " -o jsonl", dir);
  ASSERT_EQ(jsonl.exit_code, 0) << jsonl.err;
  const auto json_lines = lines_of(jsonl.out);
  ASSERT_EQ(json_lines.size(), 6u);
  const std::vector<std::string> tests = {"pp8",      "tg4",      "pp8+tg4",
                                          "pp8 @ d8", "tg4 @ d8", "pp8+tg4 @ d8"};
  for (size_t i = 0; i < json_lines.size(); ++i) {
    const Json r = Json::parse(json_lines[i]);
    EXPECT_EQ(r["test"], tests[i]);
    EXPECT_GT(r["avg_ts"].get<double>(), 0);
    EXPECT_TRUE(r["bandwidth_pct"].is_null());  // --no-hw
  }
  // The depth costs the run more cells: tg at d8 reads more bytes per token.
  EXPECT_GT(Json::parse(json_lines[4])["bytes_per_token"].get<double>(),
            Json::parse(json_lines[1])["bytes_per_token"].get<double>());
}

TEST(Bench, CrossProductOfListsAndModels) {
  const std::string dir = testing::make_temp_dir("bench");
  const std::string a = make_model(dir, "Q8_0", "a.gguf");
  const std::string b = make_model(dir, "Q4_0", "b.gguf");
  const Outcome run = lathe("bench -m " + a + "," + b +
                                " -p 0 -n 2,3 -r 1 -t 1 -ctk f16,q8_0 -ngl 99 --no-mmap --no-hw -o "
                                "jsonl",
                            dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("-ngl 99: this build has no GPU backend"));
  const auto lines = lines_of(run.out);
  ASSERT_EQ(lines.size(), 8u);  // 2 models x 2 K types x 2 lengths
  const Json first = Json::parse(lines[0]);
  const Json last = Json::parse(lines[7]);
  EXPECT_EQ(first["model_filename"], a);
  EXPECT_EQ(first["type_k"], "f16");
  EXPECT_EQ(first["use_mmap"], false);
  EXPECT_EQ(first["n_gpu_layers"], 99);
  EXPECT_EQ(last["model_filename"], b);
  EXPECT_EQ(last["type_k"], "q8_0");
  EXPECT_EQ(last["test"], "tg3");
  // A q8_0 K cache stores fewer bytes per cell than f16.
  EXPECT_LT(Json::parse(lines[2])["bytes_per_token"].get<double>(),
            Json::parse(lines[0])["bytes_per_token"].get<double>());

  const Outcome md =
      lathe("bench -m " + a + " -p 4 -n 0 -r 1 -t 1 -ctk f16,q8_0 -ub 2,4 --no-hw", dir);
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_THAT(lines_of(md.out)[0], HasSubstr("type_k"));
  EXPECT_THAT(lines_of(md.out)[0], HasSubstr("n_ubatch"));
}

// -md: the sd test runs after the plain tg of the same length and reports its speed-up over
// the target alone. A draft that is the target itself is always right: every drafted token is
// accepted, each pass yields draft + 1 tokens, and the output is the target's.
TEST(Bench, SpeculativeTestWithTheTargetAsDraft) {
  const std::string dir = testing::make_temp_dir("bench");
  const std::string model = make_model(dir, "Q8_0");
  const Outcome run = lathe(
      "bench -m " + model + " -md " + model + " --draft 3 -p 0 -n 12 -r 2 -t 1 --no-hw -o jsonl",
      dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto lines = lines_of(run.out);
  ASSERT_EQ(lines.size(), 2u) << run.out;
  const Json tg = Json::parse(lines[0]);
  const Json sd = Json::parse(lines[1]);
  EXPECT_EQ(tg["test"], "tg12");
  EXPECT_TRUE(tg["accept_pct"].is_null());
  EXPECT_EQ(sd["test"], "sd12 (draft 3)");
  EXPECT_EQ(sd["draft_filename"], model);
  EXPECT_EQ(sd["n_draft"], 3);
  EXPECT_EQ(sd["greedy_identical"], true);
  EXPECT_DOUBLE_EQ(sd["accept_pct"].get<double>(), 100.0);
  EXPECT_DOUBLE_EQ(sd["alpha"].get<double>(), 1.0);
  EXPECT_GT(sd["n_drafted"].get<int>(), 0);
  EXPECT_EQ(sd["n_accepted"], sd["n_drafted"]);
  // 12 tokens: passes of 3 accepted + 1 bonus, the last shortened to what is left.
  EXPECT_GT(sd["mean_accepted_length"].get<double>(), 2.5);
  EXPECT_LE(sd["mean_accepted_length"].get<double>(), 4.0);
  EXPECT_GT(sd["avg_ts"].get<double>(), 0);
  EXPECT_GT(sd["baseline_avg_ts"].get<double>(), 0);
  EXPECT_NEAR(sd["speedup"].get<double>(),
              sd["avg_ts"].get<double>() / sd["baseline_avg_ts"].get<double>(), 1e-9);
  // A draft as costly as the target: c is about 1, so the expected speed-up is about
  // (N + 1) / (1 + N) = 1 at alpha 1.
  EXPECT_GT(sd["draft_target_cost_ratio"].get<double>(), 0.2);
  EXPECT_GT(sd["expected_speedup"].get<double>(), 0.3);
  EXPECT_LT(sd["expected_speedup"].get<double>(), 3.0);
  EXPECT_EQ(sd["samples_ts"].size(), 2u);

  const Outcome md =
      lathe("bench -m " + model + " -md " + model + " --draft 2 -p 0 -n 6 -r 1 -t 1 --no-hw", dir);
  ASSERT_EQ(md.exit_code, 0) << md.err;
  for (const char* column : {"draft", "accept %", "alpha", "speed-up", "expected"}) {
    EXPECT_THAT(lines_of(md.out)[0], HasSubstr(column));
  }
  EXPECT_THAT(md.out, HasSubstr("sd6 (draft 2)"));
  EXPECT_THAT(md.out, HasSubstr("100.00"));
}

TEST(Bench, SpeculativeDraftMustShareTheVocabulary) {
  const std::string dir = testing::make_temp_dir("bench");
  const std::string model = make_model(dir, "Q8_0");
  const std::string path = dir + "/other.gguf";
  std::string ignored;
  ASSERT_EQ(testing::run_command(testing::lathe_binary() +
                                     " synth -q --dim 128 --layers 2 --heads 4 --kv-heads 2 "
                                     "--ffn 256 --vocab 320 --type Q8_0 " +
                                     path,
                                 &ignored),
            0)
      << ignored;
  const Outcome run =
      lathe("bench -q --no-hw -m " + model + " -md " + path + " -n 4 -r 1 -t 1", dir);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("lathe bench: -md " + path));
  EXPECT_EQ(run.out, "");

  const Outcome no_draft = lathe("bench -q --no-hw -m " + model + " --draft 4 -n 4", dir);
  EXPECT_EQ(no_draft.exit_code, 1);
  EXPECT_THAT(no_draft.err, HasSubstr("--draft needs a draft model (-md FILE)"));
  const Outcome no_gen = lathe("bench -q --no-hw -m " + model + " -md " + model + " -n 0", dir);
  EXPECT_EQ(no_gen.exit_code, 1);
  EXPECT_THAT(no_gen.err, HasSubstr("-md needs a generation length"));
}

TEST(Bench, BadFlagsGiveOneClearLine) {
  const std::string dir = testing::make_temp_dir("bench");
  const std::string model = make_model(dir);
  struct Case {
    std::string args;
    std::string message;
  };
  const Case cases[] = {
      {"-p 8", "lathe bench: give a model with -m FILE"},
      {"-m " + model + " -o xml", "-o expects md, csv, json or jsonl, got 'xml'"},
      {"-m " + model + " -ctk q5_1", "-ctk: "},
      {"-m " + model + " -r 0", "-r must be at least 1"},
      {"-m " + model + " -p 0 -n 0", "nothing to run"},
      {"-m " + model + " -t 2000", "-t: expected a thread count from 1 to 1024"},
      {"-m " + model + " -p x", "expected an integer, got 'x'"},
      {"-m " + model + " -pg 5", "expected PP,TG, got '5'"},
      {"-m " + model + " -fa maybe", "-fa: expected on, off or auto"},
      {"-m " + dir + "/missing.gguf", "cannot open model"},
      {"-m " + model + " --turbo", "unknown flag '--turbo'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const Outcome run = lathe("bench --no-hw -q " + c.args, dir);
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_THAT(run.err, HasSubstr("lathe bench: "));
    EXPECT_THAT(run.err, HasSubstr(c.message));
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
    EXPECT_EQ(run.out, "");
  }
}

}  // namespace
}  // namespace lathe
