// `lathe speculative`: speculative decoding with a draft model (-md) or n-gram lookup (--lookup),
// streaming the text and reporting acceptance and the speed-up over the target alone.
#pragma once

namespace lathe::cli {

// argv excludes the program and subcommand names; returns the process exit code.
int run_speculative(int argc, char** argv);

}  // namespace lathe::cli
