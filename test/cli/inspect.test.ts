/**
 * `tesa inspect` through the real CLI binary (dist/, built by `npm test` first): the JSON
 * summary of a hand-built model, the zoo path, and every bad-input case of issue 2 item 8 —
 * exit code 2, one line on stderr naming the file/node/option, a stack only with --debug.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numel } from '../../src/model/graph.js';
import { exportOnnx } from '../../src/model/onnx/export.js';
import { inferShapes } from '../../src/model/shape-inference.js';
import { convNet, HandGraph } from '../model/hand-graphs.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'onnx');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function tesa(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-inspect-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeModel(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

describe('tesa inspect --json', () => {
  it('summarises a hand-built conv net: ops, parameters, FLOPs, inputs, outputs, weights', async () => {
    const g = convNet();
    inferShapes(g);
    const file = writeModel('convnet.onnx', exportOnnx(g));
    const r = await tesa('inspect', file, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.ops).toEqual({ BatchNormalization: 1, Clip: 1, Conv: 3, Flatten: 1, Gemm: 1, GlobalAveragePool: 1, MaxPool: 1, Relu: 1 });
    const params = [...g.tensors.values()].filter((t) => t.data && t.dtype === 'float32').reduce((a, t) => a + numel(t.shape), 0);
    expect(s.parameters).toBe(params);
    // conv1 8×3×3×3 over 8×8 out, dw 8×1×3×3 over 8×8, pw 12×8 over 4×4, fc 12→5; BN/Relu/Clip 512 each,
    // MaxPool 8×4×4 windows of 4, GAP reads 12×4×4, Flatten 0.
    const flops = 2 * 8 * 64 * 27 + 512 + 512 + 2 * 8 * 64 * 9 + 512 + 128 * 4 + 2 * 12 * 16 * 8 + 192 + 0 + 2 * 5 * 12;
    expect(s.flops).toBe(flops);
    expect(s.inputs).toEqual([{ name: 'image', shape: [1, 3, 16, 16], dtype: 'float32' }]);
    expect(s.outputs).toEqual([{ name: g.outputs[0], shape: [1, 5], dtype: 'float32' }]);
    expect(s.weights.map((w: { name: string; shape: number[] }) => [w.name, w.shape])).toEqual([
      ['conv1.weight', [8, 3, 3, 3]],
      ['dw.weight', [8, 1, 3, 3]],
      ['pw.weight', [12, 8, 1, 1]],
      ['fc.weight', [5, 12]],
    ]);
  });

  it('prints a human table with every weight shape', async () => {
    const r = await tesa('inspect', join(FIXTURES, 'resnet_bn_op13.onnx'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^parameters\s+[\d,]+$/m);
    expect(r.stdout).toMatch(/^\s+BatchNormalization\s+9$/m);
    expect(r.stdout).toMatch(/^weights \(10\)$/m);
    expect(r.stdout).toMatch(/\[32, 16, 3, 3\]/);
  });

  it('binds symbolic dims with repeatable --dim', async () => {
    const r = await tesa('inspect', join(FIXTURES, 'bert_op17.onnx'), '--dim', 'sequence=8', '--dim', 'batch=2', '--json');
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).inputs[0]).toEqual({ name: 'input_ids', shape: [2, 8], dtype: 'int64' });
  });

  it('zoo:mobilenet-v2 has 52 Conv, zoo:bert-base 72 encoder weight matrices', async () => {
    const m = JSON.parse((await tesa('inspect', 'zoo:mobilenet-v2', '--json')).stdout);
    expect(m.ops.Conv).toBe(52);
    const b = JSON.parse((await tesa('inspect', 'zoo:bert-base', '--json')).stdout);
    expect(b.weights.filter((w: { shape: number[] }) => w.shape.length === 2).length).toBe(72);
    expect(b.parameters).toBeGreaterThan(85e6);
  }, 60_000);
});

describe('tesa inspect on bad input: one line, exit 2, no stack', () => {
  const oneLine = (r: Result): string => {
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    return lines[0];
  };

  it('missing file', async () => {
    const line = oneLine(await tesa('inspect', join(dir, 'nope.onnx')));
    expect(line).toBe(`tesa: ${join(dir, 'nope.onnx')}: no such file (hint: give the path of an .onnx file or zoo:NAME (zoo models: ${line.split('zoo models: ')[1]}`);
    expect(line).toMatch(/zoo models: .*mobilenet-v2/);
  });

  it('a file that is not ONNX', async () => {
    const file = writeModel('notes.onnx', new TextEncoder().encode('hello, this is text\n'));
    expect(oneLine(await tesa('inspect', file))).toMatch(new RegExp(`^tesa: ${file}: not a valid ONNX model \\(.+\\) \\(hint: .+\\)$`));
  });

  it('a truncated protobuf', async () => {
    const bytes = readFileSync(join(FIXTURES, 'mlp_op13.onnx'));
    const file = writeModel('cut.onnx', bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(oneLine(await tesa('inspect', file))).toMatch(new RegExp(`^tesa: ${file}: not a valid ONNX model \\(protobuf decoding failed: .+\\)`));
  });

  it('an unknown op', async () => {
    const b = new HandGraph('custom');
    b.input('x', 'float32', [2]);
    const y = b.op1('FancyOp', ['x'], {}, 'fancy_1');
    const g = b.graph([y]);
    g.tensors.get(y)!.shape = [2];
    const file = writeModel('custom.onnx', exportOnnx(g));
    expect(oneLine(await tesa('inspect', file))).toMatch(new RegExp(`^tesa: ${file}: node 'fancy_1' has op 'FancyOp' that tesa does not support \\(hint: supported ops: .*\\)$`));
  });

  it('dims that do not fit', async () => {
    const b = new HandGraph('mismatch');
    const x = b.input('x', 'float32', [2, 3]);
    const y = b.op1('MatMul', [x, b.weight('w', [4, 5])], {}, 'proj');
    const g = b.graph([y]);
    g.tensors.get(y)!.shape = [2, 5];
    const file = writeModel('mismatch.onnx', exportOnnx(g));
    expect(oneLine(await tesa('inspect', file))).toMatch(new RegExp(`^tesa: ${file}: node 'proj' \\(MatMul\\) cannot multiply \\[2,3\\] by \\[4,5\\]: inner dims 3 and 4 differ \\(hint: .+\\)$`));
  });

  it('a symbolic dim without a value names the dim and the option', async () => {
    const file = join(dir, 'bert.onnx');
    copyFileSync(join(FIXTURES, 'bert_op13.onnx'), file);
    expect(oneLine(await tesa('inspect', file))).toBe(`tesa: ${file}: input 'input_ids' has symbolic dim 'sequence' (axis 1) with no value (hint: --dim sequence=<value>)`);
  });

  it('a malformed --dim', async () => {
    expect(oneLine(await tesa('inspect', join(FIXTURES, 'bert_op13.onnx'), '--dim', 'sequence'))).toMatch(/^tesa: --dim 'sequence': expected name=positive integer/);
  });

  it('a zoo name that does not exist', async () => {
    expect(oneLine(await tesa('inspect', 'zoo:bert-huge'))).toMatch(/^tesa: unknown zoo model 'bert-huge' \(hint: known: .*bert-base.*mobilenet-v2.*\)$/);
  });

  it('--debug adds the stack', async () => {
    const r = await tesa('inspect', join(dir, 'nope.onnx'), '--debug');
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(/no such file/);
    expect(r.stderr).toMatch(/^\s+at /m);
  });
});
