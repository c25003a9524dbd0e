// The architectures lathe runs. They share one forward pass and differ only in options, so an
// architecture is a small description: which optional parts it has and how it reads its keys.
#pragma once

#include <string_view>
#include <vector>

#include "core/status.h"
#include "gguf/gguf.h"
#include "model/hparams.h"

namespace lathe::model {

struct ArchSpec {
  std::string_view name;  // general.architecture
  RopeMode rope_mode;
  bool qkv_bias;  // q/k/v projections carry biases (Qwen2)
  bool qk_norm;   // per-head RMS norm of q and k before rope (Qwen3)
  // Reads what is particular to the architecture after the common keys (may be null).
  Status (*read_extra)(const gguf::File& file, HParams& hp);
};

// One definition per architecture file (arch_llama.cpp, arch_qwen2.cpp, arch_qwen3.cpp).
const ArchSpec& llama_arch();
const ArchSpec& qwen2_arch();
const ArchSpec& qwen3_arch();

// The registry: nullptr for an architecture lathe does not run.
const ArchSpec* find_arch(std::string_view name);
std::vector<std::string_view> supported_arch_names();

// Reads the hyper-parameters every architecture shares ("{arch}.block_count", ...).
Expected<HParams> read_hparams(const gguf::File& file);

}  // namespace lathe::model
