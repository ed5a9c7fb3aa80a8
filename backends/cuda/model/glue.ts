/**
 * Emits the "glue" library of a GPU program: CUDA C++ with one small kernel per distinct
 * step (shapes, strides and the fused element-wise expression baked in) and the launch
 * sequence of the whole model. Linear layers are called through a table the runner fills
 * (cuBLAS or a sparse kernel library), so the glue does not depend on sparsity: one build
 * serves every trial of a search. Identical steps (the same layer shape in every encoder
 * block) share one kernel.
 */
import type { ElemType, Expr, Program, Step, View } from './program.js';
import { mergeDims, product, storageOrder } from './views.js';

const THREADS = 256;
const ROW_THREADS = 128;
/** Threads per block of the row-split kernels (rows × feature groups). */
const SPLIT_THREADS = 256;

function num(x: number): string {
  if (Number.isNaN(x)) return '__int_as_float(0x7fc00000)';
  if (x === Infinity) return '__int_as_float(0x7f800000)';
  if (x === -Infinity) return '__int_as_float(0xff800000)';
  const s = Math.fround(x).toPrecision(9);
  return `${s.includes('e') || s.includes('.') ? s : `${s}.0`}f`;
}

export function exprC(e: Expr, leaf: (i: number) => string = (i) => `v${i}`): string {
  switch (e.op) {
    case 'leaf':
      return leaf(e.leaf);
    case 'const':
      return num(e.value);
    case 'unary': {
      const a = exprC(e.a, leaf);
      switch (e.fn) {
        case 'erf':
          return `erff(${a})`;
        case 'relu':
          return `fmaxf(${a}, 0.f)`;
        case 'tanh':
          return `tanhf(${a})`;
        case 'sigmoid':
          return `(1.f / (1.f + expf(-(${a}))))`;
        case 'exp':
          return `expf(${a})`;
        case 'log':
          return `logf(${a})`;
        case 'sqrt':
          return `sqrtf(${a})`;
        case 'neg':
          return `(-(${a}))`;
        case 'abs':
          return `fabsf(${a})`;
        case 'recip':
          return `(1.f / (${a}))`;
      }
      break;
    }
    case 'binary': {
      const a = exprC(e.a, leaf);
      const b = exprC(e.b, leaf);
      switch (e.fn) {
        case 'add':
          return `(${a} + ${b})`;
        case 'sub':
          return `(${a} - ${b})`;
        case 'mul':
          return `(${a} * ${b})`;
        case 'div':
          return `(${a} / ${b})`;
        case 'pow':
          return `powf(${a}, ${b})`;
        case 'max':
          return `fmaxf(${a}, ${b})`;
        case 'min':
          return `fminf(${a}, ${b})`;
      }
    }
  }
  throw new Error('unknown expression');
}

const cType = (t: ElemType): string => (t === 'f16' ? '__half' : 'long long');
const loadC = (t: ElemType, p: string): string => (t === 'f16' ? `__half2float(${p})` : `(float)(${p})`);

/**
 * Index code for a flat counter `i` over `shape` walked in `order` (outermost first): the
 * element offset of each view. Dims that walk memory together in every view are merged.
 */
function offsets(counter: string, shape: readonly number[], order: readonly number[], views: readonly View[], names: readonly string[]): string {
  const m = mergeDims(shape, views.map((v) => v.strides), order);
  const lines: string[] = [];
  const coords: string[] = [];
  const n = m.shape.length;
  // 32-bit division by constants is a multiply and a shift; 64-bit is a call.
  const t = product(shape) < 2 ** 31 ? 'int' : 'long long';
  if (n === 1) coords.push(counter);
  else {
    lines.push(`${t} r_ = (${t})${counter};`);
    for (let d = n - 1; d >= 1; d--) {
      lines.push(`const ${t} c${d} = r_ % ${m.shape[d]}; r_ /= ${m.shape[d]};`);
      coords[d] = `c${d}`;
    }
    coords[0] = 'r_';
  }
  views.forEach((v, i) => {
    const terms = [String(v.offset)];
    m.strides[i]!.forEach((st, d) => {
      if (st !== 0) terms.push(st === 1 ? `(long long)${coords[d]}` : `${coords[d]} * ${st}LL`);
    });
    lines.push(`const long long ${names[i]} = ${terms.filter((x, k) => k > 0 || x !== '0').join(' + ') || '0'};`);
  });
  return lines.join('\n    ');
}

/**
 * How many neighbouring fp16 elements one thread of an element-wise step moves: 8 (16-byte
 * loads and stores) or 2 (4-byte) when the innermost merged dim divides by it and every view
 * is contiguous (or broadcast) in that dim with offsets and outer strides aligned to it; else 1.
 */
function vectorWidth(shape: readonly number[], order: readonly number[], views: readonly View[], types: readonly ElemType[]): 1 | 2 | 8 {
  const m = mergeDims(shape, views.map((v) => v.strides), order);
  const last = m.shape.length - 1;
  const fits = (w: number): boolean =>
    m.shape[last]! % w === 0 &&
    views.every((v, i) => {
      const st = m.strides[i]!;
      if (st[last] === 0 && i > 0) return true;
      return types[i] === 'f16' && st[last] === 1 && v.offset % w === 0 && st.every((x, d) => d === last || x % w === 0);
    });
  return fits(8) ? 8 : fits(2) ? 2 : 1;
}

interface Kernel {
  name: string;
  body: string;
}

/** Glue source and what the runner needs to know. */
export interface Glue {
  code: string;
  kernels: number;
}

class Emitter {
  private readonly kernels = new Map<string, Kernel>();
  readonly calls: string[] = [];
  readonly inits: string[] = [];
  readonly frees: string[] = [];
  private bmmCount = 0;

  constructor(private readonly p: Program) {}

  /** The kernel's name (one kernel per distinct body); `threads` is its block size at every launch. */
  private kernel(kind: string, threads: number, signature: string, body: string): string {
    const key = `${signature}\n${body}`;
    let k = this.kernels.get(key);
    if (!k) {
      k = { name: `k${this.kernels.size}_${kind}`, body: `__global__ void __launch_bounds__(${threads}) NAME(${signature}) {\n${body}\n}` };
      this.kernels.set(key, k);
    }
    return k.name;
  }

  private ptr(v: View, constant: boolean): string {
    const t = this.p.buffers[v.buf]!.dtype;
    return `(${constant ? 'const ' : ''}${cType(t)} *)b[${v.buf}]`;
  }

  private leafParams(leaves: readonly View[]): { sig: string[]; args: string[]; loads: (offs: string[]) => string } {
    const types = leaves.map((l) => this.p.buffers[l.buf]!.dtype);
    return {
      sig: types.map((t, i) => `const ${cType(t)} *__restrict__ l${i}`),
      args: leaves.map((l) => this.ptr(l, true)),
      loads: (offs) => types.map((t, i) => `const float v${i} = ${loadC(t, `l${i}[${offs[i]}]`)};`).join(' '),
    };
  }

  step(s: Step, index: number): void {
    const comment = `// step ${index}: ${s.kind}`;
    switch (s.kind) {
      case 'ew': {
        const n = product(s.out.shape);
        const order = storageOrder(s.out.shape, s.out.strides);
        const lp = this.leafParams(s.src.leaves);
        const names = s.src.leaves.map((_, i) => `o${i}`);
        const views = [s.out, ...s.src.leaves];
        const types: ElemType[] = ['f16', ...s.src.leaves.map((l) => this.p.buffers[l.buf]!.dtype)];
        const w = vectorWidth(s.out.shape, order, views, types);
        if (w > 1) {
          // w neighbouring elements per thread: one 16-byte (or 4-byte) load per contiguous leaf
          // and one store, the expression evaluated for each element.
          const m = mergeDims(s.out.shape, views.map((v) => v.strides), order);
          const last = m.shape.length - 1;
          const vecT = w === 8 ? 'uint4' : '__half2';
          const loads = s.src.leaves
            .map((_, i) => {
              const t = types[i + 1]!;
              if (m.strides[i + 1]![last] === 0) return `const float b${i} = ${loadC(t, `l${i}[o${i}]`)};`;
              return `const ${vecT} u${i} = *(const ${vecT} *)(l${i} + o${i}); const __half2 *h${i} = (const __half2 *)&u${i};`;
            })
            .join('\n  ');
          const leafAt = (e: number) => (i: number): string => (m.strides[i + 1]![last] === 0 ? `b${i}` : `${e % 2 ? '__high2float' : '__low2float'}(h${i}[${e >> 1}])`);
          const outs = Array.from({ length: w / 2 }, (_, j) => `r[${j}] = __floats2half2_rn(${exprC(s.src.expr, leafAt(2 * j))}, ${exprC(s.src.expr, leafAt(2 * j + 1))});`).join('\n  ');
          const body = `  const long long i = ${w} * ((long long)blockIdx.x * ${THREADS} + threadIdx.x);
  if (i >= ${n}LL) return;
    ${offsets('i', s.out.shape, order, views, ['oy', ...names])}
  ${loads}
  ${vecT} res;
  __half2 *r = (__half2 *)&res;
  ${outs}
  *(${vecT} *)(y + oy) = res;`;
          const name = this.kernel('ew', THREADS, [...lp.sig, '__half *__restrict__ y'].join(', '), body);
          this.calls.push(`${comment} (${w} per thread)\n  ${name}<<<${Math.ceil(n / w / THREADS)}, ${THREADS}, 0, s>>>(${[...lp.args, this.ptr(s.out, false)].join(', ')});`);
          return;
        }
        const body = `  const long long i = (long long)blockIdx.x * ${THREADS} + threadIdx.x;
  if (i >= ${n}LL) return;
    ${offsets('i', s.out.shape, order, views, ['oy', ...names])}
  ${lp.loads(names)}
  y[oy] = __float2half(${exprC(s.src.expr)});`;
        const name = this.kernel('ew', THREADS, [...lp.sig, '__half *__restrict__ y'].join(', '), body);
        this.calls.push(`${comment}\n  ${name}<<<${Math.ceil(n / THREADS)}, ${THREADS}, 0, s>>>(${[...lp.args, this.ptr(s.out, false)].join(', ')});`);
        return;
      }
      case 'layernorm':
      case 'softmax':
        return this.rowStep(s, comment);
      case 'gather': {
        const shape = s.out.shape;
        const n = product(shape);
        const D = s.table.shape[1]!;
        const V = s.table.shape[0]!;
        const rank = shape.length;
        const ids: View = { ...s.ids, shape: [...s.ids.shape, D], strides: [...s.ids.strides, 0] };
        const order = storageOrder(shape, s.out.strides);
        // The feature index d is needed on its own (it addresses the table), so it is not merged.
        const dOnly: View = { buf: -1, offset: 0, shape, strides: shape.map((_, i) => (i === rank - 1 ? 1 : 0)) };
        const body = `  const long long i = (long long)blockIdx.x * ${THREADS} + threadIdx.x;
  if (i >= ${n}LL) return;
    ${offsets('i', shape, order, [s.out, ids, dOnly], ['oy', 'oi', 'd'])}
  long long id = ids[oi];
  if (id < 0) id += ${V};
  id = id < 0 ? 0 : (id >= ${V} ? ${V - 1} : id);  // out of range: clamp (onnxruntime would fail)
  y[oy] = table[${s.table.offset} + id * ${s.table.strides[0]}LL + d * ${s.table.strides[1]}LL];`;
        const name = this.kernel('gather', THREADS, 'const __half *__restrict__ table, const long long *__restrict__ ids, __half *__restrict__ y', body);
        this.calls.push(`${comment}\n  ${name}<<<${Math.ceil(n / THREADS)}, ${THREADS}, 0, s>>>(${this.ptr(s.table, true)}, ${this.ptr(s.ids, true)}, ${this.ptr(s.out, false)});`);
        return;
      }
      case 'bmm':
        return this.bmm(s, comment);
      case 'linear':
        this.calls.push(`${comment} ${this.p.linears[s.index]!.node}\n  TESA_LINEAR(${s.index}, ${this.ptr(s.x, true)} + ${s.x.offset}, ${this.ptr(s.y, false)} + ${s.y.offset});`);
        return;
    }
  }

  /** LayerNorm and Softmax: one row (the last axis) per warp when rows are contiguous, else one per thread. */
  private rowStep(s: Extract<Step, { kind: 'layernorm' | 'softmax' }>, comment: string): void {
    const shape = s.out.shape;
    const D = shape[shape.length - 1]!;
    const rows = product(shape) / D;
    const lead = shape.slice(0, -1);
    const views = [s.out, ...s.src.leaves];
    const leadViews = views.map((v) => ({ ...v, shape: lead, strides: v.strides.slice(0, -1) }));
    const order = storageOrder(lead, s.out.strides.slice(0, -1));
    const lp = this.leafParams(s.src.leaves);
    const names = ['oy', ...s.src.leaves.map((_, i) => `o${i}`)];
    const colStride = views.map((v) => v.strides[v.strides.length - 1]!);
    const at = (i: number, c: string): string => (colStride[i] === 0 ? names[i]! : `${names[i]} + ${c} * ${colStride[i]}LL`);
    const x = (c: string): string => `${s.src.leaves.map((_, i) => `const float v${i} = ${loadC(this.p.buffers[s.src.leaves[i]!.buf]!.dtype, `l${i}[${at(i + 1, c)}]`)};`).join(' ')} const float x = ${exprC(s.src.expr)};`;
    const warp = s.out.strides[s.out.strides.length - 1] === 1 && D >= 32;
    // Row-split kernels: enough blocks to fill the GPU (≥ 512) before rows per block reach 32
    // (measured on the H100: 8 rows × 32 feature groups beat 16 × 16 for 4096 rows).
    const splitRows = rows >= 512 * 32 ? 32 : rows >= 512 * 16 ? 16 : 8;
    const isLn = s.kind === 'layernorm';
    const extra = isLn ? ', const __half *__restrict__ gamma, const __half *__restrict__ beta' : '';
    const extraArgs = isLn ? `, ${this.ptr(s.gamma, true)} + ${s.gamma.offset}, ${this.ptr(s.beta, true)} + ${s.beta.offset}` : '';
    const gs = isLn ? s.gamma.strides[0]! : 0;
    const bs = isLn ? s.beta.strides[0]! : 0;
    const finish = (v: string, c: string): string =>
      isLn ? `__float2half((${v} - mean) * inv * __half2float(gamma[${c} * ${gs}]) + __half2float(beta[${c} * ${bs}]))` : `__float2half(__expf(${v} - mx) * inv)`;
    let body: string;
    if (warp) {
      const per = Math.ceil(D / 32);
      body = `  const long long row = (long long)blockIdx.x * ${ROW_THREADS / 32} + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= ${rows}LL) return;
    ${offsets('row', lead, order, leadViews, names)}
  float xs[${per}];
#pragma unroll
  for (int j = 0; j < ${per}; j++) {
    const int c = lane + 32 * j;
    if (c < ${D}) { ${x('c')} xs[j] = x; }
  }
${
  isLn
    ? `  float sum = 0.f;
#pragma unroll
  for (int j = 0; j < ${per}; j++) if (lane + 32 * j < ${D}) sum += xs[j];
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const float mean = sum / ${D}.f;
  float sq = 0.f;
#pragma unroll
  for (int j = 0; j < ${per}; j++) if (lane + 32 * j < ${D}) sq += (xs[j] - mean) * (xs[j] - mean);
  for (int o = 16; o > 0; o >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, o);
  const float inv = rsqrtf(sq / ${D}.f + ${num(s.kind === 'layernorm' ? s.eps : 0)});`
    : `  float mx = -INFINITY;
#pragma unroll
  for (int j = 0; j < ${per}; j++) if (lane + 32 * j < ${D}) mx = fmaxf(mx, xs[j]);
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  float sum = 0.f;
#pragma unroll
  for (int j = 0; j < ${per}; j++) if (lane + 32 * j < ${D}) sum += __expf(xs[j] - mx);
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const float inv = 1.f / sum;`
}
#pragma unroll
  for (int j = 0; j < ${per}; j++) {
    const int c = lane + 32 * j;
    if (c < ${D}) y[${at(0, 'c')}] = ${finish('xs[j]', 'c')};
  }`;
    } else {
      // Rows are the contiguous dim (feature-major activations): R neighbouring rows per group
      // of threads so loads coalesce, and G groups per block each take every G-th feature of
      // those rows; partial sums meet in shared memory. Three passes (mean, variance, write;
      // or max, sum, write) re-read from L2 rather than hold a row in registers.
      const R = splitRows;
      const G = SPLIT_THREADS / R;
      const red = (v: string, op: string): string => `  part[threadIdx.x] = ${v};
  __syncthreads();
  if (g == 0) {
    float t = part[r];
    for (int k = 1; k < ${G}; k++) t = ${op};
    part[r] = t;
  }
  __syncthreads();
  const float ${v}_all = part[r];
  __syncthreads();`;
      body = `${isLn ? '' : `  __shared__ float part[${SPLIT_THREADS}];\n`}  const int r = threadIdx.x % ${R}, g = threadIdx.x / ${R};
  const long long row0 = (long long)blockIdx.x * ${R} + r;
  const bool live = row0 < ${rows}LL;
  const long long row = live ? row0 : ${rows - 1}LL;
    ${offsets('row', lead, order, leadViews, names)}
${
  isLn
    ? `  // One pass of sums, shifted by the row's first value so that a large mean cannot cancel
  // the variance away; the ${G} partial sums meet in shared memory.
  __shared__ float pm[${SPLIT_THREADS}], pq[${SPLIT_THREADS}];
  float shift;
  { ${x('0')} shift = x; }
  float s1 = 0.f, s2 = 0.f;
  for (int c = g; c < ${D}; c += ${G}) { ${x('c')} const float d0 = x - shift; s1 += d0; s2 += d0 * d0; }
  pm[threadIdx.x] = s1;
  pq[threadIdx.x] = s2;
  __syncthreads();
  if (g == 0) {
    for (int k = 1; k < ${G}; k++) { s1 += pm[k * ${R} + r]; s2 += pq[k * ${R} + r]; }
    pm[r] = s1;
    pq[r] = s2;
  }
  __syncthreads();
  const float m1 = pm[r] / ${D}.f;
  const float mean = shift + m1;
  const float inv = rsqrtf(fmaxf(pq[r] / ${D}.f - m1 * m1, 0.f) + ${num(s.kind === 'layernorm' ? s.eps : 0)});`
    : `  float m = -INFINITY;
  for (int c = g; c < ${D}; c += ${G}) { ${x('c')} m = fmaxf(m, x); }
${red('m', `fmaxf(t, part[k * ${R} + r])`)}
  const float mx = m_all;
  float sum = 0.f;
  for (int c = g; c < ${D}; c += ${G}) { ${x('c')} sum += __expf(x - mx); }
${red('sum', `t + part[k * ${R} + r]`)}
  const float inv = 1.f / sum_all;`
}
  if (!live) return;
  for (int c = g; c < ${D}; c += ${G}) {
    ${x('c')}
    y[${at(0, 'c')}] = ${finish('x', 'c')};
  }`;
    }
    const threads = warp ? ROW_THREADS : SPLIT_THREADS;
    const name = this.kernel(warp ? 'row' : 'rowsplit', threads, [...lp.sig, '__half *__restrict__ y'].join(', ') + extra, body);
    const blocks = warp ? Math.ceil(rows / (ROW_THREADS / 32)) : Math.ceil(rows / splitRows);
    this.calls.push(`${comment} (${warp ? 'warp' : 'thread'} per row)\n  ${name}<<<${blocks}, ${threads}, 0, s>>>(${[...lp.args, this.ptr(s.out, false)].join(', ')}${extraArgs});`);
  }

  /** cuBLAS batched GEMM through per-batch pointer arrays built at init (any batch strides). */
  private bmm(s: Extract<Step, { kind: 'bmm' }>, comment: string): void {
    const r = s.out.shape.length;
    const M = s.out.shape[r - 2]!;
    const N = s.out.shape[r - 1]!;
    const K = s.a.shape[r - 1]!;
    const batchShape = s.out.shape.slice(0, -2);
    const batch = product(batchShape);
    const sr = (v: View): [number, number] => [v.strides[r - 2]!, v.strides[r - 1]!];
    const [osr, osc] = sr(s.out);
    // Column-major operand for a logical [R,C] matrix with strides (rs, cs): op N when rows are contiguous.
    const operand = (rs: number, cs: number): { op: string; ld: number } => (rs === 1 ? { op: 'CUBLAS_OP_N', ld: cs } : { op: 'CUBLAS_OP_T', ld: rs });
    let call: { m: number; n: number; first: 'a' | 'b'; A: { op: string; ld: number }; B: { op: string; ld: number }; ldc: number };
    const [asr, asc] = sr(s.a);
    const [bsr, bsc] = sr(s.b);
    if (osr === 1) {
      call = { m: M, n: N, first: 'a', A: operand(asr, asc), B: operand(bsr, bsc), ldc: osc };
    } else {
      // Row-major C: compute Cᵀ = Bᵀ·Aᵀ, column-major with ld = the row stride.
      call = { m: N, n: M, first: 'b', A: operand(bsc, bsr), B: operand(asc, asr), ldc: osr };
    }
    const id = this.bmmCount++;
    const offs = (v: View): number[] => {
      const out: number[] = [];
      const idx = new Array<number>(batchShape.length).fill(0);
      for (let i = 0; i < batch; i++) {
        let o = v.offset;
        idx.forEach((x, d) => (o += x * v.strides[d]!));
        out.push(o);
        for (let d = batchShape.length - 1; d >= 0; d--) {
          if (++idx[d]! < batchShape[d]!) break;
          idx[d] = 0;
        }
      }
      return out;
    };
    const [first, second] = call.first === 'a' ? [s.a, s.b] : [s.b, s.a];
    const list = (name: string, v: View): string => `static const long long ${name}[${batch}] = {${offs(v).join(', ')}};`;
    this.inits.push(`  {  // ${comment.slice(3)}: pointer arrays of ${batch} batches
    ${list('oa', first)}
    ${list('ob', second)}
    ${list('oc', s.out)}
    std::vector<const void *> ha(${batch}), hb(${batch});
    std::vector<void *> hc(${batch});
    for (int i = 0; i < ${batch}; i++) {
      ha[i] = (const __half *)c->b[${first.buf}] + oa[i];
      hb[i] = (const __half *)c->b[${second.buf}] + ob[i];
      hc[i] = (__half *)c->b[${s.out.buf}] + oc[i];
    }
    TESA_CK(cudaMalloc(&c->pa[${id}], ${batch} * sizeof(void *)));
    TESA_CK(cudaMalloc(&c->pb[${id}], ${batch} * sizeof(void *)));
    TESA_CK(cudaMalloc(&c->pc[${id}], ${batch} * sizeof(void *)));
    TESA_CK(cudaMemcpy(c->pa[${id}], ha.data(), ${batch} * sizeof(void *), cudaMemcpyHostToDevice));
    TESA_CK(cudaMemcpy(c->pb[${id}], hb.data(), ${batch} * sizeof(void *), cudaMemcpyHostToDevice));
    TESA_CK(cudaMemcpy(c->pc[${id}], hc.data(), ${batch} * sizeof(void *), cudaMemcpyHostToDevice));
  }`);
    this.calls.push(`${comment}: [${M}x${K}]·[${K}x${N}] × ${batch}
  TESA_CB(cublasGemmBatchedEx(c->h, ${call.A.op}, ${call.B.op}, ${call.m}, ${call.n}, ${K}, &one, (const void *const *)c->pa[${id}], CUDA_R_16F, ${call.A.ld},
                              (const void *const *)c->pb[${id}], CUDA_R_16F, ${call.B.ld}, &zero, (void *const *)c->pc[${id}], CUDA_R_16F, ${call.ldc}, ${batch},
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));`);
  }

  bmmTotal(): number {
    return this.bmmCount;
  }

  kernelSources(): string {
    return [...this.kernels.values()].map((k) => k.body.replace('NAME', k.name)).join('\n\n');
  }

  kernelCount(): number {
    return this.kernels.size;
  }
}

export function emitGlue(p: Program, title: string): Glue {
  const e = new Emitter(p);
  p.steps.forEach((s, i) => e.step(s, i));
  const nb = Math.max(1, e.bmmTotal());
  const code = `// tesa model glue: ${title}
// ${p.steps.length} steps, ${p.buffers.length} buffers, ${p.linears.length} linear layers (called through the runner's table),
// ${e.kernelCount()} generated kernels. Every kernel has its shapes, strides and fused element-wise
// expression baked in; activations are fp16, arithmetic fp32.
// ABI: tesa_model_init(buffers, n, &ctx) once; tesa_model_run(ctx, linears, stream) per inference
// (enqueue only: no allocation, no synchronisation, so it can be captured in a CUDA graph).
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cmath>
#include <cstdio>
#include <vector>

#define TESA_CK(x)                                                                  \\
  do {                                                                              \\
    cudaError_t e_ = (x);                                                           \\
    if (e_ != cudaSuccess) {                                                        \\
      fprintf(stderr, "tesa glue: %s failed: %s\\n", #x, cudaGetErrorString(e_));   \\
      return 1;                                                                     \\
    }                                                                               \\
  } while (0)
#define TESA_CB(x)                                                                  \\
  do {                                                                              \\
    cublasStatus_t s_ = (x);                                                        \\
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                              \\
      fprintf(stderr, "tesa glue: %s failed: cuBLAS status %d\\n", #x, (int)s_);    \\
      return 2;                                                                     \\
    }                                                                               \\
  } while (0)

struct TesaLinear {
  void *state;
  int (*run)(void *state, const __half *x, __half *y, cudaStream_t s);
};

#define NBUF ${p.buffers.length}
#define NBMM ${nb}
#define WORKSPACE (32u << 20)
struct Ctx {
  void *b[NBUF];
  cublasHandle_t h;
  void *ws;
  void *pa[NBMM], *pb[NBMM], *pc[NBMM];
};

#define TESA_LINEAR(j, x, y)                                                        \\
  do {                                                                              \\
    const int rc_ = lins[j].run(lins[j].state, (x), (y), s);                        \\
    if (rc_ != 0) {                                                                 \\
      fprintf(stderr, "tesa glue: linear %d failed (%d)\\n", (j), rc_);              \\
      return 3;                                                                     \\
    }                                                                               \\
  } while (0)

${e.kernelSources()}

extern "C" int tesa_model_init(void *const *bufs, int nbufs, void **out) {
  if (nbufs != NBUF) {
    fprintf(stderr, "tesa glue: expected %d buffers, got %d\\n", NBUF, nbufs);
    return 4;
  }
  Ctx *c = new Ctx();
  for (int i = 0; i < NBUF; i++) c->b[i] = bufs[i];
  TESA_CB(cublasCreate(&c->h));
  TESA_CK(cudaMalloc(&c->ws, WORKSPACE));
  // An explicit workspace keeps cuBLAS from allocating while a CUDA graph is captured.
  TESA_CB(cublasSetWorkspace(c->h, c->ws, WORKSPACE));
${e.inits.join('\n')}
  *out = c;
  return 0;
}

#define NSTEPS ${p.steps.length}
// The launch sequence. PROFILE: an event after every step (ev[0] before the first).
template <bool PROFILE>
static int model_body(Ctx *c, const TesaLinear *lins, cudaStream_t s, cudaEvent_t *ev) {
  void *const *b = c->b;
  const float one = 1.f, zero = 0.f;
  (void)one;
  (void)zero;
  (void)lins;
  (void)ev;
  TESA_CB(cublasSetStream(c->h, s));
  if (PROFILE) TESA_CK(cudaEventRecord(ev[0], s));
  ${e.calls.map((call, k) => `${call}
  if (PROFILE) TESA_CK(cudaEventRecord(ev[${k + 1}], s));`).join('\n  ')}
  TESA_CK(cudaGetLastError());
  return 0;
}

extern "C" int tesa_model_run(void *ctx, const TesaLinear *lins, cudaStream_t s) { return model_body<false>((Ctx *)ctx, lins, s, nullptr); }

extern "C" int tesa_model_steps(void) { return NSTEPS; }

/** ms[k] = GPU time of step k in one eager run (not for graph capture: it synchronises). */
extern "C" int tesa_model_profile(void *ctx, const TesaLinear *lins, cudaStream_t s, float *ms, int n) {
  if (n != NSTEPS) return 5;
  std::vector<cudaEvent_t> ev(NSTEPS + 1);
  for (auto &e : ev) TESA_CK(cudaEventCreate(&e));
  const int rc = model_body<true>((Ctx *)ctx, lins, s, ev.data());
  if (rc != 0) return rc;
  TESA_CK(cudaStreamSynchronize(s));
  for (int k = 0; k < NSTEPS; k++) TESA_CK(cudaEventElapsedTime(&ms[k], ev[k], ev[k + 1]));
  for (auto &e : ev) cudaEventDestroy(e);
  return 0;
}

extern "C" void tesa_model_free(void *ctx) {
  Ctx *c = (Ctx *)ctx;
  if (!c) return;
  for (int i = 0; i < NBMM; i++) {
    cudaFree(c->pa[i]);
    cudaFree(c->pb[i]);
    cudaFree(c->pc[i]);
  }
  cublasDestroy(c->h);
  cudaFree(c->ws);
  delete c;
}
`;
  return { code, kernels: e.kernelCount() };
}
