/**
 * The sparsity attribute of one tensor (the paper's Figure 3): which elements are pruned and
 * at which bit width every kept element is stored.
 *
 * Pruned elements live in a bitset that is allocated only once something is pruned (a
 * 3072×768 weight costs 288 KiB, not 9 MiB of floats); the bit width is one number per tensor
 * unless elements differ, and only then a byte per element. Summaries — which rows and columns
 * of the last two dims are all pruned, per batch slice (leading dims folded), and which indices
 * along any axis are all pruned — are computed from the bitset a word at a time and cached until
 * the next change, so the rules ask "is row r of slice s pruned?" in O(1) and MatMul-style
 * propagation never walks elements one by one.
 *
 * "Pruned" means: forcing this element to zero leaves every graph output unchanged (it is zero
 * already, or nothing live reads it). That one meaning lets forward (zero) and backward (dead)
 * facts share the bitset.
 */
export const DEFAULT_BITS = 32;

export class SparsityAttr {
  readonly shape: readonly number[];
  readonly size: number;
  /** Leading dims folded: the number of [rows × cols] matrices. */
  readonly slices: number;
  readonly rows: number;
  readonly cols: number;
  private bits: Uint32Array | null = null;
  private prunedTotal = 0;
  /** Bumped on every change; the summaries below are valid for one version. */
  private version = 0;
  private rowAll: { version: number; flags: Uint8Array } | null = null;
  private colAll: { version: number; flags: Uint8Array } | null = null;
  private along = new Map<number, { version: number; flags: Uint8Array }>();
  /** Bit width of every element without an exception. */
  defaultBits: number;
  /** Per-element bit width, only when widths are mixed. */
  private elementBits: Uint8Array | null = null;

  constructor(shape: readonly number[], defaultBits = DEFAULT_BITS) {
    this.shape = [...shape];
    let n = 1;
    for (const d of shape) n *= d;
    this.size = n;
    if (shape.length === 0) {
      this.rows = 1;
      this.cols = 1;
    } else if (shape.length === 1) {
      this.rows = 1;
      this.cols = shape[0];
    } else {
      this.rows = shape[shape.length - 2];
      this.cols = shape[shape.length - 1];
    }
    this.slices = this.rows * this.cols === 0 ? 0 : n / (this.rows * this.cols);
    this.defaultBits = defaultBits;
  }

  static fromMask(shape: readonly number[], keptMask: Uint8Array): SparsityAttr {
    const a = new SparsityAttr(shape);
    if (keptMask.length !== a.size) throw new RangeError(`mask has ${keptMask.length} elements, shape [${shape.join(',')}] has ${a.size}`);
    const n = a.size;
    const words = new Uint32Array((n + 31) >>> 5);
    let any = 0;
    // Four mask bytes at a time where the mask is aligned and holds only 0/1 bytes.
    const quads = keptMask.byteOffset % 4 === 0 ? new Uint32Array(keptMask.buffer, keptMask.byteOffset, n >>> 2) : null;
    for (let w = 0; w < words.length; w++) {
      const base = w << 5;
      const end = Math.min(32, n - base);
      let word = 0;
      if (quads !== null && end === 32) {
        const q0 = base >>> 2;
        for (let q = 0; q < 8; q++) {
          const v = quads[q0 + q];
          if ((v & 0xfefefefe) === 0) {
            const kept = (v & 1) | ((v >>> 7) & 2) | ((v >>> 14) & 4) | ((v >>> 21) & 8);
            word |= (~kept & 0xf) << (q * 4);
          } else {
            const b0 = base + q * 4;
            for (let b = 0; b < 4; b++) if (keptMask[b0 + b] === 0) word |= 1 << (q * 4 + b);
          }
        }
      } else {
        for (let b = 0; b < end; b++) if (keptMask[base + b] === 0) word |= 1 << b;
      }
      words[w] = word;
      any |= word;
    }
    if (any !== 0) a.orBits(words);
    return a;
  }

  /** A bit width per element (0 = pruned) as in Figure 3. */
  static fromBitWidths(shape: readonly number[], widths: Uint8Array): SparsityAttr {
    const a = new SparsityAttr(shape);
    for (let i = 0; i < widths.length; i++) {
      if (widths[i] === 0) a.prune(i);
      else if (widths[i] !== a.defaultBits) a.setBits(i, widths[i]);
    }
    return a;
  }

  clone(): SparsityAttr {
    const a = new SparsityAttr(this.shape, this.defaultBits);
    if (this.bits) {
      a.bits = this.bits.slice();
      a.prunedTotal = this.prunedTotal;
    }
    if (this.elementBits) a.elementBits = this.elementBits.slice();
    return a;
  }

  // ---- pruned elements ----

  isPruned(i: number): boolean {
    const b = this.bits;
    return b !== null && (b[i >>> 5] & (1 << (i & 31))) !== 0;
  }

  count(): number {
    return this.prunedTotal;
  }

  /** Pruned fraction. */
  sparsity(): number {
    return this.size === 0 ? 0 : this.prunedTotal / this.size;
  }

  allPruned(): boolean {
    return this.prunedTotal === this.size;
  }

  /** Marks element i pruned; true when it was not. */
  prune(i: number): boolean {
    if (this.bits === null) this.bits = new Uint32Array((this.size + 31) >>> 5);
    const w = i >>> 5;
    const m = 1 << (i & 31);
    const b = this.bits;
    if ((b[w] & m) !== 0) return false;
    b[w] |= m;
    this.prunedTotal++;
    this.version++;
    return true;
  }

  /** Marks `len` consecutive elements from `start` pruned, a word at a time. */
  pruneRange(start: number, len: number): boolean {
    if (len <= 0) return false;
    if (this.bits === null) this.bits = new Uint32Array((this.size + 31) >>> 5);
    const b = this.bits;
    let changed = false;
    let i = start;
    const end = start + len;
    while (i < end) {
      const w = i >>> 5;
      const lo = i & 31;
      const n = Math.min(32 - lo, end - i);
      const m = n === 32 ? -1 : ((1 << n) - 1) << lo;
      const add = m & ~b[w];
      if (add !== 0) {
        b[w] |= add;
        this.prunedTotal += popcount(add);
        changed = true;
      }
      i += n;
    }
    if (changed) this.version++;
    return changed;
  }

  /** True when all `len` elements from `start` are pruned. */
  rangeAllPruned(start: number, len: number): boolean {
    const b = this.bits;
    if (b === null) return len <= 0;
    let i = start;
    const end = start + len;
    while (i < end) {
      const w = i >>> 5;
      const lo = i & 31;
      const n = Math.min(32 - lo, end - i);
      const m = n === 32 ? -1 : ((1 << n) - 1) << lo;
      if ((b[w] & m) !== m) return false;
      i += n;
    }
    return true;
  }

  /** Marks every element pruned. */
  pruneAll(): boolean {
    return this.pruneRange(0, this.size);
  }

  /** Marks row r of slice s (or of every slice when s is undefined) pruned. */
  pruneRow(r: number, s?: number): boolean {
    let changed = false;
    const s0 = s ?? 0;
    const s1 = s === undefined ? this.slices : s + 1;
    for (let sl = s0; sl < s1; sl++) if (this.pruneRange((sl * this.rows + r) * this.cols, this.cols)) changed = true;
    return changed;
  }

  /** Marks column c of slice s (or of every slice) pruned. */
  pruneCol(c: number, s?: number): boolean {
    let changed = false;
    const s0 = s ?? 0;
    const s1 = s === undefined ? this.slices : s + 1;
    for (let sl = s0; sl < s1; sl++) {
      const base = sl * this.rows * this.cols + c;
      for (let r = 0; r < this.rows; r++) if (this.prune(base + r * this.cols)) changed = true;
    }
    return changed;
  }

  /** Prunes the flagged columns (length cols) in slice s or every slice, a word at a time. */
  pruneCols(flags: Uint8Array, s?: number): boolean {
    const C = this.cols;
    const words = (C + 31) >>> 5;
    const pattern = new Uint32Array(words);
    let any = false;
    for (let c = 0; c < C; c++) if (flags[c]) (pattern[c >>> 5] |= 1 << (c & 31)), (any = true);
    if (!any) return false;
    if (this.bits === null) this.bits = new Uint32Array((this.size + 31) >>> 5);
    const b = this.bits;
    let added = 0;
    const s0 = s ?? 0;
    const s1 = s === undefined ? this.slices : s + 1;
    for (let sl = s0; sl < s1; sl++) {
      for (let r = 0; r < this.rows; r++) {
        const base = (sl * this.rows + r) * C;
        const lo = base & 31;
        let w = base >>> 5;
        for (let k = 0; k < words; k++, w++) {
          const p = pattern[k];
          if (p === 0) continue;
          const a0 = (p << lo) & ~b[w];
          if (a0 !== 0) {
            b[w] |= a0;
            added += popcount(a0);
          }
          if (lo !== 0) {
            const hi = p >>> (32 - lo);
            if (hi !== 0) {
              const a1 = hi & ~b[w + 1];
              if (a1 !== 0) {
                b[w + 1] |= a1;
                added += popcount(a1);
              }
            }
          }
        }
      }
    }
    if (added === 0) return false;
    this.prunedTotal += added;
    this.version++;
    return true;
  }

  /** Is row r all pruned in slice s, or in every slice when s is undefined? */
  rowAllPruned(r: number, s?: number): boolean {
    const f = this.rowFlags();
    if (s !== undefined) return f[s * this.rows + r] === 1;
    for (let sl = 0; sl < this.slices; sl++) if (f[sl * this.rows + r] !== 1) return false;
    return true;
  }

  colAllPruned(c: number, s?: number): boolean {
    const f = this.colFlags();
    if (s !== undefined) return f[s * this.cols + c] === 1;
    for (let sl = 0; sl < this.slices; sl++) if (f[sl * this.cols + c] !== 1) return false;
    return true;
  }

  /** Indices of the rows of the last two dims that are pruned in every slice. */
  prunedRows(): number[] {
    const out: number[] = [];
    if (this.prunedTotal === 0) return out;
    for (let r = 0; r < this.rows; r++) if (this.rowAllPruned(r)) out.push(r);
    return out;
  }

  prunedCols(): number[] {
    const out: number[] = [];
    if (this.prunedTotal === 0) return out;
    for (let c = 0; c < this.cols; c++) if (this.colAllPruned(c)) out.push(c);
    return out;
  }

  /** Per index along `axis`: 1 when every element with that index is pruned. Cached. */
  allPrunedAlong(axis: number): Uint8Array {
    const hit = this.along.get(axis);
    if (hit && hit.version === this.version) return hit.flags;
    const dim = this.shape[axis] ?? 1;
    const flags = new Uint8Array(dim);
    if (this.prunedTotal === this.size) flags.fill(1);
    else if (this.prunedTotal > 0) {
      let inner = 1;
      for (let d = axis + 1; d < this.shape.length; d++) inner *= this.shape[d];
      const outer = this.size / (dim * inner);
      if (inner === 1) {
        // AND the outer rows of `dim` bits together, 32 at a time.
        const words = (dim + 31) >>> 5;
        const acc = new Uint32Array(words).fill(0xffffffff);
        for (let o = 0; o < outer; o++) for (let k = 0; k < words; k++) acc[k] &= this.extractWord(o * dim + k * 32, Math.min(32, dim - k * 32));
        for (let k = 0; k < dim; k++) flags[k] = (acc[k >>> 5] >>> (k & 31)) & 1;
      } else {
        for (let k = 0; k < dim; k++) {
          let all = true;
          for (let o = 0; o < outer && all; o++) all = this.rangeAllPruned((o * dim + k) * inner, inner);
          flags[k] = all ? 1 : 0;
        }
      }
    }
    this.along.set(axis, { version: this.version, flags });
    return flags;
  }

  /** Prunes every element whose index along `axis` is flagged. */
  pruneAlong(axis: number, flags: Uint8Array): boolean {
    const dim = this.shape[axis] ?? 1;
    let inner = 1;
    for (let d = axis + 1; d < this.shape.length; d++) inner *= this.shape[d];
    const outer = this.size / (dim * inner);
    let changed = false;
    for (let k = 0; k < dim; k++) {
      if (!flags[k]) continue;
      for (let o = 0; o < outer; o++) {
        if (inner === 1) changed = this.prune(o * dim + k) || changed;
        else changed = this.pruneRange((o * dim + k) * inner, inner) || changed;
      }
    }
    return changed;
  }

  /** Calls fn for every pruned element index, in order. */
  forEachPruned(fn: (i: number) => void): void {
    const b = this.bits;
    if (b === null) return;
    for (let w = 0; w < b.length; w++) {
      let word = b[w];
      while (word !== 0) {
        const t = word & -word;
        fn((w << 5) + (31 - Math.clz32(t)));
        word ^= t;
      }
    }
  }

  /** The raw bitset (bit i set = element i pruned), or null when nothing is pruned. Do not mutate. */
  bitset(): Uint32Array | null {
    return this.bits;
  }

  /** Adds every element pruned in `other` (same size); true when something changed. */
  unionPruned(other: SparsityAttr): boolean {
    if (other.size !== this.size) throw new RangeError(`union of attributes of different sizes (${this.size} vs ${other.size})`);
    const ob = other.bits;
    if (ob === null) return false;
    return this.orBits(ob);
  }

  /** ORs a raw bitset of this size in; true when something changed. */
  orBits(ob: Uint32Array): boolean {
    if (this.bits === null) this.bits = new Uint32Array((this.size + 31) >>> 5);
    const b = this.bits;
    let added = 0;
    for (let w = 0; w < ob.length; w++) {
      const add = ob[w] & ~b[w];
      if (add === 0) continue;
      b[w] |= add;
      added += popcount(add);
    }
    if (added === 0) return false;
    this.prunedTotal += added;
    this.version++;
    return true;
  }

  /**
   * Viewing the elements as rows of `len`: the bits (as words over `len` elements) of the
   * positions pruned in every row. The backward rule of a broadcast bias reads this.
   */
  andOfRows(len: number): Uint32Array {
    const words = (len + 31) >>> 5;
    const acc = new Uint32Array(words);
    if (this.bits === null || len === 0) return acc;
    acc.fill(0xffffffff);
    const rows = this.size / len;
    for (let r = 0; r < rows; r++) for (let k = 0; k < words; k++) acc[k] &= this.extractWord(r * len + k * 32, Math.min(32, len - k * 32));
    return acc;
  }

  /** `len` (≤ 32) bits starting at element `start`, as the low bits of a word. */
  private extractWord(start: number, len: number): number {
    const b = this.bits!;
    const w = start >>> 5;
    const lo = start & 31;
    let v = b[w] >>> lo;
    if (lo !== 0 && lo + len > 32) v |= b[w + 1] << (32 - lo);
    return len === 32 ? v >>> 0 : v & ((1 << len) - 1);
  }

  private rowFlags(): Uint8Array {
    if (this.rowAll && this.rowAll.version === this.version) return this.rowAll.flags;
    const flags = new Uint8Array(this.slices * this.rows);
    if (this.prunedTotal > 0) for (let j = 0; j < flags.length; j++) flags[j] = this.rangeAllPruned(j * this.cols, this.cols) ? 1 : 0;
    this.rowAll = { version: this.version, flags };
    return flags;
  }

  private colFlags(): Uint8Array {
    if (this.colAll && this.colAll.version === this.version) return this.colAll.flags;
    const C = this.cols;
    const flags = new Uint8Array(this.slices * C);
    if (this.prunedTotal > 0) {
      const words = (C + 31) >>> 5;
      const acc = new Uint32Array(words);
      for (let s = 0; s < this.slices; s++) {
        acc.fill(0xffffffff);
        for (let r = 0; r < this.rows; r++) {
          const base = (s * this.rows + r) * C;
          for (let k = 0; k < words; k++) acc[k] &= this.extractWord(base + k * 32, Math.min(32, C - k * 32));
        }
        for (let c = 0; c < C; c++) flags[s * C + c] = (acc[c >>> 5] >>> (c & 31)) & 1;
      }
    }
    this.colAll = { version: this.version, flags };
    return flags;
  }

  // ---- precision ----

  bitsAt(i: number): number {
    if (this.isPruned(i)) return 0;
    return this.elementBits === null ? this.defaultBits : this.elementBits[i];
  }

  setBits(i: number, width: number): void {
    if (width === this.defaultBits && this.elementBits === null) return;
    if (this.elementBits === null) this.elementBits = new Uint8Array(this.size).fill(this.defaultBits);
    this.elementBits[i] = width;
  }

  /** Sets one width for every element (drops per-element exceptions). */
  setAllBits(width: number): void {
    this.defaultBits = width;
    this.elementBits = null;
  }

  /** True when every kept element has the same width. */
  uniformBits(): boolean {
    return this.elementBits === null;
  }

  /** Lower precision wins, element by element; true when something changed. */
  lowerBits(other: SparsityAttr): boolean {
    if (other.elementBits === null && this.elementBits === null) {
      if (other.defaultBits < this.defaultBits) {
        this.defaultBits = other.defaultBits;
        return true;
      }
      return false;
    }
    let changed = false;
    for (let i = 0; i < this.size; i++) {
      const mine = this.elementBits === null ? this.defaultBits : this.elementBits[i];
      const theirs = other.elementBits === null ? other.defaultBits : other.elementBits[i];
      if (theirs < mine) {
        this.setBits(i, theirs);
        changed = true;
      }
    }
    return changed;
  }

  // ---- conversion ----

  /** One byte per element, 1 = kept. */
  toMask(): Uint8Array {
    const n = this.size;
    const m = new Uint8Array(n);
    const b = this.bits;
    if (b === null) return m.fill(1);
    // Eight mask bytes per table lookup (two little-endian words per byte of the bitset).
    const full = n >>> 5;
    const view = new Uint32Array(m.buffer, 0, full * 8);
    const [lo, hi] = keptTables();
    for (let w = 0; w < full; w++) {
      const word = b[w];
      const o = w * 8;
      if (word === 0) {
        view.fill(0x01010101, o, o + 8);
        continue;
      }
      for (let q = 0; q < 4; q++) {
        const byte = (word >>> (q * 8)) & 255;
        view[o + 2 * q] = lo[byte];
        view[o + 2 * q + 1] = hi[byte];
      }
    }
    for (let i = full * 32; i < n; i++) m[i] = this.isPruned(i) ? 0 : 1;
    return m;
  }

  /** Figure 3's view: 0 for pruned, else the bit width. */
  toBitWidths(): Uint8Array {
    const out = new Uint8Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.bitsAt(i);
    return out;
  }

  equals(other: SparsityAttr): boolean {
    if (other.size !== this.size || other.prunedTotal !== this.prunedTotal) return false;
    if (this.shape.length !== other.shape.length || this.shape.some((d, k) => d !== other.shape[k])) return false;
    if (this.prunedTotal > 0) {
      const a = this.bits!;
      const b = other.bits!;
      for (let w = 0; w < a.length; w++) if (a[w] !== b[w]) return false;
    }
    for (let i = 0; i < this.size; i++) if (!this.isPruned(i) && this.bitsAt(i) !== other.bitsAt(i)) return false;
    return true;
  }

  /** Approximate heap cost in bytes (bitset + summaries + widths). */
  byteSize(): number {
    return (this.bits?.byteLength ?? 0) + (this.rowAll?.flags.byteLength ?? 0) + (this.colAll?.flags.byteLength ?? 0) + (this.elementBits?.byteLength ?? 0);
  }

}

let tables: [Uint32Array, Uint32Array] | null = null;

/** For each pruned-bits byte, the eight kept-mask bytes it stands for, as two words. */
function keptTables(): [Uint32Array, Uint32Array] {
  if (tables) return tables;
  const lo = new Uint32Array(256);
  const hi = new Uint32Array(256);
  const le = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  for (let v = 0; v < 256; v++) {
    const bytes = new Uint8Array(8);
    for (let k = 0; k < 8; k++) bytes[k] = (v >>> k) & 1 ? 0 : 1;
    const words = new Uint32Array(bytes.buffer);
    if (!le) throw new Error('tesa needs a little-endian host');
    lo[v] = words[0];
    hi[v] = words[1];
  }
  return (tables = [lo, hi]);
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}
