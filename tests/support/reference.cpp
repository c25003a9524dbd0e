#include "support/reference.h"

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"

namespace lathe::testing {

Reference load_reference(const std::string& dir, const std::string& json_name) {
  Reference ref;
  std::ifstream in(dir + "/" + json_name);
  nlohmann::json j = nlohmann::json::parse(in);
  ref.model = j.at("model").get<std::string>();
  ref.n_vocab = j.at("n_vocab").get<int64_t>();
  for (const auto& c : j.at("cases")) {
    ReferenceCase rc;
    rc.prompt = c.at("prompt").get<std::string>();
    rc.tokens = c.at("tokens").get<std::vector<int32_t>>();
    rc.greedy = c.at("greedy").get<std::vector<int32_t>>();
    rc.logits = read_f32_file(dir + "/" + c.at("logits_file").get<std::string>());
    ref.cases.push_back(std::move(rc));
  }
  return ref;
}

double relative_rms(const float* a, const float* b, size_t n) {
  double diff = 0.0;
  double norm = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    diff += d * d;
    norm += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

int32_t argmax(const float* values, size_t n, float* gap) {
  size_t best = 0;
  float best_value = -std::numeric_limits<float>::infinity();
  float second = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < n; ++i) {
    if (values[i] > best_value) {
      second = best_value;
      best_value = values[i];
      best = i;
    } else if (values[i] > second) {
      second = values[i];
    }
  }
  if (gap) *gap = best_value - second;
  return static_cast<int32_t>(best);
}

}  // namespace lathe::testing
