/**
 * The PyTorch whole-model peer computes the same model: its BERT (built from the weights tesa
 * writes) agrees with onnxruntime on the zoo graph. Runs the script on the CPU in fp32
 * (TESA_TORCH_DEVICE=cpu); skipped where python3 has no torch.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { torchBertPeerScript, writeTorchBertFiles } from '../../../backends/cuda/torch-model-peer.js';
import { randomInputs } from '../../../src/model/inputs.js';
import { loadModel } from '../../../src/model/load.js';
import { runOrt } from '../../../src/model/ort.js';
import { readNpy } from '../../../src/util/npy.js';

function torchReason(): string | null {
  try {
    execFileSync('python3', ['-c', 'import torch'], { stdio: 'ignore', timeout: 120_000 });
    return null;
  } catch {
    return 'python3 has no torch';
  }
}
const reason = torchReason();
if (reason) process.stdout.write(`test/backends/cuda/torch-model-peer.test.ts: skipped: ${reason}\n`);

describe.skipIf(reason !== null)('PyTorch BERT peer', () => {
  it('computes what onnxruntime computes on zoo:bert-mini', async () => {
    const g = await loadModel('zoo:bert-mini');
    const inputs = randomInputs(g, 5);
    const dir = mkdtempSync(join(tmpdir(), 'tesa-torch-test-'));
    try {
      expect(writeTorchBertFiles(g, new Map(Object.entries(inputs)) as Map<string, Float32Array | BigInt64Array>, dir)).toBeNull();
      execFileSync('python3', [torchBertPeerScript(), dir, '1', '0'], { env: { ...process.env, TESA_TORCH_DEVICE: 'cpu' }, timeout: 300_000 });
      const ort = (await runOrt(g, inputs)).get('last_hidden_state')!.data as Float32Array;
      for (const f of ['torch_out.npy', 'torch_out_sdpa.npy']) {
        const t = readNpy(join(dir, f)).data as Float32Array;
        let d = 0;
        for (let i = 0; i < t.length; i++) d = Math.max(d, Math.abs(t[i]! - ort[i]!));
        expect(d, f).toBeLessThan(1e-3);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
