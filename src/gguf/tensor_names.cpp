#include "gguf/tensor_names.h"

#include <charconv>
#include <iterator>

namespace lathe::gguf {

namespace {

struct Entry {
  TensorRole role;
  std::string_view stem;
  bool per_layer;
};

constexpr Entry kTable[] = {
    {TensorRole::kTokenEmbd, "token_embd", false},
    {TensorRole::kOutputNorm, "output_norm", false},
    {TensorRole::kOutput, "output", false},
    {TensorRole::kRopeFreqs, "rope_freqs", false},
    {TensorRole::kAttnNorm, "attn_norm", true},
    {TensorRole::kAttnQ, "attn_q", true},
    {TensorRole::kAttnK, "attn_k", true},
    {TensorRole::kAttnV, "attn_v", true},
    {TensorRole::kAttnQkv, "attn_qkv", true},
    {TensorRole::kAttnOutput, "attn_output", true},
    {TensorRole::kAttnQNorm, "attn_q_norm", true},
    {TensorRole::kAttnKNorm, "attn_k_norm", true},
    {TensorRole::kAttnPostNorm, "post_attention_norm", true},
    {TensorRole::kFfnNorm, "ffn_norm", true},
    {TensorRole::kFfnGate, "ffn_gate", true},
    {TensorRole::kFfnUp, "ffn_up", true},
    {TensorRole::kFfnDown, "ffn_down", true},
    {TensorRole::kFfnPostNorm, "post_ffw_norm", true},
};

const Entry& entry(TensorRole role) {
  for (const Entry& e : kTable) {
    if (e.role == role) return e;
  }
  return kTable[0];  // unreachable: every role is in the table (tensor_names_test checks)
}

}  // namespace

std::string_view tensor_stem(TensorRole role) {
  return entry(role).stem;
}

bool is_layer_tensor(TensorRole role) {
  return entry(role).per_layer;
}

std::string tensor_name(TensorRole role, int64_t layer, std::string_view suffix) {
  const Entry& e = entry(role);
  std::string name;
  if (e.per_layer) name = "blk." + std::to_string(layer) + ".";
  name += e.stem;
  if (!suffix.empty()) {
    name += '.';
    name += suffix;
  }
  return name;
}

std::optional<TensorName> parse_tensor_name(std::string_view name) {
  TensorName out;
  std::string_view rest = name;
  bool per_layer = false;
  if (rest.substr(0, 4) == "blk.") {
    rest.remove_prefix(4);
    const size_t dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0) return std::nullopt;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + dot, out.layer);
    if (ec != std::errc() || end != rest.data() + dot || out.layer < 0) return std::nullopt;
    rest.remove_prefix(dot + 1);
    per_layer = true;
  }
  const size_t dot = rest.rfind('.');
  const std::string_view stem = dot == std::string_view::npos ? rest : rest.substr(0, dot);
  out.suffix = dot == std::string_view::npos ? "" : std::string(rest.substr(dot + 1));
  for (const Entry& e : kTable) {
    if (e.stem == stem && e.per_layer == per_layer) {
      out.role = e.role;
      return out;
    }
  }
  return std::nullopt;
}

}  // namespace lathe::gguf
