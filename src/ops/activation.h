// The gated feed-forward activations: out = act(gate) * up.
#pragma once

namespace lathe::ops {

enum class Activation {
  kSwiGLU,  // silu(gate) * up: Llama, Qwen, Mistral
  kGeGLU,   // gelu(gate) * up, gelu in its tanh form: Gemma
};

inline const char* activation_name(Activation a) {
  return a == Activation::kSwiGLU ? "swiglu" : "geglu";
}

}  // namespace lathe::ops
