#include <algorithm>
#include <cmath>
#include <numbers>

#include "kernels/cpu/ref/ref.h"

namespace lathe::kernels::ref {

void rms_norm_row(const float* x, const float* w, int64_t n, float eps, float* y) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  if (w != nullptr) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
  }
}

namespace {

// The dimension index (as a float) where the YaRN ramp starts or ends for a wavelength budget.
float yarn_corr_dim(int64_t n_dims, int64_t n_ctx_orig, float n_rot, float base) {
  return static_cast<float>(n_dims) *
         std::log(static_cast<float>(n_ctx_orig) / (n_rot * 2.0f * std::numbers::pi_v<float>)) /
         (2.0f * std::log(base));
}

}  // namespace

void rope_cache(float position, const ops::RopeParams& p, float* cache) {
  // θ advances by a constant ratio per pair; computing it by repeated multiplication (rather than
  // pow per pair) follows the reference implementation's rounding.
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(p.n_rot));
  float corr_low = 0.0f;
  float corr_high = 0.0f;
  float mscale = p.attn_factor;
  if (p.ext_factor != 0.0f) {
    corr_low = std::max(0.0f, std::floor(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_fast, p.freq_base)));
    corr_high = std::min(static_cast<float>(p.n_rot - 1),
                         std::ceil(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_slow, p.freq_base)));
    mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
  }
  float theta = position;
  for (int64_t i0 = 0; i0 < p.n_rot; i0 += 2) {
    const float divisor = p.freq_factors ? p.freq_factors[i0 / 2] : 1.0f;
    const float theta_extrap = theta / divisor;
    const float theta_interp = p.freq_scale * theta_extrap;
    float t = theta_interp;
    if (p.ext_factor != 0.0f) {
      const float y = (static_cast<float>(i0 / 2) - corr_low) / std::max(0.001f, corr_high - corr_low);
      const float ramp = (1.0f - std::min(1.0f, std::max(0.0f, y))) * p.ext_factor;
      t = theta_interp * (1.0f - ramp) + theta_extrap * ramp;
    }
    cache[i0 + 0] = std::cos(t) * mscale;
    cache[i0 + 1] = std::sin(t) * mscale;
    theta *= theta_scale;
  }
}

void rope_head(float* x, const float* cache, const ops::RopeParams& p) {
  if (p.mode == ops::RopeMode::kNormal) {
    for (int64_t i0 = 0; i0 < p.n_rot; i0 += 2) {
      const float c = cache[i0];
      const float s = cache[i0 + 1];
      const float x0 = x[i0];
      const float x1 = x[i0 + 1];
      x[i0] = x0 * c - x1 * s;
      x[i0 + 1] = x0 * s + x1 * c;
    }
  } else {
    const int64_t half = p.n_rot / 2;
    for (int64_t i0 = 0; i0 < p.n_rot; i0 += 2) {
      const float c = cache[i0];
      const float s = cache[i0 + 1];
      const float x0 = x[i0 / 2];
      const float x1 = x[i0 / 2 + half];
      x[i0 / 2] = x0 * c - x1 * s;
      x[i0 / 2 + half] = x0 * s + x1 * c;
    }
  }
  // Dimensions past n_rot pass through unchanged.
}

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

// gelu(x) ~ 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the form Gemma was trained with.
void geglu(const float* gate, const float* up, int64_t n, float* out) {
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float gelu = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * g * (1.0f + 0.044715f * g * g)));
    out[i] = gelu * up[i];
  }
}

void scale(float* x, int64_t n, float factor) {
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

void softcap(float* x, int64_t n, float cap) {
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

void add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void exp(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

}  // namespace lathe::kernels::ref
