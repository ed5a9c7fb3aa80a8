/**
 * Seeded random inputs for a graph, the same for every runner (ours, onnxruntime) so outputs
 * can be compared: floats standard normal; integer inputs that end up as Gather indices drawn
 * within the gathered table; inputs named like a mask all ones; other integers 0 or 1.
 */
import seedrandom from 'seedrandom';
import { allocData, consumers, numel, type Graph, type TensorData } from './graph.js';

/** Ops through which an integer input still reaches a Gather as its indices unchanged in value. */
const VALUE_PRESERVING = new Set(['Cast', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten', 'Identity', 'Expand']);

/** The smallest table size an integer input indexes into via Gather, if any. */
function gatherLimit(graph: Graph, name: string): number | undefined {
  const cons = consumers(graph);
  let limit: number | undefined;
  const seen = new Set<string>();
  const walk = (t: string): void => {
    if (seen.has(t)) return;
    seen.add(t);
    for (const n of cons.get(t) ?? []) {
      if (n.opType === 'Gather' && n.inputs[1] === t) {
        const table = graph.tensors.get(n.inputs[0]);
        const axisAttr = n.attrs.axis;
        const axis = axisAttr && axisAttr.type === 'int' ? axisAttr.value : 0;
        if (table && table.shape.length > 0) {
          const d = table.shape[axis < 0 ? axis + table.shape.length : axis];
          limit = limit === undefined ? d : Math.min(limit, d);
        }
      } else if (VALUE_PRESERVING.has(n.opType) && n.inputs[0] === t) {
        walk(n.outputs[0]);
      }
    }
  };
  walk(name);
  return limit;
}

function standardNormal(rng: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
    const u = 1 - rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits of x (round to nearest even; the normals drawn here never overflow). */
function toHalfBits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = ((b >>> 23) & 0xff) - 127 + 15;
  const mant = b & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = (mant | 0x800000) >>> (1 - exp);
    return sign | ((m + 0x1000 + ((m >>> 13) & 1) - 1) >>> 13);
  }
  let h = sign | (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h += 1;
  return h;
}

/** One array per graph input, in the input's dtype; same graph + seed ⇒ same values. */
export function randomInputs(graph: Graph, seed: number): Record<string, TensorData> {
  const rng = seedrandom(String(seed));
  const normal = standardNormal(rng);
  const out: Record<string, TensorData> = {};
  for (const name of graph.inputs) {
    const t = graph.tensors.get(name);
    if (!t) continue;
    const n = numel(t.shape);
    const data = allocData(t.dtype, n);
    const isFloat = t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'float16';
    if (isFloat) {
      if (data instanceof Uint16Array) for (let i = 0; i < n; i++) data[i] = toHalfBits(normal());
      else {
        const d = data as Float32Array | Float64Array;
        for (let i = 0; i < n; i++) d[i] = normal();
      }
    } else {
      const isMask = /mask/i.test(name);
      const limit = isMask ? 1 : (gatherLimit(graph, name) ?? 2);
      for (let i = 0; i < n; i++) {
        const v = isMask ? 1 : Math.floor(rng() * limit);
        if (data instanceof BigInt64Array) data[i] = BigInt(v);
        else (data as Exclude<TensorData, BigInt64Array | Float32Array | Float64Array>)[i] = v;
      }
    }
    out[name] = data;
  }
  return out;
}
