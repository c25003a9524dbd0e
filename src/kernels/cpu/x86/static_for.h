// static_for<N>(f) calls f(0) ... f(N-1) with compile-time indices.
//
// Why not a plain loop: GCC (12) keeps an array of vector accumulators in registers only if every
// access to it has a constant index when its scalar-replacement pass runs, which is before loops
// are unrolled. One loop-indexed access, even after the hot loop, leaves the array in memory and
// adds a store per accumulator per iteration.
#pragma once

#include <utility>

namespace lathe::kernels::x86 {

template <int N, class F>
inline void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (f(std::integral_constant<int, I>{}), ...);
  }
  (std::make_integer_sequence<int, N>{});
}

}  // namespace lathe::kernels::x86
