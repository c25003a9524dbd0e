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

}  // namespace lathe::cli
