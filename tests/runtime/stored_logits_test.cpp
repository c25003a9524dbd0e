// The forward pass's logits stay bit-identical across restructurings: every fixture model, at
// every kernel level this CPU runs, gives the exact bytes stored in
// tests/fixtures/stored-logits.json.
//
// The stored hashes were written by the build before the per-layer model spec replaced the
// hard-wired llama block (commit 7db3602), so any change of op order, rounding or kernel choice
// in the forward pass shows up here, where the llama.cpp comparison (reference_logits_test) only
// bounds the error. To record new hashes after a deliberate numeric change, run this test with
// LATHE_STORED_LOGITS_WRITE=1; it rewrites the file in the source tree for the levels this CPU
// has.
//
// Each case runs three scenarios that cover the paths a change could disturb: a long prompt split
// into micro-batches with logits at several positions and then single-token steps (fused
// attention, f16 cache); the plain attention path with a q8_0 cache; and two sequences decoded in
// one batch, then stepped together.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "backend/cpu/cpu_backend.h"
#include "runtime/context.h"
#include "support/fixtures.h"
#include "support/reference.h"

namespace lathe {
namespace {

const char* const kModels[] = {
    "tiny-llama-f16",  "tiny-llama-bf16",   "tiny-llama-q8_0", "tiny-llama-q4_0", "tiny-llama-q4_k",
    "tiny-llama-q6_k", "tiny-llama-iq4_xs", "tiny-qwen2-q4_0", "tiny-qwen3-q8_0", "stories260K",
};

std::string model_file(const std::string& name) {
  return name == "stories260K" ? "real/stories260K/stories260K.gguf" : "models/" + name + ".gguf";
}
std::string reference_file(const std::string& name) {
  return name == "stories260K" ? "real/stories260K/reference.json" : "reference/" + name + ".json";
}

std::string stored_path() {
  return std::string(LATHE_TEST_SOURCE_DIR) + "/fixtures/stored-logits.json";
}

// FNV-1a over the bytes of every logits row, in the order the scenarios produce them.
class LogitsHash {
 public:
  void add(const float* logits, int64_t n) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(logits);
    for (size_t i = 0; i < static_cast<size_t>(n) * sizeof(float); ++i) {
      h_ = (h_ ^ bytes[i]) * 0x100000001b3ull;
    }
    ++rows_;
  }
  std::string hex() const {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%016" PRIx64 "/%d", h_, rows_);
    return buf;
  }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
  int rows_ = 0;
};

int32_t greedy(const float* logits, int64_t n) {
  return testing::argmax(logits, static_cast<size_t>(n));
}

// The kernel table a level gives on this CPU, named by what decides its numerics: the
// instruction set, and on AVX-512 whether BF16 dot products are native.
struct Level {
  kernels::KernelLevel level;
  std::string key;
};

std::vector<Level> levels_of_this_cpu() {
  const CpuFeatures cpu = CpuFeatures::detect();
  std::vector<Level> out;
  std::map<std::string, bool> seen;
  for (kernels::KernelLevel level : {kernels::KernelLevel::kScalar, kernels::KernelLevel::kAvx2,
                                     kernels::KernelLevel::kAvx512}) {
    std::string key = kernels::select_kernels(cpu, level).isa;
    if (key == "avx512" && !cpu.avx512bf16) key += "-nobf16";
    if (seen[key]) continue;
    seen[key] = true;
    out.push_back({level, key});
  }
  return out;
}

// Runs the three scenarios and returns the hash of every logits row they produced.
std::string run_scenarios(const std::shared_ptr<const model::Model>& model,
                          const testing::Reference& ref, kernels::KernelLevel level) {
  backend::CpuBackendOptions bo;
  bo.n_threads = 2;
  bo.kernel_level = level;
  auto be = std::make_shared<backend::CpuBackend>(bo);
  const int64_t n_vocab = model->hparams().n_vocab;
  LogitsHash hash;
  const auto& long_prompt = ref.cases.back().tokens;
  const auto& short_prompt = ref.cases.front().tokens;
  const auto& mid_prompt = ref.cases[ref.cases.size() > 1 ? 1 : 0].tokens;

  {  // A: micro-batches, several logits rows, then steps.
    runtime::ContextParams params;
    params.n_ctx = 512;
    params.n_ubatch = 64;
    auto ctx = runtime::Context::create(model, be, params);
    EXPECT_TRUE(ctx) << ctx.error().message();
    if (!ctx) return "";
    runtime::Batch batch;
    for (size_t i = 0; i < long_prompt.size(); ++i) {
      batch.add(long_prompt[i], static_cast<int32_t>(i), {0},
                i % 37 == 0 || i + 1 == long_prompt.size());
    }
    EXPECT_TRUE((*ctx)->decode(batch).ok());
    const float* last = nullptr;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (const float* l = (*ctx)->logits(i)) {
        hash.add(l, n_vocab);
        last = l;
      }
    }
    int32_t pos = static_cast<int32_t>(long_prompt.size());
    for (int step = 0; step < 3; ++step) {
      batch.clear();
      batch.add(greedy(last, n_vocab), pos++, {0}, true);
      EXPECT_TRUE((*ctx)->decode(batch).ok());
      last = (*ctx)->logits(0);
      hash.add(last, n_vocab);
    }
  }
  {  // B: plain attention, over a q8_0 cache where the heads allow it.
    runtime::ContextParams params;
    params.n_ctx = 256;
    params.flash_attention = false;
    // q8_0 rows need heads of a multiple of 32 values (stories260K's have 8).
    if (model->hparams().head_dim_k % 32 == 0) {
      params.type_k = TensorType::kQ8_0;
      params.type_v = TensorType::kQ8_0;
    }
    auto ctx = runtime::Context::create(model, be, params);
    EXPECT_TRUE(ctx) << ctx.error().message();
    if (!ctx) return "";
    runtime::Batch batch;
    batch.add_sequence(mid_prompt, 0, 0);
    EXPECT_TRUE((*ctx)->decode(batch).ok());
    hash.add((*ctx)->logits(mid_prompt.size() - 1), n_vocab);
  }
  {  // C: two sequences in one batch, then one step of each together.
    runtime::ContextParams params;
    params.n_ctx = 256;
    auto ctx = runtime::Context::create(model, be, params);
    EXPECT_TRUE(ctx) << ctx.error().message();
    if (!ctx) return "";
    runtime::Batch batch;
    batch.add_sequence(short_prompt, 0, 0);
    batch.add_sequence(mid_prompt, 0, 1);
    EXPECT_TRUE((*ctx)->decode(batch).ok());
    const float* l0 = (*ctx)->logits(short_prompt.size() - 1);
    const float* l1 = (*ctx)->logits(batch.size() - 1);
    hash.add(l0, n_vocab);
    hash.add(l1, n_vocab);
    const int32_t t0 = greedy(l0, n_vocab);
    const int32_t t1 = greedy(l1, n_vocab);
    batch.clear();
    batch.add(t0, static_cast<int32_t>(short_prompt.size()), {0}, true);
    batch.add(t1, static_cast<int32_t>(mid_prompt.size()), {1}, true);
    EXPECT_TRUE((*ctx)->decode(batch).ok());
    hash.add((*ctx)->logits(0), n_vocab);
    hash.add((*ctx)->logits(1), n_vocab);
  }
  return hash.hex();
}

nlohmann::json read_stored() {
  std::ifstream in(stored_path());
  if (!in) return nlohmann::json::object();
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

class StoredLogitsTest : public ::testing::TestWithParam<const char*> {};

TEST_P(StoredLogitsTest, BitIdenticalToStored) {
  const std::string name = GetParam();
  LATHE_FIXTURE_OR_SKIP(model_path, model_file(name));
  LATHE_FIXTURE_OR_SKIP(ref_json, reference_file(name));
  const size_t slash = ref_json.rfind('/');
  const auto ref = testing::load_reference(ref_json.substr(0, slash), ref_json.substr(slash + 1));
  auto model = model::Model::load(model_path);
  ASSERT_TRUE(model) << model.error().message();

  const bool write = std::getenv("LATHE_STORED_LOGITS_WRITE") != nullptr;
  nlohmann::json stored = read_stored();
  ASSERT_FALSE(stored.is_discarded()) << stored_path() << " is not valid JSON";
  int compared = 0;
  for (const Level& level : levels_of_this_cpu()) {
    SCOPED_TRACE(level.key);
    const std::string got = run_scenarios(*model, ref, level.level);
    const std::string key = name + "/" + level.key;
    if (write) {
      stored[key] = got;
      continue;
    }
    if (!stored.contains(key)) {
      std::printf("%s: no stored logits for kernel level %s on this CPU\n", name.c_str(),
                  level.key.c_str());
      continue;
    }
    EXPECT_EQ(got, stored[key].get<std::string>()) << key << ": logits differ from the stored ones";
    ++compared;
  }
  if (write) {
    // Read again right before writing: the cases of this suite may run as separate processes.
    nlohmann::json merged = read_stored();
    if (merged.is_discarded()) merged = nlohmann::json::object();
    for (auto& [k, v] : stored.items()) merged[k] = v;
    std::ofstream out(stored_path());
    out << merged.dump(2) << "\n";
    GTEST_SKIP() << "wrote stored logits for " << name;
  }
  // The scalar reference level exists on every CPU, so its hash is always compared.
  EXPECT_GT(compared, 0) << name << ": nothing to compare against";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, StoredLogitsTest, ::testing::ValuesIn(kModels),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (c == '-' || c == '.') c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace lathe
