// The architectures lathe runs. Each one is a small description in its own file
// (arch_<name>.cpp): it reads the keys particular to it and says, per layer, which parts the
// block has (model/spec.h). The loader and the forward pass are shared.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "gguf/gguf.h"
#include "model/hparams.h"
#include "model/spec.h"

namespace lathe::model {

struct ArchSpec {
  std::string_view name;  // general.architecture
  // Reads what is particular to the architecture after the common keys (hp is filled with
  // them), and describes every layer. `spec.layers` arrives with one default layer per block
  // (pre-norms, separate q/k/v, gate+up, SwiGLU, global attention, the file's rope) to adjust.
  Status (*describe)(const gguf::File& file, HParams& hp, ModelSpec& spec);
};

// One definition per architecture file (arch_llama.cpp, arch_qwen2.cpp, arch_qwen3.cpp).
const ArchSpec& llama_arch();
const ArchSpec& qwen2_arch();
const ArchSpec& qwen3_arch();

// The registry: nullptr for an architecture lathe does not run. `extra` are looked up first
// (a caller's own architectures, e.g. a test's variant).
const ArchSpec* find_arch(std::string_view name, std::span<const ArchSpec* const> extra = {});
std::vector<std::string_view> supported_arch_names();

// Reads the hyper-parameters every architecture shares ("{arch}.block_count", ...).
Expected<HParams> read_hparams(const gguf::File& file, std::span<const ArchSpec* const> extra = {});

// The model's spec: the architecture's description over the defaults, with rope parameters
// computed (freq_factors: the llama3 or file divisors, n_rot/2 values, or null).
Expected<ModelSpec> describe_model(const gguf::File& file, HParams& hp, const float* freq_factors,
                                   std::span<const ArchSpec* const> extra = {});

// The rope every layer uses unless its architecture says otherwise, from the hyper-parameters.
ops::RopeParams default_rope(const HParams& hp, const float* freq_factors);

}  // namespace lathe::model
