#!/usr/bin/env bash
# Per-step GPU time of a compiled CUDA model (a folder under <cache>/cuda/models/): runs the
# model runner with `profile 1` (CUDA events between the glue's steps, median of 5 eager runs)
# and prints the time per kind of step and the slowest steps. Usage: profile-model.sh MODEL_DIR
set -euo pipefail
dir=$1
runner=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["runner"])' "$dir/model.json")
manifest=$(mktemp)
out=$(mktemp)
{
  echo "warmup 3"; echo "reps 5"; echo "flush 1"; echo "graph 1"; echo "check 0"; echo "profile 1"
  cat "$dir/model.txt"
  for f in "$dir"/input-*.bin; do
    b=$(basename "$f" .bin); b=${b#input-}
    case $b in *-*) continue ;; esac
    echo "input $b $f"
  done
} > "$manifest"
"$runner" "$manifest" > "$out"
glue=$(awk '$1 == "glue" { print $2 }' "$dir/model.txt")
python3 - "$out" "${glue%.so}.cu" <<'PY'
import json, re, sys, statistics
r = json.load(open(sys.argv[1]))
steps = r["stepsMs"]
names = {}
for line in open(sys.argv[2]):
    m = re.match(r"\s*// step (\d+): (.*)", line)
    if m: names[int(m.group(1))] = m.group(2).strip()
kind = lambda k: names.get(k, "?").split(" ")[0].rstrip(":")
total = sum(steps)
print(f"graph median {statistics.median(r['samplesMs']):.3f} ms; sum of eager steps {total:.3f} ms")
by = {}
for k, t in enumerate(steps): by.setdefault(kind(k), []).append(t)
for name, ts in sorted(by.items(), key=lambda x: -sum(x[1])):
    print(f"  {name:10s} {len(ts):4d} steps {sum(ts):8.3f} ms  {100*sum(ts)/total:5.1f}%  median {1000*statistics.median(ts):7.1f} us")
print("slowest steps:")
for k in sorted(range(len(steps)), key=lambda k: -steps[k])[:12]:
    print(f"  {1000*steps[k]:7.1f} us  step {k}: {names.get(k, '?')[:90]}")
PY
rm -f "$manifest" "$out"
