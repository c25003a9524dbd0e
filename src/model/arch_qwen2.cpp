// Qwen2 / Qwen2.5: the Llama block with biases on the q/k/v projections and rope on halves.
#include "model/arch.h"

namespace lathe::model {

namespace {

Status describe_qwen2(const gguf::File&, HParams& hp, ModelSpec& spec) {
  hp.rope_mode = ops::RopeMode::kNeox;
  for (LayerSpec& layer : spec.layers) {
    layer.rope.mode = hp.rope_mode;
    layer.qkv_bias = true;
  }
  return Status();
}

}  // namespace

const ArchSpec& qwen2_arch() {
  static constexpr ArchSpec spec{"qwen2", &describe_qwen2};
  return spec;
}

}  // namespace lathe::model
