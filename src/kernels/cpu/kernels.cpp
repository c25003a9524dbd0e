#include "kernels/cpu/kernels.h"

#include <iterator>
#include <utility>

#include "kernels/cpu/ref/ref.h"
#include "quant/quant.h"

#if defined(__x86_64__) || defined(_M_X64)
#define LATHE_X86_KERNELS 1
#include "kernels/cpu/x86/x86_kernels.h"
#endif

namespace lathe::kernels {

namespace {

// One matmul instantiation per weight type, binding the type's reference dot product.
template <TensorType kType>
void reference_matmul(const MatmulArgs& args, int64_t row_begin, int64_t row_end) {
  static const DotFn dot = quant::type_traits(kType)->vec_dot;
  ref::matmul_with_dot(dot, args, row_begin, row_end);
}

constexpr TensorType kComputeTypes[] = {
    TensorType::kF32,  TensorType::kF16,  TensorType::kBF16,   TensorType::kQ8_0,
    TensorType::kQ4_0, TensorType::kQ4_1, TensorType::kIQ4_XS, TensorType::kQ4_K,
    TensorType::kQ6_K, TensorType::kQ8_1, TensorType::kQ8_K, TensorType::kIQ4_NL,
};

template <size_t... I>
void fill_matmuls(KernelTable& table, std::index_sequence<I...>) {
  ((table.matmul[static_cast<size_t>(kComputeTypes[I])] =
        quant::is_supported(kComputeTypes[I]) && quant::type_traits(kComputeTypes[I])->vec_dot
            ? &reference_matmul<kComputeTypes[I]>
            : nullptr),
   ...);
}

}  // namespace

KernelTable reference_kernels() {
  KernelTable table;
  table.isa = "scalar";
  for (TensorType type : kComputeTypes) {
    const quant::TypeTraits* traits = quant::type_traits(type);
    if (traits == nullptr) continue;
    const size_t slot = static_cast<size_t>(type);
    table.quantize_row[slot] = traits->quantize_row;
    table.dequantize_row[slot] = traits->dequantize_row;
    table.dot[slot] = traits->vec_dot;
    table.vec_dot_type[slot] = traits->vec_dot_type;
  }
  fill_matmuls(table, std::make_index_sequence<std::size(kComputeTypes)>());
  // Activations are quantized the way the runtime (not the weight quantizer) does it.
  table.quantize_row[static_cast<size_t>(TensorType::kQ8_0)] = ref::quantize_activation_q8_0;
  table.quantize_row[static_cast<size_t>(TensorType::kQ8_1)] = ref::quantize_activation_q8_1;
  table.attention = &ref::attention_item;
  table.rms_norm_row = &ref::rms_norm_row;
  table.rope_head = &ref::rope_head;
  table.swiglu = &ref::swiglu;
  table.geglu = &ref::geglu;
  table.scale = &ref::scale;
  table.softcap = &ref::softcap;
  table.add = &ref::add;
  table.exp = &ref::exp;
  return table;
}

void AttentionScratch::reserve(int64_t head_dim, int64_t tokens, int64_t kv_heads, int64_t rows,
                               int64_t visible, int64_t span) {
  const auto grow = [](auto& v, int64_t n) {
    if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  };
  // q in any vec_dot type takes at most 4 bytes per value (f32).
  grow(q_converted, head_dim * static_cast<int64_t>(sizeof(float)));
  grow(v_row, head_dim);
  grow(acc, head_dim);
  grow(scores, visible);
  grow(block, attention_block_floats(head_dim, kv_heads, rows, span));
  grow(cursor, tokens);
  grow(bits, tokens);
  grow(active_rows, rows);
}

KernelTable select_kernels(const CpuFeatures& cpu, KernelLevel level) {
  // Each level is layered over the one below: every slot a SIMD level leaves empty keeps the
  // kernel of the level below it, down to the reference. A level the CPU lacks falls back to the
  // best one it has; `isa` says which level the table really is.
  KernelTable table = reference_kernels();
#if defined(LATHE_X86_KERNELS)
  if (level >= KernelLevel::kAvx2 && cpu.has_avx2_fma()) {
    x86::install_avx2(table);
    table.isa = "avx2";
  }
  if (level >= KernelLevel::kAvx512 && cpu.has_avx512_vnni()) {
    x86::install_avx512(table, cpu);
    table.isa = "avx512";
  }
#else
  (void)cpu;
  (void)level;
#endif
  return table;
}

#if defined(LATHE_X86_KERNELS)
namespace x86 {

void install_avx2(KernelTable& table) {
  avx2::install_quantizers(table);
  avx2::install_matmul_q32(table);
  avx2::install_matmul_kquants(table);
  avx2::install_matmul_float(table);
  avx2::install_vec(table);
  avx2::install_matmul_packed(table);
  avx2::install_ops(table);
  avx2::install_attention(table);
}

void install_avx512(KernelTable& table, const CpuFeatures& cpu) {
  avx512::install_matmul_q32(table);
  avx512::install_matmul_kquants(table);
  avx512::install_matmul_float(table, cpu.avx512bf16);
  avx512::install_matmul_packed(table);
  avx512::install_ops(table);
  avx512::install_attention(table);
}

}  // namespace x86
#endif

}  // namespace lathe::kernels
