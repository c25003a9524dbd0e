// Qwen2 / Qwen2.5: the Llama block with biases on the q, k and v projections and rope on halves.
#include "model/arch.h"

namespace lathe::model {

const ArchSpec& qwen2_arch() {
  static constexpr ArchSpec spec{"qwen2", RopeMode::kNeox, true, false, nullptr};
  return spec;
}

}  // namespace lathe::model
