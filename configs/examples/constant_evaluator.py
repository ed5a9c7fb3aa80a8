#!/usr/bin/env python3
"""A dependency-free tesa evaluator (README, "Evaluator protocol").

Reads the request from stdin, checks the files it names exist, and answers a score that
depends only on the candidate: 1 minus the mean ratio over its groups (so denser is better).
Used by the tests; also the smallest template for writing your own.

Modes for testing the failure paths (first argument):
  ok (default)  answer a score
  exit1         print to stderr and exit with status 1
  garbage       print something that is not JSON
  sleep         sleep for an hour (the caller's timeout must end it)
  noscore       answer JSON without a numeric score
"""
import json
import os
import sys
import time


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
    request = json.load(sys.stdin)
    if mode == "exit1":
        print("constant_evaluator: failing on purpose", file=sys.stderr)
        return 1
    if mode == "garbage":
        print("this is not json {")
        return 0
    if mode == "sleep":
        time.sleep(3600)
        return 0
    if mode == "noscore":
        print(json.dumps({"accuracy": "high"}))
        return 0
    for key in ("model", "config"):
        if not os.path.isfile(request[key]):
            print(f"missing {key} file {request[key]}", file=sys.stderr)
            return 3
    if not os.path.isfile(os.path.join(request["masks"], "index.json")):
        print("missing masks/index.json", file=sys.stderr)
        return 3
    groups = request["candidate"]["groups"]
    ratios = [g["ratio"] for g in groups.values()] or [0.0]
    print("progress lines before the answer are fine")
    print(json.dumps({"score": 1.0 - sum(ratios) / len(ratios), "trial": request["trial"], "groups": len(groups)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
