#!/usr/bin/env python3
"""Joins the runner's results.json and torch_peers' torch.json into one table: median and
spread (p10..p90) per op, and each op's speed-up over cuBLAS dense of its shape and over
PyTorch's sparse path for its pattern."""
import json
import sys

import numpy as np


def stats(s):
    a = np.array(s)
    return float(np.median(a)), float(np.percentile(a, 10)), float(np.percentile(a, 90))


ours = json.load(open(sys.argv[1]))
peers = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else {"results": []}
meta = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else {"ops": []}
info = {o["name"]: o for o in meta["ops"]}
dense = {}
denset = {}
for o in ours["ops"]:
    if o["kind"] == "cublas":
        dense[(o["M"], o["N"], o["K"])] = stats(o["samplesMs"])[0]
    if o["kind"] == "cublast":
        denset[(o["M"], o["N"], o["K"])] = stats(o["samplesMs"])[0]
tdense = {}
for r in peers["results"]:
    if r["peer"] == "torch-linear-dense" and "samplesMs" in r:
        tdense[(r["M"], r["N"], r["K"])] = stats(r["samplesMs"])[0]
print(f"device {ours['device']} sm_{ours['sm']} flush={ours['flush']}; torch {peers.get('torch')}")
hdr = f"{'op':44} {'pattern':12} {'shape':16} {'med us':>8} {'p10':>8} {'p90':>8} {'relerr':>9} {'x cuBLAS':>8} {'x cuBLT':>8} {'x torch':>8}"
print(hdr)
for o in ours["ops"]:
    shape = (o["M"], o["N"], o["K"])
    med, lo, hi = stats(o["samplesMs"])
    pat = info.get(o["name"], {}).get("pattern", "dense" if o["kind"] == "cublas" else "?")
    best_torch = None
    for r in peers["results"]:
        if r["op"] == info.get(o["name"], {}).get("caseKey", o["name"]) and "samplesMs" in r and r["peer"] != "torch-linear-dense":
            m = stats(r["samplesMs"])[0]
            best_torch = m if best_torch is None else min(best_torch, m)
    vs_dense = dense.get(shape, float("nan")) / med
    vs_torch = (best_torch / med) if best_torch else float("nan")
    vs_denset = denset.get(shape, float("nan")) / med
    err = o["maxRelError"]
    print(f"{o['name']:44} {pat:12} {'x'.join(map(str, shape)):16} {med*1e3:8.1f} {lo*1e3:8.1f} {hi*1e3:8.1f} {err if err is not None else float('nan'):9.2e} {vs_dense:8.2f} {vs_denset:8.2f} {vs_torch:8.2f}")
print()
print(f"{'torch peer':34} {'pattern':12} {'shape':16} {'med us':>8} {'p10':>8} {'p90':>8} {'relerr':>9} {'x tdense':>8}")
for r in peers["results"]:
    shape = (r["M"], r["N"], r["K"])
    if "samplesMs" not in r:
        print(f"{r['op'] + '/' + r['peer']:34} {r['pattern']:12} {'x'.join(map(str, shape)):16} ERROR {r.get('error')}")
        continue
    med, lo, hi = stats(r["samplesMs"])
    err = r.get("maxRelError")
    print(f"{r['op'] + '/' + r['peer']:34} {r['pattern']:12} {'x'.join(map(str, shape)):16} {med*1e3:8.1f} {lo*1e3:8.1f} {hi*1e3:8.1f} {err if err is not None else float('nan'):9.2e} {tdense.get(shape, float('nan'))/med:8.2f}")
