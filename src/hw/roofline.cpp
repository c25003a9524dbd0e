#include "hw/roofline.h"

#include <algorithm>
#include <cmath>

#include "hw/profile.h"

namespace lathe::hw {

Expected<Prediction> predict(const TokenCost& cost, const Roofline& roof) {
  if (!(roof.bandwidth_bytes_per_s > 0) || !(roof.peak_ops_per_s > 0) ||
      !std::isfinite(roof.bandwidth_bytes_per_s) || !std::isfinite(roof.peak_ops_per_s)) {
    return invalid_argument("roofline needs positive bandwidth and peak");
  }
  if (!(cost.bytes >= 0) || !(cost.ops >= 0) || !std::isfinite(cost.bytes) ||
      !std::isfinite(cost.ops)) {
    return invalid_argument("token cost must be finite and non-negative");
  }
  if (cost.bytes == 0 && cost.ops == 0) return invalid_argument("token cost is zero");
  Prediction p;
  p.memory_seconds = cost.bytes / roof.bandwidth_bytes_per_s;
  p.compute_seconds = cost.ops / roof.peak_ops_per_s;
  p.seconds_per_token = std::max(p.memory_seconds, p.compute_seconds);
  p.tokens_per_s = 1.0 / p.seconds_per_token;
  p.memory_bound = p.memory_seconds >= p.compute_seconds;
  p.arithmetic_intensity = cost.bytes > 0 ? cost.ops / cost.bytes : INFINITY;
  p.ridge_point = roof.peak_ops_per_s / roof.bandwidth_bytes_per_s;
  return p;
}

double percent_of_bandwidth(double bytes_per_token, double tokens_per_s,
                            double bandwidth_bytes_per_s) {
  if (!(bandwidth_bytes_per_s > 0)) return 0;
  return 100.0 * bytes_per_token * tokens_per_s / bandwidth_bytes_per_s;
}

double percent_of_peak(double ops_per_token, double tokens_per_s, double peak_ops_per_s) {
  if (!(peak_ops_per_s > 0)) return 0;
  return 100.0 * ops_per_token * tokens_per_s / peak_ops_per_s;
}

Expected<Roofline> roofline_for(const HardwareProfile& profile, PeakKind kind, int threads) {
  Roofline roof;
  LATHE_ASSIGN_OR_RETURN(roof.bandwidth_bytes_per_s, profile.best_bandwidth(threads));
  LATHE_ASSIGN_OR_RETURN(roof.peak_ops_per_s, profile.peak(kind, threads));
  return roof;
}

}  // namespace lathe::hw
