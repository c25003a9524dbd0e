// Every weight type the model loader accepts has a matmul at every kernel level: a hole in the
// table would be a null call at run time.
#include <gtest/gtest.h>

#include "core/cpu_features.h"
#include "kernels/cpu/kernels.h"
#include "quant/quant.h"

namespace lathe::kernels {
namespace {

TEST(KernelTableCoverage, EveryComputableTypeHasAMatmulAndItsActivationQuantizer) {
  const CpuFeatures cpu = CpuFeatures::detect();
  for (KernelLevel level : {KernelLevel::kScalar, KernelLevel::kAvx2, KernelLevel::kAvx512,
                            KernelLevel::kBest}) {
    const KernelTable table = select_kernels(cpu, level);
    for (uint32_t id = 0; id < kTypeSlots; ++id) {
      const auto info = tensor_type_info(id);
      if (!info) continue;
      const quant::TypeTraits* traits = quant::type_traits(info->type);
      if (traits == nullptr || traits->vec_dot == nullptr) continue;  // not a weight format
      SCOPED_TRACE(std::string(info->name) + " at " + table.isa);
      EXPECT_NE(table.matmul_for(info->type), nullptr);
      EXPECT_NE(table.dequantize_for(info->type), nullptr);
      EXPECT_NE(table.quantize_for(table.vec_dot_type_for(info->type)), nullptr);
    }
  }
}

}  // namespace
}  // namespace lathe::kernels
