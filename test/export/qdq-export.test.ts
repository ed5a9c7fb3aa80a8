/**
 * `tesa export` of an int8 trial, through the CLI: model.qdq.onnx (QuantizeLinear /
 * DequantizeLinear, int8 initializers, per-axis scales, zero point 0) loads and runs in
 * onnxruntime-node, config.json carries the scales and the verification against our compiled
 * int8 model, report.md shows the precision; `tesa show` lists int8 per group.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { decodeModel } from '../../src/model/onnx/import.js';
import { OnnxDataType } from '../../src/model/onnx/schema.js';
import { cliPath } from '../cli/run-cli.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { QuantizationConfig } from '../../src/export/qdq.js';

const MODEL = join(packageRoot(), 'test', 'fixtures', 'onnx', 'mlp_op13.onnx');
let dir: string;
let db: string;
let out: string;

/** The CLI with room for a search and an export on a loaded machine. */
function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-qdq-export-'));
  db = join(dir, 't.db');
  out = join(dir, 'out');
  const r = cli(['optimize', '--model', MODEL, '--precisions', 'int8', '--patterns', 'fine', '--strategy', 'random', '--max-trials', '2', '--latency-budget', '1000ms', '--final-rounds', '0', '--evaluator', 'fidelity', '--db', db, '--json']);
  expect(r.status, r.stderr).toBe(0);
  const e = cli(['export', '1', '--out', out, '--db', db, '--json']);
  expect(e.status, e.stderr).toBe(0);
}, 600_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('export of an int8 trial', () => {
  it('writes model.qdq.onnx that onnxruntime-node loads and runs', async () => {
    const session = await ort.InferenceSession.create(join(out, 'model.qdq.onnx'));
    try {
      const [input] = session.inputNames;
      const x = new ort.Tensor('float32', Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)), [1, 32]);
      const res = await session.run({ [input!]: x });
      const y = res[session.outputNames[0]!]!;
      expect(y.dims).toEqual([1, 10]);
      expect(Array.from(y.data as Float32Array).every(Number.isFinite)).toBe(true);
    } finally {
      await session.release();
    }
    const m = decodeModel(readFileSync(join(out, 'model.qdq.onnx')), 'model.qdq.onnx');
    const nodes = m.graph!.node ?? [];
    const inits = m.graph!.initializer ?? [];
    const dq = nodes.filter((n) => n.op_type === 'DequantizeLinear');
    expect(nodes.filter((n) => n.op_type === 'QuantizeLinear').length).toBeGreaterThanOrEqual(1);
    // Weights: int8 initializer, per-axis scales, int8 zero points that are all 0.
    const weightDq = dq.filter((n) => inits.some((t) => t.name === n.input![0] && t.data_type === OnnxDataType.INT8));
    expect(weightDq.length).toBeGreaterThanOrEqual(2);
    for (const n of weightDq) {
      expect(n.attribute!.find((a) => a.name === 'axis')).toBeDefined();
      const zp = inits.find((t) => t.name === n.input![2])!;
      expect(zp.data_type).toBe(OnnxDataType.INT8);
      expect(Array.from(zp.raw_data ?? new Uint8Array()).every((b) => b === 0)).toBe(true);
    }
    // No float copy of a quantized weight is left in the file.
    expect(inits.filter((t) => t.data_type === OnnxDataType.INT8).length).toBeGreaterThanOrEqual(weightDq.length);
  });

  it('records per-channel scales and the check against the compiled int8 model in config.json', () => {
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { quantization: QuantizationConfig; layers: Array<{ precision: string }>; groups: Array<{ precision: string }> };
    const q = config.quantization;
    expect(q.format).toBe('onnx-qdq');
    expect(q.layers.length).toBeGreaterThanOrEqual(2);
    for (const l of q.layers) {
      expect(l.scales.length).toBeGreaterThan(0);
      expect(l.scales.every((s) => s > 0)).toBe(true);
    }
    expect(q.verification!.fp32VsInt8).toBeGreaterThan(0);
    expect(q.verification!.qdqVsInt8).toBeLessThan(q.verification!.fp32VsInt8 / 2);
    expect(config.groups.every((g) => g.precision === 'int8')).toBe(true);
    expect(config.layers.some((l) => l.precision === 'int8')).toBe(true);
  });

  it('shows int8 in report.md and in tesa show', () => {
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toMatch(/## Quantization \(int8\)/);
    expect(report).toMatch(/\| int8 \|/);
    expect(report).toMatch(/model\.qdq\.onnx/);
    const show = cli(['show', '1', '--db', db]);
    expect(show.status).toBe(0);
    expect(show.stdout).toMatch(/PRECISION/);
    expect(show.stdout).toMatch(/\bint8\b/);
  });
});
