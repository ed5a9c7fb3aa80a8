#!/usr/bin/env python3
"""Example tesa evaluator in Python (README, "Evaluator protocol").

    tesa optimize --evaluator 'cmd:python3 configs/examples/torch_evaluator.py --data val.npz'
    tesa optimize --evaluator 'cmd:python3 configs/examples/torch_evaluator.py --dense dense.onnx'

Reads one JSON request on stdin ({"version", "model", "masks", "config", "candidate", "trial", ...}),
evaluates the pruned model and prints {"score": ..., ...} as its last stdout line.

Data, one of:
  --data FILE.npz   arrays `x` (inputs, float32, first axis = samples) and `y` (int labels):
                    score = top-1 accuracy.
  --dense FILE.onnx the dense model: synthetic standard-normal inputs (seeded by the request),
                    labels = the dense model's arg-max: score = top-1 agreement
                    (or mean cosine similarity for outputs that are not [batch, classes]).

Engine: PyTorch through onnx2torch when both are installed (then --finetune-steps N runs N
steps of SGD on the data with the masks from the request kept applied, before scoring), else
onnxruntime. Needs numpy and one of (torch + onnx2torch) or onnxruntime.
"""
import argparse
import json
import os
import sys

import numpy as np


def fail(msg: str, code: int = 2) -> None:
    print(f"torch_evaluator: {msg}", file=sys.stderr)
    sys.exit(code)


def load_masks(masks_dir: str) -> dict:
    with open(os.path.join(masks_dir, "index.json")) as f:
        index = json.load(f)
    return {e["weight"]: np.load(os.path.join(masks_dir, e["file"])) for e in index}


class OrtEngine:
    name = "onnxruntime"

    def __init__(self, path: str):
        import onnxruntime as ort

        self.sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.inp = self.sess.get_inputs()[0]

    def batch(self) -> int:
        b = self.inp.shape[0]
        return b if isinstance(b, int) else 1

    def sample_shape(self):
        return [d if isinstance(d, int) else 1 for d in self.inp.shape[1:]]

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.sess.run(None, {self.inp.name: x.astype(np.float32)})[0]


class TorchEngine(OrtEngine):
    name = "torch"

    def __init__(self, path: str):
        super().__init__(path)  # for the input spec
        import onnx
        import torch
        from onnx2torch import convert

        self.torch = torch
        self.module = convert(onnx.load(path)).eval()

    def run(self, x: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            out = self.module(self.torch.from_numpy(x.astype(np.float32)))
        out = out[0] if isinstance(out, (list, tuple)) else out
        return out.numpy()

    def finetune(self, xs: np.ndarray, ys: np.ndarray, masks: dict, steps: int, lr: float) -> None:
        torch = self.torch
        # onnx2torch keeps initializer names as parameter names with '.' replaced; match by shape and name tail.
        params = dict(self.module.named_parameters())
        keep = {}
        for weight, mask in masks.items():
            key = next((k for k in params if k.replace("/", ".").endswith(weight.replace("/", ".")) and tuple(params[k].shape) == mask.shape), None)
            if key is not None:
                keep[key] = torch.from_numpy(mask.astype(np.float32))
        opt = torch.optim.SGD(self.module.parameters(), lr=lr, momentum=0.9)
        self.module.train()
        b = self.batch()
        for step in range(steps):
            i = (step * b) % max(1, len(xs) - b + 1)
            out = self.module(torch.from_numpy(xs[i : i + b].astype(np.float32)))
            out = out[0] if isinstance(out, (list, tuple)) else out
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), torch.from_numpy(ys[i : i + b].astype(np.int64)).reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for k, m in keep.items():
                    params[k].mul_(m)
        self.module.eval()


def make_engine(path: str, prefer_torch: bool):
    if prefer_torch:
        try:
            return TorchEngine(path)
        except ImportError:
            pass
    try:
        return OrtEngine(path)
    except ImportError:
        fail("needs onnxruntime (pip install onnxruntime) or torch + onnx2torch (pip install torch onnx2torch)")


def batched(engine, xs: np.ndarray) -> np.ndarray:
    b = engine.batch()
    outs = [engine.run(xs[i : i + b]) for i in range(0, len(xs) - b + 1, b)]
    return np.concatenate(outs, axis=0)


def agreement(ref: np.ndarray, got: np.ndarray) -> tuple:
    if ref.ndim == 2 and ref.shape[1] > 1:
        return "top1_agreement", float(np.mean(np.argmax(ref, -1) == np.argmax(got, -1)))
    a = ref.reshape(-1, ref.shape[-1])
    b = got.reshape(-1, got.shape[-1])
    num = np.sum(a * b, -1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return "cosine", float(np.mean(np.where(den > 0, num / np.maximum(den, 1e-30), 1.0)))


def main() -> int:
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--data", help=".npz with x (inputs) and y (labels)")
    g.add_argument("--dense", help="the dense model .onnx: labels are its predictions on synthetic inputs")
    ap.add_argument("--samples", type=int, default=64, help="synthetic samples with --dense")
    ap.add_argument("--finetune-steps", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()

    request = json.load(sys.stdin)
    if request.get("version") != 1:
        fail(f"unsupported protocol version {request.get('version')}")
    engine = make_engine(request["model"], prefer_torch=True)
    seed = int(request.get("seed", 0))

    if args.data:
        d = np.load(args.data)
        xs, ys = d["x"].astype(np.float32), d["y"]
        if args.finetune_steps > 0 and isinstance(engine, TorchEngine):
            engine.finetune(xs, ys, load_masks(request["masks"]), args.finetune_steps, args.lr)
        out = batched(engine, xs)
        n = len(out)
        score = float(np.mean(np.argmax(out.reshape(n, -1), -1) == ys[:n].reshape(-1)))
        print(json.dumps({"score": score, "metric": "accuracy", "samples": n, "engine": engine.name}))
        return 0

    dense = OrtEngine(args.dense) if not isinstance(engine, TorchEngine) else make_engine(args.dense, prefer_torch=False)
    rng = np.random.default_rng(seed)
    b = engine.batch()
    n = max(b, (args.samples // b) * b)
    xs = rng.standard_normal((n, *engine.sample_shape())).astype(np.float32)
    ref = batched(dense, xs)
    if args.finetune_steps > 0 and isinstance(engine, TorchEngine) and ref.ndim == 2:
        engine.finetune(xs, np.argmax(ref, -1), load_masks(request["masks"]), args.finetune_steps, args.lr)
    metric, score = agreement(ref, batched(engine, xs))
    print(json.dumps({"score": score, "metric": metric, "samples": int(n), "engine": engine.name}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
