#!/usr/bin/env python3
"""Writes each op's masked fp16 weight (dense weight × its 1-bit mask) named in ops.json."""
import json
import os
import sys

import numpy as np

for op in json.load(open(sys.argv[1]))["ops"]:
    if not op.get("maskFile") or os.path.exists(op["weightFile"]):
        continue
    w = np.fromfile(op["denseFile"], dtype=np.float16)
    m = np.unpackbits(np.fromfile(op["maskFile"], dtype=np.uint8))[: w.size].astype(bool)
    w = np.where(m, w, np.float16(0)).astype(np.float16)
    w.tofile(op["weightFile"])
