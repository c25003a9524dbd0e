// Qwen3 (dense): the Llama block with a per-head RMS norm of q and k before rope, rope on halves.
#include "model/arch.h"

namespace lathe::model {

namespace {

Status describe_qwen3(const gguf::File&, HParams& hp, ModelSpec& spec) {
  hp.rope_mode = ops::RopeMode::kNeox;
  for (LayerSpec& layer : spec.layers) {
    layer.rope.mode = hp.rope_mode;
    layer.qk_norm = true;
  }
  return Status();
}

}  // namespace

const ArchSpec& qwen3_arch() {
  static constexpr ArchSpec spec{"qwen3", &describe_qwen3};
  return spec;
}

}  // namespace lathe::model
