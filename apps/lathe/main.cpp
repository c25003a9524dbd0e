// lathe: runs GGUF language models and measures them against the hardware's limits.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "bench_commands.h"
#include "commands.h"
#include "convert_command.h"
#include "hw_command.h"
#include "spec_command.h"

namespace lathe::cli {

int fail(std::string_view command, const std::string& message) {
  std::fprintf(stderr, "lathe %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               message.c_str());
  return 1;
}

namespace {

constexpr Command kCommands[] = {
    {"run", "generate text from a prompt", run_run},
    {"chat", "chat with a model interactively", run_chat},
    {"bench", "measure prompt and generation speed against the hardware's roofs", run_bench},
    {"batched-bench", "measure decoding many sequences at once", run_batched_bench},
    {"speculative", "speculative decoding with a draft model or n-gram lookup", run_speculative},
    {"perplexity", "perplexity of a model over a text, as llama-perplexity computes it",
     run_perplexity},
    {"hw", "measure this machine's memory bandwidth and compute peak", run_hw},
    {"synth", "write a random-weight model of a real model's shape", run_synth},
    {"quantize", "re-quantize a GGUF model to another weight type", run_quantize},
    {"convert", "convert a llama2.c checkpoint or Hugging Face model to GGUF", run_convert},
    {"gguf-info", "print a GGUF file's metadata and tensor table", run_gguf_info},
};

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: lathe <command> [options]\n\ncommands:\n");
  for (const auto& c : kCommands) {
    std::fprintf(out, "  %-16.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                 static_cast<int>(c.summary.size()), c.summary.data());
  }
  std::fprintf(out, "\n`lathe <command> --help` describes a command's options.\n");
}

}  // namespace
}  // namespace lathe::cli

int main(int argc, char** argv) {
  using namespace lathe::cli;
  if (argc < 2 || std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 1 : 0;
  }
  for (const auto& c : kCommands) {
    if (c.name != argv[1]) continue;
    // Errors come back as Status; what still throws (std::bad_alloc, a refused thread in a
    // library lathe calls) must end as one line and exit code 1 like any other error, not as an
    // abort with a core dump.
    try {
      return c.run(argc - 2, argv + 2);
    } catch (const std::bad_alloc&) {
      return fail(c.name, "out of memory (std::bad_alloc)");
    } catch (const std::exception& e) {
      return fail(c.name, e.what());
    } catch (...) {
      return fail(c.name, "unexpected error of an unknown kind");
    }
  }
  std::fprintf(stderr, "lathe: unknown command '%s'\n\n", argv[1]);
  print_usage(stderr);
  return 1;
}
