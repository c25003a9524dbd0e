// Builders for the converter's inputs, so tests can make small models with known values (and
// broken ones) without fixtures: safetensors files, llama2.c checkpoints and tokenizer.bin files,
// and Hugging Face model folders.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "quant/fp16.h"

namespace lathe::convert::testing {

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

template <typename T>
void append(std::vector<uint8_t>& out, const T& value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

// ---- safetensors ----

struct StEntry {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "F64", "I32", ...
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

// Values encoded in a dtype (F32, F16, BF16, F64).
inline std::vector<uint8_t> encode(const std::vector<float>& values, const std::string& dtype) {
  std::vector<uint8_t> out;
  for (float v : values) {
    if (dtype == "F32") append(out, v);
    if (dtype == "F64") append(out, static_cast<double>(v));
    if (dtype == "F16") append(out, quant::f32_to_f16(v));
    if (dtype == "BF16") append(out, quant::f32_to_bf16(v));
  }
  return out;
}

inline StEntry st_entry(const std::string& name, const std::vector<int64_t>& shape,
                        const std::vector<float>& values, const std::string& dtype = "F32") {
  return {name, dtype, shape, encode(values, dtype)};
}

// A file from a header text and the data that follows it (for malformed headers).
inline std::vector<uint8_t> safetensors_raw(const std::string& header,
                                            const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out;
  append(out, static_cast<uint64_t>(header.size()));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// A well-formed file: tensors back to back in the given order.
inline std::vector<uint8_t> safetensors_bytes(const std::vector<StEntry>& entries,
                                              const nlohmann::json& metadata = nullptr) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.is_null()) header["__metadata__"] = metadata;
  std::vector<uint8_t> data;
  for (const auto& e : entries) {
    header[e.name] = {{"dtype", e.dtype},
                      {"shape", e.shape},
                      {"data_offsets", {data.size(), data.size() + e.data.size()}}};
    data.insert(data.end(), e.data.begin(), e.data.end());
  }
  return safetensors_raw(header.dump(), data);
}

// ---- llama2.c ----

struct Llama2cShape {
  int32_t dim = 8, hidden = 12, layers = 2, heads = 2, kv_heads = 1, vocab = 6, seq_len = 4;
  bool shared = true;
  int version = 0;  // 0 legacy, 1
};

// The float stored at index i of kind k (k = the Llama2cWeight value): recognizable in tests.
inline float llama2c_value(int kind, int64_t i) {
  return static_cast<float>(kind) * 1000.0f + static_cast<float>(i % 997) * 0.5f;
}

// A checkpoint whose weight of kind k holds llama2c_value(k, i) at flat index i (over all layers).
inline std::vector<uint8_t> llama2c_bytes(const Llama2cShape& s) {
  const int64_t D = s.dim, H = s.hidden, L = s.layers, V = s.vocab;
  const int64_t KV = static_cast<int64_t>(s.kv_heads) * (s.dim / s.heads);
  std::vector<uint8_t> out;
  auto kind = [&](int k, int64_t n) {
    for (int64_t i = 0; i < n; ++i) append(out, llama2c_value(k, i));
  };
  // Llama2cWeight order: 0 embedding, 1 rms_att, 2 wq, 3 wk, 4 wv, 5 wo, 6 rms_ffn, 7 w1, 8 w2,
  // 9 w3, 10 rms_final, 11 classifier.
  if (s.version == 0) {
    const int32_t header[7] = {
        s.dim, s.hidden, s.layers, s.heads, s.kv_heads, s.shared ? s.vocab : -s.vocab, s.seq_len};
    for (int32_t h : header) append(out, h);
    kind(0, V * D);
    kind(1, L * D);
    kind(2, L * D * D);
    kind(3, L * KV * D);
    kind(4, L * KV * D);
    kind(5, L * D * D);
    kind(6, L * D);
    kind(7, L * H * D);
    kind(8, L * D * H);
    kind(9, L * H * D);
    kind(10, D);
    kind(99, static_cast<int64_t>(s.seq_len) * (s.dim / s.heads));  // freq_cis tables
  } else {
    append(out, uint32_t{0x616b3432});
    append(out, int32_t{s.version});
    const int32_t header[7] = {s.dim, s.hidden, s.layers, s.heads, s.kv_heads, s.vocab, s.seq_len};
    for (int32_t h : header) append(out, h);
    out.push_back(s.shared ? 1 : 0);
    out.resize(256, 0);
    kind(1, L * D);
    kind(6, L * D);
    kind(10, D);
    kind(0, V * D);
    kind(2, L * D * D);
    kind(3, L * KV * D);
    kind(4, L * KV * D);
    kind(5, L * D * D);
    kind(7, L * H * D);
    kind(8, L * D * H);
    kind(9, L * H * D);
  }
  if (!s.shared) kind(11, V * D);
  return out;
}

// A llama2.c tokenizer.bin: <unk>, <s>, </s> as llama2.c exports them, then "t3", "t4", ...
inline std::vector<uint8_t> tokenizer_bin(int n_tokens) {
  std::vector<uint8_t> out;
  append(out, int32_t{8});
  for (int i = 0; i < n_tokens; ++i) {
    std::string text = i == 0   ? "<unk>"
                       : i == 1 ? "\n<s>\n"
                       : i == 2 ? "\n</s>\n"
                                : "t" + std::to_string(i);
    append(out, static_cast<float>(-i));
    append(out, static_cast<int32_t>(text.size()));
    out.insert(out.end(), text.begin(), text.end());
  }
  return out;
}

// ---- Hugging Face folders ----

// A small Llama-family shape: hidden 8, 2 heads of 4 (1 kv head), ffn 12, vocab 6, 1 layer.
struct HfShape {
  std::string architecture = "LlamaForCausalLM";
  int64_t hidden = 8, heads = 2, kv_heads = 1, head_dim = 4, ffn = 12, vocab = 6, layers = 1;
  bool tied = false;
  bool bias = false;     // q/k/v biases (qwen2 always)
  bool qk_norm = false;  // qwen3
  nlohmann::json rope_scaling = nullptr;
};

inline nlohmann::json hf_config_json(const HfShape& s) {
  nlohmann::json c = {{"architectures", {s.architecture}},
                      {"hidden_size", s.hidden},
                      {"intermediate_size", s.ffn},
                      {"num_hidden_layers", s.layers},
                      {"num_attention_heads", s.heads},
                      {"num_key_value_heads", s.kv_heads},
                      {"vocab_size", s.vocab},
                      {"max_position_embeddings", 64},
                      {"rms_norm_eps", 1e-5},
                      {"rope_theta", 500000.0},
                      {"tie_word_embeddings", s.tied},
                      {"hidden_act", "silu"}};
  if (s.head_dim != s.hidden / s.heads) c["head_dim"] = s.head_dim;
  if (s.bias && s.architecture == "LlamaForCausalLM") c["attention_bias"] = true;
  if (!s.rope_scaling.is_null()) c["rope_scaling"] = s.rope_scaling;
  return c;
}

// Value j of tensor number `seed`: distinct per tensor and element.
inline std::vector<float> pattern(int seed, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j)
    v[static_cast<size_t>(j)] = static_cast<float>(seed) + 0.001f * static_cast<float>(j);
  return v;
}

// Every tensor a checkpoint of this shape holds, HF names and shapes, values from pattern().
inline std::vector<StEntry> hf_tensors(const HfShape& s, const std::string& dtype = "F32") {
  std::vector<StEntry> out;
  int seed = 1;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    out.push_back(st_entry(name, shape, pattern(seed++, n), dtype));
  };
  const int64_t q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
  add("model.embed_tokens.weight", {s.vocab, s.hidden});
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {s.hidden});
    add(p + "self_attn.q_proj.weight", {q, s.hidden});
    add(p + "self_attn.k_proj.weight", {kv, s.hidden});
    add(p + "self_attn.v_proj.weight", {kv, s.hidden});
    if (s.bias) {
      add(p + "self_attn.q_proj.bias", {q});
      add(p + "self_attn.k_proj.bias", {kv});
      add(p + "self_attn.v_proj.bias", {kv});
      if (s.architecture == "LlamaForCausalLM") add(p + "self_attn.o_proj.bias", {s.hidden});
    }
    if (s.qk_norm) {
      add(p + "self_attn.q_norm.weight", {s.head_dim});
      add(p + "self_attn.k_norm.weight", {s.head_dim});
    }
    add(p + "self_attn.o_proj.weight", {s.hidden, q});
    add(p + "post_attention_layernorm.weight", {s.hidden});
    add(p + "mlp.gate_proj.weight", {s.ffn, s.hidden});
    add(p + "mlp.up_proj.weight", {s.ffn, s.hidden});
    add(p + "mlp.down_proj.weight", {s.hidden, s.ffn});
  }
  add("model.norm.weight", {s.hidden});
  if (!s.tied) add("lm_head.weight", {s.vocab, s.hidden});
  return out;
}

// Writes config.json, model.safetensors and tokenizer.bin (a llama2.c vocabulary of the right
// size, given to the converter with --tokenizer) into `dir`.
inline void write_hf_folder(const std::string& dir, const HfShape& s,
                            const std::vector<StEntry>& tensors,
                            const nlohmann::json& metadata = nullptr) {
  write_text(dir + "/config.json", hf_config_json(s).dump(2));
  write_bytes(dir + "/model.safetensors", safetensors_bytes(tensors, metadata));
  write_bytes(dir + "/tokenizer.bin", tokenizer_bin(static_cast<int>(s.vocab)));
}

}  // namespace lathe::convert::testing
