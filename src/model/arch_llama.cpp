// Llama 2, Llama 3/3.1/3.2, TinyLlama, SmolLM2: RMS norm, SwiGLU, rope on adjacent pairs (GGUF
// stores q/k permuted for it), optional llama3 frequency scaling.
#include "model/arch.h"

namespace lathe::model {

const ArchSpec& llama_arch() {
  static constexpr ArchSpec spec{"llama", RopeMode::kNormal, false, false, nullptr};
  return spec;
}

}  // namespace lathe::model
