// The forward pass reads the model's spec and nothing else: architectures it has never seen,
// declared in a test (toy_arch.h), run through it unchanged and match a plain reference
// implementation of what their spec says, written out here in doubles.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "gguf/gguf_writer.h"
#include "gguf/tensor_names.h"
#include "model/model.h"
#include "runtime/context.h"
#include "runtime/toy_arch.h"
#include "support/fixtures.h"
#include "support/reference.h"

namespace lathe {
namespace {

using gguf::TensorRole;
using Matrix = std::vector<float>;  // row-major [rows, cols]

// The shape and the parts of a toy model, and its random weights.
struct Toy {
  std::string arch = "llama-postnorm";
  int64_t n_vocab = 61, n_embd = 32, n_layer = 2, n_head = 4, n_head_kv = 2, n_ff = 40;
  float rope_base = 10000.0f, eps = 1e-5f;
  bool post_norm = false;
  bool fused = false;  // attn_qkv and ffn_up (gate, then up)
  bool geglu = false;
  bool neox = false;
  int32_t window = 0;  // on even layers
  float embedding_scale = 1.0f;
  float softcap = 0.0f;

  struct Layer {
    std::vector<float> attn_norm, post_attn, ffn_norm, post_ffn;
    Matrix wq, wk, wv, wo, gate, up, down;
  };
  Matrix embd, output;
  std::vector<float> output_norm;
  std::vector<Layer> layers;

  int64_t head_dim() const { return n_embd / n_head; }
  int64_t n_kv() const { return n_head_kv * head_dim(); }

  void randomize(uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.25f);
    auto fill = [&](size_t n, float offset = 0.0f) {
      std::vector<float> v(n);
      for (float& x : v) x = offset + normal(rng);
      return v;
    };
    const auto e = static_cast<size_t>(n_embd);
    embd = fill(static_cast<size_t>(n_vocab) * e);
    output = fill(static_cast<size_t>(n_vocab) * e);
    output_norm = fill(e, 1.0f);
    layers.resize(static_cast<size_t>(n_layer));
    for (Layer& L : layers) {
      L.attn_norm = fill(e, 1.0f);
      L.post_attn = fill(e, 1.0f);
      L.ffn_norm = fill(e, 1.0f);
      L.post_ffn = fill(e, 1.0f);
      L.wq = fill(e * e);
      L.wk = fill(static_cast<size_t>(n_kv()) * e);
      L.wv = fill(static_cast<size_t>(n_kv()) * e);
      L.wo = fill(e * e);
      L.gate = fill(static_cast<size_t>(n_ff) * e);
      L.up = fill(static_cast<size_t>(n_ff) * e);
      L.down = fill(e * static_cast<size_t>(n_ff));
    }
  }

  // A GGUF file of the toy, all weights f32, tensors named through the one table.
  Status write(const std::string& path, bool with_post_norms) const {
    gguf::Writer w;
    w.set_string("general.architecture", arch);
    const std::string p = arch + ".";
    w.set_u32(p + "embedding_length", static_cast<uint32_t>(n_embd));
    w.set_u32(p + "block_count", static_cast<uint32_t>(n_layer));
    w.set_u32(p + "feed_forward_length", static_cast<uint32_t>(n_ff));
    w.set_u32(p + "attention.head_count", static_cast<uint32_t>(n_head));
    w.set_u32(p + "attention.head_count_kv", static_cast<uint32_t>(n_head_kv));
    w.set_u32(p + "context_length", 256);
    w.set_f32(p + "rope.freq_base", rope_base);
    w.set_f32(p + "attention.layer_norm_rms_epsilon", eps);
    if (arch == "toy-mix") {
      w.set_u32(p + "attention.sliding_window", static_cast<uint32_t>(window));
      w.set_f32(p + "final_logit_softcapping", softcap);
    }
    std::vector<std::vector<float>> data;
    auto add = [&](TensorRole role, int64_t layer, std::vector<float> values,
                   int64_t cols) -> Status {
      const int64_t rows = static_cast<int64_t>(values.size()) / cols;
      std::vector<int64_t> shape{cols};
      if (rows > 1 || role == TensorRole::kOutput || role == TensorRole::kTokenEmbd)
        shape.push_back(rows);
      LATHE_RETURN_IF_ERROR(w.add_tensor(gguf::tensor_name(role, layer), TensorType::kF32, shape));
      data.push_back(std::move(values));
      return Status();
    };
    auto concat = [](std::initializer_list<const Matrix*> parts) {
      Matrix out;
      for (const Matrix* m : parts) out.insert(out.end(), m->begin(), m->end());
      return out;
    };
    LATHE_RETURN_IF_ERROR(add(TensorRole::kTokenEmbd, -1, embd, n_embd));
    for (int64_t il = 0; il < n_layer; ++il) {
      const Layer& L = layers[static_cast<size_t>(il)];
      LATHE_RETURN_IF_ERROR(add(TensorRole::kAttnNorm, il, L.attn_norm, n_embd));
      if (fused) {
        LATHE_RETURN_IF_ERROR(add(TensorRole::kAttnQkv, il, concat({&L.wq, &L.wk, &L.wv}), n_embd));
      } else {
        LATHE_RETURN_IF_ERROR(add(TensorRole::kAttnQ, il, L.wq, n_embd));
        LATHE_RETURN_IF_ERROR(add(TensorRole::kAttnK, il, L.wk, n_embd));
        LATHE_RETURN_IF_ERROR(add(TensorRole::kAttnV, il, L.wv, n_embd));
      }
      LATHE_RETURN_IF_ERROR(add(TensorRole::kAttnOutput, il, L.wo, n_embd));
      if (with_post_norms)
        LATHE_RETURN_IF_ERROR(add(TensorRole::kAttnPostNorm, il, L.post_attn, n_embd));
      LATHE_RETURN_IF_ERROR(add(TensorRole::kFfnNorm, il, L.ffn_norm, n_embd));
      if (fused) {
        LATHE_RETURN_IF_ERROR(add(TensorRole::kFfnUp, il, concat({&L.gate, &L.up}), n_embd));
      } else {
        LATHE_RETURN_IF_ERROR(add(TensorRole::kFfnGate, il, L.gate, n_embd));
        LATHE_RETURN_IF_ERROR(add(TensorRole::kFfnUp, il, L.up, n_embd));
      }
      LATHE_RETURN_IF_ERROR(add(TensorRole::kFfnDown, il, L.down, n_ff));
      if (with_post_norms)
        LATHE_RETURN_IF_ERROR(add(TensorRole::kFfnPostNorm, il, L.post_ffn, n_embd));
    }
    LATHE_RETURN_IF_ERROR(add(TensorRole::kOutputNorm, -1, output_norm, n_embd));
    LATHE_RETURN_IF_ERROR(add(TensorRole::kOutput, -1, output, n_embd));
    std::vector<std::span<const uint8_t>> views;
    for (const auto& d : data) {
      views.emplace_back(reinterpret_cast<const uint8_t*>(d.data()), d.size() * sizeof(float));
    }
    return w.write_file(path, views);
  }

  // What the spec says, computed plainly in doubles: logits of the last token of `tokens`.
  std::vector<double> reference_logits(const std::vector<int32_t>& tokens) const {
    const int64_t n = static_cast<int64_t>(tokens.size()), e = n_embd, d = head_dim();
    using Rows = std::vector<std::vector<double>>;
    auto matvec = [](const Matrix& w, const std::vector<double>& x, int64_t rows) {
      const size_t cols = x.size();
      std::vector<double> y(static_cast<size_t>(rows));
      for (size_t r = 0; r < y.size(); ++r) {
        double s = 0;
        for (size_t c = 0; c < cols; ++c) s += static_cast<double>(w[r * cols + c]) * x[c];
        y[r] = s;
      }
      return y;
    };
    auto rms = [&](const std::vector<double>& x, const std::vector<float>& w) {
      double ss = 0;
      for (double v : x) ss += v * v;
      const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
      std::vector<double> y(x.size());
      for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * w[i];
      return y;
    };
    auto rope = [&](std::vector<double>& x, int64_t heads, int64_t pos) {
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = 0; i < d / 2; ++i) {
          const double theta = pos * std::pow(static_cast<double>(rope_base), -2.0 * i / d);
          const int64_t a = h * d + (neox ? i : 2 * i), b = h * d + (neox ? i + d / 2 : 2 * i + 1);
          const double x0 = x[static_cast<size_t>(a)], x1 = x[static_cast<size_t>(b)];
          x[static_cast<size_t>(a)] = x0 * std::cos(theta) - x1 * std::sin(theta);
          x[static_cast<size_t>(b)] = x0 * std::sin(theta) + x1 * std::cos(theta);
        }
      }
    };
    Rows x(static_cast<size_t>(n));
    for (int64_t t = 0; t < n; ++t) {
      const float* row = embd.data() + tokens[static_cast<size_t>(t)] * e;
      for (int64_t i = 0; i < e; ++i)
        x[static_cast<size_t>(t)].push_back(row[i] * static_cast<double>(embedding_scale));
    }
    for (int64_t il = 0; il < n_layer; ++il) {
      const Layer& L = layers[static_cast<size_t>(il)];
      const int64_t layer_window = il % 2 == 0 ? window : 0;
      Rows q(static_cast<size_t>(n)), k(static_cast<size_t>(n)), v(static_cast<size_t>(n));
      for (int64_t t = 0; t < n; ++t) {
        const auto h = rms(x[static_cast<size_t>(t)], L.attn_norm);
        q[static_cast<size_t>(t)] = matvec(L.wq, h, e);
        k[static_cast<size_t>(t)] = matvec(L.wk, h, n_kv());
        v[static_cast<size_t>(t)] = matvec(L.wv, h, n_kv());
        rope(q[static_cast<size_t>(t)], n_head, t);
        rope(k[static_cast<size_t>(t)], n_head_kv, t);
      }
      for (int64_t t = 0; t < n; ++t) {
        std::vector<double> attn(static_cast<size_t>(e));
        for (int64_t hq = 0; hq < n_head; ++hq) {
          const int64_t hk = hq / (n_head / n_head_kv);
          const int64_t first = layer_window > 0 ? std::max<int64_t>(0, t - layer_window + 1) : 0;
          std::vector<double> scores;
          double top = -1e300;
          for (int64_t s = first; s <= t; ++s) {
            double dot = 0;
            for (int64_t i = 0; i < d; ++i) {
              dot += q[static_cast<size_t>(t)][static_cast<size_t>(hq * d + i)] *
                     k[static_cast<size_t>(s)][static_cast<size_t>(hk * d + i)];
            }
            scores.push_back(dot / std::sqrt(static_cast<double>(d)));
            top = std::max(top, scores.back());
          }
          double sum = 0;
          for (double& sc : scores) sum += (sc = std::exp(sc - top));
          for (int64_t s = first; s <= t; ++s) {
            for (int64_t i = 0; i < d; ++i) {
              attn[static_cast<size_t>(hq * d + i)] +=
                  scores[static_cast<size_t>(s - first)] / sum *
                  v[static_cast<size_t>(s)][static_cast<size_t>(hk * d + i)];
            }
          }
        }
        auto o = matvec(L.wo, attn, e);
        if (post_norm) o = rms(o, L.post_attn);
        for (int64_t i = 0; i < e; ++i)
          x[static_cast<size_t>(t)][static_cast<size_t>(i)] += o[static_cast<size_t>(i)];
        const auto h = rms(x[static_cast<size_t>(t)], L.ffn_norm);
        const auto g = matvec(L.gate, h, n_ff);
        const auto u = matvec(L.up, h, n_ff);
        std::vector<double> a(static_cast<size_t>(n_ff));
        for (size_t i = 0; i < a.size(); ++i) {
          const double gi = g[i];
          const double act = geglu ? 0.5 * gi *
                                         (1 + std::tanh(std::sqrt(2 / std::numbers::pi) *
                                                        (gi + 0.044715 * gi * gi * gi)))
                                   : gi / (1 + std::exp(-gi));
          a[i] = act * u[i];
        }
        auto down = matvec(L.down, a, e);
        if (post_norm) down = rms(down, L.post_ffn);
        for (int64_t i = 0; i < e; ++i)
          x[static_cast<size_t>(t)][static_cast<size_t>(i)] += down[static_cast<size_t>(i)];
      }
    }
    auto logits = matvec(output, rms(x.back(), output_norm), n_vocab);
    if (softcap > 0) {
      for (double& l : logits) l = softcap * std::tanh(l / softcap);
    }
    return logits;
  }
};

// lathe's logits for the last token, at the scalar kernel level (f32 weights stay f32 there).
std::vector<float> lathe_logits(const std::string& path, const std::vector<int32_t>& tokens,
                                bool flash) {
  const model::ArchSpec* extra[] = {&testing::kLlamaPostNorm, &testing::kToyMix};
  model::LoadOptions load;
  load.extra_archs = extra;
  auto model = model::Model::load(path, load);
  EXPECT_TRUE(model) << model.error().message();
  if (!model) return {};
  backend::BackendOptions bo;
  bo.n_threads = 2;
  bo.kernel_level = backend::BackendOptions::KernelLevel::kScalar;
  auto be = backend::create(backend::BackendKind::kCpu, bo);
  EXPECT_TRUE(be) << be.error().message();
  runtime::ContextParams params;
  params.n_ctx = 64;
  params.n_ubatch = 4;  // several micro-batches, so windows cross them
  params.flash_attention = flash;
  auto ctx = runtime::Context::create(*model, *be, params);
  EXPECT_TRUE(ctx) << ctx.error().message();
  if (!ctx) return {};
  runtime::Batch batch;
  batch.add_sequence(tokens, 0, 0);
  const Status status = (*ctx)->decode(batch);
  EXPECT_TRUE(status.ok()) << status.message();
  const float* l = (*ctx)->logits(tokens.size() - 1);
  if (l == nullptr) return {};
  return std::vector<float>(l, l + (*model)->hparams().n_vocab);
}

double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

// K and V are cached as f16 (2^-11 relative rounding); everything else is f32 against doubles.
constexpr double kTolerance = 1e-3;

const std::vector<int32_t> kTokens = {1, 17, 42, 3, 60, 8, 25, 33, 11, 5};

TEST(ArchVariant, LlamaWithPostNormsMatchesItsSpec) {
  Toy toy;
  toy.post_norm = true;
  toy.randomize(7);
  const std::string path = testing::make_temp_dir("arch_variant") + "/postnorm.gguf";
  ASSERT_TRUE(toy.write(path, /*with_post_norms=*/true).ok());
  const auto want = toy.reference_logits(kTokens);
  for (bool flash : {true, false}) {
    const auto got = lathe_logits(path, kTokens, flash);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_LT(relative_error(got, want), kTolerance) << "flash " << flash;
  }
  // The post-norms change the result: the same weights without them are another model.
  Toy plain = toy;
  plain.post_norm = false;
  EXPECT_GT(relative_error(lathe_logits(path, kTokens, true), plain.reference_logits(kTokens)),
            20 * kTolerance);
}

TEST(ArchVariant, SpecNamesTheTensorsTheLoaderRequires) {
  Toy toy;
  toy.randomize(8);
  const std::string path = testing::make_temp_dir("arch_variant") + "/missing.gguf";
  ASSERT_TRUE(toy.write(path, /*with_post_norms=*/false).ok());
  const model::ArchSpec* extra[] = {&testing::kLlamaPostNorm};
  model::LoadOptions load;
  load.extra_archs = extra;
  auto model = model::Model::load(path, load);
  ASSERT_FALSE(model);
  EXPECT_NE(model.error().message().find("blk.0.post_attention_norm.weight"), std::string::npos)
      << model.error().message();
  // Without the caller's description the architecture is unknown, and says so.
  auto unknown = model::Model::load(path);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("llama-postnorm"), std::string::npos);
}

TEST(ArchVariant, FusedGegluWindowScaleSoftcapMatchesItsSpec) {
  Toy toy;
  toy.arch = "toy-mix";
  toy.fused = true;
  toy.geglu = true;
  toy.neox = true;
  toy.window = 3;
  toy.embedding_scale = std::sqrt(32.0f);
  toy.softcap = 5.0f;
  toy.randomize(9);
  const std::string path = testing::make_temp_dir("arch_variant") + "/mix.gguf";
  ASSERT_TRUE(toy.write(path, /*with_post_norms=*/false).ok());
  const auto want = toy.reference_logits(kTokens);
  for (bool flash : {true, false}) {
    const auto got = lathe_logits(path, kTokens, flash);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_LT(relative_error(got, want), kTolerance) << "flash " << flash;
  }
  // The window matters: the same model attending to everything is another model.
  Toy global = toy;
  global.window = 0;
  EXPECT_GT(relative_error(lathe_logits(path, kTokens, true), global.reference_logits(kTokens)),
            20 * kTolerance);
}

}  // namespace
}  // namespace lathe
