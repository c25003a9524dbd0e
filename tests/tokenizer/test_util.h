// Helpers shared by the tokenizer tests: locating llama.cpp's vocab fixtures and reading their
// .inp/.out test cases the way llama.cpp's test-tokenizer-0 does.
#pragma once

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/log.h"
#include "gguf/gguf.h"
#include "support/fixtures.h"
#include "tokenizer/tokenizer.h"

namespace lathe::tokenizer::testing {

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// tests/fixtures/tokenizer/NAME when the repository carries it, else ../shared/fixtures/tokenizer.
inline std::optional<std::string> vocab_fixture(const std::string& file) {
  const std::string local = lathe::testing::fixture_path("tokenizer/" + file);
  if (std::ifstream(local).good()) return local;
  return lathe::testing::shared_fixture_path("tokenizer/" + file);
}

struct VocabCase {
  std::string text;
  std::vector<TokenId> ids;
};

// Inputs are separated by "\n__ggml_vocab_test__\n"; outputs are one line of ids per input.
inline std::vector<VocabCase> read_vocab_cases(const std::string& inp_path,
                                               const std::string& out_path) {
  const std::string raw = read_text_file(inp_path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::ifstream out(out_path);
  std::vector<VocabCase> cases;
  std::string line;
  for (size_t i = 0; std::getline(out, line); ++i) {
    VocabCase c;
    c.text = i < inputs.size() ? inputs[i] : std::string();
    std::istringstream ids(line);
    for (long id; ids >> id;) c.ids.push_back(static_cast<TokenId>(id));
    cases.push_back(std::move(c));
  }
  if (cases.size() != inputs.size()) cases.clear();  // the caller reports the mismatch
  return cases;
}

inline Logger quiet_logger() {
  return Logger(LogLevel::kError, stderr);
}

inline Expected<Tokenizer> load_tokenizer(const std::string& path) {
  LATHE_ASSIGN_OR_RETURN(auto file, gguf::File::open(path));
  return Tokenizer::from_gguf(file, quiet_logger());
}

inline std::string ids_to_string(const std::vector<TokenId>& ids) {
  std::string s;
  for (TokenId id : ids) s += std::to_string(id) + " ";
  return s;
}

}  // namespace lathe::tokenizer::testing
