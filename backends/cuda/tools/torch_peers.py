#!/usr/bin/env python3
"""PyTorch peers for `tesa bench kernel --target cuda`: times F.linear on the dense weight and
PyTorch's own sparse path for each op's pattern (2:4 semi-structured / cuSPARSELt, BSR,
CSR), with the same protocol as the tesa runner (L2 flushed before each repetition, CUDA
events, median), on the same fp16 masked weights. Prints one JSON object."""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F


def timed(fn, reps, warmup, flush):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        if flush is not None:
            flush.zero_()
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        out.append(a.elapsed_time(b))
    return out


def rel_err(y, ref):
    y = y.float()
    ref = ref.float()
    if torch.isnan(y).any():
        return None
    return float((y - ref).abs().max() / ref.abs().max().clamp_min(1e-30))


def peers_for(op, W, X, Xt):
    """(name, fn) pairs for this op's pattern; a path PyTorch lacks is reported, not hidden."""
    pat = op["pattern"]
    out = []
    if pat == "dense":
        out.append(("torch-linear-dense", lambda: F.linear(X, W)))
    elif pat.startswith("nm:"):
        from torch.sparse import to_sparse_semi_structured

        Ws = to_sparse_semi_structured(W)
        out.append(("torch-2:4-semi-structured", lambda: F.linear(X, Ws)))
        if hasattr(torch, "_cslt_compress"):
            Wc = torch._cslt_compress(W)
            out.append(("torch-_cslt_sparse_mm", lambda: torch._cslt_sparse_mm(Wc, Xt, transpose_result=True)))
    elif pat.startswith("block:"):
        r, c = [int(v) for v in pat[len("block:"):].split("x")]
        Wb = W.to_sparse_bsr((r, c))
        try:
            from torch.sparse._triton_ops import bsr_dense_mm

            out.append(("torch-bsr-triton", lambda: bsr_dense_mm(Wb, Xt)))
        except Exception as e:  # noqa: BLE001
            print(f"torch_peers: no triton bsr_dense_mm: {e}", file=sys.stderr)
            out.append(("torch-bsr-matmul", lambda: Wb @ Xt))
        Wcsr = W.to_sparse_csr()
        out.append(("torch-csr-cusparse", lambda: Wcsr @ Xt))
    elif pat.startswith("tile:"):
        Wcsr = W.to_sparse_csr()
        out.append(("torch-csr-cusparse", lambda: Wcsr @ Xt))
    return out


def main():
    spec = json.load(open(sys.argv[1]))
    reps, warmup = spec["reps"], spec["warmup"]
    torch.manual_seed(spec.get("seed", 1))
    flush = torch.empty(256 * 1024 * 1024, dtype=torch.int8, device="cuda") if spec.get("flush", True) else None
    results = []
    for op in spec["ops"]:
        M, N, K = op["M"], op["N"], op["K"]
        W = torch.from_numpy(np.fromfile(op["weightFile"], dtype=np.float16).reshape(N, K)).cuda()
        X = (torch.rand(M, K, device="cuda", dtype=torch.float16) * 2 - 1)
        Xt = X.t().contiguous()
        ref = F.linear(X, W)
        for name, fn in peers_for(op, W, X, Xt):
            row = {"op": op["name"], "peer": name, "pattern": op["pattern"], "M": M, "N": N, "K": K}
            try:
                y = fn()
                if y.layout != torch.strided:
                    y = y.to_dense()
                if y.shape != ref.shape:
                    y = y.t()
                row["maxRelError"] = rel_err(y, ref)
                # A path slower than 20 ms a call gets 5 repetitions, so it cannot eat the run.
                probe = timed(fn, 1, 1, flush)[0]
                row["samplesMs"] = timed(fn, 5, 0, flush) if probe > 20 else timed(fn, reps, warmup, flush)
            except Exception as e:  # noqa: BLE001
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
            results.append(row)
            print(f"torch_peers: {op['name']} {name}: {row.get('error') or 'ok'}", file=sys.stderr)
    print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "results": results}))


if __name__ == "__main__":
    main()
