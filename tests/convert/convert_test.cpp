// Conversions end to end at the library level: llama2.c against llama.cpp's own conversion of
// stories260K, Hugging Face folders made here with known values (permutation, biases, q/k norms,
// tied embeddings, llama3 rope), the type rules, and inputs that must be refused.
#include "convert/convert.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numbers>
#include <random>

#include "convert/convert_test_util.h"
#include "gguf/gguf.h"
#include "quant/quant.h"
#include "support/fixtures.h"

namespace lathe::convert {
namespace {

using ::testing::HasSubstr;
using namespace convert::testing;

const Logger& quiet() {
  static const Logger logger(LogLevel::kSilent, nullptr);
  return logger;
}

ConvertOptions options_for(TensorType type, std::string tokenizer = "") {
  ConvertOptions o;
  o.type = type;
  o.tokenizer = std::move(tokenizer);
  o.n_threads = 2;
  o.logger = &quiet();
  return o;
}

std::vector<float> tensor_f32(const gguf::File& f, const std::string& name) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return {};
  EXPECT_EQ(t->type, TensorType::kF32) << name;
  std::vector<float> out(t->n_elements);
  std::memcpy(out.data(), t->data, out.size() * sizeof(float));
  return out;
}

// Converts and opens the result (failing the test on error).
gguf::File convert_and_open(const std::string& input, const std::string& out,
                            const ConvertOptions& options) {
  auto result = convert(input, out, options);
  EXPECT_TRUE(result) << result.error().message();
  auto file = gguf::File::open(out);
  EXPECT_TRUE(file) << (file ? "" : file.error().message());
  return file ? std::move(*file) : gguf::File();
}

// ---- the rope permutation ----

// Rotating a Hugging Face head (rotate-half pairs i and i + d/2) and then permuting its rows must
// equal permuting first and rotating GGUF's adjacent pairs (2i, 2i+1): then q·k, and with it
// attention, is the same in both layouts.
TEST(RopePermutation, RotateHalfBecomesAdjacentPairs) {
  std::mt19937 rng(7);
  std::normal_distribution<double> normal;
  for (int64_t head : {2, 4, 8, 64, 128}) {
    const int64_t n_head = 3, rows = head * n_head, half = head / 2;
    std::vector<double> x(static_cast<size_t>(rows));
    for (auto& v : x) v = normal(rng);
    for (int pos : {0, 1, 17}) {
      auto angle = [&](int64_t i) { return pos * std::pow(10000.0, -2.0 * i / head); };
      std::vector<double> hf(x.size()), permuted(x.size()), gg(x.size());
      for (int64_t h = 0; h < n_head; ++h) {
        for (int64_t i = 0; i < half; ++i) {
          const size_t a = static_cast<size_t>(h * head + i), b = a + static_cast<size_t>(half);
          hf[a] = x[a] * std::cos(angle(i)) - x[b] * std::sin(angle(i));
          hf[b] = x[b] * std::cos(angle(i)) + x[a] * std::sin(angle(i));
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        permuted[static_cast<size_t>(r)] = x[static_cast<size_t>(rope_source_row(r, head))];
      }
      for (int64_t h = 0; h < n_head; ++h) {
        for (int64_t i = 0; i < half; ++i) {
          const size_t a = static_cast<size_t>(h * head + 2 * i), b = a + 1;
          gg[a] = permuted[a] * std::cos(angle(i)) - permuted[b] * std::sin(angle(i));
          gg[b] = permuted[b] * std::cos(angle(i)) + permuted[a] * std::sin(angle(i));
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        ASSERT_NEAR(gg[static_cast<size_t>(r)], hf[static_cast<size_t>(rope_source_row(r, head))],
                    1e-12)
            << "head " << head << " pos " << pos << " row " << r;
      }
    }
  }
}

// ---- llama2.c ----

TEST(ConvertLlama2c, Stories260KMatchesLlamaCppConversion) {
  LATHE_SHARED_FIXTURE_OR_SKIP(bin, "real/stories260K/stories260K.bin");
  LATHE_SHARED_FIXTURE_OR_SKIP(tok, "real/stories260K/tok512.bin");
  LATHE_SHARED_FIXTURE_OR_SKIP(reference, "real/stories260K/stories260K.gguf");
  const std::string out = lathe::testing::make_temp_dir("s260") + "/out.gguf";
  const gguf::File ours = convert_and_open(bin, out, options_for(TensorType::kF32, tok));
  auto theirs = gguf::File::open(reference);
  ASSERT_TRUE(theirs);

  // Same tensors, in the same order, with the same bytes.
  ASSERT_EQ(ours.tensors().size(), theirs->tensors().size());
  for (size_t i = 0; i < ours.tensors().size(); ++i) {
    const gguf::TensorInfo& a = ours.tensors()[i];
    const gguf::TensorInfo& b = theirs->tensors()[i];
    SCOPED_TRACE(b.name);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape);
    EXPECT_EQ(a.type, b.type);
    ASSERT_EQ(a.n_bytes, b.n_bytes);
    EXPECT_EQ(std::memcmp(a.data, b.data, a.n_bytes), 0) << "data differs";
  }

  // Same vocabulary and hyper-parameters. Two keys differ on purpose: llama.cpp writes the
  // separator and padding ids as (uint32)-1, which its loader rejects, and a context length of
  // 128 (its converter's default n_ctx, not the checkpoint's 512).
  for (const gguf::KeyValue& kv : theirs->metadata()) {
    SCOPED_TRACE(kv.key);
    if (kv.key == "tokenizer.ggml.seperator_token_id" ||
        kv.key == "tokenizer.ggml.padding_token_id") {
      EXPECT_FALSE(ours.has(kv.key));
      continue;
    }
    const gguf::Value* mine = ours.find(kv.key);
    ASSERT_NE(mine, nullptr);
    if (kv.key == "general.name") continue;  // "llama" there, the file's name here
    if (kv.key == "llama.context_length") {
      EXPECT_EQ(kv.value.as_u64(), 128u);
      EXPECT_EQ(mine->as_u64(), 512u);
      continue;
    }
    EXPECT_EQ(mine->type(), kv.value.type());
    if (kv.value.type() == gguf::ValueType::kArray) {
      ASSERT_EQ(mine->array_size(), kv.value.array_size());
      if (kv.value.array_type() == gguf::ValueType::kString) {
        EXPECT_EQ(mine->array_strings(), kv.value.array_strings());
      } else {
        EXPECT_TRUE(std::ranges::equal(mine->array_bytes(), kv.value.array_bytes()));
      }
    } else {
      EXPECT_EQ(mine->to_display_string(), kv.value.to_display_string());
    }
  }
}

TEST(ConvertLlama2c, TypeRulesFollowTheConverter) {
  LATHE_SHARED_FIXTURE_OR_SKIP(bin, "real/stories260K/stories260K.bin");
  LATHE_SHARED_FIXTURE_OR_SKIP(tok, "real/stories260K/tok512.bin");
  LATHE_SHARED_FIXTURE_OR_SKIP(reference, "real/stories260K/stories260K.gguf");
  auto theirs = gguf::File::open(reference);
  ASSERT_TRUE(theirs);
  const std::string dir = lathe::testing::make_temp_dir("types");
  for (TensorType type : {TensorType::kF16, TensorType::kBF16, TensorType::kQ8_0, TensorType::kQ4_0,
                          TensorType::kQ4_K}) {
    SCOPED_TRACE(tensor_type_name(type));
    const std::string out = dir + "/" + std::string(tensor_type_name(type)) + ".gguf";
    auto result = convert(bin, out, options_for(type, tok));
    ASSERT_TRUE(result) << result.error().message();
    auto ours = gguf::File::open(out);
    ASSERT_TRUE(ours);
    EXPECT_EQ(*ours->get_u32("general.file_type"), *file_type_for(type));
    for (const gguf::TensorInfo& t : ours->tensors()) {
      SCOPED_TRACE(t.name);
      const gguf::TensorInfo* src = theirs->find_tensor(t.name);
      ASSERT_NE(src, nullptr);
      // Norms stay f32; a matrix whose rows are not whole blocks falls back to f16 (ffn_down has
      // rows of 172; every row is 64 long for the 256-wide k-quants).
      TensorType want = type;
      if (t.shape.size() == 1) {
        want = TensorType::kF32;
      } else if (t.shape[0] % tensor_type_info(type).block_elems != 0) {
        want = TensorType::kF16;
      }
      ASSERT_EQ(t.type, want);
      // The bytes are lathe's quantizer applied to the f32 values.
      const int64_t rows = static_cast<int64_t>(t.n_rows());
      std::vector<uint8_t> expect(t.n_bytes);
      ASSERT_TRUE(quant::quantize_rows(want, reinterpret_cast<const float*>(src->data),
                                       expect.data(), rows, t.shape[0])
                      .ok());
      EXPECT_EQ(std::memcmp(expect.data(), t.data, t.n_bytes), 0);
    }
    EXPECT_EQ(result->notes.empty(),
              type != TensorType::kQ4_K && type != TensorType::kQ8_0 && type != TensorType::kQ4_0);
  }
}

TEST(ConvertLlama2c, SyntheticCheckpointWithOwnClassifierAndGqa) {
  for (int version : {0, 1}) {
    SCOPED_TRACE(version);
    const std::string dir = lathe::testing::make_temp_dir("v" + std::to_string(version));
    Llama2cShape s;
    s.version = version;
    s.shared = false;
    write_bytes(dir + "/m.bin", llama2c_bytes(s));
    write_bytes(dir + "/tok.bin", tokenizer_bin(s.vocab));
    const gguf::File f = convert_and_open(dir + "/m.bin", dir + "/m.gguf",
                                          options_for(TensorType::kF32, dir + "/tok.bin"));
    EXPECT_EQ(*f.get_string("general.name"), "m");
    EXPECT_EQ(*f.get_u32("llama.attention.head_count_kv"), 1u);
    EXPECT_EQ(*f.get_u32("llama.rope.dimension_count"), 4u);
    EXPECT_EQ(f.find_tensor("blk.1.attn_k.weight")->shape, (std::vector<int64_t>{8, 4}));
    const auto output = tensor_f32(f, "output.weight");
    ASSERT_EQ(output.size(), 48u);
    EXPECT_EQ(output[5], llama2c_value(11, 5));  // the classifier, not the embedding
    const auto k1 = tensor_f32(f, "blk.1.attn_k.weight");
    EXPECT_EQ(k1[0], llama2c_value(3, 32));  // layer 1 starts after layer 0's 4 x 8 values
    const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
    ASSERT_TRUE(tokens);
    EXPECT_EQ((*tokens)[1], "<s>");
    EXPECT_EQ((*tokens)[5], "t5");
  }
}

TEST(ConvertLlama2c, RefusedInputs) {
  const std::string dir = lathe::testing::make_temp_dir("bad");
  Llama2cShape s;
  auto bytes = llama2c_bytes(s);
  write_bytes(dir + "/m.bin", bytes);
  write_bytes(dir + "/tok.bin", tokenizer_bin(s.vocab));
  write_bytes(dir + "/tok5.bin", tokenizer_bin(s.vocab - 1));
  bytes.resize(bytes.size() - 10);
  write_bytes(dir + "/short.bin", bytes);
  write_text(dir + "/model.gguf", "GGUF....");
  struct Case {
    std::string input, tokenizer, message;
  };
  const Case cases[] = {
      {"m.bin", "", "--tokenizer"},
      {"short.bin", "tok.bin", "truncated"},
      {"m.bin", "tok5.bin", "truncated at token 5"},
      {"m.bin", "missing.bin", "cannot open"},
      {"model.gguf", "tok.bin", "already a GGUF file"},
      {"nothing.bin", "tok.bin", "no such file"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input + " " + c.tokenizer);
    const std::string out = dir + "/out.gguf";
    auto result =
        convert(dir + "/" + c.input, out,
                options_for(TensorType::kF16, c.tokenizer.empty() ? "" : dir + "/" + c.tokenizer));
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error().message(), HasSubstr(c.message));
    EXPECT_FALSE(std::filesystem::exists(out));
  }
}

// ---- Hugging Face ----

struct HfCase {
  std::string dir;
  gguf::File file;
};

HfCase convert_hf(const HfShape& s, const std::vector<StEntry>& tensors, TensorType type,
                  const nlohmann::json& metadata = nullptr) {
  HfCase c;
  c.dir = lathe::testing::make_temp_dir("hf");
  write_hf_folder(c.dir, s, tensors, metadata);
  c.file =
      convert_and_open(c.dir, c.dir + "/out.gguf", options_for(type, c.dir + "/tokenizer.bin"));
  return c;
}

const StEntry& entry(const std::vector<StEntry>& tensors, const std::string& name) {
  for (const auto& e : tensors) {
    if (e.name == name) return e;
  }
  static const StEntry none;
  ADD_FAILURE() << "no tensor " << name;
  return none;
}

std::vector<float> values_of(const StEntry& e) {
  std::vector<float> v(e.data.size() / 4);
  std::memcpy(v.data(), e.data.data(), e.data.size());
  return v;
}

// Rows of `src` (n_rows x cols) permuted as GGUF wants them for heads of head_rows rows.
std::vector<float> permute_rows(const std::vector<float>& src, int64_t cols, int64_t head_rows) {
  std::vector<float> out(src.size());
  const int64_t rows = static_cast<int64_t>(src.size()) / cols;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t from = rope_source_row(r, head_rows);
    std::copy_n(src.begin() + from * cols, cols, out.begin() + r * cols);
  }
  return out;
}

TEST(ConvertHf, LlamaPermutesQueryAndKeyRows) {
  HfShape s;
  s.layers = 2;
  const auto tensors = hf_tensors(s);
  const HfCase c = convert_hf(s, tensors, TensorType::kF32);
  const gguf::File& f = c.file;
  EXPECT_EQ(*f.get_string("general.architecture"), "llama");
  EXPECT_EQ(*f.get_u32("llama.block_count"), 2u);
  EXPECT_EQ(*f.get_u32("llama.attention.head_count"), 2u);
  EXPECT_EQ(*f.get_u32("llama.attention.head_count_kv"), 1u);
  EXPECT_EQ(*f.get_u32("llama.rope.dimension_count"), 4u);
  EXPECT_EQ(*f.get_f32("llama.rope.freq_base"), 500000.0f);
  EXPECT_EQ(*f.get_f32("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_EQ(*f.get_u32("llama.context_length"), 64u);
  EXPECT_FALSE(f.has("llama.attention.key_length"));
  for (int l = 0; l < 2; ++l) {
    const std::string hf = "model.layers." + std::to_string(l) + ".",
                      gg = "blk." + std::to_string(l) + ".";
    EXPECT_EQ(tensor_f32(f, gg + "attn_q.weight"),
              permute_rows(values_of(entry(tensors, hf + "self_attn.q_proj.weight")), 8, 4));
    EXPECT_EQ(tensor_f32(f, gg + "attn_k.weight"),
              permute_rows(values_of(entry(tensors, hf + "self_attn.k_proj.weight")), 8, 4));
    EXPECT_EQ(tensor_f32(f, gg + "attn_v.weight"),
              values_of(entry(tensors, hf + "self_attn.v_proj.weight")));
    EXPECT_EQ(tensor_f32(f, gg + "ffn_down.weight"),
              values_of(entry(tensors, hf + "mlp.down_proj.weight")));
    EXPECT_EQ(f.find_tensor(gg + "ffn_down.weight")->shape, (std::vector<int64_t>{12, 8}));
  }
  EXPECT_EQ(tensor_f32(f, "token_embd.weight"),
            values_of(entry(tensors, "model.embed_tokens.weight")));
  EXPECT_EQ(tensor_f32(f, "output.weight"), values_of(entry(tensors, "lm_head.weight")));
  EXPECT_EQ(tensor_f32(f, "output_norm.weight"), values_of(entry(tensors, "model.norm.weight")));
}

TEST(ConvertHf, LlamaBiasesArePermutedToo) {
  HfShape s;
  s.bias = true;
  const auto tensors = hf_tensors(s);
  const HfCase c = convert_hf(s, tensors, TensorType::kF32);
  const auto q_bias = values_of(entry(tensors, "model.layers.0.self_attn.q_proj.bias"));
  EXPECT_EQ(tensor_f32(c.file, "blk.0.attn_q.bias"), permute_rows(q_bias, 1, 4));
  EXPECT_EQ(tensor_f32(c.file, "blk.0.attn_output.bias"),
            values_of(entry(tensors, "model.layers.0.self_attn.o_proj.bias")));
}

TEST(ConvertHf, Qwen2KeepsTheLayoutAndBiases) {
  HfShape s;
  s.architecture = "Qwen2ForCausalLM";
  s.bias = true;
  s.tied = true;
  const auto tensors = hf_tensors(s);
  const HfCase c = convert_hf(s, tensors, TensorType::kF32);
  const gguf::File& f = c.file;
  EXPECT_EQ(*f.get_string("general.architecture"), "qwen2");
  EXPECT_EQ(*f.get_u32("qwen2.attention.head_count"), 2u);
  EXPECT_FALSE(f.has("qwen2.rope.dimension_count"));
  EXPECT_EQ(tensor_f32(f, "blk.0.attn_q.weight"),
            values_of(entry(tensors, "model.layers.0.self_attn.q_proj.weight")));
  EXPECT_EQ(tensor_f32(f, "blk.0.attn_k.bias"),
            values_of(entry(tensors, "model.layers.0.self_attn.k_proj.bias")));
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);  // tied
}

TEST(ConvertHf, Qwen3HasQkNormsAndItsOwnHeadSize) {
  HfShape s;
  s.architecture = "Qwen3ForCausalLM";
  s.qk_norm = true;
  s.head_dim = 8;  // != hidden / heads
  const auto tensors = hf_tensors(s);
  const HfCase c = convert_hf(s, tensors, TensorType::kF32);
  const gguf::File& f = c.file;
  EXPECT_EQ(*f.get_u32("qwen3.attention.key_length"), 8u);
  EXPECT_EQ(*f.get_u32("qwen3.attention.value_length"), 8u);
  EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->shape, (std::vector<int64_t>{8, 16}));
  EXPECT_EQ(tensor_f32(f, "blk.0.attn_k_norm.weight"),
            values_of(entry(tensors, "model.layers.0.self_attn.k_norm.weight")));
}

TEST(ConvertHf, TiedEmbeddingStoredOnlyAsLmHead) {
  // What safetensors' save_model writes for tied weights: one tensor and an alias.
  HfShape s;
  s.tied = true;
  auto tensors = hf_tensors(s);
  tensors[0].name = "lm_head.weight";
  const HfCase c = convert_hf(s, tensors, TensorType::kF32,
                              {{"format", "pt"}, {"model.embed_tokens.weight", "lm_head.weight"}});
  EXPECT_EQ(tensor_f32(c.file, "token_embd.weight"), values_of(tensors[0]));
  EXPECT_EQ(c.file.find_tensor("output.weight"), nullptr);
}

TEST(ConvertHf, HalfPrecisionCheckpoints) {
  for (const char* dtype : {"F16", "BF16"}) {
    SCOPED_TRACE(dtype);
    HfShape s;
    const auto tensors = hf_tensors(s, dtype);
    for (TensorType type : {TensorType::kF16, TensorType::kBF16, TensorType::kF32}) {
      const HfCase c = convert_hf(s, tensors, type);
      const gguf::TensorInfo* t = c.file.find_tensor("blk.0.ffn_up.weight");
      ASSERT_NE(t, nullptr);
      ASSERT_EQ(t->type, type);
      const StEntry& e = entry(tensors, "model.layers.0.mlp.up_proj.weight");
      std::vector<float> src(e.data.size() / 2);
      for (size_t i = 0; i < src.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, e.data.data() + 2 * i, 2);
        src[i] = std::string(dtype) == "F16" ? quant::f16_to_f32(h) : quant::bf16_to_f32(h);
      }
      std::vector<uint8_t> expect(t->n_bytes);
      ASSERT_TRUE(quant::quantize_rows(type, src.data(), expect.data(), 12, 8).ok());
      EXPECT_EQ(std::memcmp(expect.data(), t->data, t->n_bytes), 0);
      // Norms are f32 whatever the type.
      EXPECT_EQ(c.file.find_tensor("blk.0.attn_norm.weight")->type, TensorType::kF32);
    }
  }
}

TEST(ConvertHf, Llama3RopeScalingBecomesRopeFreqs) {
  HfShape s;
  s.head_dim = 64;
  s.hidden = 128;
  s.rope_scaling = {{"rope_type", "llama3"},
                    {"factor", 8.0},
                    {"low_freq_factor", 1.0},
                    {"high_freq_factor", 4.0},
                    {"original_max_position_embeddings", 8192}};
  const HfCase c = convert_hf(s, hf_tensors(s), TensorType::kF32);
  const auto freqs = tensor_f32(c.file, "rope_freqs.weight");
  ASSERT_EQ(freqs.size(), 32u);
  // convert_hf_to_gguf.py's formula in double precision; lathe follows torch's float32 steps.
  for (int i = 0; i < 32; ++i) {
    const double freq = 1.0 / std::pow(500000.0, 2.0 * i / 64.0);
    const double wavelen = 2 * std::numbers::pi / freq;
    double want;
    if (wavelen < 8192 / 4.0) {
      want = 1;
    } else if (wavelen > 8192 / 1.0) {
      want = 8;
    } else {
      const double smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0);
      want = 1 / ((1 - smooth) / 8 + smooth);
    }
    EXPECT_NEAR(freqs[static_cast<size_t>(i)], want, want * 1e-5) << i;
  }
  EXPECT_FALSE(c.file.has("llama.rope.scaling.type"));
}

TEST(ConvertHf, LinearAndYarnScalingBecomeKeys) {
  HfShape s;
  s.rope_scaling = {{"type", "linear"}, {"factor", 2.0}};
  HfCase c = convert_hf(s, hf_tensors(s), TensorType::kF32);
  EXPECT_EQ(*c.file.get_string("llama.rope.scaling.type"), "linear");
  EXPECT_EQ(*c.file.get_f32("llama.rope.scaling.factor"), 2.0f);
  s.rope_scaling = {{"rope_type", "yarn"},
                    {"factor", 4.0},
                    {"original_max_position_embeddings", 32},
                    {"beta_fast", 16.0}};
  c = convert_hf(s, hf_tensors(s), TensorType::kF32);
  EXPECT_EQ(*c.file.get_string("llama.rope.scaling.type"), "yarn");
  EXPECT_EQ(*c.file.get_u32("llama.rope.scaling.original_context_length"), 32u);
  EXPECT_EQ(*c.file.get_f32("llama.rope.scaling.yarn_beta_fast"), 16.0f);
}

TEST(ConvertHf, RefusedCheckpoints) {
  struct Case {
    std::string what;
    std::function<void(HfShape&, std::vector<StEntry>&, nlohmann::json&)> edit;
    std::string message;
  };
  const Case cases[] = {
      {"missing tensor",
       [](HfShape&, std::vector<StEntry>& t, nlohmann::json&) {
         std::erase_if(
             t, [](const StEntry& e) { return e.name == "model.layers.0.mlp.up_proj.weight"; });
       },
       "tensor model.layers.0.mlp.up_proj.weight is missing"},
      {"wrong shape",
       [](HfShape&, std::vector<StEntry>& t, nlohmann::json&) {
         for (auto& e : t) {
           if (e.name == "model.layers.0.self_attn.k_proj.weight") e.shape = {8, 4};
         }
       },
       "has shape [8, 4] but config.json implies [4, 8]"},
      {"integer weights",
       [](HfShape&, std::vector<StEntry>& t, nlohmann::json&) {
         for (auto& e : t) {
           if (e.name == "model.norm.weight") e.dtype = "I32";
         }
       },
       "is I32"},
      {"unknown tensor",
       [](HfShape&, std::vector<StEntry>& t, nlohmann::json&) {
         t.push_back(st_entry("model.layers.0.mlp.extra.weight", {2}, {1, 2}));
       },
       "does not have: model.layers.0.mlp.extra.weight"},
      {"untied without lm_head",
       [](HfShape&, std::vector<StEntry>& t, nlohmann::json&) {
         std::erase_if(t, [](const StEntry& e) { return e.name == "lm_head.weight"; });
       },
       "lm_head.weight is missing"},
      {"unsupported architecture",
       [](HfShape&, std::vector<StEntry>&, nlohmann::json& config) {
         config["architectures"] = {"GPT2LMHeadModel"};
       },
       "GPT2LMHeadModel is not supported"},
      {"missing size",
       [](HfShape&, std::vector<StEntry>&, nlohmann::json& config) { config.erase("hidden_size"); },
       "hidden_size is missing"},
      {"heads",
       [](HfShape&, std::vector<StEntry>&, nlohmann::json& config) {
         config["num_key_value_heads"] = 3;
       },
       "not a multiple of num_key_value_heads"},
      {"string size",
       [](HfShape&, std::vector<StEntry>&, nlohmann::json& config) { config["vocab_size"] = "6"; },
       "vocab_size is \"6\", not an integer"},
      {"vocab mismatch",
       [](HfShape&, std::vector<StEntry>&, nlohmann::json& config) { config["vocab_size"] = 7; },
       "config.json implies [7, 8]"},
      {"longrope",
       [](HfShape&, std::vector<StEntry>&, nlohmann::json& config) {
         config["rope_scaling"] = {{"rope_type", "longrope"}, {"factor", 2.0}};
       },
       "'longrope' is not supported"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    HfShape s;
    auto tensors = hf_tensors(s);
    nlohmann::json config = hf_config_json(s);
    c.edit(s, tensors, config);
    const std::string dir = lathe::testing::make_temp_dir("refused");
    write_hf_folder(dir, s, tensors);
    write_text(dir + "/config.json", config.dump());
    auto result =
        convert(dir, dir + "/out.gguf", options_for(TensorType::kF16, dir + "/tokenizer.bin"));
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error().message(), HasSubstr(c.message));
    EXPECT_FALSE(std::filesystem::exists(dir + "/out.gguf"));
  }
}

TEST(ConvertHf, TokenizerMustMatchTheEmbedding) {
  HfShape s;
  const std::string dir = lathe::testing::make_temp_dir("tok");
  write_hf_folder(dir, s, hf_tensors(s));
  write_bytes(dir + "/tokenizer.bin", tokenizer_bin(5));
  auto result =
      convert(dir, dir + "/out.gguf", options_for(TensorType::kF16, dir + "/tokenizer.bin"));
  ASSERT_FALSE(result);
  EXPECT_THAT(result.error().message(), HasSubstr("truncated at token 5"));
  // No tokenizer at all.
  auto none = convert(dir, dir + "/out.gguf", options_for(TensorType::kF16));
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error().message(), HasSubstr("no tokenizer.json"));
}

TEST(ConvertHf, TokenizerJsonFromAnotherFolder) {
  LATHE_SHARED_FIXTURE_OR_SKIP(json, "real/TinyStories-656K/tokenizer.json");
  HfShape s;
  s.vocab = 2048;
  const std::string dir = lathe::testing::make_temp_dir("tokjson");
  write_hf_folder(dir, s, hf_tensors(s));
  const gguf::File f =
      convert_and_open(dir, dir + "/out.gguf", options_for(TensorType::kF16, json));
  EXPECT_EQ(*f.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens")->size(), 2048u);
  EXPECT_EQ(*f.get_u32("tokenizer.ggml.bos_token_id"), 1u);

  // The same tokenizer cannot serve a model with another vocabulary size.
  LATHE_SHARED_FIXTURE_OR_SKIP(bin, "real/stories260K/stories260K.bin");
  auto result = convert(bin, dir + "/s.gguf", options_for(TensorType::kF16, json));
  ASSERT_FALSE(result);
  EXPECT_THAT(result.error().message(),
              HasSubstr("has 2048 tokens but the model's embedding has 512 rows"));
}

TEST(ConvertHf, NonFiniteWeightsAreNotQuantized) {
  HfShape s;
  s.hidden = 32;
  s.head_dim = 16;
  auto tensors = hf_tensors(s);
  for (auto& e : tensors) {
    if (e.name == "model.layers.0.mlp.gate_proj.weight") {
      const float nan = std::nanf("");
      std::memcpy(e.data.data() + 4 * 40, &nan, 4);
    }
  }
  const std::string dir = lathe::testing::make_temp_dir("nan");
  write_hf_folder(dir, s, tensors);
  auto result =
      convert(dir, dir + "/out.gguf", options_for(TensorType::kQ8_0, dir + "/tokenizer.bin"));
  ASSERT_FALSE(result);
  EXPECT_THAT(result.error().message(),
              HasSubstr("blk.0.ffn_gate.weight: row 1 holds a non-finite"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.gguf"));
  // f32 keeps the values as they are.
  EXPECT_TRUE(
      convert(dir, dir + "/out.gguf", options_for(TensorType::kF32, dir + "/tokenizer.bin")));
}

TEST(ConvertHf, TinyStoriesTiedCheckpoint) {
  LATHE_SHARED_FIXTURE_OR_SKIP(dir, "real/TinyStories-656K");
  const std::string out = lathe::testing::make_temp_dir("ts") + "/ts.gguf";
  ConvertOptions o = options_for(TensorType::kF32);
  auto plan = plan_conversion(dir, o);
  ASSERT_TRUE(plan) << plan.error().message();
  EXPECT_EQ(plan->kind, InputKind::kHfDirectory);
  EXPECT_EQ(plan->tensors.size(), 20u);
  ASSERT_TRUE(write_gguf(*plan, out, o));
  auto f = gguf::File::open(out);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->find_tensor("output.weight"), nullptr);
  EXPECT_EQ(*f->get_string("general.name"), "TinyStories-656K");
  EXPECT_EQ(*f->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens")->size(), 2048u);
  EXPECT_EQ(*f->get_f32("llama.attention.layer_norm_rms_epsilon"), 1e-6f);
}

}  // namespace
}  // namespace lathe::convert
