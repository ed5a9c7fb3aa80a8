/**
 * NumPy .npy files (format version 1.0): the portable way to hand masks and calibration data
 * to Python. Little-endian only, C order only — what numpy.save writes by default.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { TesaError } from '../errors.js';

export type NpyDtype = '|u1' | '|b1' | '<f4' | '<f8' | '<i4' | '<i8';
export type NpyData = Uint8Array | Float32Array | Float64Array | Int32Array | BigInt64Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

function dtypeOf(data: NpyData, bool: boolean): NpyDtype {
  if (data instanceof Uint8Array) return bool ? '|b1' : '|u1';
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int32Array) return '<i4';
  return '<i8';
}

function shapeText(shape: readonly number[]): string {
  if (shape.length === 0) return '()';
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** The bytes of an .npy file holding `data` with `shape`; `bool` writes a Uint8Array as numpy bool. */
export function encodeNpy(data: NpyData, shape: readonly number[], opts: { bool?: boolean } = {}): Buffer {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new TesaError('INTERNAL', `npy: shape [${shape.join(', ')}] holds ${n} elements, data has ${data.length}`);
  const header = `{'descr': '${dtypeOf(data, opts.bool ?? false)}', 'fortran_order': False, 'shape': ${shapeText(shape)}, }`;
  // Magic + version + header length + header + '\n' padded so the data starts on a 64-byte boundary.
  const unpadded = MAGIC.length + 2 + 2 + header.length + 1;
  const padded = Math.ceil(unpadded / 64) * 64;
  const text = header + ' '.repeat(padded - unpadded) + '\n';
  const head = Buffer.alloc(10);
  MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(text.length, 8);
  return Buffer.concat([head, Buffer.from(text, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

export function writeNpy(path: string, data: NpyData, shape: readonly number[], opts: { bool?: boolean } = {}): void {
  writeFileSync(path, encodeNpy(data, shape, opts));
}

function bad(what: string, detail: string): TesaError {
  return new TesaError('BAD_INPUT', `${what} is not a readable .npy file: ${detail}`, 'save it with numpy.save(path, array.astype(numpy.float32)) (little-endian, C order)');
}

export function decodeNpy(buf: Buffer, what = 'the file'): NpyArray {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw bad(what, 'no NUMPY magic');
  const major = buf[6]!;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeM = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeM) throw bad(what, `header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') throw bad(what, 'Fortran order');
  const shape = shapeM[1]!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const body = buf.subarray(start + headerLen);
  const copy = (bytes: number) => {
    if (body.length < n * bytes) throw bad(what, `expected ${n * bytes} data bytes, found ${body.length}`);
    return new Uint8Array(body.subarray(0, n * bytes)).buffer;
  };
  switch (descr) {
    case '|u1':
    case '|b1':
      return { dtype: descr, shape, data: new Uint8Array(copy(1)) };
    case '<f4':
      return { dtype: descr, shape, data: new Float32Array(copy(4)) };
    case '<f8':
      return { dtype: descr, shape, data: new Float64Array(copy(8)) };
    case '<i4':
      return { dtype: descr, shape, data: new Int32Array(copy(4)) };
    case '<i8':
      return { dtype: descr, shape, data: new BigInt64Array(copy(8)) };
    default:
      throw bad(what, `dtype ${descr} (supported: uint8, bool, float32, float64, int32, int64, little-endian)`);
  }
}

export function readNpy(path: string): NpyArray {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new TesaError('NOT_FOUND', `cannot read ${path}: ${(e as Error).message}`, 'check the path');
  }
  return decodeNpy(buf, path);
}
