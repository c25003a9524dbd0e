// Time per sampled token over a 128k vocabulary (Llama 3's 128256), for the chains lathe runs.
// Budget: sampling must stay under ~2% of a 1B model's decode step, about 0.5 ms.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "sampling/sampler.h"

namespace {

using lathe::sampling::Sampler;
using lathe::sampling::SamplerParams;

constexpr int32_t kVocab = 128256;

// Logits shaped like a trained model's: mostly noise with a few strong candidates, so the filters
// keep realistic numbers of tokens. Several rows, so caches do not learn one.
const std::vector<std::vector<float>>& logit_rows() {
  static const std::vector<std::vector<float>> rows = [] {
    std::mt19937 rng(1234);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    std::vector<std::vector<float>> out(8, std::vector<float>(kVocab));
    for (auto& row : out) {
      for (float& l : row) l = normal(rng);
      for (int i = 0; i < 20; ++i) row[rng() % kVocab] += 8.0f + static_cast<float>(i % 5);
    }
    return out;
  }();
  return rows;
}

void run(benchmark::State& state, SamplerParams params) {
  params.seed = 42;
  auto sampler = Sampler::create(params, kVocab);
  if (!sampler.has_value()) {
    state.SkipWithError(sampler.error().message().c_str());
    return;
  }
  const auto& rows = logit_rows();
  size_t i = 0;
  for (auto _ : state) {
    auto token = sampler->sample(rows[i++ % rows.size()]);
    if (!token.has_value() || !sampler->accept(*token).ok()) {
      state.SkipWithError("sampling failed");
      return;
    }
    benchmark::DoNotOptimize(*token);
  }
  state.SetLabel(sampler->describe());
}

SamplerParams with_sequence(const char* seq) {
  SamplerParams p;
  p.sequence = *lathe::sampling::parse_sampler_sequence(seq);
  return p;
}

void BM_DefaultChain(benchmark::State& state) {
  run(state, SamplerParams{});
}

void BM_KMT(benchmark::State& state) {
  run(state, with_sequence("k,m,t"));
}

void BM_DefaultChainWithPenalties(benchmark::State& state) {
  SamplerParams p;
  p.repeat_penalty = 1.1f;
  p.frequency_penalty = 0.1f;
  run(state, p);
}

void BM_Greedy(benchmark::State& state) {
  SamplerParams p;
  p.temp = 0.0f;
  run(state, p);
}

// No top-k: top-p and min-p see the whole vocabulary, and the final softmax covers what is left.
void BM_TopPMinPNoTopK(benchmark::State& state) {
  SamplerParams p;
  p.top_k = 0;
  run(state, p);
}

// Temperature only: the final distribution is a softmax over all 128k tokens.
void BM_TemperatureOnly(benchmark::State& state) {
  run(state, with_sequence("t"));
}

BENCHMARK(BM_DefaultChain)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_KMT)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DefaultChainWithPenalties)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Greedy)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TopPMinPNoTopK)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TemperatureOnly)->Unit(benchmark::kMicrosecond);

}  // namespace
