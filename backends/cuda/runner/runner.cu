// tesa CUDA runner: built once per fingerprint (GPU, SM, driver, nvcc). It reads a manifest of
// GEMM ops Y[M,N] = X[M,K]·Wᵀ (W is N×K, fp16, already masked), loads each op's kernel
// library (or uses cuBLAS for kind "cublas"), checks every op against cuBLAS on the same
// masked weight, then times all ops round-robin (A B C A B C …) with CUDA events, flushing
// L2 before each repetition when asked, and prints one JSON object on stdout.
//
// Manifest (text, one directive per line):
//   warmup <n> | reps <n> | flush <0|1> | seed <n>
//   op <name> <cublas|cublast|lib> <library path or -> <weight file> <M> <N> <K>
//
// "cublast" is cuBLAS on feature-major activations (Yᵀ = W·Xᵀ, Xᵀ K×M and Yᵀ N×M row-major):
// the dense peer of kernels that take that layout. A library may export
// `int tesa_layout(void)`; when it returns 1 its x is Xᵀ and its y is Yᵀ. Every op gets
// the same X (transposed for those ops) and is checked against cuBLAS in its own layout.
//
// Kernel library ABI (extern "C"), shapes baked into the library:
//   int  tesa_init(const __half *w_host, void **state);   // packs/uploads the weight
//   int  tesa_run(void *state, const __half *x, __half *y, cudaStream_t stream);
//   void tesa_free(void *state);
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runner-common.h"

#define CK(x)                                                                                   \
  do {                                                                                          \
    cudaError_t e_ = (x);                                                                       \
    if (e_ != cudaSuccess) {                                                                    \
      fprintf(stderr, "tesa-cuda-runner: %s failed: %s (%s:%d)\n", #x, cudaGetErrorString(e_), \
              __FILE__, __LINE__);                                                              \
      exit(3);                                                                                  \
    }                                                                                           \
  } while (0)
#define CB(x)                                                                                  \
  do {                                                                                         \
    cublasStatus_t s_ = (x);                                                                   \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                         \
      fprintf(stderr, "tesa-cuda-runner: %s failed: status %d (%s:%d)\n", #x, (int)s_, __FILE__, \
              __LINE__);                                                                       \
      exit(3);                                                                                 \
    }                                                                                          \
  } while (0)

typedef int (*init_fn)(const __half *, void **);
typedef int (*run_fn)(void *, const __half *, __half *, cudaStream_t);
typedef void (*free_fn)(void *);
typedef int (*layout_fn)(void);

struct Op {
  std::string name, kind, lib, weightFile;
  int M = 0, N = 0, K = 0;
  __half *dW = nullptr, *dX = nullptr, *dY = nullptr, *dRef = nullptr;
  // Feature-major activations: dX holds Xᵀ (K×M) and dY receives Yᵀ (N×M); dXrow is X for the reference.
  bool transposed = false;
  __half *dXrow = nullptr;
  void *state = nullptr;
  run_fn run = nullptr;
  free_fn release = nullptr;
  std::vector<float> samples;
  double maxRelError = -1;
  long unwritten = 0;
};

static cublasHandle_t g_cublas;

// Y (row-major M×N) = X (row-major M×K) · Wᵀ (W row-major N×K): cuBLAS column-major "TN".
static void cublasLinear(const __half *x, const __half *w, __half *y, int M, int N, int K, cudaStream_t s) {
  const float one = 1.f, zero = 0.f;
  CB(cublasSetStream(g_cublas, s));
  CB(cublasGemmEx(g_cublas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, w, CUDA_R_16F, K, x, CUDA_R_16F, K, &zero,
                  y, CUDA_R_16F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// Yᵀ (row-major N×M) = W (row-major N×K) · Xᵀ (row-major K×M): column-major Y (M×N) = X (M×K) · Wᵀ, "NN".
static void cublasLinearT(const __half *xt, const __half *w, __half *yt, int M, int N, int K, cudaStream_t s) {
  const float one = 1.f, zero = 0.f;
  CB(cublasSetStream(g_cublas, s));
  CB(cublasGemmEx(g_cublas, CUBLAS_OP_N, CUBLAS_OP_N, M, N, K, &one, xt, CUDA_R_16F, M, w, CUDA_R_16F, K, &zero,
                  yt, CUDA_R_16F, M, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

static void runOp(Op &op, cudaStream_t s) {
  if (op.kind == "cublas") {
    cublasLinear(op.dX, op.dW, op.dY, op.M, op.N, op.K, s);
  } else if (op.kind == "cublast") {
    cublasLinearT(op.dX, op.dW, op.dY, op.M, op.N, op.K, s);
  } else {
    int rc = op.run(op.state, op.dX, op.dY, s);
    if (rc != 0) {
      fprintf(stderr, "tesa-cuda-runner: op %s: tesa_run returned %d\n", op.name.c_str(), rc);
      exit(4);
    }
  }
  CK(cudaGetLastError());
}

static std::vector<__half> readWeight(const std::string &path, size_t count) {
  std::vector<__half> w(count);
  FILE *f = fopen(path.c_str(), "rb");
  if (!f) {
    fprintf(stderr, "tesa-cuda-runner: cannot open weight file %s\n", path.c_str());
    exit(2);
  }
  size_t got = fread(w.data(), sizeof(__half), count, f);
  fclose(f);
  if (got != count) {
    fprintf(stderr, "tesa-cuda-runner: weight file %s holds %zu of %zu values\n", path.c_str(), got, count);
    exit(2);
  }
  return w;
}


static void check(Op &op, cudaStream_t s) {
  size_t ny = (size_t)op.M * op.N;
  // Poison: 0xFFFF is a NaN in fp16, so an element the kernel never writes fails the check.
  CK(cudaMemsetAsync(op.dY, 0xFF, ny * sizeof(__half), s));
  runOp(op, s);
  cublasLinear(op.transposed ? op.dXrow : op.dX, op.dW, op.dRef, op.M, op.N, op.K, s);
  CK(cudaStreamSynchronize(s));
  std::vector<__half> y(ny), r(ny);
  CK(cudaMemcpy(y.data(), op.dY, ny * sizeof(__half), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(r.data(), op.dRef, ny * sizeof(__half), cudaMemcpyDeviceToHost));
  double maxDiff = 0, maxRef = 0;
  long bad = 0;
  for (size_t i = 0; i < ny; i++) {
    // r is row-major M×N; a transposed op's y is N×M.
    const size_t m = i / op.N, n = i % op.N;
    float a = __half2float(y[op.transposed ? n * op.M + m : i]), b = __half2float(r[i]);
    if (std::isnan(a) && !std::isnan(b)) {
      bad++;
      continue;
    }
    maxDiff = std::max(maxDiff, (double)std::fabs(a - b));
    maxRef = std::max(maxRef, (double)std::fabs(b));
  }
  op.unwritten = bad;
  op.maxRelError = bad ? INFINITY : (maxDiff == 0 ? 0 : maxDiff / std::max(maxRef, 1e-30));
}


int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: tesa-cuda-runner <manifest>\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    fprintf(stderr, "tesa-cuda-runner: cannot read manifest %s\n", argv[1]);
    return 2;
  }
  int warmup = 10, reps = 50, flush = 1;
  unsigned long long seed = 1;
  std::vector<Op> ops;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key;
    if (!(ls >> key) || key[0] == '#') continue;
    if (key == "warmup") ls >> warmup;
    else if (key == "reps") ls >> reps;
    else if (key == "flush") ls >> flush;
    else if (key == "seed") ls >> seed;
    else if (key == "op") {
      Op op;
      ls >> op.name >> op.kind >> op.lib >> op.weightFile >> op.M >> op.N >> op.K;
      if (ls.fail() || (op.kind != "cublas" && op.kind != "cublast" && op.kind != "lib")) {
        fprintf(stderr, "tesa-cuda-runner: bad manifest line: %s\n", line.c_str());
        return 2;
      }
      ops.push_back(op);
    } else {
      fprintf(stderr, "tesa-cuda-runner: unknown manifest directive '%s'\n", key.c_str());
      return 2;
    }
  }

  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  CB(cublasCreate(&g_cublas));
  cudaStream_t stream;
  CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

  // An op whose library cannot be loaded or initialised (e.g. cuSPARSELt refusing a layout) is
  // left out with a line on stderr; the others still run.
  std::vector<Op> ready;
  for (Op &op : ops) {
    size_t nw = (size_t)op.N * op.K, nx = (size_t)op.M * op.K, ny = (size_t)op.M * op.N;
    std::vector<__half> w = readWeight(op.weightFile, nw);
    std::vector<__half> x = randomHalf(nx, seed + (unsigned long long)op.K * 131 + op.M);
    CK(cudaMalloc(&op.dW, nw * sizeof(__half)));
    CK(cudaMalloc(&op.dX, nx * sizeof(__half)));
    CK(cudaMalloc(&op.dY, ny * sizeof(__half)));
    CK(cudaMalloc(&op.dRef, ny * sizeof(__half)));
    CK(cudaMemcpy(op.dW, w.data(), nw * sizeof(__half), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(op.dX, x.data(), nx * sizeof(__half), cudaMemcpyHostToDevice));
    op.transposed = op.kind == "cublast";
    void *h = nullptr;
    if (op.kind == "lib") {
      h = dlopen(op.lib.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!h) {
        fprintf(stderr, "tesa-cuda-runner: op %s: left out: %s\n", op.name.c_str(), dlerror());
        continue;
      }
      layout_fn layout = (layout_fn)dlsym(h, "tesa_layout");
      if (layout && layout() == 1) op.transposed = true;
    }
    if (op.transposed) {
      std::vector<__half> xt(nx);
      for (int m = 0; m < op.M; m++)
        for (int k = 0; k < op.K; k++) xt[(size_t)k * op.M + m] = x[(size_t)m * op.K + k];
      op.dXrow = op.dX;
      CK(cudaMalloc(&op.dX, nx * sizeof(__half)));
      CK(cudaMemcpy(op.dX, xt.data(), nx * sizeof(__half), cudaMemcpyHostToDevice));
    }
    if (op.kind == "lib") {
      init_fn init = (init_fn)dlsym(h, "tesa_init");
      op.run = (run_fn)dlsym(h, "tesa_run");
      op.release = (free_fn)dlsym(h, "tesa_free");
      if (!init || !op.run || !op.release) {
        fprintf(stderr, "tesa-cuda-runner: op %s: left out: library lacks tesa_init/tesa_run/tesa_free\n", op.name.c_str());
        continue;
      }
      int rc = init(w.data(), &op.state);
      if (rc != 0) {
        fprintf(stderr, "tesa-cuda-runner: op %s: left out: tesa_init returned %d\n", op.name.c_str(), rc);
        op.release = nullptr;
        continue;
      }
    }
    check(op, stream);
    fprintf(stderr, "tesa-cuda-runner: op %s checked: max relative error %.3g\n", op.name.c_str(), op.maxRelError);
    ready.push_back(op);
  }
  ops.swap(ready);

  // A buffer twice the L2 size, rewritten before each repetition, evicts the previous one's data.
  size_t flushBytes = (size_t)std::max(prop.l2CacheSize, 1 << 20) * 2;
  void *flushBuf = nullptr;
  if (flush) CK(cudaMalloc(&flushBuf, flushBytes));
  cudaEvent_t t0, t1;
  CK(cudaEventCreate(&t0));
  CK(cudaEventCreate(&t1));
  for (int r = 0; r < warmup; r++)
    for (Op &op : ops) runOp(op, stream);
  for (int r = 0; r < reps; r++) {
    for (Op &op : ops) {
      if (flush) CK(cudaMemsetAsync(flushBuf, r & 0xFF, flushBytes, stream));
      CK(cudaEventRecord(t0, stream));
      runOp(op, stream);
      CK(cudaEventRecord(t1, stream));
      CK(cudaEventSynchronize(t1));
      float ms = 0;
      CK(cudaEventElapsedTime(&ms, t0, t1));
      op.samples.push_back(ms);
    }
  }
  CK(cudaDeviceSynchronize());

  printf("{\"device\":\"%s\",\"sm\":\"%d%d\",\"l2Bytes\":%d,\"flush\":%s,\"ops\":[", jsonEscape(prop.name).c_str(),
         prop.major, prop.minor, prop.l2CacheSize, flush ? "true" : "false");
  for (size_t i = 0; i < ops.size(); i++) {
    Op &op = ops[i];
    printf("%s{\"name\":\"%s\",\"kind\":\"%s\",\"transposed\":%s,\"M\":%d,\"N\":%d,\"K\":%d,\"unwritten\":%ld,\"maxRelError\":",
           i ? "," : "", jsonEscape(op.name).c_str(), op.kind.c_str(), op.transposed ? "true" : "false", op.M, op.N, op.K,
           op.unwritten);
    if (std::isfinite(op.maxRelError)) printf("%.6g", op.maxRelError);
    else printf("null");
    printf(",\"samplesMs\":[");
    for (size_t j = 0; j < op.samples.size(); j++) printf("%s%.6f", j ? "," : "", op.samples[j]);
    printf("]}");
  }
  printf("]}\n");
  for (Op &op : ops) {
    if (op.release) op.release(op.state);
    cudaFree(op.dW);
    cudaFree(op.dX);
    if (op.dXrow) cudaFree(op.dXrow);
    cudaFree(op.dY);
    cudaFree(op.dRef);
  }
  if (flushBuf) cudaFree(flushBuf);
  cublasDestroy(g_cublas);
  return 0;
}
