// Pieces both CUDA runners (runner.cu: one GEMM at a time; model-runner.cu: whole models) share.
// Included by relative path; the runners' cache key hashes this file too (build.ts).
#pragma once
#include <cuda_fp16.h>

#include <string>
#include <vector>

// Uniform in [-1, 1) from a 64-bit LCG: the same values for the same count and seed, in both runners.
static std::vector<__half> randomHalf(size_t count, unsigned long long seed) {
  std::vector<__half> v(count);
  unsigned long long s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (size_t i = 0; i < count; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    v[i] = __float2half((float)((s >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f);
  }
  return v;
}

static std::string jsonEscape(const std::string &s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}
