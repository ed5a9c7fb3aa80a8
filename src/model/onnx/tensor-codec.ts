/**
 * Conversion between ONNX TensorProto messages and tesa Tensors: every dtype of graph.ts, read
 * from raw_data (little-endian) or the typed repeated fields, written back as raw_data.
 */
import { TesaError } from '../../errors.js';
import { allocData, dtypeBytes, numel, type DType, type Tensor, type TensorData } from '../graph.js';
import { OnnxDataType, type TensorMsg } from './schema.js';

const TO_ONNX: Record<DType, number> = {
  float32: OnnxDataType.FLOAT,
  float16: OnnxDataType.FLOAT16,
  float64: OnnxDataType.DOUBLE,
  int64: OnnxDataType.INT64,
  int32: OnnxDataType.INT32,
  int8: OnnxDataType.INT8,
  uint8: OnnxDataType.UINT8,
  bool: OnnxDataType.BOOL,
};

const FROM_ONNX = new Map<number, DType>(Object.entries(TO_ONNX).map(([k, v]) => [v, k as DType]));

const ONNX_TYPE_NAMES = new Map<number, string>(Object.entries(OnnxDataType).map(([k, v]) => [v, k.toLowerCase()]));

export function onnxDataType(dtype: DType): number {
  return TO_ONNX[dtype];
}

/** The tesa dtype for an ONNX elem_type, or a clear error naming what holds it. */
export function dtypeFromOnnx(elemType: number, what: string): DType {
  const d = FROM_ONNX.get(elemType);
  if (d === undefined) {
    const name = ONNX_TYPE_NAMES.get(elemType) ?? `type ${elemType}`;
    throw new TesaError('BAD_MODEL', `${what} has element type ${name}, which tesa does not support`, `supported element types: ${Object.keys(TO_ONNX).join(', ')}`);
  }
  return d;
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Copies little-endian bytes into a fresh, aligned typed array of `dtype`. */
function fromRawBytes(raw: Uint8Array, dtype: DType, n: number, what: string): TensorData {
  const bytes = dtypeBytes(dtype);
  if (raw.byteLength !== n * bytes) {
    throw new TesaError('BAD_INPUT', `${what} holds ${raw.byteLength} bytes of data but its shape needs ${n * bytes}`, 'the file is damaged or truncated: re-export it');
  }
  const out = allocData(dtype, n);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(raw);
  if (!isLittleEndian && bytes > 1) swapBytes(new Uint8Array(out.buffer), bytes);
  return out;
}

function swapBytes(b: Uint8Array, width: number): void {
  for (let i = 0; i < b.length; i += width) b.subarray(i, i + width).reverse();
}

function toBigInt(v: string | number): bigint {
  return typeof v === 'number' ? BigInt(Math.trunc(v)) : BigInt(v);
}

/** Decodes a TensorProto (an initializer or an attribute's tensor). */
export function decodeTensor(msg: TensorMsg, what: string): Tensor {
  const name = msg.name ?? '';
  const label = name ? `${what} '${name}'` : what;
  if (msg.data_location === 1 || (msg.external_data && msg.external_data.length > 0)) {
    const loc = msg.external_data?.find((e) => e.key === 'location')?.value;
    throw new TesaError(
      'BAD_INPUT',
      `${label} keeps its data in an external file${loc ? ` ('${loc}')` : ''}, which tesa does not read`,
      'save the model with all tensors inside the .onnx file (onnx.save_model(m, path, save_as_external_data=False))',
    );
  }
  const dtype = dtypeFromOnnx(msg.data_type ?? 0, label);
  const shape = (msg.dims ?? []).map((d) => Number(d));
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new TesaError('BAD_INPUT', `${label} has an impossible shape ${JSON.stringify(shape)}`, 'the file is damaged: re-export it');
  }
  const n = numel(shape);
  let data: TensorData;
  if (msg.raw_data && msg.raw_data.byteLength > 0) {
    data = fromRawBytes(msg.raw_data, dtype, n, label);
  } else {
    const src: ArrayLike<number | string> | undefined =
      dtype === 'float32' ? msg.float_data : dtype === 'float64' ? msg.double_data : dtype === 'int64' ? msg.int64_data : msg.int32_data;
    const count = src?.length ?? 0;
    if (count !== n) {
      throw new TesaError('BAD_INPUT', `${label} holds ${count} values but its shape ${JSON.stringify(shape)} needs ${n}`, 'the file is damaged or truncated: re-export it');
    }
    data = allocData(dtype, n);
    if (data instanceof BigInt64Array) {
      for (let i = 0; i < n; i++) data[i] = toBigInt(src![i]);
    } else {
      // float16 sits in int32_data as its bit pattern; bool/int8/uint8 as small ints.
      const d = data as Exclude<TensorData, BigInt64Array>;
      for (let i = 0; i < n; i++) d[i] = Number(src![i]);
    }
  }
  return { name, dtype, shape, data };
}

/** Encodes a tensor with data as a TensorProto with little-endian raw_data. */
export function encodeTensor(t: Tensor): TensorMsg {
  if (!t.data) throw new TesaError('INTERNAL', `tensor '${t.name}' has no data to export`);
  const d = t.data;
  let raw = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  if (!isLittleEndian && dtypeBytes(t.dtype) > 1) {
    raw = raw.slice();
    swapBytes(raw, dtypeBytes(t.dtype));
  }
  return { name: t.name, dims: t.shape.map((x) => x), data_type: onnxDataType(t.dtype), raw_data: raw };
}
