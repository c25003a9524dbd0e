// Qwen3 (dense): no q/k/v biases, but a per-head RMS norm of q and k before rope; rope on halves.
#include "model/arch.h"

namespace lathe::model {

const ArchSpec& qwen3_arch() {
  static constexpr ArchSpec spec{"qwen3", RopeMode::kNeox, false, true, nullptr};
  return spec;
}

}  // namespace lathe::model
