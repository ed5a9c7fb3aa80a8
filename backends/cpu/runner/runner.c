/*
 * tesa CPU runner: executes a compiled model described by a line-based manifest.
 *
 * It loads the weight blob, dlopen()s the kernel libraries, allocates one arena for all
 * activations (offsets planned by tesa by liveness), calls each kernel's init once, then
 * answers commands read line by line from stdin, one JSON line per command on stdout:
 *
 *   inputs <path>   read the graph inputs (raw bytes, in manifest order)
 *   warmup <n>      run the model n times untimed
 *   time <n>        run n times, print {"samplesMs":[...]} (CLOCK_MONOTONIC per whole run)
 *   profile <n>     run n times, print per-op mean milliseconds
 *   check           run every op's optimized kernel and its naive reference on the same
 *                   inputs and print the max relative error per op; before each op it
 *                   writes "@op <index>" to stderr so that a crash can be blamed on it
 *   outputs <path>  write the graph outputs (raw bytes, in manifest order)
 *   quit
 *
 * Manifest lines (space separated, names never contain spaces):
 *   tesa-manifest 1
 *   weights <path> <bytes>
 *   arena <bytes>
 *   input <name> <offset> <bytes>
 *   output <name> <space a|w> <offset> <bytes> <dtype>
 *   lib <index> <path>
 *   op <index> <name> <lib> <entry> <hasInit> <hasRef> <stateBytes> <nin> {<space> <offset>}*
 *      <nout> {<offset> <bytes> <dtype>}*
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*kernel_fn)(const void *const *in, void *const *out, void *state);
typedef void (*init_fn)(const void *const *in, void *state);
typedef void (*ref_fn)(const void *const *in, void *const *out);

enum dtype { DT_F32, DT_I64, DT_I32, DT_U8, DT_F64 };

typedef struct {
  int index;
  char name[512];
  kernel_fn run;
  init_fn init;
  ref_fn ref;
  size_t state_bytes;
  void *state;
  int nin, nout;
  const void **in;
  void **out;
  size_t *out_bytes;
  int *out_dtype;
} op_t;

typedef struct {
  char name[512];
  size_t offset, bytes;
} input_t;

typedef struct {
  char name[512];
  char space;
  size_t offset, bytes;
  int dtype;
} output_t;

static unsigned char *weights, *arena;
static op_t *ops;
static int nops;
static input_t *inputs;
static int ninputs;
static output_t *outputs;
static int noutputs;

static void die(const char *fmt, const char *arg) {
  printf("{\"error\":\"");
  printf(fmt, arg);
  printf("\"}\n");
  fflush(stdout);
  exit(3);
}

static void *aligned(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) die("out of memory%s", "");
  memset(p, 0, bytes ? bytes : 64);
  return p;
}

static int parse_dtype(const char *s) {
  if (!strcmp(s, "f32")) return DT_F32;
  if (!strcmp(s, "i64")) return DT_I64;
  if (!strcmp(s, "i32")) return DT_I32;
  if (!strcmp(s, "u8")) return DT_U8;
  if (!strcmp(s, "f64")) return DT_F64;
  die("unknown dtype %s", s);
  return 0;
}

static double elem(const void *p, int dtype, size_t i) {
  switch (dtype) {
    case DT_F32: return ((const float *)p)[i];
    case DT_I64: return (double)((const int64_t *)p)[i];
    case DT_I32: return ((const int32_t *)p)[i];
    case DT_U8: return ((const uint8_t *)p)[i];
    default: return ((const double *)p)[i];
  }
}

static size_t dtype_size(int dtype) {
  switch (dtype) {
    case DT_F32: case DT_I32: return 4;
    case DT_I64: case DT_F64: return 8;
    default: return 1;
  }
}

static void load_manifest(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die("cannot open manifest %s", path);
  char tok[4096];
  void **libs = NULL;
  int nlibs = 0;
  int cap_ops = 0, cap_in = 0, cap_out = 0;
  while (fscanf(f, "%4095s", tok) == 1) {
    if (!strcmp(tok, "tesa-manifest")) {
      int v;
      if (fscanf(f, "%d", &v) != 1 || v != 1) die("unsupported manifest version%s", "");
    } else if (!strcmp(tok, "weights")) {
      char wpath[4096];
      size_t bytes;
      if (fscanf(f, "%4095s %zu", wpath, &bytes) != 2) die("bad weights line%s", "");
      weights = aligned(bytes);
      FILE *w = fopen(wpath, "rb");
      if (!w) die("cannot open weights %s", wpath);
      if (bytes && fread(weights, 1, bytes, w) != bytes) die("short weights file %s", wpath);
      fclose(w);
    } else if (!strcmp(tok, "arena")) {
      size_t bytes;
      if (fscanf(f, "%zu", &bytes) != 1) die("bad arena line%s", "");
      arena = aligned(bytes);
    } else if (!strcmp(tok, "input")) {
      if (ninputs == cap_in) inputs = realloc(inputs, sizeof(input_t) * (cap_in = cap_in * 2 + 4));
      input_t *in = &inputs[ninputs++];
      if (fscanf(f, "%511s %zu %zu", in->name, &in->offset, &in->bytes) != 3) die("bad input line%s", "");
    } else if (!strcmp(tok, "output")) {
      if (noutputs == cap_out) outputs = realloc(outputs, sizeof(output_t) * (cap_out = cap_out * 2 + 4));
      output_t *o = &outputs[noutputs++];
      char space[8], dt[8];
      if (fscanf(f, "%511s %7s %zu %zu %7s", o->name, space, &o->offset, &o->bytes, dt) != 5) die("bad output line%s", "");
      o->space = space[0];
      o->dtype = parse_dtype(dt);
    } else if (!strcmp(tok, "lib")) {
      int idx;
      char lpath[4096];
      if (fscanf(f, "%d %4095s", &idx, lpath) != 2) die("bad lib line%s", "");
      if (idx >= nlibs) {
        libs = realloc(libs, sizeof(void *) * (idx + 1));
        for (int i = nlibs; i <= idx; i++) libs[i] = NULL;
        nlibs = idx + 1;
      }
      libs[idx] = dlopen(lpath, RTLD_NOW | RTLD_LOCAL);
      if (!libs[idx]) die("cannot load kernel library %s", dlerror());
    } else if (!strcmp(tok, "op")) {
      if (nops == cap_ops) ops = realloc(ops, sizeof(op_t) * (cap_ops = cap_ops * 2 + 16));
      op_t *op = &ops[nops++];
      memset(op, 0, sizeof *op);
      int lib, has_init, has_ref;
      char entry[512];
      if (fscanf(f, "%d %511s %d %511s %d %d %zu %d", &op->index, op->name, &lib, entry, &has_init, &has_ref, &op->state_bytes, &op->nin) != 8)
        die("bad op line%s", "");
      if (lib < 0 || lib >= nlibs || !libs[lib]) die("op names an unknown library (%s)", op->name);
      op->run = (kernel_fn)dlsym(libs[lib], entry);
      if (!op->run) die("kernel entry not found: %s", entry);
      char sym[600];
      if (has_init) {
        snprintf(sym, sizeof sym, "%s_init", entry);
        op->init = (init_fn)dlsym(libs[lib], sym);
        if (!op->init) die("kernel init not found: %s", sym);
      }
      if (has_ref) {
        snprintf(sym, sizeof sym, "%s_ref", entry);
        op->ref = (ref_fn)dlsym(libs[lib], sym);
        if (!op->ref) die("reference kernel not found: %s", sym);
      }
      op->in = calloc(op->nin + 1, sizeof(void *));
      for (int i = 0; i < op->nin; i++) {
        char space[8];
        size_t off;
        if (fscanf(f, "%7s %zu", space, &off) != 2) die("bad op input (%s)", op->name);
        op->in[i] = space[0] == 'w' ? (const void *)(weights + off) : (const void *)(arena + off);
      }
      if (fscanf(f, "%d", &op->nout) != 1) die("bad op outputs (%s)", op->name);
      op->out = calloc(op->nout + 1, sizeof(void *));
      op->out_bytes = calloc(op->nout + 1, sizeof(size_t));
      op->out_dtype = calloc(op->nout + 1, sizeof(int));
      for (int i = 0; i < op->nout; i++) {
        size_t off;
        char dt[8];
        if (fscanf(f, "%zu %zu %7s", &off, &op->out_bytes[i], dt) != 3) die("bad op output (%s)", op->name);
        op->out[i] = arena + off;
        op->out_dtype[i] = parse_dtype(dt);
      }
      op->state = op->state_bytes ? aligned(op->state_bytes) : NULL;
    } else {
      die("unknown manifest line %s", tok);
    }
  }
  fclose(f);
  if (!arena) arena = aligned(64);
  if (!weights) weights = aligned(64);
  for (int i = 0; i < nops; i++)
    if (ops[i].init) ops[i].init((const void *const *)ops[i].in, ops[i].state);
}

static void run_model(void) {
  for (int i = 0; i < nops; i++) ops[i].run((const void *const *)ops[i].in, ops[i].out, ops[i].state);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void cmd_inputs(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open inputs %s", path);
  for (int i = 0; i < ninputs; i++)
    if (inputs[i].bytes && fread(arena + inputs[i].offset, 1, inputs[i].bytes, f) != inputs[i].bytes) die("short inputs file %s", path);
  fclose(f);
  printf("{\"ok\":true}\n");
}

static void cmd_outputs(const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) die("cannot write outputs %s", path);
  for (int i = 0; i < noutputs; i++) {
    const unsigned char *base = outputs[i].space == 'w' ? weights : arena;
    fwrite(base + outputs[i].offset, 1, outputs[i].bytes, f);
  }
  fclose(f);
  printf("{\"ok\":true}\n");
}

static void cmd_time(int n) {
  printf("{\"samplesMs\":[");
  for (int r = 0; r < n; r++) {
    double t0 = now_ms();
    run_model();
    double t1 = now_ms();
    printf(r ? ",%.6f" : "%.6f", t1 - t0);
  }
  printf("]}\n");
}

static void cmd_profile(int n) {
  double *acc = calloc(nops + 1, sizeof(double));
  for (int r = 0; r < n; r++)
    for (int i = 0; i < nops; i++) {
      double t0 = now_ms();
      ops[i].run((const void *const *)ops[i].in, ops[i].out, ops[i].state);
      acc[i] += now_ms() - t0;
    }
  printf("{\"opsMs\":[");
  for (int i = 0; i < nops; i++) printf(i ? ",[%d,%.6f]" : "[%d,%.6f]", ops[i].index, acc[i] / (n ? n : 1));
  printf("]}\n");
  free(acc);
}

/* max |a - b| / max |b| over the tensor: the error relative to the tensor's magnitude. */
static double rel_error(const void *a, const void *b, int dtype, size_t n) {
  double maxdiff = 0, maxref = 0;
  for (size_t i = 0; i < n; i++) {
    double x = elem(a, dtype, i), y = elem(b, dtype, i);
    if (isnan(x) != isnan(y) || isinf(x) != isinf(y)) return INFINITY;
    if (isnan(x) || isinf(x)) continue;
    double d = fabs(x - y);
    if (d > maxdiff) maxdiff = d;
    if (fabs(y) > maxref) maxref = fabs(y);
  }
  if (maxdiff == 0) return 0;
  return maxdiff / (maxref > 1e-30 ? maxref : 1e-30);
}

static void cmd_check(void) {
  printf("{\"check\":[");
  for (int i = 0; i < nops; i++) {
    op_t *op = &ops[i];
    fprintf(stderr, "@op %d\n", op->index);
    fflush(stderr);
    double err = 0;
    if (op->ref) {
      void **refout = calloc(op->nout + 1, sizeof(void *));
      for (int o = 0; o < op->nout; o++) refout[o] = aligned(op->out_bytes[o]);
      op->ref((const void *const *)op->in, refout);
      op->run((const void *const *)op->in, op->out, op->state);
      for (int o = 0; o < op->nout; o++) {
        double e = rel_error(op->out[o], refout[o], op->out_dtype[o], op->out_bytes[o] / dtype_size(op->out_dtype[o]));
        if (!(e <= err)) err = e;
        free(refout[o]);
      }
      free(refout);
    } else {
      op->run((const void *const *)op->in, op->out, op->state);
    }
    if (isinf(err) || isnan(err)) printf(i ? ",[%d,1e308]" : "[%d,1e308]", op->index);
    else printf(i ? ",[%d,%.9g]" : "[%d,%.9g]", op->index, err);
  }
  fprintf(stderr, "@done\n");
  fflush(stderr);
  printf("]}\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: tesa-runner <manifest>\n");
    return 2;
  }
  load_manifest(argv[1]);
  printf("{\"ready\":true,\"ops\":%d}\n", nops);
  fflush(stdout);
  char line[8192];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[64], arg[8000];
    arg[0] = 0;
    if (sscanf(line, "%63s %7999s", cmd, arg) < 1) continue;
    if (!strcmp(cmd, "quit")) break;
    else if (!strcmp(cmd, "inputs")) cmd_inputs(arg);
    else if (!strcmp(cmd, "outputs")) cmd_outputs(arg);
    else if (!strcmp(cmd, "warmup")) {
      int n = atoi(arg);
      for (int r = 0; r < n; r++) run_model();
      printf("{\"ok\":true}\n");
    } else if (!strcmp(cmd, "time")) cmd_time(atoi(arg));
    else if (!strcmp(cmd, "profile")) cmd_profile(atoi(arg));
    else if (!strcmp(cmd, "check")) cmd_check();
    else printf("{\"error\":\"unknown command %s\"}\n", cmd);
    fflush(stdout);
  }
  return 0;
}
