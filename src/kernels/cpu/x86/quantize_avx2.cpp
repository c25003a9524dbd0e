#include "kernels/cpu/x86/x86_kernels.h"
namespace lathe::kernels::x86::avx2 {
void install_quantizers(KernelTable&) {}
}  // namespace lathe::kernels::x86::avx2
