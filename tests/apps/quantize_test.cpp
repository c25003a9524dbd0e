// `lathe quantize`: bit-exactness with llama-quantize --pure on the shared fixtures, the default
// mixes, metadata copying, and errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include "gguf/gguf.h"
#include "support/fixtures.h"

namespace lathe {
namespace {

using ::testing::HasSubstr;

struct Outcome {
  int exit_code;
  std::string output;
};

Outcome lathe(const std::string& args) {
  Outcome r;
  r.exit_code = testing::run_command(testing::lathe_binary() + " " + args, &r.output);
  return r;
}

// Tensor by tensor: same names, types, shapes and bytes (the header may order keys differently).
void expect_same_tensors(const std::string& got_path, const std::string& want_path) {
  auto got = gguf::File::open(got_path);
  auto want = gguf::File::open(want_path);
  ASSERT_TRUE(got.has_value()) << got.error().message();
  ASSERT_TRUE(want.has_value()) << want.error().message();
  ASSERT_EQ(got->tensors().size(), want->tensors().size());
  for (const gguf::TensorInfo& w : want->tensors()) {
    SCOPED_TRACE(w.name);
    const gguf::TensorInfo* g = got->find_tensor(w.name);
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->type, w.type);
    EXPECT_EQ(g->shape, w.shape);
    ASSERT_EQ(g->n_bytes, w.n_bytes);
    EXPECT_EQ(std::memcmp(g->data, w.data, w.n_bytes), 0);
  }
}

TEST(Quantize, PureIsBitIdenticalToLlamaQuantize) {
  LATHE_SHARED_FIXTURE_OR_SKIP(f16, "models/tiny-llama-f16.gguf");
  const std::string dir = testing::make_temp_dir("quantize");
  for (const char* type : {"q8_0", "q4_0", "iq4_xs", "q4_k", "q6_k", "bf16"}) {
    SCOPED_TRACE(type);
    const std::string want = "models/tiny-llama-" + std::string(type) + ".gguf";
    const auto want_path = testing::shared_fixture_path(want);
    ASSERT_TRUE(want_path.has_value()) << want;
    const std::string out = dir + "/" + type + ".gguf";
    const Outcome run = lathe("quantize -q --pure -t 2 " + f16 + " " + out + " " + type);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    expect_same_tensors(out, *want_path);
    auto got = gguf::File::open(out);
    auto ref = gguf::File::open(*want_path);
    EXPECT_EQ(*got->get_u32("general.file_type"), *ref->get_u32("general.file_type"));
  }
}

// llama-quantize's Q4_K_M on the fixture's 4 layers: the tied embedding (the output) in Q6_K, and
// attn_v / ffn_down of layers 2 and 3 (use_more_bits) in Q6_K.
TEST(Quantize, DefaultMixFollowsLlamaQuantize) {
  LATHE_SHARED_FIXTURE_OR_SKIP(f16, "models/tiny-llama-f16.gguf");
  const std::string dir = testing::make_temp_dir("quantize");
  const Outcome run = lathe("quantize -q " + f16 + " " + dir + "/m.gguf Q4_K_M 1");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("Q4_K_M, 21.38 MiB -> "));
  EXPECT_THAT(run.output, HasSubstr("1 threads"));
  auto file = gguf::File::open(dir + "/m.gguf");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(*file->get_u32("general.file_type"), 15u);
  EXPECT_EQ(file->find_tensor("token_embd.weight")->type, TensorType::kQ6_K);
  EXPECT_EQ(file->find_tensor("output_norm.weight")->type, TensorType::kF32);
  for (int il = 0; il < 4; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    const TensorType more = il >= 2 ? TensorType::kQ6_K : TensorType::kQ4_K;
    EXPECT_EQ(file->find_tensor(p + "attn_v.weight")->type, more) << il;
    EXPECT_EQ(file->find_tensor(p + "ffn_down.weight")->type, more) << il;
    EXPECT_EQ(file->find_tensor(p + "attn_q.weight")->type, TensorType::kQ4_K);
    EXPECT_EQ(file->find_tensor(p + "attn_norm.weight")->type, TensorType::kF32);
  }
  // Every key of the input is kept, in its order.
  auto in = gguf::File::open(f16);
  ASSERT_EQ(file->metadata().size(), in->metadata().size());
  for (size_t i = 0; i < in->metadata().size(); ++i) {
    const auto& a = in->metadata()[i];
    const auto& b = file->metadata()[i];
    EXPECT_EQ(a.key, b.key);
    if (a.key != "general.file_type") {
      EXPECT_EQ(a.value.to_display_string(100000), b.value.to_display_string(100000)) << a.key;
    }
  }
}

// Without the shared fixtures: synth writes the same values in any type, so quantizing its F32
// file must give exactly what synth writes in the target type directly.
TEST(Quantize, RequantizedSynthMatchesDirectSynth) {
  const std::string dir = testing::make_temp_dir("quantize");
  const std::string shape =
      "synth -q --dim 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 "
      "--vocab 400 --seed 3 ";
  ASSERT_EQ(lathe(shape + "--type F32 " + dir + "/f32.gguf").exit_code, 0);
  for (const char* type : {"Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K", "IQ4_XS", "F16", "BF16"}) {
    SCOPED_TRACE(type);
    const std::string direct = dir + "/direct-" + type + ".gguf";
    const std::string requant = dir + "/requant-" + type + ".gguf";
    ASSERT_EQ(lathe(shape + "--pure --type " + type + " " + direct).exit_code, 0);
    const Outcome run = lathe("quantize -q --pure " + dir + "/f32.gguf " + requant + " " + type);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    expect_same_tensors(requant, direct);
  }
  // And with the default mix on both sides.
  ASSERT_EQ(lathe(shape + "--type Q4_K_M " + dir + "/direct-mix.gguf").exit_code, 0);
  ASSERT_EQ(lathe("quantize -q " + dir + "/f32.gguf " + dir + "/requant-mix.gguf Q4_K_M").exit_code,
            0);
  expect_same_tensors(dir + "/requant-mix.gguf", dir + "/direct-mix.gguf");
}

TEST(Quantize, TypeOverridesAndVerboseListing) {
  const std::string dir = testing::make_temp_dir("quantize");
  ASSERT_EQ(lathe("synth -q --dim 64 --layers 1 --heads 2 --ffn 128 --vocab 300 --type F16 " + dir +
                  "/in.gguf")
                .exit_code,
            0);
  const Outcome run = lathe("quantize -q -v --output-tensor-type q8_0 --token-embedding-type f16 " +
                            dir + "/in.gguf " + dir + "/out.gguf q4_0");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("output.weight"));
  auto file = gguf::File::open(dir + "/out.gguf");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->find_tensor("output.weight")->type, TensorType::kQ8_0);
  EXPECT_EQ(file->find_tensor("token_embd.weight")->type, TensorType::kF16);
  EXPECT_EQ(file->find_tensor("blk.0.ffn_up.weight")->type, TensorType::kQ4_0);
}

// As llama-quantize: converting weights that are already quantized loses quality again, so it
// needs --allow-requantize; weights that keep their type are copied and need nothing.
TEST(Quantize, RequantizingNeedsAllowRequantize) {
  const std::string dir = testing::make_temp_dir("quantize");
  ASSERT_EQ(
      lathe("synth -q --dim 64 --layers 1 --heads 2 --ffn 128 --vocab 300 --pure --type Q8_0 " +
            dir + "/q8.gguf")
          .exit_code,
      0);
  const std::string in = dir + "/q8.gguf ";
  for (const char* type : {"q4_0", "f16"}) {
    SCOPED_TRACE(type);
    const std::string out = dir + "/" + type + ".gguf";
    const Outcome refused = lathe("quantize -q " + in + out + " " + type);
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_THAT(refused.output, HasSubstr("lathe quantize: " + dir + "/q8.gguf: tensor "));
    EXPECT_THAT(refused.output, HasSubstr(" is already q8_0 ("));
    EXPECT_THAT(refused.output, HasSubstr("more weights to convert are quantized too); "
                                          "quantizing again loses quality: quantize the "
                                          "F32/F16/BF16 original, or pass --allow-requantize"));
    EXPECT_EQ(std::count(refused.output.begin(), refused.output.end(), '\n'), 1) << refused.output;
    EXPECT_FALSE(std::filesystem::exists(out));

    const Outcome allowed = lathe("quantize -q --pure --allow-requantize " + in + out + " " + type);
    ASSERT_EQ(allowed.exit_code, 0) << allowed.output;
    auto file = gguf::File::open(out);
    ASSERT_TRUE(file.has_value()) << file.error().message();
    const TensorType want = *parse_tensor_type(type);
    EXPECT_EQ(file->find_tensor("blk.0.attn_q.weight")->type, want);
    EXPECT_EQ(file->find_tensor("blk.0.ffn_down.weight")->type, want);
    EXPECT_EQ(file->find_tensor("blk.0.attn_norm.weight")->type, TensorType::kF32);
  }
  // Nothing is converted: every weight keeps its q8_0 and is copied.
  const Outcome same = lathe("quantize -q --pure " + in + dir + "/same.gguf q8_0");
  ASSERT_EQ(same.exit_code, 0) << same.output;
  expect_same_tensors(dir + "/same.gguf", dir + "/q8.gguf");
}

TEST(Quantize, BadInputGivesOneClearLine) {
  const std::string dir = testing::make_temp_dir("quantize");
  ASSERT_EQ(
      lathe("synth -q --dim 64 --layers 1 --heads 2 --ffn 128 --vocab 300 " + dir + "/in.gguf")
          .exit_code,
      0);
  const std::string in = dir + "/in.gguf ";
  struct Case {
    std::string args;
    std::string message;
  };
  const Case cases[] = {
      {in + dir + "/o.gguf Q5_K", "unknown type 'Q5_K'"},
      {dir + "/missing.gguf " + dir + "/o.gguf Q4_0", "missing.gguf"},
      {in + dir + "/in.gguf Q4_0", "the output would overwrite the input"},
      {in + dir + "/o.gguf Q4_0 zero", "NTHREADS: expected an integer, got 'zero'"},
      {in + dir + "/o.gguf Q4_0 5000", "NTHREADS: expected a thread count from 1 to 1024"},
      {in, "missing OUT"},
      {"--output-tensor-type q5_0 " + in + dir + "/o.gguf Q4_0", "lathe cannot write q5_0"},
      {"--frobnicate " + in + dir + "/o.gguf Q4_0", "unknown flag '--frobnicate'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const Outcome run = lathe("quantize -q " + c.args);
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_THAT(run.output, HasSubstr("lathe quantize: "));
    EXPECT_THAT(run.output, HasSubstr(c.message));
    EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << run.output;
  }
}

}  // namespace
}  // namespace lathe
