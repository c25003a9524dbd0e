// The model-making and measuring commands: `lathe synth`, `lathe quantize`, `lathe bench` and
// `lathe batched-bench`. Each takes argv after the subcommand name and returns the exit code.
#pragma once

#include <string>
#include <string_view>

namespace lathe::cli {

int run_synth(int argc, char** argv);
int run_quantize(int argc, char** argv);
int run_bench(int argc, char** argv);
int run_batched_bench(int argc, char** argv);

// ArgParser's messages start with the command's name ("bench: unknown flag ..."), and fail()
// adds "lathe bench: " again: this drops the inner one so the line reads once.
inline std::string without_command(std::string_view command, const std::string& message) {
  const std::string prefix = std::string(command) + ": ";
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

}  // namespace lathe::cli
