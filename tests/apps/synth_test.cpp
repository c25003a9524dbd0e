// `lathe synth` and the library pieces behind it (presets, tensor plan, type mix): shapes and keys
// per preset checked from the plan (no large files are written), tiny models written through the
// binary for determinism, loading, decoding and tokenizing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "backend/cpu/cpu_backend.h"
#include "core/log.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "model/synth_presets.h"
#include "runtime/context.h"
#include "support/fixtures.h"
#include "tokenizer/tokenizer.h"

namespace lathe {
namespace {

using ::testing::HasSubstr;
namespace synth = model::synth;

struct Outcome {
  int exit_code;
  std::string output;
};

Outcome lathe(const std::string& args) {
  Outcome r;
  r.exit_code = testing::run_command(testing::lathe_binary() + " " + args, &r.output);
  return r;
}

int64_t elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// The tensor counts and parameter counts of the real GGUF conversions of these models (Hugging
// Face's counts plus the Llama 3 rope_freqs tensor).
TEST(SynthPresets, MatchRealModels) {
  struct Expect {
    const char* preset;
    size_t tensors;
    int64_t params;
  };
  const Expect expected[] = {
      {"llama-3.2-1b", 147, 1235814432}, {"llama-3.2-3b", 255, 3212749888},
      {"llama-3.1-8b", 292, 8030261312}, {"qwen2.5-0.5b", 290, 494032768},
      {"qwen3-0.6b", 310, 596049920},    {"smollm2-135m", 272, 134515008},
  };
  for (const Expect& e : expected) {
    SCOPED_TRACE(e.preset);
    const synth::ModelShape* shape = synth::find_preset(e.preset);
    ASSERT_NE(shape, nullptr);
    const auto tensors = synth::plan_tensors(*shape);
    EXPECT_EQ(tensors.size(), e.tensors);
    int64_t params = 0;
    for (const auto& t : tensors) params += elements(t.shape);
    EXPECT_EQ(params, e.params);
  }
}

TEST(SynthPresets, EveryPresetIsValidAndNamedLikeLlamaCpp) {
  std::set<std::string> names;
  for (const synth::ModelShape& p : synth::presets()) {
    SCOPED_TRACE(p.preset);
    EXPECT_TRUE(synth::validate(p).ok()) << synth::validate(p).message();
    EXPECT_TRUE(names.insert(p.preset).second);
    const auto tensors = synth::plan_tensors(p);
    std::set<std::string> tensor_names;
    for (const auto& t : tensors) {
      EXPECT_TRUE(tensor_names.insert(t.name).second) << t.name;
      EXPECT_LT(t.name.size(), 64u);
      EXPECT_NE(t.role, synth::TensorRole::kOther) << t.name;
    }
    EXPECT_TRUE(tensor_names.count("token_embd.weight"));
    EXPECT_TRUE(tensor_names.count("output_norm.weight"));
    EXPECT_EQ(tensor_names.count("output.weight"), p.tied_output ? 0u : 1u);
    EXPECT_EQ(tensor_names.count("rope_freqs.weight"), p.llama3_rope ? 1u : 0u);
    EXPECT_EQ(tensor_names.count("blk.0.attn_q.bias"), p.architecture == "qwen2" ? 1u : 0u);
    EXPECT_EQ(tensor_names.count("blk.0.attn_k_norm.weight"), p.architecture == "qwen3" ? 1u : 0u);
    const std::string last = "blk." + std::to_string(p.n_layer - 1) + ".ffn_down.weight";
    EXPECT_TRUE(tensor_names.count(last)) << last;
  }
  EXPECT_NE(synth::find_preset("llama-1.5b-bench"), nullptr);
  EXPECT_NE(synth::find_preset("LLAMA-3.2-1B"), nullptr);
  EXPECT_EQ(synth::find_preset("llama-9"), nullptr);
  // The perf issue's model: 2048 x 16 layers, 32/8 heads, ffn 8192, untied 128k vocabulary.
  const synth::ModelShape& bench = *synth::find_preset("llama-1.5b-bench");
  EXPECT_EQ(bench.n_embd, 2048);
  EXPECT_EQ(bench.n_layer, 16);
  EXPECT_EQ(bench.n_head, 32);
  EXPECT_EQ(bench.n_head_kv, 8);
  EXPECT_EQ(bench.n_ff, 8192);
  EXPECT_FALSE(bench.tied_output);
  EXPECT_EQ(bench.n_vocab, 128256);
}

TEST(SynthPresets, Llama3RopeFactorsMatchTheConverter) {
  const synth::ModelShape& s = *synth::find_preset("llama-3.2-1b");
  const std::vector<float> f = synth::llama3_rope_factors(s);
  ASSERT_EQ(f.size(), 32u);
  // High frequencies are kept, the lowest slowed by the factor, a blend between.
  EXPECT_FLOAT_EQ(f.front(), 1.0f);
  EXPECT_FLOAT_EQ(f.back(), 32.0f);
  for (size_t i = 1; i < f.size(); ++i) EXPECT_GE(f[i], f[i - 1]);
}

TEST(SynthPresets, ValidateRejectsBadShapes) {
  synth::ModelShape s = *synth::find_preset("smollm2-135m");
  s.n_head_kv = 2;  // 9 heads
  EXPECT_THAT(synth::validate(s).message(), HasSubstr("not a multiple of --kv-heads"));
  s = *synth::find_preset("smollm2-135m");
  s.architecture = "gpt2";
  EXPECT_FALSE(synth::validate(s).ok());
  s = *synth::find_preset("smollm2-135m");
  s.n_layer = 0;
  EXPECT_THAT(synth::validate(s).message(), HasSubstr("--layers must be positive"));
}

TEST(SynthPresets, RolesFromNames) {
  EXPECT_EQ(synth::role_from_name("blk.12.ffn_down.weight"), synth::TensorRole::kFfnDown);
  EXPECT_EQ(synth::role_from_name("blk.0.attn_v.weight"), synth::TensorRole::kAttnV);
  EXPECT_EQ(synth::role_from_name("blk.0.attn_k_norm.weight"), synth::TensorRole::kQkNorm);
  EXPECT_EQ(synth::role_from_name("blk.0.attn_q.bias"), synth::TensorRole::kBias);
  EXPECT_EQ(synth::role_from_name("output.weight"), synth::TensorRole::kOutput);
  EXPECT_EQ(synth::role_from_name("rope_freqs.weight"), synth::TensorRole::kRopeFreqs);
  EXPECT_EQ(synth::role_from_name("something.else"), synth::TensorRole::kOther);
}

// llama-quantize's Q4_K_M: output (or tied embedding) Q6_K, attn_v and ffn_down Q6_K in the
// layers use_more_bits picks (first/last eighth and every third between).
TEST(SynthTypeMix, Q4KMFollowsLlamaQuantize) {
  synth::ModelShape s = *synth::find_preset("llama-3.1-8b");
  const auto tensors = synth::plan_tensors(s);
  synth::TypeChooser chooser(synth::FileType::kQ4_K_M, {"llama", 32, 32, 8, false, 32, 32}, {});
  std::map<std::string, TensorType> types;
  for (const auto& t : tensors) types[t.name] = chooser.choose(t, TensorType::kF32);
  EXPECT_EQ(types["output.weight"], TensorType::kQ6_K);
  EXPECT_EQ(types["token_embd.weight"], TensorType::kQ4_K);
  EXPECT_EQ(types["blk.0.attn_norm.weight"], TensorType::kF32);
  EXPECT_EQ(types["rope_freqs.weight"], TensorType::kF32);
  const std::set<int> more_bits = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  for (int il = 0; il < 32; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    const TensorType want = more_bits.count(il) ? TensorType::kQ6_K : TensorType::kQ4_K;
    EXPECT_EQ(types[p + "attn_v.weight"], want) << il;
    EXPECT_EQ(types[p + "ffn_down.weight"], want) << il;
    EXPECT_EQ(types[p + "attn_q.weight"], TensorType::kQ4_K);
    EXPECT_EQ(types[p + "ffn_up.weight"], TensorType::kQ4_K);
  }
  EXPECT_TRUE(chooser.notes().empty());
}

TEST(SynthTypeMix, PureTiedAndFallbacks) {
  // Qwen2.5 0.5B: 896-wide rows are no multiple of 256, so K-quants fall back per llama.cpp
  // (Q4_K -> Q5_0, which lathe substitutes with Q8_0; Q6_K -> Q8_0).
  synth::ModelShape s = *synth::find_preset("qwen2.5-0.5b");
  s.n_layer = 2;
  const auto tensors = synth::plan_tensors(s);
  synth::TypeChooser::Options pure;
  pure.pure = true;
  synth::TypeChooser chooser(synth::FileType::kQ4_K_M, {"qwen2", 2, 14, 2, true, 2, 2}, pure);
  std::map<std::string, TensorType> types;
  for (const auto& t : tensors) types[t.name] = chooser.choose(t, TensorType::kF32);
  EXPECT_EQ(types["blk.0.attn_q.weight"], TensorType::kQ8_0);    // 896 columns
  EXPECT_EQ(types["blk.0.ffn_down.weight"], TensorType::kQ4_K);  // 4864 = 19 x 256 columns
  EXPECT_EQ(types["token_embd.weight"], TensorType::kQ8_0);
  EXPECT_EQ(types["blk.0.attn_q.bias"], TensorType::kF32);
  EXPECT_FALSE(chooser.notes().empty());
  EXPECT_THAT(chooser.notes().front(), HasSubstr("not a multiple of 256"));

  // Q4_0 default mix: the tied embedding is the output, so it gets Q6_K when the rows allow.
  synth::ModelShape l = *synth::find_preset("llama-3.2-1b");
  l.n_layer = 1;
  synth::TypeChooser q40(synth::FileType::kQ4_0, {"llama", 1, 32, 8, true, 1, 1}, {});
  for (const auto& t : synth::plan_tensors(l)) {
    const TensorType type = q40.choose(t, TensorType::kF32);
    if (t.name == "token_embd.weight") {
      EXPECT_EQ(type, TensorType::kQ6_K);
    }
    if (t.name == "blk.0.attn_v.weight") {
      EXPECT_EQ(type, TensorType::kQ4_0);
    }
  }
  // IQ4_XS: attn_v with GQA >= 4 wants Q5_K, which lathe writes as Q6_K (and says so).
  synth::TypeChooser iq(synth::FileType::kIQ4_XS, {"llama", 1, 32, 8, true, 1, 1}, {});
  for (const auto& t : synth::plan_tensors(l)) {
    const TensorType type = iq.choose(t, TensorType::kF32);
    if (t.name == "blk.0.attn_v.weight") {
      EXPECT_EQ(type, TensorType::kQ6_K);
    }
    if (t.name == "blk.0.attn_q.weight") {
      EXPECT_EQ(type, TensorType::kIQ4_XS);
    }
  }
  ASSERT_FALSE(iq.notes().empty());
  EXPECT_THAT(iq.notes()[0], HasSubstr("q5_K -> q6_K"));
}

TEST(SynthTypeMix, FileTypeNames) {
  EXPECT_EQ(*synth::parse_file_type("q4_k"), synth::FileType::kQ4_K_M);
  EXPECT_EQ(*synth::parse_file_type("IQ4_XS"), synth::FileType::kIQ4_XS);
  EXPECT_EQ(*synth::parse_file_type("bf16"), synth::FileType::kBF16);
  EXPECT_EQ(synth::file_type_name(synth::FileType::kQ4_K_M), "Q4_K_M");
  EXPECT_FALSE(synth::parse_file_type("Q5_K").has_value());
  EXPECT_EQ(static_cast<uint32_t>(synth::FileType::kIQ4_XS), 30u);
}

// ---- the command ----------------------------------------------------------------------------

const char* kTiny = "--dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 --vocab 320";

TEST(SynthCommand, SameSeedSameBytesWhateverTheThreads) {
  const std::string dir = testing::make_temp_dir("synth");
  for (const char* type : {"Q4_0", "Q8_0", "F16"}) {
    SCOPED_TRACE(type);
    const std::string t = std::string(" --type ") + type + " -q ";
    ASSERT_EQ(
        lathe(std::string("synth ") + kTiny + t + "-t 1 --seed 7 " + dir + "/a.gguf").exit_code, 0);
    ASSERT_EQ(
        lathe(std::string("synth ") + kTiny + t + "-t 2 --seed 7 -o " + dir + "/b.gguf").exit_code,
        0);
    ASSERT_EQ(
        lathe(std::string("synth ") + kTiny + t + "-t 2 --seed 8 " + dir + "/c.gguf").exit_code, 0);
    const auto a = testing::read_file_bytes(dir + "/a.gguf");
    EXPECT_EQ(a, testing::read_file_bytes(dir + "/b.gguf"));
    EXPECT_NE(a, testing::read_file_bytes(dir + "/c.gguf"));
  }
}

TEST(SynthCommand, KeysAndTensorsPerArchitecture) {
  const std::string dir = testing::make_temp_dir("synth");
  struct Case {
    const char* args;
    const char* arch;
  };
  const Case cases[] = {
      {"--preset llama-3.2-1b --dim 128 --layers 2 --heads 4 --kv-heads 2 --ffn 256 --vocab 400",
       "llama"},
      {"--preset qwen2.5-0.5b --dim 128 --layers 2 --heads 2 --kv-heads 1 --ffn 256 --vocab 400",
       "qwen2"},
      {"--preset qwen3-0.6b --dim 128 --layers 2 --heads 4 --kv-heads 2 --ffn 256 --vocab 400",
       "qwen3"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.arch);
    const std::string path = dir + "/" + c.arch + ".gguf";
    const Outcome run = lathe(std::string("synth -q --type Q8_0 ") + c.args + " " + path);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    auto file = gguf::File::open(path);
    ASSERT_TRUE(file.has_value()) << file.error().message();
    const std::string a = std::string(c.arch) + ".";
    EXPECT_EQ(*file->get_string("general.architecture"), c.arch);
    EXPECT_EQ(*file->get_u32(a + "block_count"), 2u);
    EXPECT_EQ(*file->get_u32(a + "embedding_length"), 128u);
    EXPECT_EQ(*file->get_u32(a + "feed_forward_length"), 256u);
    EXPECT_EQ(*file->get_u32("general.file_type"), 7u);
    EXPECT_EQ(*file->get_u32("general.quantization_version"), 2u);
    EXPECT_TRUE(file->has(a + "rope.freq_base"));
    EXPECT_TRUE(file->has(a + "attention.layer_norm_rms_epsilon"));
    EXPECT_EQ((*file->get_string_array("tokenizer.ggml.tokens")).size(), 400u);
    EXPECT_EQ(*file->get_string("tokenizer.ggml.model"), "gpt2");
    EXPECT_TRUE(file->has("tokenizer.ggml.merges"));
    const gguf::TensorInfo* embd = file->find_tensor("token_embd.weight");
    ASSERT_NE(embd, nullptr);
    EXPECT_EQ(embd->shape, (std::vector<int64_t>{128, 400}));
    EXPECT_EQ(file->find_tensor("blk.1.attn_norm.weight")->type, TensorType::kF32);
    EXPECT_EQ(file->find_tensor("blk.1.ffn_up.weight")->type, TensorType::kQ8_0);
    if (std::string(c.arch) == "llama") {
      EXPECT_EQ(*file->get_f32(a + "rope.freq_base"), 500000.0f);
      EXPECT_EQ(*file->get_u32(a + "vocab_size"), 400u);
      EXPECT_EQ(*file->get_u32(a + "attention.key_length"), 64u);
      EXPECT_EQ(*file->get_string("tokenizer.ggml.pre"), "llama-bpe");
      ASSERT_NE(file->find_tensor("rope_freqs.weight"), nullptr);
      EXPECT_EQ(file->find_tensor("rope_freqs.weight")->shape, (std::vector<int64_t>{32}));
      EXPECT_EQ(file->find_tensor("output.weight"), nullptr);  // tied, like Llama 3.2 1B
    }
    if (std::string(c.arch) == "qwen2") {
      EXPECT_EQ(*file->get_f32(a + "rope.freq_base"), 1000000.0f);
      ASSERT_NE(file->find_tensor("blk.0.attn_q.bias"), nullptr);
      EXPECT_EQ(file->find_tensor("blk.0.attn_k.bias")->shape, (std::vector<int64_t>{64}));
      EXPECT_FALSE(file->has(a + "attention.key_length"));
      EXPECT_EQ(*file->get_string("tokenizer.ggml.pre"), "qwen2");
    }
    if (std::string(c.arch) == "qwen3") {
      EXPECT_EQ(*file->get_u32(a + "attention.key_length"), 128u);
      ASSERT_NE(file->find_tensor("blk.0.attn_q_norm.weight"), nullptr);
      EXPECT_EQ(file->find_tensor("blk.0.attn_q_norm.weight")->shape, (std::vector<int64_t>{128}));
      EXPECT_EQ(file->find_tensor("blk.0.attn_q.weight")->shape, (std::vector<int64_t>{128, 512}));
    }
  }
}

// Loads a synthetic model in lathe, decodes a prompt, and checks the logits look like a model's.
void expect_model_runs(const std::string& path) {
  auto model = model::Model::load(path);
  ASSERT_TRUE(model.has_value()) << model.error().message();
  backend::CpuBackendOptions options;
  options.n_threads = 1;
  auto backend = std::make_shared<backend::CpuBackend>(options);
  runtime::ContextParams params;
  params.n_ctx = 64;
  auto ctx = runtime::Context::create(*model, backend, params);
  ASSERT_TRUE(ctx.has_value()) << ctx.error().message();
  runtime::Batch batch;
  const std::vector<int32_t> prompt = {1, 50, 99, 200, 7, 3};
  batch.add_sequence(prompt, 0, 0);
  ASSERT_TRUE((*ctx)->decode(batch).ok());
  const float* logits = (*ctx)->logits(prompt.size() - 1);
  ASSERT_NE(logits, nullptr);
  double sum = 0, sq = 0;
  const int64_t n = (*ctx)->n_vocab();
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(std::isfinite(logits[i]));
    sum += logits[i];
    sq += double(logits[i]) * logits[i];
  }
  const double sd = std::sqrt(sq / n - (sum / n) * (sum / n));
  // Weights of std 1/sqrt(fan-in) keep activations near unit scale: neither flat nor exploding.
  EXPECT_GT(sd, 0.1);
  EXPECT_LT(sd, 20.0);
}

TEST(SynthCommand, ModelsLoadDecodeAndTokenize) {
  const std::string dir = testing::make_temp_dir("synth");
  struct Case {
    std::string args;
    std::string name;
  };
  const Case cases[] = {
      {std::string(kTiny) + " --type Q4_0", "bpe-q4_0"},
      // 256-wide rows: narrower IQ4_XS rows fall back to IQ4_NL, which the CPU backend has no
      // matmul for yet.
      {"--dim 256 --layers 1 --heads 4 --kv-heads 2 --ffn 256 --vocab 320 --type IQ4_XS "
       "--vocab-style spm --tied",
       "spm-iq4_xs"},
      {"--preset qwen3-0.6b --dim 128 --layers 1 --heads 4 --kv-heads 2 --ffn 256 --vocab 600 "
       "--type Q4_K_M",
       "qwen3-q4_k_m"},
      {"--preset qwen2.5-0.5b --dim 128 --layers 1 --heads 2 --kv-heads 1 --ffn 256 --vocab 600 "
       "--type BF16",
       "qwen2-bf16"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir + "/" + c.name + ".gguf";
    const Outcome run = lathe("synth -q " + c.args + " " + path);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    expect_model_runs(path);
    auto file = gguf::File::open(path);
    ASSERT_TRUE(file.has_value());
    Logger quiet(LogLevel::kSilent, nullptr);
    auto tok = tokenizer::Tokenizer::from_gguf(*file, quiet);
    ASSERT_TRUE(tok.has_value()) << tok.error().message();
    const std::string text = "the quick brown fox, 42 times: naïve café!\n";
    const auto ids = tok->encode(text, false, false);
    EXPECT_FALSE(ids.empty());
    EXPECT_LT(ids.size(), text.size());  // merges do happen
    EXPECT_EQ(tok->decode(ids), text);
  }
}

TEST(SynthCommand, VocabularyFromAnotherFile) {
  const std::string dir = testing::make_temp_dir("synth");
  ASSERT_EQ(
      lathe(std::string("synth -q ") + kTiny + " --vocab-style spm " + dir + "/src.gguf").exit_code,
      0);
  const Outcome run = lathe("synth -q --dim 64 --layers 1 --heads 4 --ffn 128 --vocab-from " + dir +
                            "/src.gguf " + dir + "/dst.gguf");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto src = gguf::File::open(dir + "/src.gguf");
  auto dst = gguf::File::open(dir + "/dst.gguf");
  ASSERT_TRUE(src.has_value() && dst.has_value());
  int copied = 0;
  for (const gguf::KeyValue& kv : src->metadata()) {
    if (kv.key.rfind("tokenizer.", 0) != 0) continue;
    const gguf::Value* v = dst->find(kv.key);
    ASSERT_NE(v, nullptr) << kv.key;
    EXPECT_EQ(v->to_display_string(1000000), kv.value.to_display_string(1000000)) << kv.key;
    ++copied;
  }
  EXPECT_GE(copied, 5);
  EXPECT_EQ(dst->find_tensor("token_embd.weight")->shape[1], 320);
  // A size that contradicts the file is refused.
  const Outcome bad =
      lathe("synth -q --dim 64 --layers 1 --heads 4 --ffn 128 --vocab 999 --vocab-from " + dir +
            "/src.gguf " + dir + "/x.gguf");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.output, HasSubstr("disagrees with the 320 tokens"));
}

TEST(SynthCommand, RealVocabularyFromTheSharedFixtures) {
  LATHE_SHARED_FIXTURE_OR_SKIP(vocab, "tokenizer/ggml-vocab-llama-bpe.gguf");
  const std::string dir = testing::make_temp_dir("synth");
  const Outcome run = lathe(
      "synth -q --preset llama-3.2-1b --dim 64 --layers 1 --heads 2 --kv-heads 1 --ffn 128 "
      "--type Q8_0 --vocab-from " +
      vocab + " " + dir + "/m.gguf");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  expect_model_runs(dir + "/m.gguf");
}

TEST(SynthCommand, BadInputGivesOneClearLine) {
  const std::string dir = testing::make_temp_dir("synth");
  struct Case {
    std::string args;
    std::string message;
  };
  const Case cases[] = {
      {"--preset llama-9 x.gguf", "lathe synth: unknown preset 'llama-9' (llama-3.2-1b, "},
      {"--preset llama-3.2-1b", "lathe synth: give the output file"},
      {std::string(kTiny) + " --type Q5_K x.gguf", "lathe synth: --type: unknown type 'Q5_K'"},
      {"--dim 64 --layers 2 x.gguf", "missing --heads"},
      {"--dim 64 --layers 2 --heads 3 --ffn 64 --vocab 400 x.gguf", "not a multiple of --heads 3"},
      {"--dim 64 --layers 2 --heads 4 --kv-heads 3 --ffn 64 --vocab 400 x.gguf",
       "not a multiple of --kv-heads 3"},
      {"--dim 64 --layers 2 --heads 4 --ffn 64 --vocab 100 x.gguf", "needs at least 262 tokens"},
      {"--preset qwen3-8b --arch mamba x.gguf", "--arch must be llama, qwen2 or qwen3"},
      {"--preset qwen3-8b --bogus x.gguf", "unknown flag '--bogus'"},
      {"--preset qwen3-8b --seed -1 x.gguf", "--seed must be 0 or more"},
      {"--preset qwen3-8b --vocab-from /nonexistent.gguf x.gguf", "/nonexistent.gguf"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const Outcome run = lathe("synth -q " + c.args);
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_THAT(run.output, HasSubstr(c.message));
    EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << run.output;
  }
  const Outcome list = lathe("synth --list-presets");
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.output, HasSubstr("llama-1.5b-bench"));
  EXPECT_THAT(list.output, HasSubstr("qwen2.5-7b"));
}

}  // namespace
}  // namespace lathe
