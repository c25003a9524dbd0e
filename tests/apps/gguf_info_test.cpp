// `lathe gguf-info`: runs the built binary on fixtures and on files made here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "gguf/gguf_writer.h"
#include "support/fixtures.h"

namespace lathe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct CommandResult {
  int exit_code;
  std::string output;
};

CommandResult gguf_info(const std::string& args) {
  CommandResult run;
  run.exit_code = testing::run_command(testing::lathe_binary() + " gguf-info " + args, &run.output);
  return run;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// True when some line matches `pattern` in full (columns are separated by runs of spaces).
bool has_line(const std::string& output, const std::string& pattern) {
  const std::regex re(pattern);
  for (const auto& line : lines_of(output)) {
    if (std::regex_match(line, re)) return true;
  }
  return false;
}

// A small file made with lathe's writer, so these tests run even without ../shared.
std::string make_small_file(const std::string& dir) {
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  std::vector<std::string> tokens;
  for (int k = 0; k < 20; ++k) tokens.push_back("tok" + std::to_string(k));
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_string("weird\nkey", "line\nbreak");
  const int64_t embd[] = {64, 20};
  const int64_t norm[] = {64};
  EXPECT_TRUE(w.add_tensor("token_embd.weight", TensorType::kQ8_0, embd).ok());
  EXPECT_TRUE(w.add_tensor("output_norm.weight", TensorType::kF32, norm).ok());
  std::vector<uint8_t> a(w.tensor_bytes(0), 1);
  std::vector<uint8_t> b(w.tensor_bytes(1), 2);
  std::vector<std::span<const uint8_t>> data = {a, b};
  const std::string path = dir + "/small.gguf";
  EXPECT_TRUE(w.write_file(path, data).ok());
  return path;
}

TEST(GgufInfo, TableOfASmallFile) {
  const std::string path = make_small_file(testing::make_temp_dir("gguf-info"));
  const CommandResult run = gguf_info(path);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("GGUF v3, 4 metadata keys, 2 tensors, alignment 32"));
  EXPECT_TRUE(has_line(run.output, R"(llama\.block_count +uint32 +2)")) << run.output;
  EXPECT_TRUE(has_line(run.output, R"(general\.architecture +string +"llama")"));
  // Long arrays are abbreviated, with their length.
  EXPECT_TRUE(has_line(run.output,
                       R"(tokenizer\.ggml\.tokens +array\[string\] +\["tok0", "tok1", "tok2", )"
                       R"("tok3", "tok4", "tok5", "tok6", "tok7", \.\.\. \(20 items\)\])"))
      << run.output;
  // A key and value with line breaks stay on one line each.
  EXPECT_TRUE(has_line(run.output, R"(weird\\nkey +string +"line\\nbreak")")) << run.output;
  // name, type, shape, bytes, offset.
  EXPECT_TRUE(has_line(run.output, R"(token_embd\.weight +q8_0 +\[64, 20\] +1360 +\d+)"));
  EXPECT_TRUE(has_line(run.output, R"(output_norm\.weight +f32 +\[64\] +256 +\d+)"));
  EXPECT_TRUE(
      has_line(run.output, R"(totals: 2 tensors, 1344 elements, 1616 bytes \(1\.58 KiB\))"));
  EXPECT_TRUE(has_line(run.output, R"( +f32 +1 tensors +256 bytes)"));
  EXPECT_TRUE(has_line(run.output, R"( +q8_0 +1 tensors +1360 bytes)"));
}

TEST(GgufInfo, Options) {
  const std::string path = make_small_file(testing::make_temp_dir("gguf-info"));
  const CommandResult few = gguf_info(path + " --max-items 2 --no-tensors");
  ASSERT_EQ(few.exit_code, 0) << few.output;
  EXPECT_THAT(few.output, HasSubstr(R"(["tok0", "tok1", ... (20 items)])"));
  EXPECT_THAT(few.output, Not(HasSubstr("token_embd.weight")));
  EXPECT_THAT(few.output, HasSubstr("totals: 2 tensors"));
  const CommandResult all = gguf_info(path + " --max-items 0");
  EXPECT_THAT(all.output, HasSubstr(R"("tok18", "tok19"])"));
  const CommandResult bad = gguf_info(path + " --max-items -1");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.output, "lathe gguf-info: --max-items must be 0 or more\n");
}

TEST(GgufInfo, JsonOfASmallFile) {
  const std::string path = make_small_file(testing::make_temp_dir("gguf-info"));
  const CommandResult run = gguf_info(path + " --json --max-items 3");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto json = nlohmann::json::parse(run.output);
  EXPECT_EQ(json["version"], 3);
  EXPECT_EQ(json["metadata_count"], 4);
  EXPECT_EQ(json["metadata"].size(), 4u);
  EXPECT_EQ(json["metadata"]["llama.block_count"]["type"], "uint32");
  EXPECT_EQ(json["metadata"]["llama.block_count"]["value"], 2);
  EXPECT_EQ(json["metadata"]["tokenizer.ggml.tokens"]["count"], 20);
  EXPECT_EQ(json["metadata"]["tokenizer.ggml.tokens"]["value"].size(), 3u);
  EXPECT_EQ(json["metadata"]["weird\nkey"]["value"], "line\nbreak");
  ASSERT_EQ(json["tensors"].size(), 2u);
  EXPECT_EQ(json["tensors"][0]["name"], "token_embd.weight");
  EXPECT_EQ(json["tensors"][0]["type"], "q8_0");
  EXPECT_EQ(json["tensors"][0]["shape"], nlohmann::json::array({64, 20}));
  EXPECT_EQ(json["tensors"][0]["bytes"], 1360);
  EXPECT_EQ(json["tensors"][1]["offset"].get<uint64_t>(),
            json["data_offset"].get<uint64_t>() + 1376);
  EXPECT_EQ(json["totals"]["tensors"], 2);
  EXPECT_EQ(json["totals"]["bytes"], 1616);
  EXPECT_EQ(json["totals"]["by_type"]["q8_0"]["bytes"], 1360);
}

TEST(GgufInfo, Stories260K) {
  LATHE_SHARED_FIXTURE_OR_SKIP(path, "real/stories260K/stories260K.gguf");
  const CommandResult table = gguf_info(path);
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("GGUF v3, 19 metadata keys, 48 tensors"));
  EXPECT_TRUE(has_line(table.output, R"(llama\.block_count +uint32 +5)"));
  EXPECT_TRUE(
      has_line(table.output, R"(llama\.attention\.layer_norm_rms_epsilon +float32 +1e-05)"));
  EXPECT_TRUE(
      has_line(table.output,
               R"(tokenizer\.ggml\.tokens +array\[string\] +\["<unk>", .*\.\.\. \(512 items\)\])"));
  EXPECT_TRUE(has_line(table.output, R"(token_embd\.weight +f32 +\[64, 512\] +131072 +14176)"));
  EXPECT_TRUE(has_line(table.output, R"(blk\.4\.ffn_norm\.weight +f32 +\[64\] +256 +1185120)"));
  EXPECT_TRUE(has_line(table.output,
                       R"(totals: 48 tensors, 292800 elements, 1171200 bytes \(1\.12 MiB\))"));

  const CommandResult run = gguf_info(path + " --json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto json = nlohmann::ordered_json::parse(run.output);
  EXPECT_EQ(json["metadata"].size(), 19u);
  EXPECT_EQ(json["tensors"].size(), 48u);
  EXPECT_EQ(json["tensor_count"], 48);
  EXPECT_EQ(json["totals"]["bytes"], 1171200);
  EXPECT_EQ(json["totals"]["elements"], 292800);
  EXPECT_EQ(json["metadata"]["llama.attention.layer_norm_rms_epsilon"]["value"], 1e-05);
  EXPECT_EQ(json["metadata"]["tokenizer.ggml.tokens"]["count"], 512);
  EXPECT_EQ(json["metadata"]["tokenizer.ggml.tokens"]["value"].size(), 8u);
  // Keys keep the file's order.
  EXPECT_EQ(json["metadata"].begin().key(), "tokenizer.ggml.tokens");
}

TEST(GgufInfo, PrintsEverySharedFixture) {
  const char* fixtures[] = {
      "models/tiny-llama-bf16.gguf",         "models/tiny-llama-f16.gguf",
      "models/tiny-llama-iq4_xs.gguf",       "models/tiny-llama-q4_0.gguf",
      "models/tiny-llama-q4_k.gguf",         "models/tiny-llama-q6_k.gguf",
      "models/tiny-llama-q8_0.gguf",         "models/tiny-qwen2-q4_0.gguf",
      "models/tiny-qwen3-q8_0.gguf",         "tokenizer/ggml-vocab-deepseek-llm.gguf",
      "tokenizer/ggml-vocab-gpt-2.gguf",     "tokenizer/ggml-vocab-llama-bpe.gguf",
      "tokenizer/ggml-vocab-llama-spm.gguf", "tokenizer/ggml-vocab-phi-3.gguf",
      "tokenizer/ggml-vocab-qwen2.gguf",     "real/stories260K/stories260K.gguf"};
  LATHE_SHARED_FIXTURE_OR_SKIP(first, fixtures[0]);
  for (const char* name : fixtures) {
    SCOPED_TRACE(name);
    const auto path = testing::shared_fixture_path(name);
    ASSERT_TRUE(path.has_value());
    const CommandResult table = gguf_info(*path);
    EXPECT_EQ(table.exit_code, 0) << table.output;
    EXPECT_THAT(table.output, HasSubstr("totals: "));
    const CommandResult json = gguf_info(*path + " --json");
    ASSERT_EQ(json.exit_code, 0);
    EXPECT_TRUE(nlohmann::json::accept(json.output));
  }
}

TEST(GgufInfo, CorruptFileGivesOneClearLine) {
  const std::string dir = testing::make_temp_dir("gguf-info");
  const std::string path = make_small_file(dir);
  auto bytes = testing::read_file_bytes(path);
  const std::string truncated = dir + "/truncated.gguf";
  {
    std::FILE* f = std::fopen(truncated.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size() - 100, f);
    std::fclose(f);
  }
  const CommandResult run = gguf_info(truncated);
  EXPECT_EQ(run.exit_code, 1);
  ASSERT_EQ(lines_of(run.output).size(), 1u) << run.output;
  EXPECT_THAT(run.output, HasSubstr("lathe gguf-info: " + truncated +
                                    ": tensor 'output_norm.weight' "
                                    "(f32 [64], 256 bytes at data offset 1376) extends past the "
                                    "end of the file"));

  const std::string bad_magic = dir + "/bad.gguf";
  {
    std::FILE* f = std::fopen(bad_magic.c_str(), "wb");
    std::fputs("not a model at all", f);
    std::fclose(f);
  }
  const CommandResult magic = gguf_info(bad_magic);
  EXPECT_EQ(magic.exit_code, 1);
  EXPECT_EQ(magic.output, "lathe gguf-info: " + bad_magic +
                              ": not a GGUF file: it starts with the bytes 6e 6f 74 20, not "
                              "\"GGUF\" (47 47 55 46)\n");

  const CommandResult missing = gguf_info(dir + "/missing.gguf");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(lines_of(missing.output).size(), 1u) << missing.output;
}

}  // namespace
}  // namespace lathe
