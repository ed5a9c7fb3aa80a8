#!/usr/bin/env bash
# Runs a bench bundle on the GPU machine and copies what matters to $OUT: the joined table,
# the runner's JSON, build warnings and, if the whole run fails (one kernel faulting takes the
# runner down), each op alone beside its shape's cuBLAS peers so the others still get timed.
# Usage (from the repo root on the device): bash backends/cuda/tools/device-run.sh <bundle dir> <tag>
set -uo pipefail
B=$1; TAG=${2:-run}; OUT=${OUT:-/tmp/out}
cd "$B"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader > "$OUT/$TAG-gpu.txt" 2>&1
if bash run.sh > "$OUT/$TAG-run.log" 2>&1; then
  cp table.txt "$OUT/$TAG-table.txt"; cp results.json "$OUT/$TAG-results.json"
else
  echo "whole run failed: timing op by op" | tee -a "$OUT/$TAG-run.log"
  grep -v '^op ' manifest.run.txt > hdr.txt
  : > "$OUT/$TAG-perop.txt"
  grep '^op ' manifest.run.txt | grep -v ' cublas' | while read -r line; do
    name=$(echo "$line" | awk '{print $2}'); shape=$(echo "$line" | awk '{print $6" "$7" "$8}')
    { cat hdr.txt; grep ' cublas' manifest.run.txt | grep " $shape\$"; echo "$line"; } > one.txt
    if ./lib/tesa-cuda-runner one.txt > one.json 2> one.err; then
      python3 tools/summarize.py one.json | grep -v '^torch\|^device\|^op \|^$' >> "$OUT/$TAG-perop.txt"
    else
      echo "$name FAILED: $(tail -2 one.err | tr '\n' ' ')" >> "$OUT/$TAG-perop.txt"
    fi
  done
fi
grep -h -i 'warning\|error' lib/*.log 2>/dev/null | sed 's/k_[0-9a-f]*/k_*/' | sort | uniq -c | head -40 > "$OUT/$TAG-buildwarn.txt"
cat "$OUT/$TAG-buildwarn.txt"
