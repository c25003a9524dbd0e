// The `lathe` subcommands. Each one parses its own flags and returns the process exit code.
#pragma once

#include <string_view>

namespace lathe::cli {

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*run)(int argc, char** argv);  // argv excludes the program and subcommand names
};

int run_gguf_info(int argc, char** argv);
int run_run(int argc, char** argv);
int run_chat(int argc, char** argv);
int run_perplexity(int argc, char** argv);

// Prints "lathe <command>: <message>" to stderr and returns 1 (for `return fail(status)`).
int fail(std::string_view command, const std::string& message);

}  // namespace lathe::cli
