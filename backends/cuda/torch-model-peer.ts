/**
 * PyTorch as the whole-model peer of `tesa bench model --target cuda` for zoo BERT models: the
 * same weights and inputs written as .npy files, timed by tools/torch_bert_peer.py with the same
 * protocol (one CUDA graph, L2 flushed before each repetition). Absent torch or a non-BERT model
 * gives a reason instead of numbers.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarize, type LatencyStats } from '../../src/evaluate/stats.js';
import type { Graph } from '../../src/model/graph.js';
import { readNpy, writeNpy } from '../../src/util/npy.js';
import { packageRoot } from '../../src/util/package-root.js';

export type TorchModelPeer = { name: string; stats: LatencyStats } | { name: string; error: string };

export interface TorchModelPeers {
  peers: TorchModelPeer[];
  /** The first variant's output (attention written out), for comparison with ours. */
  output: Float32Array | null;
}

function python(args: string[], timeoutMs: number): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('python3', args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr) }));
  });
}

export function torchBertPeerScript(): string {
  return join(packageRoot(), 'backends', 'cuda', 'tools', 'torch_bert_peer.py');
}

/** The script's input folder: spec.json, weights/<graph name>.npy, input_ids.npy, attention_mask.npy. Returns what is missing, or null. */
export function writeTorchBertFiles(graph: Graph, inputs: Map<string, Float32Array | BigInt64Array>, dir: string): string | null {
  if (!graph.metadata?.spec) return 'the graph carries no zoo spec';
  mkdirSync(join(dir, 'weights'), { recursive: true });
  writeFileSync(join(dir, 'spec.json'), graph.metadata.spec);
  for (const t of graph.tensors.values()) {
    if (t.data instanceof Float32Array && (t.name.startsWith('embeddings.') || t.name.startsWith('encoder.'))) writeNpy(join(dir, 'weights', `${t.name}.npy`), t.data, t.shape);
  }
  for (const name of ['input_ids', 'attention_mask']) {
    const v = inputs.get(name);
    if (!(v instanceof BigInt64Array)) return `no int64 input '${name}'`;
    writeNpy(join(dir, `${name}.npy`), v, graph.tensors.get(name)!.shape);
  }
  return null;
}

export async function torchBertPeers(graph: Graph, inputs: Map<string, Float32Array | BigInt64Array>, reps: number): Promise<TorchModelPeers> {
  const none = (error: string): TorchModelPeers => ({ peers: [{ name: 'torch', error }], output: null });
  if (process.env.TESA_TORCH === '0') return none('TESA_TORCH=0');
  if (graph.metadata?.family !== 'bert') return none('the PyTorch peer knows zoo BERT models only');
  const probe = await python(['-c', 'import torch; assert torch.cuda.is_available()'], 60_000);
  if (!probe.ok) return none('python3 has no torch with CUDA');
  const dir = mkdtempSync(join(tmpdir(), 'tesa-torch-peer-'));
  try {
    const missing = writeTorchBertFiles(graph, inputs, dir);
    if (missing) return none(missing);
    const r = await python([torchBertPeerScript(), dir, String(reps), '10'], 600_000);
    if (!r.ok) return none(`torch_bert_peer.py failed: ${r.stderr.trim().split('\n').pop() ?? ''}`.slice(0, 300));
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { peers: Array<{ name: string; samplesMs?: number[]; error?: string }> };
    const peers: TorchModelPeer[] = out.peers.map((p) => (p.samplesMs ? { name: p.name, stats: summarize(p.samplesMs) } : { name: p.name, error: p.error ?? 'no samples' }));
    let output: Float32Array | null = null;
    try {
      output = readNpy(join(dir, 'torch_out.npy')).data as Float32Array;
    } catch {
      output = null;
    }
    return { peers, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
