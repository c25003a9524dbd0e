// llama.cpp's reference outputs for the fixture models (../shared/fixtures/reference).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace lathe::testing {

struct ReferenceCase {
  std::string prompt;
  std::vector<int32_t> tokens;  // BOS included
  std::vector<float> logits;    // last prompt position
  std::vector<int32_t> greedy;  // continuation
};

struct Reference {
  std::string model;
  int64_t n_vocab = 0;
  std::vector<ReferenceCase> cases;
};

// Reads NAME.json and the logits files it names from `dir`.
Reference load_reference(const std::string& dir, const std::string& json_name);

// sqrt(Σ(a-b)² / Σb²): the relative RMS difference of a against the reference b.
double relative_rms(const float* a, const float* b, size_t n);

// Index of the largest value; `gap` receives the difference to the second largest.
int32_t argmax(const float* values, size_t n, float* gap = nullptr);

}  // namespace lathe::testing
