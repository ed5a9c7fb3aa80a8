#!/usr/bin/env python3
"""Prints '<library file> <include dir>' of the cuSPARSELt in this Python environment (the
nvidia-cusparselt wheel PyTorch depends on), or nothing when there is none."""
import glob
import os
import sys

for base in sys.path:
    root = os.path.join(base, "nvidia")
    if not os.path.isdir(root):
        continue
    libs = sorted(glob.glob(os.path.join(root, "cusparselt*", "lib", "libcusparseLt.so*")))
    heads = glob.glob(os.path.join(root, "cusparselt*", "include", "cusparseLt.h"))
    if libs and heads:
        print(libs[0], os.path.dirname(heads[0]))
        break
