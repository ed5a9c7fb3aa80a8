#!/usr/bin/env python3
"""PyTorch peer for `tesa bench model --target cuda` on a zoo BERT: the same encoder (the same
weights, read from .npy files tesa writes under their graph names) run by PyTorch in fp16 on the
GPU, timed with the tesa runner's protocol (the whole forward captured in one CUDA graph, L2
flushed before each repetition, CUDA events, median). Two variants: attention written out
(matmul, softmax, matmul: what the ONNX graph says) and torch's fused
scaled_dot_product_attention. Prints one JSON object; saves the first variant's output.

usage: torch_bert_peer.py DIR REPS WARMUP   (DIR holds spec.json, weights/*.npy, input_ids.npy,
attention_mask.npy; writes DIR/torch_out.npy)"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def main():
    d, reps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    spec = json.load(open(os.path.join(d, "spec.json")))
    # TESA_TORCH_DEVICE=cpu checks the model itself (fp32, untimed) where there is no GPU.
    dev = torch.device(os.environ.get("TESA_TORCH_DEVICE", "cuda"))
    dt = torch.float16 if dev.type == "cuda" else torch.float32

    def w(name):
        return torch.from_numpy(np.load(os.path.join(d, "weights", name + ".npy"))).to(dev, dt)

    L, H, heads, eps = spec["layers"], spec["hidden"], spec["heads"], spec["layerNormEps"]
    hd = H // heads
    ids = torch.from_numpy(np.load(os.path.join(d, "input_ids.npy"))).to(dev)
    mask = torch.from_numpy(np.load(os.path.join(d, "attention_mask.npy"))).to(dev)
    B, S = ids.shape
    emb = {k: w("embeddings.%s.weight" % k) for k in ("word_embeddings", "position_embeddings", "token_type_embeddings")}
    ln_e = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
    layers = []
    for l in range(L):
        p = "encoder.layer.%d." % l
        # tesa stores linear weights [in, out] (MatMul); F.linear wants [out, in].
        lin = lambda n: (w(p + n + ".weight").t().contiguous(), w(p + n + ".bias"))
        layers.append({
            "q": lin("attention.self.query"), "k": lin("attention.self.key"), "v": lin("attention.self.value"),
            "o": lin("attention.output.dense"), "ln1": (w(p + "attention.output.LayerNorm.weight"), w(p + "attention.output.LayerNorm.bias")),
            "i": lin("intermediate.dense"), "out": lin("output.dense"), "ln2": (w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias")),
        })
    pos = torch.arange(S, device=dev).unsqueeze(0).expand(B, S)
    ext = ((1.0 - mask[:, None, None, :].to(dt)) * -10000.0).to(dt)

    def forward(sdpa):
        x = emb["word_embeddings"][ids] + emb["token_type_embeddings"][torch.zeros_like(ids)] + emb["position_embeddings"][pos]
        x = F.layer_norm(x, (H,), *ln_e, eps)
        for t in layers:
            q, k, v = (F.linear(x, *t[n]).view(B, S, heads, hd).transpose(1, 2) for n in ("q", "k", "v"))
            if sdpa:
                c = F.scaled_dot_product_attention(q, k, v, attn_mask=ext)
            else:
                c = torch.softmax(q @ k.transpose(-1, -2) / (hd ** 0.5) + ext, dim=-1) @ v
            c = c.transpose(1, 2).reshape(B, S, H)
            x = F.layer_norm(F.linear(c, *t["o"]) + x, (H,), *t["ln1"], eps)
            h = F.gelu(F.linear(x, *t["i"]))
            x = F.layer_norm(F.linear(h, *t["out"]) + x, (H,), *t["ln2"], eps)
        return x

    if dev.type != "cuda":
        with torch.inference_mode():
            np.save(os.path.join(d, "torch_out.npy"), forward(False).float().cpu().numpy())
            np.save(os.path.join(d, "torch_out_sdpa.npy"), forward(True).float().cpu().numpy())
        print(json.dumps({"device": "cpu", "torch": torch.__version__, "peers": []}))
        return
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    flush = torch.empty(max(l2, 1 << 20) * 2, dtype=torch.uint8, device=dev)
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "peers": []}
    with torch.inference_mode():
        for name, sdpa in (("torch-fp16", False), ("torch-fp16-sdpa", True)):
            try:
                for _ in range(3):
                    forward(sdpa)
                torch.cuda.synchronize()
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    out = forward(sdpa)
                for _ in range(warmup):
                    g.replay()
                torch.cuda.synchronize()
                samples = []
                for _ in range(reps):
                    flush.zero_()
                    a = torch.cuda.Event(enable_timing=True)
                    b = torch.cuda.Event(enable_timing=True)
                    a.record()
                    g.replay()
                    b.record()
                    b.synchronize()
                    samples.append(a.elapsed_time(b))
                if not sdpa:
                    np.save(os.path.join(d, "torch_out.npy"), out.float().cpu().numpy())
                result["peers"].append({"name": name, "samplesMs": samples})
            except Exception as e:  # a peer that cannot run is reported, not fatal
                result["peers"].append({"name": name, "error": str(e)[:300]})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
