/** How far an output is from its reference: the one measure every output comparison reports. */

/** max |a - b| / max |b| over one tensor (b the reference); Infinity when NaNs or lengths differ. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    if (Number.isNaN(x) !== Number.isNaN(y)) return Infinity;
    d = Math.max(d, Math.abs(x - y));
    m = Math.max(m, Math.abs(y));
  }
  if (a.length !== b.length) return Infinity;
  return d === 0 ? 0 : d / Math.max(m, 1e-30);
}
