/**
 * What a graph becomes on the GPU, without a GPU: the steps of its program by kind, how many
 * graph nodes each fused step stands for, the distinct generated kernels, the linear layers and
 * the device memory. `tesa inspect <model> --target cuda` prints it.
 */
import type { Graph } from '../../../src/model/graph.js';
import { emitGlue } from './glue.js';
import { lowerGraph } from './lower-graph.js';
import { bufferBytes } from './model-files.js';
import type { Expr } from './program.js';

export interface CudaProgramDescription {
  nodes: number;
  steps: Record<string, number>;
  /** Element-wise operations folded into the steps that consume them (a node each). */
  fusedOps: number;
  /** Distinct kernels in the generated glue. */
  glueKernels: number;
  linears: Array<{ node: string; M: number; N: number; K: number }>;
  memory: { constantBytes: number; activationBytes: number; inputBytes: number; outputBytes: number };
}

function opsIn(e: Expr): number {
  switch (e.op) {
    case 'leaf':
    case 'const':
      return 0;
    case 'unary':
      return 1 + opsIn(e.a);
    case 'binary':
      return 1 + opsIn(e.a) + opsIn(e.b);
  }
}

export function describeCudaProgram(graph: Graph): CudaProgramDescription {
  const p = lowerGraph(graph);
  const steps: Record<string, number> = {};
  let fusedOps = 0;
  for (const s of p.steps) {
    steps[s.kind] = (steps[s.kind] ?? 0) + 1;
    if (s.kind === 'ew' || s.kind === 'layernorm' || s.kind === 'softmax') fusedOps += opsIn(s.src.expr);
  }
  const bytes = (role: string): number => p.buffers.filter((b) => b.role === role).reduce((a, b) => a + bufferBytes(b), 0);
  // Linear weights live in their kernels, not in the program's buffers.
  const weightBytes = p.linears.reduce((a, l) => a + l.N * l.K * 2, 0);
  return {
    nodes: graph.nodes.length,
    steps,
    fusedOps,
    glueKernels: emitGlue(p, graph.name).kernels,
    linears: p.linears.map((l) => ({ node: l.node, M: l.M, N: l.N, K: l.K })),
    memory: { constantBytes: bytes('const') + weightBytes, activationBytes: bytes('temp'), inputBytes: bytes('input'), outputBytes: bytes('output') },
  };
}
