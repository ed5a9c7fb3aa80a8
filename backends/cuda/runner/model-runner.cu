// tesa CUDA model runner: runs a WHOLE model on the GPU and times it. Built once per
// fingerprint (GPU, SM, driver, nvcc). Contract: notes/s14/model-runner-contract.md.
//
// The TS side lowers a graph into
//   - a "glue" library: every non-linear kernel and the launch sequence of the whole model,
//   - one entry per linear layer: cuBLASLt dense (this runner's own) or a generated sparse
//     kernel library (tesa_init / tesa_run / tesa_free / tesa_layout, as in runner.cu),
//   - a data file with every constant and
//   - a text manifest (below), which this program executes: it allocates the buffers, uploads
//     constants and inputs, prepares every linear, optionally checks each against cuBLAS,
//     captures the model once into a CUDA graph, times graph launches with CUDA events
//     (flushing L2 before each repetition when asked), downloads the outputs and prints one
//     JSON object on stdout.
//
// Manifest (text, one directive per line, '#' comments):
//   warmup <n> | reps <n> | flush <0|1> | graph <0|1> | check <0|1> | seed <n>
//   glue <path.so>
//   data <path>
//   buffer <id> <bytes> [const <offset>]
//   input <id> <path>
//   output <id> <path>
//   linear <j> <cublas|lib> <libpath|-> <M> <N> <K> <weight offset>
//
// Glue library ABI (extern "C"):
//   struct TesaLinear { void *state; int (*run)(void *state, const __half *x, __half *y, cudaStream_t s); };
//   int  tesa_model_init(void *const *bufs, int nbufs, void **ctx);
//   int  tesa_model_run(void *ctx, const TesaLinear *lins, cudaStream_t s);
//   void tesa_model_free(void *ctx);
// Linear j computes, feature-major, Yt[N,M] = W[N,K] · Xt[K,M] (Xt, Yt row-major).
//
// Exit codes: 2 bad manifest or files, 3 CUDA/cuBLAS failure, 4 kernel or glue library failure.
// Every failure is one line on stderr starting "tesa-cuda-model-runner: ".
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runner-common.h"

#define TAG "tesa-cuda-model-runner: "

#define CK(x)                                                                                            \
  do {                                                                                                   \
    cudaError_t e_ = (x);                                                                                \
    if (e_ != cudaSuccess) {                                                                             \
      fprintf(stderr, TAG "%s failed: %s (%s:%d)\n", #x, cudaGetErrorString(e_), __FILE__, __LINE__);    \
      exit(3);                                                                                           \
    }                                                                                                    \
  } while (0)
#define CB(x)                                                                                            \
  do {                                                                                                   \
    cublasStatus_t s_ = (x);                                                                             \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                   \
      fprintf(stderr, TAG "%s failed: status %d (%s:%d)\n", #x, (int)s_, __FILE__, __LINE__);            \
      exit(3);                                                                                           \
    }                                                                                                    \
  } while (0)

// A bad manifest or file: exit 2. A kernel or glue library that misbehaves: exit 4.
[[noreturn]] static void failInput(const std::string &msg) {
  fprintf(stderr, TAG "%s\n", msg.c_str());
  exit(2);
}
[[noreturn]] static void failLibrary(const std::string &msg) {
  fprintf(stderr, TAG "%s\n", msg.c_str());
  exit(4);
}

// ---- ABIs ----------------------------------------------------------------------------------

typedef int (*linear_run_fn)(void *, const __half *, __half *, cudaStream_t);
struct TesaLinear {
  void *state;
  linear_run_fn run;
};

typedef int (*lib_init_fn)(const __half *, void **);
typedef void (*lib_free_fn)(void *);
typedef int (*lib_layout_fn)(void);

typedef int (*model_init_fn)(void *const *, int, void **);
typedef int (*model_run_fn)(void *, const TesaLinear *, cudaStream_t);
// Optional: per-step GPU time of one eager run (events between steps), for `profile 1`.
typedef int (*model_profile_fn)(void *, const TesaLinear *, cudaStream_t, float *, int);
typedef int (*model_steps_fn)(void);
typedef void (*model_free_fn)(void *);

// ---- manifest ------------------------------------------------------------------------------

struct BufferSpec {
  bool defined = false;
  size_t bytes = 0;
  bool isConst = false;
  size_t offset = 0;
};

struct FileBinding {
  int id;
  std::string path;
};

struct LinearSpec {
  bool defined = false;
  std::string kind, lib;
  int M = 0, N = 0, K = 0;
  size_t weightOffset = 0;
};

struct Manifest {
  int warmup = 10, reps = 50, flush = 1, graph = 1, check = 0, profile = 0;
  unsigned long long seed = 1;
  std::string glue, data;
  std::vector<BufferSpec> buffers;
  std::vector<FileBinding> inputs, outputs;
  std::vector<LinearSpec> linears;
};

// Reads the rest of a directive's line as exactly the fields asked for: a missing, malformed
// or extra field is an error (a typo must not silently become a default).
static bool readFields(std::istringstream &ls) { return !ls.fail(); }
static bool noMoreFields(std::istringstream &ls) {
  std::string extra;
  return !(ls >> extra);
}

// Ids are dense 0..n-1; the vectors grow as ids appear and holes are found by validate().
template <typename T>
static T &slot(std::vector<T> &v, long id, const std::string &line) {
  if (id < 0 || id > 1000000) failInput("id out of range in manifest line: " + line);
  if ((size_t)id >= v.size()) v.resize((size_t)id + 1);
  if (v[(size_t)id].defined) failInput("id defined twice in manifest line: " + line);
  v[(size_t)id].defined = true;
  return v[(size_t)id];
}

static int flag01(std::istringstream &ls, const std::string &line) {
  int v = -1;
  ls >> v;
  if (ls.fail() || (v != 0 && v != 1) || !noMoreFields(ls)) failInput("expected 0 or 1 in manifest line: " + line);
  return v;
}

static int count(std::istringstream &ls, const std::string &line) {
  long v = -1;
  ls >> v;
  if (ls.fail() || v < 0 || v > 1000000 || !noMoreFields(ls)) failInput("expected a count in manifest line: " + line);
  return (int)v;
}

static Manifest parseManifest(const char *path) {
  std::ifstream in(path);
  if (!in) failInput(std::string("cannot read manifest ") + path);
  Manifest m;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key;
    if (!(ls >> key) || key[0] == '#') continue;
    if (key == "warmup") m.warmup = count(ls, line);
    else if (key == "reps") m.reps = count(ls, line);
    else if (key == "flush") m.flush = flag01(ls, line);
    else if (key == "graph") m.graph = flag01(ls, line);
    else if (key == "check") m.check = flag01(ls, line);
    else if (key == "profile") m.profile = flag01(ls, line);
    else if (key == "seed") {
      ls >> m.seed;
      if (!readFields(ls) || !noMoreFields(ls)) failInput("bad manifest line: " + line);
    } else if (key == "glue" || key == "data") {
      std::string p;
      ls >> p;
      if (!readFields(ls) || !noMoreFields(ls)) failInput("bad manifest line: " + line);
      (key == "glue" ? m.glue : m.data) = p;
    } else if (key == "buffer") {
      long id = -1;
      long long bytes = -1;
      ls >> id >> bytes;
      if (!readFields(ls) || bytes <= 0) failInput("bad buffer line (want: buffer <id> <bytes> [const <offset>]): " + line);
      BufferSpec &b = slot(m.buffers, id, line);
      b.bytes = (size_t)bytes;
      std::string word;
      if (ls >> word) {
        long long off = -1;
        ls >> off;
        if (word != "const" || ls.fail() || off < 0 || !noMoreFields(ls))
          failInput("bad buffer line (want: buffer <id> <bytes> [const <offset>]): " + line);
        b.isConst = true;
        b.offset = (size_t)off;
      }
    } else if (key == "input" || key == "output") {
      FileBinding f{-1, ""};
      ls >> f.id >> f.path;
      if (!readFields(ls) || !noMoreFields(ls)) failInput("bad " + key + " line (want: " + key + " <id> <path>): " + line);
      (key == "input" ? m.inputs : m.outputs).push_back(f);
    } else if (key == "linear") {
      long j = -1;
      LinearSpec s;
      long long off = -1;
      ls >> j >> s.kind >> s.lib >> s.M >> s.N >> s.K >> off;
      if (!readFields(ls) || !noMoreFields(ls) || (s.kind != "cublas" && s.kind != "lib") || s.M <= 0 || s.N <= 0 ||
          s.K <= 0 || off < 0 || (s.kind == "cublas" && s.lib != "-"))
        failInput("bad linear line (want: linear <j> <cublas|lib> <libpath|-> <M> <N> <K> <weight offset>): " + line);
      s.weightOffset = (size_t)off;
      LinearSpec &dst = slot(m.linears, j, line);
      s.defined = true;
      dst = s;
    } else {
      failInput("unknown manifest directive '" + key + "'");
    }
  }
  if (m.glue.empty()) failInput("the manifest names no glue library (glue <path.so>)");
  for (size_t i = 0; i < m.buffers.size(); i++)
    if (!m.buffers[i].defined) failInput("buffer ids must be dense: buffer " + std::to_string(i) + " is missing");
  for (size_t j = 0; j < m.linears.size(); j++)
    if (!m.linears[j].defined) failInput("linear ids must be dense: linear " + std::to_string(j) + " is missing");
  for (const FileBinding &f : m.inputs)
    if (f.id < 0 || (size_t)f.id >= m.buffers.size()) failInput("input names unknown buffer " + std::to_string(f.id));
  for (const FileBinding &f : m.outputs)
    if (f.id < 0 || (size_t)f.id >= m.buffers.size()) failInput("output names unknown buffer " + std::to_string(f.id));
  return m;
}

// ---- files ---------------------------------------------------------------------------------

static std::vector<unsigned char> readFile(const std::string &path, const char *what) {
  FILE *f = fopen(path.c_str(), "rb");
  if (!f) failInput(std::string("cannot open ") + what + " " + path);
  std::vector<unsigned char> bytes;
  if (fseek(f, 0, SEEK_END) != 0) failInput(std::string("cannot seek in ") + what + " " + path);
  long size = ftell(f);
  if (size < 0 || fseek(f, 0, SEEK_SET) != 0) failInput(std::string("cannot size ") + what + " " + path);
  bytes.resize((size_t)size);
  size_t got = size ? fread(bytes.data(), 1, (size_t)size, f) : 0;
  fclose(f);
  if (got != (size_t)size) failInput(std::string("short read of ") + what + " " + path);
  return bytes;
}

static void writeFile(const std::string &path, const void *data, size_t bytes) {
  FILE *f = fopen(path.c_str(), "wb");
  if (!f) failInput("cannot create output file " + path);
  size_t put = fwrite(data, 1, bytes, f);
  if (fclose(f) != 0 || put != bytes) failInput("cannot write output file " + path);
}


// ---- linears -------------------------------------------------------------------------------

// The tuning workspace: the heuristic may offer algorithms that want up to this much.
static const size_t kMaxWorkspace = 32u << 20;
// cuBLASLt's default alignment promise for A/B/C/D; algorithms picked under it may need it.
static const uintptr_t kLtAlignment = 256;

static cublasLtHandle_t g_lt;
static cublasHandle_t g_cublas;

// One cuBLASLt plan: the algorithm and the workspace it needs (its own, so two linears issued
// on different streams of one graph never share scratch memory).
struct LtPlan {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceBytes = 0;
  void *workspace = nullptr;
  float us = -1;
};

struct Linear {
  int j = 0;
  LinearSpec spec;
  __half *dW = nullptr;  // device weight: the cuBLAS path, and the reference in check mode
  // cublas
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  LtPlan fast;     // tuned under the default 256-B alignment promise
  LtPlan anyAlign; // for x/y the glue passes at a smaller alignment (a slice inside a buffer)
  int algosTried = 0;
  bool usedUnaligned = false;
  // lib
  void *state = nullptr;
  linear_run_fn libRun = nullptr;
  lib_free_fn libFree = nullptr;
  // check
  double maxRelError = NAN;
  long unwritten = 0;
};

static int linearRun(void *state, const __half *x, __half *y, cudaStream_t s);

static void ltMatmul(Linear &L, const LtPlan &p, const __half *x, __half *y, cudaStream_t s) {
  static const float one = 1.f, zero = 0.f;
  // Column-major view: C[M,N] = A[M,K]·B[K,N], A = Xt (ld M), B = W as [K,N] (ld K), C = Yt (ld M).
  CB(cublasLtMatmul(g_lt, L.desc, &one, x, L.a, L.dW, L.b, &zero, y, L.c, y, L.c, &p.algo, p.workspace,
                    p.workspaceBytes, s));
}

static std::vector<cublasLtMatmulHeuristicResult_t> heuristics(Linear &L, uint32_t alignment) {
  cublasLtMatmulPreference_t pref;
  CB(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t ws = kMaxWorkspace;
  CB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  const cublasLtMatmulPreferenceAttributes_t aligns[] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  for (auto attr : aligns) CB(cublasLtMatmulPreferenceSetAttribute(pref, attr, &alignment, sizeof(alignment)));
  cublasLtMatmulHeuristicResult_t res[8];
  int n = 0;
  CB(cublasLtMatmulAlgoGetHeuristic(g_lt, L.desc, L.a, L.b, L.c, L.c, pref, 8, res, &n));
  CB(cublasLtMatmulPreferenceDestroy(pref));
  std::vector<cublasLtMatmulHeuristicResult_t> ok;
  for (int i = 0; i < n; i++)
    if (res[i].state == CUBLAS_STATUS_SUCCESS) ok.push_back(res[i]);
  if (ok.empty()) {
    fprintf(stderr, TAG "linear %d: cuBLASLt offers no algorithm for %dx%dx%d (alignment %u)\n", L.j, L.spec.M,
            L.spec.N, L.spec.K, alignment);
    exit(3);
  }
  return ok;
}

// Median of 5 timed runs after 2 warm-ups, on the linear's real shapes; < 0 when the algorithm
// refuses to run (the heuristic can offer one that then reports NOT_SUPPORTED).
static float timeAlgo(Linear &L, const cublasLtMatmulHeuristicResult_t &h, const __half *x, __half *y, void *ws,
                      cudaStream_t s, cudaEvent_t t0, cudaEvent_t t1) {
  static const float one = 1.f, zero = 0.f;
  std::vector<float> ms;
  for (int r = 0; r < 7; r++) {
    if (r >= 2) CK(cudaEventRecord(t0, s));
    cublasStatus_t st = cublasLtMatmul(g_lt, L.desc, &one, x, L.a, L.dW, L.b, &zero, y, L.c, y, L.c, &h.algo, ws,
                                       h.workspaceSize, s);
    if (st != CUBLAS_STATUS_SUCCESS) {
      CK(cudaStreamSynchronize(s));
      return -1;
    }
    if (r >= 2) {
      CK(cudaEventRecord(t1, s));
      CK(cudaEventSynchronize(t1));
      float t = 0;
      CK(cudaEventElapsedTime(&t, t0, t1));
      ms.push_back(t);
    }
  }
  CK(cudaGetLastError());
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

static LtPlan pickPlan(Linear &L, uint32_t alignment, const __half *x, __half *y, void *ws, cudaStream_t s,
                       cudaEvent_t t0, cudaEvent_t t1) {
  std::vector<cublasLtMatmulHeuristicResult_t> cands = heuristics(L, alignment);
  LtPlan best;
  for (const auto &h : cands) {
    L.algosTried++;
    float ms = timeAlgo(L, h, x, y, ws, s, t0, t1);
    if (ms >= 0 && (best.us < 0 || ms * 1000.f < best.us)) {
      best.algo = h.algo;
      best.workspaceBytes = h.workspaceSize;
      best.us = ms * 1000.f;
    }
  }
  if (best.us < 0) {
    fprintf(stderr, TAG "linear %d: none of cuBLASLt's %zu algorithms runs %dx%dx%d\n", L.j, cands.size(), L.spec.M,
            L.spec.N, L.spec.K);
    exit(3);
  }
  if (best.workspaceBytes) CK(cudaMalloc(&best.workspace, best.workspaceBytes));
  return best;
}

static void prepareCublas(Linear &L, void *tuneWorkspace, unsigned long long seed, cudaStream_t s, cudaEvent_t t0,
                          cudaEvent_t t1) {
  const LinearSpec &p = L.spec;
  CB(cublasLtMatmulDescCreate(&L.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t opN = CUBLAS_OP_N;
  CB(cublasLtMatmulDescSetAttribute(L.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opN, sizeof(opN)));
  CB(cublasLtMatmulDescSetAttribute(L.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)));
  CB(cublasLtMatrixLayoutCreate(&L.a, CUDA_R_16F, p.M, p.K, p.M));
  CB(cublasLtMatrixLayoutCreate(&L.b, CUDA_R_16F, p.K, p.N, p.K));
  CB(cublasLtMatrixLayoutCreate(&L.c, CUDA_R_16F, p.M, p.N, p.M));
  // Timed on scratch activations of the real shape: the glue's buffers are only known at run.
  size_t nx = (size_t)p.K * p.M, ny = (size_t)p.N * p.M;
  std::vector<__half> x = randomHalf(nx, seed + 7919ULL * (unsigned long long)L.j);
  __half *dX = nullptr, *dY = nullptr;
  CK(cudaMalloc(&dX, nx * sizeof(__half)));
  CK(cudaMalloc(&dY, ny * sizeof(__half)));
  CK(cudaMemcpy(dX, x.data(), nx * sizeof(__half), cudaMemcpyHostToDevice));
  L.fast = pickPlan(L, (uint32_t)kLtAlignment, dX, dY, tuneWorkspace, s, t0, t1);
  L.anyAlign = pickPlan(L, (uint32_t)sizeof(__half), dX, dY, tuneWorkspace, s, t0, t1);
  CK(cudaFree(dX));
  CK(cudaFree(dY));
}

static void prepareLib(Linear &L, const __half *wHost) {
  const std::string &path = L.spec.lib;
  void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) failLibrary("linear " + std::to_string(L.j) + ": dlopen failed: " + dlerror());
  lib_init_fn init = (lib_init_fn)dlsym(h, "tesa_init");
  L.libRun = (linear_run_fn)dlsym(h, "tesa_run");
  L.libFree = (lib_free_fn)dlsym(h, "tesa_free");
  lib_layout_fn layout = (lib_layout_fn)dlsym(h, "tesa_layout");
  if (!init || !L.libRun || !L.libFree)
    failLibrary("linear " + std::to_string(L.j) + ": " + path + " lacks tesa_init/tesa_run/tesa_free");
  // runner.cu's ABI: a library without tesa_layout is token-major, which the model path cannot use.
  if (!layout || layout() != 1)
    failLibrary("linear " + std::to_string(L.j) + ": " + path +
                " is a token-major kernel (tesa_layout absent or 0); the model runner needs feature-major kernels");
  int rc = init(wHost, &L.state);
  if (rc != 0) {
    L.libFree = nullptr;
    failLibrary("linear " + std::to_string(L.j) + ": tesa_init returned " + std::to_string(rc));
  }
  // An asynchronous fault in the library's packing kernels belongs to the library.
  cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess)
    failLibrary("linear " + std::to_string(L.j) + ": tesa_init left a CUDA error: " + cudaGetErrorString(e));
}

// The one run function every TesaLinear gets: the runner's cuBLASLt, or the library's tesa_run
// with its failure turned into a precise message instead of an anonymous glue error.
static int linearRun(void *state, const __half *x, __half *y, cudaStream_t s) {
  Linear &L = *(Linear *)state;
  // A launch error pending from the glue's own kernels is the glue's, not this linear's.
  cudaError_t before = cudaPeekAtLastError();
  if (before != cudaSuccess)
    failLibrary("glue: a launch before linear " + std::to_string(L.j) + " failed: " + cudaGetErrorString(before));
  if (L.spec.kind == "cublas") {
    bool aligned = ((uintptr_t)x % kLtAlignment == 0) && ((uintptr_t)y % kLtAlignment == 0);
    if (!aligned) L.usedUnaligned = true;
    ltMatmul(L, aligned ? L.fast : L.anyAlign, x, y, s);
  } else {
    int rc = L.libRun(L.state, x, y, s);
    if (rc != 0) failLibrary("linear " + std::to_string(L.j) + ": tesa_run returned " + std::to_string(rc));
  }
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    fprintf(stderr, TAG "linear %d: launch failed: %s\n", L.j, cudaGetErrorString(e));
    exit(L.spec.kind == "cublas" ? 3 : 4);
  }
  return 0;
}

// Reference: classic cuBLAS GemmEx, independent of the cuBLASLt path it also checks.
static void referenceLinear(const Linear &L, const __half *xt, __half *yt, cudaStream_t s) {
  const float one = 1.f, zero = 0.f;
  const LinearSpec &p = L.spec;
  CB(cublasSetStream(g_cublas, s));
  CB(cublasGemmEx(g_cublas, CUBLAS_OP_N, CUBLAS_OP_N, p.M, p.N, p.K, &one, xt, CUDA_R_16F, p.M, L.dW, CUDA_R_16F,
                  p.K, &zero, yt, CUDA_R_16F, p.M, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

static void checkLinear(Linear &L, unsigned long long seed, cudaStream_t s) {
  const LinearSpec &p = L.spec;
  size_t nx = (size_t)p.K * p.M, ny = (size_t)p.N * p.M;
  std::vector<__half> x = randomHalf(nx, seed + 104729ULL * (unsigned long long)(L.j + 1));
  __half *dX, *dY, *dRef;
  CK(cudaMalloc(&dX, nx * sizeof(__half)));
  CK(cudaMalloc(&dY, ny * sizeof(__half)));
  CK(cudaMalloc(&dRef, ny * sizeof(__half)));
  CK(cudaMemcpy(dX, x.data(), nx * sizeof(__half), cudaMemcpyHostToDevice));
  // Poison: 0xFFFF is a NaN in fp16, so an element the kernel never writes fails the check.
  CK(cudaMemsetAsync(dY, 0xFF, ny * sizeof(__half), s));
  linearRun(&L, dX, dY, s);
  referenceLinear(L, dX, dRef, s);
  CK(cudaStreamSynchronize(s));
  std::vector<__half> y(ny), r(ny);
  CK(cudaMemcpy(y.data(), dY, ny * sizeof(__half), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(r.data(), dRef, ny * sizeof(__half), cudaMemcpyDeviceToHost));
  double maxDiff = 0, maxRef = 0;
  long bad = 0;
  for (size_t i = 0; i < ny; i++) {
    float a = __half2float(y[i]), b = __half2float(r[i]);
    if (std::isnan(a) && !std::isnan(b)) {
      bad++;
      continue;
    }
    maxDiff = std::max(maxDiff, (double)std::fabs(a - b));
    maxRef = std::max(maxRef, (double)std::fabs(b));
  }
  L.unwritten = bad;
  L.maxRelError = maxDiff / std::max(maxRef, 1e-3);
  CK(cudaFree(dX));
  CK(cudaFree(dY));
  CK(cudaFree(dRef));
}

// ---- output --------------------------------------------------------------------------------


// JSON has no NaN/Infinity: an unchecked linear prints null, an infinite error a huge number.
static void printNumberOrNull(double v) {
  if (std::isnan(v)) printf("null");
  else if (std::isinf(v)) printf("1e300");
  else printf("%.6g", v);
}

// ---- main ----------------------------------------------------------------------------------

int main(int argc, char **argv) {
  const auto start = std::chrono::steady_clock::now();
  if (argc != 2) {
    fprintf(stderr, "usage: tesa-cuda-model-runner <manifest>\n");
    return 2;
  }
  Manifest m = parseManifest(argv[1]);

  // Every file is read and every size validated before the GPU is touched: a bad manifest is
  // exit 2 however the GPU is doing.
  std::vector<unsigned char> data;
  bool needsData = !m.linears.empty();
  for (const BufferSpec &b : m.buffers) needsData = needsData || b.isConst;
  if (needsData) {
    if (m.data.empty()) failInput("the manifest has constants or linears but no data file (data <path>)");
    data = readFile(m.data, "data file");
  }
  for (size_t i = 0; i < m.buffers.size(); i++) {
    const BufferSpec &b = m.buffers[i];
    if (b.isConst && (b.offset > data.size() || b.bytes > data.size() - b.offset))
      failInput("buffer " + std::to_string(i) + ": const range [" + std::to_string(b.offset) + ", +" +
                std::to_string(b.bytes) + ") exceeds the data file (" + std::to_string(data.size()) + " bytes)");
  }
  std::vector<std::vector<unsigned char>> inputBytes;
  for (const FileBinding &f : m.inputs) {
    inputBytes.push_back(readFile(f.path, "input file"));
    size_t want = m.buffers[(size_t)f.id].bytes;
    if (inputBytes.back().size() != want)
      failInput("input " + f.path + " holds " + std::to_string(inputBytes.back().size()) + " bytes, buffer " +
                std::to_string(f.id) + " is " + std::to_string(want));
  }
  std::vector<Linear> linears(m.linears.size());
  std::vector<std::vector<__half>> weights(m.linears.size());
  for (size_t j = 0; j < m.linears.size(); j++) {
    Linear &L = linears[j];
    L.j = (int)j;
    L.spec = m.linears[j];
    size_t wBytes = (size_t)L.spec.N * L.spec.K * sizeof(__half);
    if (L.spec.weightOffset > data.size() || wBytes > data.size() - L.spec.weightOffset)
      failInput("linear " + std::to_string(j) + ": weight [" + std::to_string(L.spec.weightOffset) + ", +" +
                std::to_string(wBytes) + ") exceeds the data file (" + std::to_string(data.size()) + " bytes)");
    if (L.spec.kind == "lib" && access(L.spec.lib.c_str(), R_OK) != 0)
      failInput("linear " + std::to_string(j) + ": cannot read kernel library " + L.spec.lib);
    // Copied out: an offset need not be 2-byte aligned in the file, tesa_init wants a __half*.
    weights[j].resize((size_t)L.spec.N * L.spec.K);
    memcpy(weights[j].data(), data.data() + L.spec.weightOffset, wBytes);
  }
  if (access(m.glue.c_str(), R_OK) != 0) failInput("cannot read glue library " + m.glue);

  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  CB(cublasLtCreate(&g_lt));
  CB(cublasCreate(&g_cublas));
  cudaStream_t stream;
  CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaEvent_t t0, t1;
  CK(cudaEventCreate(&t0));
  CK(cudaEventCreate(&t1));

  // Buffers: each its own cudaMalloc (256-B aligned); non-constant ones zeroed so a run never
  // reads another process's leftovers.
  std::vector<void *> bufs(m.buffers.size(), nullptr);
  for (size_t i = 0; i < m.buffers.size(); i++) {
    const BufferSpec &b = m.buffers[i];
    CK(cudaMalloc(&bufs[i], b.bytes));
    if (b.isConst) CK(cudaMemcpy(bufs[i], data.data() + b.offset, b.bytes, cudaMemcpyHostToDevice));
    else CK(cudaMemset(bufs[i], 0, b.bytes));
  }
  for (size_t i = 0; i < m.inputs.size(); i++)
    CK(cudaMemcpy(bufs[(size_t)m.inputs[i].id], inputBytes[i].data(), inputBytes[i].size(), cudaMemcpyHostToDevice));
  inputBytes.clear();

  // Linears: the weight goes to the device for cuBLAS (and as the check's reference); libraries
  // pack their own copy from the host weight.
  void *tuneWorkspace = nullptr;
  for (Linear &L : linears)
    if (L.spec.kind == "cublas" && !tuneWorkspace) CK(cudaMalloc(&tuneWorkspace, kMaxWorkspace));
  for (size_t j = 0; j < linears.size(); j++) {
    Linear &L = linears[j];
    size_t nw = (size_t)L.spec.N * L.spec.K;
    if (L.spec.kind == "cublas" || m.check) {
      CK(cudaMalloc(&L.dW, nw * sizeof(__half)));
      CK(cudaMemcpy(L.dW, weights[j].data(), nw * sizeof(__half), cudaMemcpyHostToDevice));
    }
    if (L.spec.kind == "cublas") prepareCublas(L, tuneWorkspace, m.seed, stream, t0, t1);
    else prepareLib(L, weights[j].data());
  }
  if (tuneWorkspace) CK(cudaFree(tuneWorkspace));
  weights.clear();
  data.clear();
  data.shrink_to_fit();

  if (m.check) {
    for (Linear &L : linears) {
      checkLinear(L, m.seed, stream);
      fprintf(stderr, TAG "linear %d (%s) checked: max relative error %.3g, %ld unwritten\n", L.j, L.spec.kind.c_str(),
              L.maxRelError, L.unwritten);
    }
  }
  // The reference weight of a library linear is no longer needed.
  for (Linear &L : linears)
    if (L.spec.kind == "lib" && L.dW) {
      CK(cudaFree(L.dW));
      L.dW = nullptr;
    }

  std::vector<TesaLinear> lins(linears.size());
  for (size_t j = 0; j < linears.size(); j++) lins[j] = TesaLinear{&linears[j], linearRun};

  void *glue = dlopen(m.glue.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!glue) failLibrary(std::string("glue: dlopen failed: ") + dlerror());
  model_init_fn modelInit = (model_init_fn)dlsym(glue, "tesa_model_init");
  model_run_fn modelRun = (model_run_fn)dlsym(glue, "tesa_model_run");
  model_free_fn modelFree = (model_free_fn)dlsym(glue, "tesa_model_free");
  if (!modelInit || !modelRun || !modelFree)
    failLibrary("glue " + m.glue + " lacks tesa_model_init/tesa_model_run/tesa_model_free");
  void *ctx = nullptr;
  int rc = modelInit(bufs.data(), (int)bufs.size(), &ctx);
  if (rc != 0) failLibrary("glue: tesa_model_init returned " + std::to_string(rc));
  {
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) failLibrary(std::string("glue: tesa_model_init left a CUDA error: ") + cudaGetErrorString(e));
  }

  auto runModel = [&](const char *when) {
    int r = modelRun(ctx, lins.data(), stream);
    if (r != 0) failLibrary(std::string("glue: tesa_model_run returned ") + std::to_string(r) + " " + when);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) failLibrary(std::string("glue: launch failed ") + when + ": " + cudaGetErrorString(e));
  };

  // One eager run first: it loads every kernel module (lazy loading) outside the capture, and
  // an asynchronous fault shows up here, attributed to the model, rather than as a broken graph.
  runModel("on the first run");
  {
    cudaError_t e = cudaStreamSynchronize(stream);
    if (e != cudaSuccess) failLibrary(std::string("the model's first run failed: ") + cudaGetErrorString(e));
  }

  // One capture of the whole model; anything not capturable (a sync, a malloc, the legacy
  // stream) invalidates it and EndCapture says so.
  cudaGraphExec_t graphExec = nullptr;
  if (m.graph) {
    cudaGraph_t graph = nullptr;
    CK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    runModel("during graph capture");
    cudaError_t e = cudaStreamEndCapture(stream, &graph);
    if (e != cudaSuccess) {
      fprintf(stderr,
              TAG "graph capture failed: %s (the glue or a kernel library synchronised, allocated or used another "
                  "stream outside the capture)\n",
              cudaGetErrorString(e));
      exit(4);
    }
    CK(cudaGraphInstantiate(&graphExec, graph, 0));
    CK(cudaGraphDestroy(graph));
  }
  auto launch = [&]() {
    if (graphExec) CK(cudaGraphLaunch(graphExec, stream));
    else runModel("in a timed run");
  };
  const double initMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  // A buffer twice the L2 size, rewritten before each repetition, evicts the previous one's data.
  size_t flushBytes = (size_t)std::max(prop.l2CacheSize, 1 << 20) * 2;
  void *flushBuf = nullptr;
  if (m.flush) CK(cudaMalloc(&flushBuf, flushBytes));
  for (int r = 0; r < m.warmup; r++) launch();
  CK(cudaStreamSynchronize(stream));
  std::vector<float> samples;
  for (int r = 0; r < m.reps; r++) {
    if (m.flush) CK(cudaMemsetAsync(flushBuf, r & 0xFF, flushBytes, stream));
    CK(cudaEventRecord(t0, stream));
    launch();
    CK(cudaEventRecord(t1, stream));
    CK(cudaEventSynchronize(t1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, t0, t1));
    samples.push_back(ms);
  }
  CK(cudaDeviceSynchronize());

  for (const FileBinding &f : m.outputs) {
    std::vector<unsigned char> out(m.buffers[(size_t)f.id].bytes);
    CK(cudaMemcpy(out.data(), bufs[(size_t)f.id], out.size(), cudaMemcpyDeviceToHost));
    writeFile(f.path, out.data(), out.size());
  }

  // Per-step profile: median over 5 eager runs of the event time between consecutive steps.
  std::vector<float> stepMs;
  if (m.profile) {
    model_profile_fn prof = (model_profile_fn)dlsym(glue, "tesa_model_profile");
    model_steps_fn nsteps = (model_steps_fn)dlsym(glue, "tesa_model_steps");
    if (!prof || !nsteps) failLibrary("glue " + m.glue + " lacks tesa_model_profile (built before profiling existed?)");
    const int n = nsteps();
    std::vector<std::vector<float>> runs(5, std::vector<float>((size_t)n));
    for (auto &run : runs) {
      int r = prof(ctx, lins.data(), stream, run.data(), n);
      if (r != 0) failLibrary("glue: tesa_model_profile returned " + std::to_string(r));
    }
    for (int k = 0; k < n; k++) {
      std::vector<float> v;
      for (auto &run : runs) v.push_back(run[(size_t)k]);
      std::sort(v.begin(), v.end());
      stepMs.push_back(v[v.size() / 2]);
    }
  }
  printf("{\"device\":\"%s\",\"sm\":\"%d%d\",\"l2Bytes\":%d,\"flush\":%s,\"graph\":%s,\"check\":%s,\"samplesMs\":[",
         jsonEscape(prop.name).c_str(), prop.major, prop.minor, prop.l2CacheSize, m.flush ? "true" : "false",
         m.graph ? "true" : "false", m.check ? "true" : "false");
  for (size_t i = 0; i < samples.size(); i++) printf("%s%.6f", i ? "," : "", samples[i]);
  printf("],\"linears\":[");
  for (size_t j = 0; j < linears.size(); j++) {
    const Linear &L = linears[j];
    printf("%s{\"j\":%d,\"kind\":\"%s\",\"M\":%d,\"N\":%d,\"K\":%d,\"algoUs\":", j ? "," : "", L.j,
           L.spec.kind.c_str(), L.spec.M, L.spec.N, L.spec.K);
    printNumberOrNull(L.spec.kind == "cublas" ? (double)L.fast.us : NAN);
    if (L.spec.kind == "cublas")
      printf(",\"algosTried\":%d,\"unalignedAlgoUs\":%.6g,\"usedUnaligned\":%s", L.algosTried, (double)L.anyAlign.us,
             L.usedUnaligned ? "true" : "false");
    printf(",\"maxRelError\":");
    printNumberOrNull(L.maxRelError);
    printf(",\"unwritten\":%ld}", L.unwritten);
  }
  printf("],\"initMs\":%.3f", initMs);
  if (m.profile) {
    printf(",\"stepsMs\":[");
    for (size_t k = 0; k < stepMs.size(); k++) printf("%s%.5f", k ? "," : "", stepMs[k]);
    printf("]");
  }
  printf("}\n");
  fflush(stdout);

  if (graphExec) CK(cudaGraphExecDestroy(graphExec));
  modelFree(ctx);
  for (Linear &L : linears) {
    if (L.libFree) L.libFree(L.state);
    if (L.dW) cudaFree(L.dW);
    if (L.fast.workspace) cudaFree(L.fast.workspace);
    if (L.anyAlign.workspace) cudaFree(L.anyAlign.workspace);
    if (L.desc) cublasLtMatmulDescDestroy(L.desc);
    if (L.a) cublasLtMatrixLayoutDestroy(L.a);
    if (L.b) cublasLtMatrixLayoutDestroy(L.b);
    if (L.c) cublasLtMatrixLayoutDestroy(L.c);
  }
  for (void *b : bufs) cudaFree(b);
  if (flushBuf) cudaFree(flushBuf);
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  cudaStreamDestroy(stream);
  cublasDestroy(g_cublas);
  cublasLtDestroy(g_lt);
  return 0;
}
