// `lathe convert` through the built binary: the converted models run in lathe and reproduce
// llama.cpp's logits (stories260K) and the checkpoint's own greedy story (TinyStories-656K);
// broken inputs end with one clear line and no output file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "backend/cpu/cpu_backend.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "runtime/context.h"
#include "support/fixtures.h"
#include "support/reference.h"
#include "tokenizer/tokenizer.h"

namespace lathe {
namespace {

using ::testing::HasSubstr;
using testing::lathe_binary;
using testing::run_command;

struct CommandResult {
  int exit_code;
  std::string output;
};

CommandResult lathe_convert(const std::string& args) {
  CommandResult r;
  r.exit_code = run_command(lathe_binary() + " convert " + args, &r.output);
  return r;
}

std::shared_ptr<backend::CpuBackend> make_backend() {
  backend::CpuBackendOptions options;
  options.n_threads = 2;
  return std::make_shared<backend::CpuBackend>(options);
}

// The logits of the last prompt position, computed by lathe.
std::vector<float> prompt_logits(const std::shared_ptr<const model::Model>& model,
                                 const std::vector<int32_t>& tokens) {
  runtime::ContextParams params;
  params.n_ctx = 256;
  params.flash_attention = false;  // as the references were made
  auto ctx = runtime::Context::create(model, make_backend(), params);
  EXPECT_TRUE(ctx) << ctx.error().message();
  if (!ctx) return {};
  runtime::Batch batch;
  batch.add_sequence(tokens, 0, 0);
  EXPECT_TRUE((*ctx)->decode(batch).ok());
  const float* logits = (*ctx)->logits(tokens.size() - 1);
  const auto n = static_cast<size_t>(model->hparams().n_vocab);
  return std::vector<float>(logits, logits + n);
}

// Greedy continuation of `tokens`, n steps, KV cache kept.
std::vector<int32_t> greedy(const std::shared_ptr<const model::Model>& model,
                            std::vector<int32_t> tokens, int n) {
  runtime::ContextParams params;
  params.n_ctx = 256;
  auto ctx = runtime::Context::create(model, make_backend(), params);
  EXPECT_TRUE(ctx);
  if (!ctx) return {};
  runtime::Batch batch;
  batch.add_sequence(tokens, 0, 0);
  const size_t n_vocab = static_cast<size_t>(model->hparams().n_vocab);
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE((*ctx)->decode(batch).ok());
    const float* logits = (*ctx)->logits(batch.size() - 1);
    const int32_t next = testing::argmax(logits, n_vocab);
    batch.clear();
    batch.add(next, static_cast<int32_t>(tokens.size()), {0}, true);
    tokens.push_back(next);
  }
  return tokens;
}

TEST(ConvertCommand, Stories260KRunsLikeLlamaCppsConversion) {
  LATHE_SHARED_FIXTURE_OR_SKIP(bin, "real/stories260K/stories260K.bin");
  LATHE_SHARED_FIXTURE_OR_SKIP(tok, "real/stories260K/tok512.bin");
  LATHE_SHARED_FIXTURE_OR_SKIP(theirs_path, "real/stories260K/stories260K.gguf");
  LATHE_SHARED_FIXTURE_OR_SKIP(ref_json, "real/stories260K/reference.json");
  const std::string out = testing::make_temp_dir("s260") + "/stories260K.gguf";
  const CommandResult r = lathe_convert(bin + " --tokenizer " + tok + " -o " + out + " --type f32");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("llama2.c checkpoint (legacy): dim 64, 5 layers"));

  auto ours = model::Model::load(out);
  ASSERT_TRUE(ours) << ours.error().message();
  auto theirs = model::Model::load(theirs_path);
  ASSERT_TRUE(theirs) << theirs.error().message();
  const auto ref =
      testing::load_reference(ref_json.substr(0, ref_json.rfind('/')), "reference.json");
  ASSERT_EQ((*ours)->hparams().n_vocab, ref.n_vocab);
  for (const auto& rc : ref.cases) {
    SCOPED_TRACE(rc.prompt);
    const auto a = prompt_logits(*ours, rc.tokens);
    const auto b = prompt_logits(*theirs, rc.tokens);
    ASSERT_EQ(a.size(), b.size());
    const double vs_theirs = testing::relative_rms(a.data(), b.data(), a.size());
    const double vs_reference = testing::relative_rms(a.data(), rc.logits.data(), a.size());
    // Identical weights and hyper-parameters: identical logits are expected.
    EXPECT_LE(vs_theirs, 1e-5);
    EXPECT_EQ(vs_theirs, 0.0) << "same weights, same code: expected bit-identical logits";
    EXPECT_LE(vs_reference, 1e-3);
    RecordProperty("rel_rms_vs_llamacpp_gguf_" + std::to_string(rc.tokens.size()),
                   std::to_string(vs_theirs));
    RecordProperty("rel_rms_vs_reference_" + std::to_string(rc.tokens.size()),
                   std::to_string(vs_reference));
    // And the greedy story llama.cpp told.
    const auto story = greedy(*ours, rc.tokens, static_cast<int>(rc.greedy.size()));
    EXPECT_EQ(
        std::vector<int32_t>(story.begin() + static_cast<long>(rc.tokens.size()), story.end()),
        rc.greedy);
  }

  // Through `lathe run` as a user would: the golden text llama2.c's run.c prints.
  LATHE_SHARED_FIXTURE_OR_SKIP(golden_path, "real/stories260K/golden_greedy_n64.txt");
  std::ifstream golden_in(golden_path);
  std::stringstream golden;
  golden << golden_in.rdbuf();
  std::string text;
  // The subshell drops stderr (the timings line) before run_command merges it in.
  ASSERT_EQ(run_command("(" + lathe_binary() + " run -m " + out +
                            " -p 'Once upon a time' -n 64 --temp 0 -t 2 2>/dev/null)",
                        &text),
            0);
  std::string want = golden.str();
  while (!want.empty() && want.back() == '\n') want.pop_back();
  EXPECT_EQ(text.substr(0, want.size()), want);
}

TEST(ConvertCommand, TinyStoriesGreedyFromBosMatchesGolden) {
  LATHE_SHARED_FIXTURE_OR_SKIP(dir, "real/TinyStories-656K");
  LATHE_SHARED_FIXTURE_OR_SKIP(golden_path, "real/TinyStories-656K/golden_greedy_from_bos.txt");
  std::ifstream golden_in(golden_path);
  std::string ids_line, golden_text;
  std::getline(golden_in, ids_line);
  std::stringstream rest;
  rest << golden_in.rdbuf();
  golden_text = rest.str();
  std::vector<int32_t> golden_ids;
  for (char& c : ids_line) {
    if (c == '[' || c == ']' || c == ',') c = ' ';
  }
  std::istringstream ids_in(ids_line);
  for (int32_t id; ids_in >> id;) golden_ids.push_back(id);
  ASSERT_EQ(golden_ids.size(), 20u);

  const std::string tmp = testing::make_temp_dir("ts");
  for (const char* type : {"f32", "f16", "q8_0"}) {
    SCOPED_TRACE(type);
    const std::string out = tmp + "/ts-" + type + ".gguf";
    const CommandResult r = lathe_convert(dir + " -o " + out + " --type " + type);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto model = model::Model::load(out);
    ASSERT_TRUE(model) << model.error().message();
    EXPECT_TRUE((*model)->hparams().tied_output);
    const auto ids = greedy(*model, {golden_ids[0]}, 19);
    if (std::string(type) == "f32") {
      EXPECT_EQ(ids, golden_ids);
    } else {
      // 16- and 8-bit weights: the same story for at least the first tokens.
      EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + 8),
                std::vector<int32_t>(golden_ids.begin(), golden_ids.begin() + 8));
    }
    if (std::string(type) != "f32") continue;
    auto file = gguf::File::open(out);
    ASSERT_TRUE(file);
    auto tok = tokenizer::Tokenizer::from_gguf(*file, Logger(LogLevel::kSilent, nullptr));
    ASSERT_TRUE(tok) << tok.error().message();
    const std::string text = tok->decode(std::span<const int32_t>(ids).subspan(1));
    EXPECT_EQ(golden_text.substr(0, text.size()), text);
    EXPECT_GT(text.size(), 60u);
  }
}

TEST(ConvertCommand, BrokenInputsFailWithOneClearLine) {
  const std::string dir = testing::make_temp_dir("broken");
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  };
  // A llama2.c header promising more than the file holds.
  std::string bin(28, '\0');
  const int32_t header[7] = {64, 172, 5, 8, 4, 512, 512};
  std::memcpy(bin.data(), header, sizeof header);
  bin += std::string(1000, '\1');
  write("short.bin", bin);
  std::filesystem::create_directories(dir + "/hf");
  write("hf/config.json",
        R"({"architectures":["LlamaForCausalLM"],"hidden_size":8,"intermediate_size":12,)"
        R"("num_hidden_layers":1,"num_attention_heads":2,"vocab_size":6})");
  const std::string st_header =
      R"({"model.norm.weight":{"dtype":"F32","shape":[8],"data_offsets":[0,4096]}})";
  std::string st(8, '\0');
  const uint64_t len = st_header.size();
  std::memcpy(st.data(), &len, 8);
  write("hf/model.safetensors", st + st_header + std::string(32, '\0'));

  struct Case {
    std::string args, message;
  };
  const Case cases[] = {
      {dir + "/short.bin --tokenizer " + dir + "/short.bin", "truncated"},
      {dir + "/short.bin", "--tokenizer"},
      {dir + "/hf", "run past the end of the data"},
      {dir + "/none", "no such file"},
      {dir + "/short.bin --tokenizer x --type q5_9", "--type q5_9"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const CommandResult r = lathe_convert(c.args + " -o " + dir + "/out.gguf");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("lathe convert: "));
    EXPECT_THAT(r.output, HasSubstr(c.message));
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir + "/out.gguf"));
  }
  const CommandResult no_output = lathe_convert(dir + "/short.bin");
  EXPECT_EQ(no_output.exit_code, 1);
  EXPECT_THAT(no_output.output, HasSubstr("-o OUT.gguf"));
}

TEST(ConvertCommand, MixNamesUseLlamaQuantizesMix) {
  LATHE_SHARED_FIXTURE_OR_SKIP(dir, "real/TinyStories-656K");
  const std::string out = testing::make_temp_dir("mix") + "/ts.gguf";
  const CommandResult r = lathe_convert(dir + " -o " + out + " --type Q4_K_M -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto file = gguf::File::open(out);
  ASSERT_TRUE(file);
  EXPECT_EQ(*file->get_u32("general.file_type"), 15u);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  EXPECT_EQ(file->find_tensor("blk.0.attn_norm.weight")->type, TensorType::kF32);
  auto model = model::Model::load(out);
  ASSERT_TRUE(model) << model.error().message();
}

}  // namespace
}  // namespace lathe
