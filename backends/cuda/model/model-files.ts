/**
 * The files a compiled CUDA model is made of, beside its manifest: `data.bin` (every
 * constant as fp16 or int64, and each linear layer's masked fp16 weight, 256-byte aligned)
 * and the input/output files of a run. The manifest grammar is the model runner's
 * (runner/model-runner.cu).
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TesaError } from '../../../src/errors.js';
import { toHalfArray } from '../half.js';
import type { BufferDecl } from './program.js';

const ALIGN = 256;

export function bufferBytes(b: BufferDecl): number {
  return b.numel * (b.dtype === 'f16' ? 2 : 8);
}

/** Appends arrays to a file at 256-byte aligned offsets; returns each one's offset. */
export class DataFileWriter {
  private readonly fd: number;
  private at = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  append(bytes: Uint8Array): number {
    const pad = (ALIGN - (this.at % ALIGN)) % ALIGN;
    if (pad) writeSync(this.fd, new Uint8Array(pad));
    this.at += pad;
    const offset = this.at;
    writeSync(this.fd, bytes);
    this.at += bytes.byteLength;
    return offset;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Any numeric tensor data as float32 (itself when it already is). */
export function asFloat32(data: ArrayLike<number | bigint>): Float32Array {
  return data instanceof Float32Array ? data : Float32Array.from(data, Number);
}

/** Any integer tensor data as int64 (itself when it already is). */
export function asInt64(data: ArrayLike<number | bigint>): BigInt64Array {
  return data instanceof BigInt64Array ? data : BigInt64Array.from(data, (x) => BigInt(Math.trunc(Number(x))));
}

/** Device bytes of a tensor: fp16 for floats, int64 for integers. A Uint16Array is fp16 bits already (graph.ts). */
export function deviceBytes(dtype: 'f16' | 'i64', data: ArrayLike<number | bigint>): Uint8Array {
  if (dtype === 'f16') {
    const h = data instanceof Uint16Array ? data : toHalfArray(asFloat32(data));
    return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
  }
  const i = asInt64(data);
  return new Uint8Array(i.buffer, i.byteOffset, i.byteLength);
}

/** What compile leaves in a model folder beside model.txt (model.json): what run and the bundle need. */
export interface CudaModelInfo {
  runner: string;
  inputs: Array<{ name: string; buf: number; dtype: 'f16' | 'i64'; shape: number[]; defaultFile: string }>;
  outputs: Array<{ name: string; buf: number; shape: number[] }>;
  /** Graph node of each linear, by index. */
  linearNodes: string[];
}

export function readModelInfo(dir: string): CudaModelInfo {
  try {
    return JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as CudaModelInfo;
  } catch (e) {
    throw new TesaError('INTERNAL', `compiled CUDA model ${dir} lacks a readable model.json`, 'the backend changed its folder layout, or the folder was released: report it', { cause: e });
  }
}
