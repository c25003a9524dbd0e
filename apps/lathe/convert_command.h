// `lathe convert`: llama2.c checkpoints and Hugging Face Llama-family folders to GGUF.
#pragma once

namespace lathe::cli {

// argv excludes the program and subcommand names; returns the exit code.
int run_convert(int argc, char** argv);

}  // namespace lathe::cli
