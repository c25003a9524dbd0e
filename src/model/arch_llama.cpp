// Llama 2, Llama 3/3.1/3.2, TinyLlama, SmolLM2: RMS norm, SwiGLU, rope on adjacent pairs (GGUF
// stores q/k permuted for it), optional llama3 frequency scaling. Every default holds.
#include "model/arch.h"

namespace lathe::model {

namespace {

Status describe_llama(const gguf::File&, HParams& hp, ModelSpec& spec) {
  hp.rope_mode = ops::RopeMode::kNormal;
  for (LayerSpec& layer : spec.layers) layer.rope.mode = hp.rope_mode;
  return Status();
}

}  // namespace

const ArchSpec& llama_arch() {
  static constexpr ArchSpec spec{"llama", &describe_llama};
  return spec;
}

}  // namespace lathe::model
