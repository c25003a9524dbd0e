// Repacked weights replace the mapped ones: once a model has decoded, the pages of its file that
// stay mapped in the process are the few the repacked copies did not replace, not a second copy of
// the weights brought back by embedding lookups or norm reads.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "runtime/context.h"
#include "support/fixtures.h"

namespace lathe {
namespace {

// Resident bytes of this process's mappings of `path` (the Rss lines of /proc/self/smaps), or -1
// when the kernel does not say.
int64_t resident_bytes_of_mapping(const std::string& path) {
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) return -1;
  std::string line;
  bool in_mapping = false;
  bool found = false;
  int64_t total_kb = 0;
  while (std::getline(smaps, line)) {
    // A mapping's header: "start-end perms offset dev inode [path]".
    const size_t dash = line.find('-');
    if (dash != std::string::npos && dash > 0 && line.find(':') > dash &&
        std::isxdigit(static_cast<unsigned char>(line[0]))) {
      in_mapping = line.size() >= path.size() &&
                   line.compare(line.size() - path.size(), path.size(), path) == 0;
      found = found || in_mapping;
      continue;
    }
    if (in_mapping && line.rfind("Rss:", 0) == 0) {
      std::istringstream fields(line.substr(4));
      int64_t kb = 0;
      fields >> kb;
      total_kb += kb;
    }
  }
  return found ? total_kb * 1024 : -1;
}

TEST(WeightMemory, DecodingDoesNotBringBackReleasedWeightPages) {
  auto path = testing::any_fixture_path("models/tiny-llama-q4_0.gguf");
  if (!path) GTEST_SKIP() << "models/tiny-llama-q4_0.gguf is absent";
  char resolved[4096];
  ASSERT_NE(realpath(path->c_str(), resolved), nullptr);
  const std::string file_path = resolved;
  auto model = model::Model::load(file_path);
  ASSERT_TRUE(model) << model.error().message();
  ASSERT_TRUE((*model)->hparams().tied_output) << "the fixture's output matrix is token_embd";
  backend::CpuBackendOptions options;
  options.n_threads = 2;
  auto backend = std::make_shared<backend::CpuBackend>(options);
  runtime::ContextParams params;
  params.n_ctx = 512;
  auto ctx = runtime::Context::create(*model, backend, params);
  ASSERT_TRUE(ctx) << ctx.error().message();

  // Tokens spread over the whole vocabulary, so that lookups through the mapping would touch
  // every part of the table. The first batch repacks (and releases) the weights; the second one
  // looks up rows of a table whose mapped pages were released.
  const int64_t n_vocab = (*ctx)->n_vocab();
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<int32_t> tokens;
    for (int i = 0; i < 200; ++i) {
      tokens.push_back(static_cast<int32_t>((i * 7919L + pass * 101) % n_vocab));
    }
    runtime::Batch batch;
    batch.add_sequence(tokens, pass * 200, 0);
    Status status = (*ctx)->decode(batch);
    ASSERT_TRUE(status.ok()) << status.message();
  }
  if (backend->repacked_bytes() == 0) GTEST_SKIP() << "no repacking kernels on this CPU";

  const int64_t resident = resident_bytes_of_mapping(file_path);
  if (resident < 0) GTEST_SKIP() << "/proc/self/smaps does not list the mapping";
  const auto file_bytes = static_cast<int64_t>((*model)->file().mapped().size());
  // Every matrix of the fixture is repacked (token_embd is 65 % of the file); what may stay is
  // the header, the vocabulary and the pages at tensor boundaries.
  EXPECT_LT(resident, file_bytes / 5) << "resident " << resident << " of " << file_bytes;
}

}  // namespace
}  // namespace lathe
