// Reference ids from llama.cpp itself (not part of lathe's build): llama_tokenize over a
// vocab-only load, one line of ids per input case (cases separated by
// "\n__ggml_vocab_test__\n"). Produced tests/fixtures/tokenizer/random-cases.*.out:
//
//   g++ -O1 -std=c++17 -I$LLAMA/include -I$LLAMA/ggml/include scripts/tokenizer-reference.cpp \
//       -o reftok -L$LLAMA_BUILD/bin -lllama -lggml -lggml-base -Wl,-rpath,$LLAMA_BUILD/bin
//   reftok ggml-vocab-NAME.gguf random-cases.inp 0 0 > random-cases.NAME.plain.out
//   reftok ggml-vocab-NAME.gguf random-cases.inp 1 1 > random-cases.NAME.special.out
//
// usage: reftok VOCAB.gguf INPUT parse_special(0/1) add_special(0/1)
#include "llama.h"
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
int main(int argc, char** argv) {
  llama_backend_init();
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  auto mp = llama_model_default_params();
  mp.vocab_only = true;
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (!model) { fprintf(stderr, "load failed\n"); return 1; }
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::ifstream in(argv[2], std::ios::binary); std::stringstream ss; ss << in.rdbuf(); std::string raw = ss.str();
  bool parse_special = atoi(argv[3]), add_special = atoi(argv[4]);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases; size_t pos = 0;
  while (pos < raw.size()) { size_t n = raw.find(sep, pos); if (n == std::string::npos) { cases.push_back(raw.substr(pos)); break; } cases.push_back(raw.substr(pos, n - pos)); pos = n + sep.size(); }
  for (auto& c : cases) {
    std::vector<llama_token> toks(c.size() + 16);
    int n = llama_tokenize(vocab, c.data(), c.size(), toks.data(), toks.size(), add_special, parse_special);
    if (n < 0) { toks.resize(-n); n = llama_tokenize(vocab, c.data(), c.size(), toks.data(), toks.size(), add_special, parse_special); }
    for (int i = 0; i < n; ++i) printf("%d ", toks[i]);
    printf("\n");
  }
  llama_model_free(model);
}
