import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { TesaError } from '../../src/errors.js';
import type { DType, Graph, TensorData } from '../../src/model/graph.js';
import { exportOnnx, graphToModelMessage } from '../../src/model/onnx/export.js';
import { importOnnx } from '../../src/model/onnx/import.js';
import { ModelProtoType, type ModelMsg } from '../../src/model/onnx/schema.js';
import { HandGraph, int } from './hand-graphs.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'onnx');

function encode(msg: ModelMsg): Uint8Array {
  return ModelProtoType.encode(msg as Record<string, unknown>).finish();
}

function thrown(fn: () => unknown): TesaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TesaError);
    return e as TesaError;
  }
  throw new Error('expected a TesaError');
}

function relu(shape: (number | string)[]): ModelMsg {
  const b = new HandGraph('relu');
  b.input('x', 'float32', [1]);
  const y = b.op1('Relu', ['x']);
  const g = b.graph([y]);
  g.tensors.get(y)!.shape = [1];
  const msg = graphToModelMessage(g);
  msg.graph!.input![0].type!.tensor_type!.shape = { dim: shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) };
  return msg;
}

describe('symbolic dims', () => {
  it('binds named dims from opts.dims and defaults batch-like names to 1', () => {
    const g = importOnnx(encode(relu(['batch_size', 'seq', 4])), { source: 'm.onnx', dims: { seq: 7 } });
    expect(g.tensors.get('x')!.shape).toEqual([1, 7, 4]);
    expect(g.tensors.get(g.outputs[0])!.shape).toEqual([1, 7, 4]);
    expect(importOnnx(encode(relu(['N', 3])), { source: 'm.onnx' }).tensors.get('x')!.shape).toEqual([1, 3]);
  });

  it('refuses an unbound non-batch dim, naming input and dim, with a --dim hint', () => {
    const e = thrown(() => importOnnx(encode(relu(['batch', 'sequence'])), { source: 'm.onnx' }));
    expect(e.code).toBe('BAD_INPUT');
    expect(e.message).toBe("m.onnx: input 'x' has symbolic dim 'sequence' (axis 1) with no value");
    expect(e.hint).toBe('--dim sequence=<value>');
  });

  it('refuses a --dim the model does not have', () => {
    const e = thrown(() => importOnnx(encode(relu(['batch', 'sequence'])), { source: 'm.onnx', dims: { sequence: 4, seqlen: 3 } }));
    expect(e.message).toBe("--dim seqlen: m.onnx has no symbolic input dim 'seqlen'");
    expect(e.hint).toBe('its symbolic dims are: batch, sequence');
  });

  it('the PyTorch BERT fixture needs its sequence dim', () => {
    const bytes = readFileSync(join(FIXTURES, 'bert_op13.onnx'));
    expect(thrown(() => importOnnx(bytes, { source: 'bert.onnx' })).hint).toBe('--dim sequence=<value>');
    const g = importOnnx(bytes, { source: 'bert.onnx', dims: { sequence: 9 } });
    expect(g.tensors.get('last_hidden_state')!.shape).toEqual([1, 9, 64]);
  });
});

describe('tensors', () => {
  const VALUES: Record<DType, TensorData> = {
    float32: Float32Array.of(1.5, -2, 3e-8),
    float16: Uint16Array.of(0x3c00, 0xc000, 0x7bff),
    float64: Float64Array.of(Math.PI, -1e300, 0),
    int64: BigInt64Array.of(9223372036854775807n, -9223372036854775808n, 5n),
    int32: Int32Array.of(2147483647, -2147483648, 0),
    int8: Int8Array.of(-128, 127, 0),
    uint8: Uint8Array.of(0, 255, 7),
    bool: Uint8Array.of(1, 0, 1),
  };

  /** A graph whose output is Identity(Concat) of a constant: keeps every constant live. */
  function holder(dtype: DType): Graph {
    const b = new HandGraph(`t_${dtype}`);
    const x = b.input('x', dtype, [3]);
    const c = b.const('c', dtype, [3], VALUES[dtype]);
    const y = b.op1('Concat', [x, c], { axis: int(0) });
    const g = b.graph([y]);
    g.tensors.get(y)!.shape = [6];
    g.tensors.get(y)!.dtype = dtype;
    return g;
  }

  for (const dtype of Object.keys(VALUES) as DType[]) {
    it(`${dtype}: raw_data round trip keeps every bit`, () => {
      const g = importOnnx(exportOnnx(holder(dtype)), { source: 'm.onnx' });
      const t = g.tensors.get('c')!;
      expect(t.dtype).toBe(dtype);
      expect(t.data).toEqual(VALUES[dtype]);
    });
  }

  it('reads the typed fields (float_data, int64_data, int32_data, double_data) as well as raw_data', () => {
    const cases: [DType, string, (number | string)[]][] = [
      ['float32', 'float_data', [1.5, -2, 0.25]],
      ['int64', 'int64_data', ['9223372036854775807', '-3', '4']],
      ['int32', 'int32_data', [7, -8, 9]],
      ['float16', 'int32_data', [0x3c00, 0xc000, 0x7bff]],
      ['bool', 'int32_data', [1, 0, 1]],
      ['float64', 'double_data', [0.1, 0.2, 0.3]],
    ];
    for (const [dtype, field, values] of cases) {
      const msg = graphToModelMessage(holder(dtype));
      const init = msg.graph!.initializer!.find((t) => t.name === 'c')!;
      delete init.raw_data;
      (init as Record<string, unknown>)[field] = values;
      const t = importOnnx(encode(msg), { source: 'm.onnx' }).tensors.get('c')!;
      const got = Array.from(t.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? v.toString() : v));
      expect(got, dtype).toEqual(values.map((v) => (dtype === 'int64' ? String(v) : Number(v))));
    }
  });

  it('refuses tensors whose data lives in an external file', () => {
    const msg = graphToModelMessage(holder('float32'));
    const init = msg.graph!.initializer!.find((t) => t.name === 'c')!;
    delete init.raw_data;
    init.data_location = 1;
    init.external_data = [{ key: 'location', value: 'weights.bin' }];
    const e = thrown(() => importOnnx(encode(msg), { source: 'big.onnx' }));
    expect(e.message).toBe("big.onnx: initializer 'c' keeps its data in an external file ('weights.bin'), which tesa does not read");
    expect(e.hint).toMatch(/save_as_external_data=False/);
  });

  it('refuses data whose length does not match the shape', () => {
    const msg = graphToModelMessage(holder('float32'));
    msg.graph!.initializer!.find((t) => t.name === 'c')!.raw_data = new Uint8Array(8);
    expect(thrown(() => importOnnx(encode(msg), { source: 'm.onnx' })).message).toBe("m.onnx: initializer 'c' holds 8 bytes of data but its shape needs 12");
  });
});

describe('nodes and structure', () => {
  it('names unnamed nodes <OpType>_<index> and sorts them topologically', () => {
    const b = new HandGraph('unsorted');
    const x = b.input('x', 'float32', [2]);
    const a = b.op1('Relu', [x]);
    const y = b.op1('Neg', [a]);
    const g = b.graph([y]);
    g.tensors.get(a)!.shape = [2];
    g.tensors.get(y)!.shape = [2];
    const msg = graphToModelMessage(g);
    msg.graph!.node!.reverse();
    for (const n of msg.graph!.node!) n.name = '';
    const imported = importOnnx(encode(msg), { source: 'm.onnx' });
    expect(imported.nodes.map((n) => n.name)).toEqual(['Relu_1', 'Neg_0']);
  });

  it('turns garbage and truncated files into "not a valid ONNX model"', () => {
    const good = readFileSync(join(FIXTURES, 'mlp_op13.onnx'));
    for (const bytes of [good.subarray(0, good.length - 1000), new TextEncoder().encode('this is not a model\n'), new Uint8Array(0), Uint8Array.of(0x0a, 0xff, 0xff, 0xff)]) {
      const e = thrown(() => importOnnx(bytes, { source: 'x.onnx' }));
      expect(e.code).toBe('BAD_INPUT');
      expect(e.message).toMatch(/^x\.onnx: not a valid ONNX model \(.+\)$/);
    }
  });

  it('cut or garbled anywhere, a file is imported or refused with a TesaError, never a crash', () => {
    const good = readFileSync(join(FIXTURES, 'bert_op13.onnx'));
    const rng = seedrandom('garble');
    const codes = new Set<string>();
    for (let k = 0; k < 60; k++) {
      const bytes = k % 2 === 0 ? good.subarray(0, Math.floor(rng() * good.length)) : Uint8Array.from(good);
      if (k % 2 === 1) for (let j = 0; j < 8; j++) bytes[Math.floor(rng() * bytes.length)] = Math.floor(rng() * 256);
      try {
        importOnnx(bytes, { source: 'g.onnx', dims: { sequence: 4 } });
        codes.add('ok');
      } catch (e) {
        expect(e, String(e)).toBeInstanceOf(TesaError);
        expect((e as TesaError).message.startsWith('g.onnx: ') || (e as TesaError).message.startsWith('--dim ')).toBe(true);
        codes.add((e as TesaError).code);
      }
    }
    expect(codes.has('BAD_INPUT')).toBe(true);
  });

  it('reads metadata_props into graph.metadata and writes them back', () => {
    const b = new HandGraph('meta');
    b.input('x', 'float32', [1]);
    const y = b.op1('Relu', ['x']);
    const g = b.graph([y]);
    g.tensors.get(y)!.shape = [1];
    g.metadata = { 'zoo.seed': '42' };
    const back = importOnnx(exportOnnx(g), { source: 'm.onnx' });
    expect(back.metadata).toMatchObject({ 'zoo.seed': '42', source: 'm.onnx', producer: 'tesa' });
  });
});
