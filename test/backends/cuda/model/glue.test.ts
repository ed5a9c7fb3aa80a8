/**
 * The generated glue of a whole model: what it bakes in and that nvcc accepts it. Pure string
 * checks run everywhere; the compile runs where nvcc finds the cuBLAS headers.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cudaCompileUnavailableReason } from '../../../../backends/cuda/build.js';
import { emitGlue } from '../../../../backends/cuda/model/glue.js';
import { lowerGraph } from '../../../../backends/cuda/model/lower-graph.js';
import { loadModel } from '../../../../src/model/load.js';

const compileReason = cudaCompileUnavailableReason();
if (compileReason) process.stdout.write(`test/backends/cuda/model/glue.test.ts: nvcc compile skipped: ${compileReason}\n`);

describe('model glue', () => {
  it('bert-base at 4096 tokens: one kernel per distinct step, wide loads, attention through batched cuBLAS', async () => {
    const g = await loadModel('zoo:bert-base-4k');
    const p = lowerGraph(g);
    const glue = emitGlue(p, g.name);
    // 12 encoder layers share their kernels: embeddings, Q/K/V bias, softmax, GELU, LayerNorms, output copy.
    expect(glue.kernels).toBeLessThanOrEqual(10);
    expect(glue.code).toContain(`#define NSTEPS ${p.steps.length}`);
    // bias + GELU (erf) over 4096×3072 reads and writes 16 bytes per thread.
    const gelu = glue.code.split('\n\n').find((k) => k.includes('erff('))!;
    expect(gelu).toContain('const long long i = 8 * (');
    expect(gelu).toContain('*(uint4 *)(y + oy) = res;');
    // Q·Kᵀ and P·V: 32 sequences × 12 heads of 128×128×64, pointers built once at init.
    expect(glue.code.match(/cublasGemmBatchedEx\(/g)).toHaveLength(24);
    expect(glue.code).toContain('× 384');
    // LayerNorm on feature-major activations: rows split over feature groups, one pass of sums.
    expect(glue.code).toMatch(/k\d+_rowsplit<<<512, 256, 0, s>>>/);
  }, 60_000);

  it.skipIf(compileReason !== null)('nvcc compiles the glue of bert-mini for sm_90a', async () => {
    const g = await loadModel('zoo:bert-mini');
    const dir = mkdtempSync(join(tmpdir(), 'tesa-glue-'));
    try {
      writeFileSync(join(dir, 'glue.cu'), emitGlue(lowerGraph(g), g.name).code);
      execFileSync('nvcc', ['-O3', '-std=c++17', '-gencode=arch=compute_90a,code=sm_90a', '-Xcompiler', '-fPIC', '-c', '-o', join(dir, 'glue.o'), join(dir, 'glue.cu')], { timeout: 300_000, stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
