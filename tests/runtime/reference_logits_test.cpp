// Every fixture model reproduces llama.cpp's logits and greedy continuations.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "backend/cpu/cpu_backend.h"
#include "runtime/context.h"
#include "support/fixtures.h"
#include "support/reference.h"

namespace lathe {
namespace {

using testing::argmax;
using testing::relative_rms;

struct ModelCase {
  std::string name;
  double tolerance;  // relative RMS of the last prompt position's logits
  // Where the model and its reference live, relative to a fixtures folder.
  std::string model_file() const {
    return name == "stories260K" ? "real/stories260K/stories260K.gguf" : "models/" + name + ".gguf";
  }
  std::string reference_file() const {
    return name == "stories260K" ? "real/stories260K/reference.json" : "reference/" + name + ".json";
  }
};

// Tolerances (docs/ACCURACY.md has the measurements behind them). These random-weight models
// amplify the smallest numeric difference whenever it moves an activation across a rounding
// boundary of its 8-bit (or bf16) quantization: llama.cpp itself, on the same files, differs from
// these references by up to 4.8e-2 between its flash-attention and plain paths, and by up to
// 2.5e-2 between builds. f16 activations round finely enough for the 1e-3 bound to hold; the other
// types are held to the spread llama.cpp shows against itself. A real defect (a wrong rope base,
// a mis-read scale, a transposed weight) moves logits by 0.3 or more.
const ModelCase kModels[] = {
    {"tiny-llama-f16", 1e-3},  {"tiny-llama-bf16", 1e-2},  {"tiny-llama-q8_0", 5e-2},
    {"tiny-llama-q4_0", 5e-2}, {"tiny-llama-q4_k", 5e-2},  {"tiny-llama-q6_k", 5e-2},
    {"tiny-llama-iq4_xs", 5e-2}, {"tiny-qwen2-q4_0", 5e-2}, {"tiny-qwen3-q8_0", 5e-2},
    // A trained model (llama2.c's stories260K, converted by llama.cpp), all f32.
    {"stories260K", 1e-3},
};

double rms(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s / static_cast<double>(v.size()));
}

std::shared_ptr<backend::CpuBackend> make_backend() {
  backend::CpuBackendOptions options;
  options.n_threads = 2;
  return std::make_shared<backend::CpuBackend>(options);
}

class ReferenceLogitsTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ReferenceLogitsTest, MatchesLlamaCpp) {
  const ModelCase& mc = GetParam();
  LATHE_FIXTURE_OR_SKIP(model_path, mc.model_file());
  LATHE_FIXTURE_OR_SKIP(ref_json, mc.reference_file());
  const size_t slash = ref_json.rfind('/');
  const auto ref = testing::load_reference(ref_json.substr(0, slash), ref_json.substr(slash + 1));
  auto model = model::Model::load(model_path);
  ASSERT_TRUE(model) << model.error().message();
  ASSERT_EQ((*model)->hparams().n_vocab, ref.n_vocab);
  auto be = make_backend();

  for (size_t ci = 0; ci < ref.cases.size(); ++ci) {
    const auto& rc = ref.cases[ci];
    SCOPED_TRACE("prompt " + std::to_string(ci));
    runtime::ContextParams params;
    params.n_ctx = 512;
    params.flash_attention = false;  // as the reference was made
    auto ctx = runtime::Context::create(*model, be, params);
    ASSERT_TRUE(ctx) << ctx.error().message();
    runtime::Batch batch;
    batch.add_sequence(rc.tokens, 0, 0);
    ASSERT_TRUE((*ctx)->decode(batch).ok());
    const float* logits = (*ctx)->logits(rc.tokens.size() - 1);
    ASSERT_NE(logits, nullptr);
    const double err = relative_rms(logits, rc.logits.data(), static_cast<size_t>(ref.n_vocab));
    EXPECT_LT(err, mc.tolerance) << mc.name << ": relative RMS " << err;

    // Greedy continuation, up to the first near-tie: a top-2 gap within a few times the logit
    // error the tolerance allows can legitimately go either way.
    const float near_tie = static_cast<float>(3.0 * mc.tolerance * rms(rc.logits));
    int32_t pos = static_cast<int32_t>(rc.tokens.size());
    size_t matched = 0;
    for (size_t g = 0; g < rc.greedy.size(); ++g) {
      float gap = 0;
      const int32_t next = argmax(logits, static_cast<size_t>(ref.n_vocab), &gap);
      if (gap < near_tie) break;
      ASSERT_EQ(next, rc.greedy[g]) << mc.name << ": greedy token " << g << " differs";
      ++matched;
      batch.clear();
      batch.add(next, pos++, {0}, true);
      ASSERT_TRUE((*ctx)->decode(batch).ok());
      logits = (*ctx)->logits(0);
    }
    if (matched == 0) std::printf("%s prompt %zu: the first greedy token is a near-tie\n", mc.name.c_str(), ci);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReferenceLogitsTest, ::testing::ValuesIn(kModels),
                         [](const auto& info) {
                           std::string name = info.param.name;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace lathe
