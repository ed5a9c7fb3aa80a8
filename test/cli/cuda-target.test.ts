/**
 * `--target cuda` refuses a model it cannot run wholly on the GPU before any work: one line
 * naming the node and the op, exit 2, no database written. Needs no GPU (the graph is checked
 * before the GPU is looked for).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

describe('--target cuda on a model with ops the GPU path lacks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tesa-cuda-refuse-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, TESA_CACHE_DIR: join(dir, 'cache') };

  it('optimize refuses zoo:resnet18 naming its first Conv, and records nothing', () => {
    const db = join(dir, 't.db');
    const r = spawnSync(process.execPath, [cli, 'optimize', '--model', 'zoo:resnet18', '--target', 'cuda', '--db', db], { encoding: 'utf8', env, timeout: 120_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^tesa: node '\/conv1\/Conv' \(Conv\): no CUDA kernel for this op \(hint: .*--target cpu/);
    expect(existsSync(db)).toBe(false);
  });

  it('bench model refuses it the same way', () => {
    const r = spawnSync(process.execPath, [cli, 'bench', 'model', 'zoo:resnet18', '--target', 'cuda'], { encoding: 'utf8', env, timeout: 120_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^tesa: node '\/conv1\/Conv' \(Conv\)/);
  });

  it('inspect --target cuda shows the GPU program without a GPU, and refuses what it cannot run', () => {
    const r = spawnSync(process.execPath, [cli, 'inspect', 'zoo:bert-mini', '--target', 'cuda', '--json'], { encoding: 'utf8', env, timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as { steps: Record<string, number>; fusedOps: number; glueKernels: number; linears: unknown[]; memory: { constantBytes: number } };
    expect(d.steps).toMatchObject({ linear: 24, bmm: 8, softmax: 4, layernorm: 9, gather: 3 });
    expect(d.fusedOps).toBeGreaterThan(40);
    expect(d.glueKernels).toBeLessThanOrEqual(10);
    expect(d.linears).toHaveLength(24);
    expect(d.memory.constantBytes).toBeGreaterThan(2 * 11e6); // ~11M parameters in fp16
    const text = spawnSync(process.execPath, [cli, 'inspect', 'zoo:bert-mini', '--target', 'cuda'], { encoding: 'utf8', env, timeout: 120_000 });
    expect(text.stdout).toMatch(/GPU steps \(\d+ element-wise ops fused into them\)/);
    const bad = spawnSync(process.execPath, [cli, 'inspect', 'zoo:resnet18', '--target', 'cuda'], { encoding: 'utf8', env, timeout: 120_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^tesa: node '\/conv1\/Conv' \(Conv\)/);
  });

  it('bench model checks its options: --pattern without --sparsity, --threads on cuda', () => {
    const a = spawnSync(process.execPath, [cli, 'bench', 'model', 'zoo:bert-mini', '--target', 'cuda', '--pattern', 'tile:128'], { encoding: 'utf8', env, timeout: 60_000 });
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/--pattern and --sparsity go together/);
    const b = spawnSync(process.execPath, [cli, 'bench', 'model', 'zoo:bert-mini', '--target', 'cuda', '--threads', '2'], { encoding: 'utf8', env, timeout: 60_000 });
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/--threads, --isa and --dim apply to --target cpu only/);
    const c = spawnSync(process.execPath, [cli, 'bench', 'model', 'zoo:mlp', '--pattern', 'tile:128', '--sparsity', '0.5'], { encoding: 'utf8', env, timeout: 60_000 });
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/--pattern and --sparsity apply to --target cuda only/);
  });
});
