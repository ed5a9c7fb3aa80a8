/**
 * `--evaluator 'cmd:<command>'`: quality from an external program (README, "Evaluator
 * protocol"). Per trial the pruned ONNX, the masks and the sparsity config are written to a
 * scratch folder, the request goes to the command's stdin, and the last JSON line of its stdout
 * carries the score. Any failure (timeout, exit status, no JSON, no numeric score) is thrown with
 * its reason and the stderr tail, which the loop records as the trial's failure; the search goes on.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { badInput } from '../errors.js';
import { buildConfig, writeJson, writeMasks, writeOnnx } from '../export/artifacts.js';
import { registerEvaluator, type EvaluationContext, type EvaluationResult, type Evaluator, type EvaluatorInit } from './evaluator.js';
import { DEFAULT_COMMAND_TIMEOUT_MS, PROTOCOL_VERSION, runProtocolCommand, scoreOf, type EvaluateRequest } from './protocol.js';

export class EvaluatorCommandError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'exit' | 'malformed' | 'spawn' | 'score',
  ) {
    super(message);
  }
}

/** The command text: `cmd:"python3 eval.py"` and `cmd:python3 eval.py` both work. */
export function commandOf(argument: string): string {
  let c = argument.trim();
  if (c.length >= 2 && ((c.startsWith('"') && c.endsWith('"')) || (c.startsWith("'") && c.endsWith("'")))) c = c.slice(1, -1).trim();
  if (c.length === 0) throw badInput('--evaluator cmd: names no command', `for example --evaluator 'cmd:python3 configs/examples/torch_evaluator.py'`);
  return c;
}

export class CommandEvaluator implements Evaluator {
  readonly name: string;
  readonly needsRun = false;
  private trial = 0;

  constructor(
    readonly command: string,
    private readonly opts: { timeoutMs: number; modelSpec?: string },
  ) {
    this.name = `cmd:${command}`;
  }

  async evaluate(ctx: EvaluationContext): Promise<EvaluationResult> {
    const trial = this.trial++;
    // The loop creates workDir only for evaluators that run the model; a private folder inside it when it exists (else in tmp) is ours to delete.
    const root = mkdtempSync(existsSync(ctx.workDir) ? join(ctx.workDir, 'cmd-') : join(tmpdir(), 'tesa-cmd-'));
    try {
      const model = join(root, 'model.onnx');
      const masks = join(root, 'masks');
      const config = join(root, 'config.json');
      writeOnnx(model, ctx.maskedGraph);
      writeMasks(masks, ctx.sparsity);
      writeJson(config, buildConfig({ model: this.opts.modelSpec ?? ctx.graph.name, target: ctx.backend?.name ?? 'cpu', space: ctx.space, candidate: ctx.candidate, sparsity: ctx.sparsity, summary: ctx.summary, graph: ctx.graph }));
      const request: EvaluateRequest = { version: PROTOCOL_VERSION, kind: 'evaluate', model, masks, config, candidate: ctx.candidate, trial, seed: ctx.seed };
      const r = await runProtocolCommand(this.command, request, { timeoutMs: this.opts.timeoutMs, cwd: process.cwd() });
      if (!r.ok) throw new EvaluatorCommandError(r.reason, r.kind);
      const s = scoreOf(r.response);
      if ('reason' in s) throw new EvaluatorCommandError(`${s.reason}${r.stderrTail ? `; stderr: ${r.stderrTail}` : ''}`, 'score');
      const { score: _score, ...details } = r.response;
      return { score: s.score, details: { ...details, commandMs: r.ms } };
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
}

export function createCommandEvaluator(init: EvaluatorInit): CommandEvaluator {
  return new CommandEvaluator(commandOf(init.argument), { timeoutMs: init.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, modelSpec: init.modelSpec });
}

registerEvaluator('cmd', createCommandEvaluator);
