// `lathe hw`: measures (or loads from the cache) this machine's memory bandwidth and compute peaks.
#pragma once

namespace lathe::cli {

// argv excludes the program and subcommand names; returns the process exit code.
int run_hw(int argc, char** argv);

}  // namespace lathe::cli
