/**
 * The vector ISA a sparse kernel is generated for. Kernels are emitted with the vector width
 * baked in (register blocking depends on it), so the ISA is part of the generated source and
 * therefore of the kernel hash.
 */
import { readFileSync } from 'node:fs';

export type VectorIsa = 'avx512' | 'avx2';

export interface IsaInfo {
  isa: VectorIsa;
  /** floats per vector register */
  width: number;
  /** vector registers available for accumulators and operands */
  registers: number;
  /** C preamble defining vec, VLOAD, VSTORE, VFMA, VBCAST, VZERO, VADD. */
  preamble: string;
}

const AVX512 = `#include <immintrin.h>
#define VW 16
typedef __m512 vec;
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VBCAST(p) _mm512_set1_ps(*(p))
#define VSET1(f) _mm512_set1_ps(f)
#define VZERO() _mm512_setzero_ps()
`;

const AVX2 = `#include <immintrin.h>
#define VW 8
typedef __m256 vec;
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VBCAST(p) _mm256_broadcast_ss(p)
#define VSET1(f) _mm256_set1_ps(f)
#define VZERO() _mm256_setzero_ps()
`;

export function isaInfo(isa: VectorIsa): IsaInfo {
  return isa === 'avx512'
    ? { isa, width: 16, registers: 32, preamble: AVX512 }
    : { isa, width: 8, registers: 16, preamble: AVX2 };
}

/** The widest ISA this machine runs (AVX2 at least: the kernels need FMA). */
export function detectIsa(): VectorIsa {
  let flags = '';
  try {
    flags = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return 'avx2';
  }
  return /\bavx512f\b/.test(flags) ? 'avx512' : 'avx2';
}
