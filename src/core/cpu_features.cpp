#include "core/cpu_features.h"

#include <cstring>
#include <fstream>
#include <set>
#include <thread>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace lathe {

namespace {

#if defined(__x86_64__) || defined(__i386__)
uint64_t read_xcr0() {
  uint32_t eax = 0;
  uint32_t edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

void detect_x86(CpuFeatures& f) {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return;
  const unsigned max_leaf = eax;

  __cpuid(1, eax, ebx, ecx, edx);
  f.sse3 = ecx & (1u << 0);
  f.ssse3 = ecx & (1u << 9);
  f.fma = ecx & (1u << 12);
  const bool osxsave = ecx & (1u << 27);
  f.avx = ecx & (1u << 28);
  f.f16c = ecx & (1u << 29);

  // The OS must save the wider registers, or using them faults.
  const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;
  const bool os_avx512 = (xcr0 & 0xe6) == 0xe6;
  if (!os_avx) {
    f.avx = f.fma = f.f16c = false;
  }

  if (max_leaf >= 7) {
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    f.avx2 = os_avx && (ebx & (1u << 5));
    f.avx512f = os_avx512 && (ebx & (1u << 16));
    f.avx512dq = os_avx512 && (ebx & (1u << 17));
    f.avx512bw = os_avx512 && (ebx & (1u << 30));
    f.avx512vl = os_avx512 && (ebx & (1u << 31));
    f.avx512vnni = os_avx512 && (ecx & (1u << 11));
    __cpuid_count(7, 1, eax, ebx, ecx, edx);
    f.avxvnni = os_avx && (eax & (1u << 4));
    f.avx512bf16 = os_avx512 && (eax & (1u << 5));
  }

  unsigned max_ext = __get_cpuid_max(0x80000000u, nullptr);
  if (max_ext >= 0x80000004u) {
    char brand[49] = {};
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      __cpuid(0x80000002u + leaf, eax, ebx, ecx, edx);
      std::memcpy(brand + leaf * 16 + 0, &eax, 4);
      std::memcpy(brand + leaf * 16 + 4, &ebx, 4);
      std::memcpy(brand + leaf * 16 + 8, &ecx, 4);
      std::memcpy(brand + leaf * 16 + 12, &edx, 4);
    }
    std::string text(brand);
    const auto first = text.find_first_not_of(' ');
    const auto last = text.find_last_not_of(' ');
    f.brand = first == std::string::npos ? "" : text.substr(first, last - first + 1);
  }
}
#endif

}  // namespace

CpuFeatures CpuFeatures::detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  detect_x86(f);
#elif defined(__aarch64__)
  f.neon = true;
#if defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP);
#ifdef HWCAP_ASIMDDP
  f.dotprod = hwcap & HWCAP_ASIMDDP;
#endif
#endif
#endif
  const unsigned hc = std::thread::hardware_concurrency();
  f.logical_cores = hc == 0 ? 1 : static_cast<int>(hc);
  return f;
}

std::string CpuFeatures::summary() const {
  std::string out;
  const std::pair<bool, const char*> flags[] = {
      {avx, "AVX"},           {avx2, "AVX2"},         {fma, "FMA"},
      {f16c, "F16C"},         {avx512f, "AVX512F"},   {avx512bw, "AVX512BW"},
      {avx512vl, "AVX512VL"}, {avx512dq, "AVX512DQ"}, {avx512vnni, "AVX512_VNNI"},
      {avx512bf16, "AVX512_BF16"}, {avxvnni, "AVX_VNNI"}, {neon, "NEON"},
      {dotprod, "DOTPROD"},
  };
  for (const auto& [present, name] : flags) {
    if (!present) continue;
    if (!out.empty()) out += ' ';
    out += name;
  }
  return out.empty() ? "(none beyond the baseline)" : out;
}

int default_thread_count() {
  // Count distinct (package, core) pairs from /proc/cpuinfo; SMT siblings share the memory path.
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::set<std::pair<int, int>> cores;
  int physical_id = 0;
  std::string line;
  while (std::getline(cpuinfo, line)) {
    auto value_of = [&line]() -> int {
      const auto colon = line.find(':');
      return colon == std::string::npos ? 0 : std::atoi(line.c_str() + colon + 1);
    };
    if (line.rfind("physical id", 0) == 0) physical_id = value_of();
    if (line.rfind("core id", 0) == 0) cores.insert({physical_id, value_of()});
  }
  const int logical = static_cast<int>(std::thread::hardware_concurrency());
  if (cores.empty()) return logical > 0 ? logical : 1;
  return static_cast<int>(cores.size());
}

}  // namespace lathe
