/**
 * The files a compiled CUDA model is made of, beside its manifest: `data.bin` (every
 * constant as fp16 or int64, and each linear layer's masked fp16 weight, 256-byte aligned)
 * and the input/output files of a run. The manifest grammar is the model runner's
 * (runner/model-runner.cu).
 */
import { openSync, closeSync, writeSync } from 'node:fs';
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

/** Device bytes of a tensor: fp16 for floats, int64 for integers. */
export function deviceBytes(dtype: 'f16' | 'i64', data: Float32Array | BigInt64Array | ArrayLike<number>): Uint8Array {
  if (dtype === 'f16') {
    const f = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>, Number);
    const h = toHalfArray(f);
    return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
  }
  const i = data instanceof BigInt64Array ? data : BigInt64Array.from(data as ArrayLike<number>, (x) => BigInt(Math.trunc(Number(x))));
  return new Uint8Array(i.buffer, i.byteOffset, i.byteLength);
}
