// Reference text from llama.cpp itself (not part of lathe's build): for each of the first 200
// cases of random-cases.inp, llama_tokenize(add_special, parse_special) then llama_detokenize
// three ways (remove_special/unparse_special = 0/0, 1/1, 0/1), each printed as hex, one line per
// case. Produced tests/fixtures/tokenizer/random-cases.NAME.decode.out; build it like
// scripts/tokenizer-reference.cpp.
#include "llama.h"
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
int main(int argc, char** argv) {
  llama_backend_init();
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  auto mp = llama_model_default_params(); mp.vocab_only = true;
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::ifstream in(argv[2], std::ios::binary); std::stringstream ss; ss << in.rdbuf(); std::string raw = ss.str();
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases; size_t pos = 0;
  while (pos < raw.size()) { size_t n = raw.find(sep, pos); if (n == std::string::npos) { cases.push_back(raw.substr(pos)); break; } cases.push_back(raw.substr(pos, n - pos)); pos = n + sep.size(); }
  for (auto& c : cases) {
    std::vector<llama_token> toks(c.size() + 16);
    int n = llama_tokenize(vocab, c.data(), c.size(), toks.data(), toks.size(), true, true);
    toks.resize(n);
    for (int mode = 0; mode < 3; ++mode) {
      bool rs = mode == 1, us = mode >= 1;
      std::string out(c.size() * 4 + 64, '\0');
      int m = llama_detokenize(vocab, toks.data(), n, out.data(), out.size(), rs, us);
      out.resize(m < 0 ? 0 : m);
      for (unsigned char ch : out) printf("%02x", ch);
      printf(mode < 2 ? " " : "\n");
    }
  }
}
