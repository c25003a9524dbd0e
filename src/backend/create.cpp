#include <memory>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"

namespace lathe::backend {

static_assert(static_cast<int>(BackendOptions::KernelLevel::kBest) ==
                  static_cast<int>(kernels::KernelLevel::kBest) &&
              static_cast<int>(BackendOptions::KernelLevel::kAvx512) ==
                  static_cast<int>(kernels::KernelLevel::kAvx512));

Expected<BackendKind> parse_backend_kind(std::string_view name) {
  if (name == "cpu" || name == "CPU") return BackendKind::kCpu;
  return invalid_argument("backend '", name, "' is not in this build (it has: cpu)");
}

Expected<std::shared_ptr<Backend>> create(BackendKind kind, const BackendOptions& options) {
  if (options.n_threads < 0) {
    return invalid_argument("thread count ", options.n_threads, " must not be negative");
  }
  switch (kind) {
    case BackendKind::kCpu: {
      CpuBackendOptions cpu;
      cpu.n_threads = options.n_threads;
      cpu.kernel_level = static_cast<kernels::KernelLevel>(options.kernel_level);
      cpu.repack_weights = options.repack_weights;
      return std::shared_ptr<Backend>(std::make_shared<CpuBackend>(cpu));
    }
  }
  return invalid_argument("unknown backend kind");
}

}  // namespace lathe::backend
