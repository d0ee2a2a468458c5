#!/usr/bin/env python
"""Benchmark of the parse stage alone (issue 11, not a unit test): `netdsl.parse.parse` of large
generated inputs, one fresh process per size and parser.

Sizes: 30k and 100k written-out layers (`bench_check.generate`: `conv; bn; relu` lines and residual
blocks) and the 1 MB line of 60k convolutions (`input 16x8x8` then `conv 3x3 p1 x16 > ...`).
Each child builds the parser first (not timed), then parses best of N with the cyclic garbage
collector off (as `pipeline.front_end` runs it) and reports wall and CPU seconds and its peak RSS
(before the parse, and at the end). Parsers: the plain one (`NETDSL_NO_ACCEL=1`) and, when
lark-cython is installed (`pip install "netdsl[fast]"`), the accelerated one.

    python benchmarks/bench_parse.py                 # every size, best of 3
    python benchmarks/bench_parse.py --cases line60000 --best-of 1
    python benchmarks/bench_parse.py --root /tmp/old-checkout   # another checkout's parse, to compare
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import gc, json, resource, sys, time
sys.path[:0] = [sys.argv[3], sys.argv[3] + "/benchmarks"]
from netdsl import parse as P
from bench_check import generate
case, best_of = sys.argv[1], int(sys.argv[2])
if case.startswith("layers"):
    text = generate(int(case[len("layers"):]))
else:
    text = "input 16x8x8\n" + " > ".join(["conv 3x3 p1 x16"] * int(case[len("line"):]))
P.parse("input 3x8x8\nrelu")  # the parser built, not timed
P.parse("input 3x8x8\n" + "relu\n" * 10_000)  # the accelerated parser too (a text over its threshold)
accelerated = getattr(P, "_accelerated", lambda: None)() is not None
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
wall = cpu = float("inf")
gc.disable()
for _ in range(best_of):
    t, c = time.perf_counter(), time.process_time()
    program = P.parse(text, "bench.net")
    wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    del program
gc.enable()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"case": case, "chars": len(text), "accelerated": accelerated, "wall": wall, "cpu": cpu,
                  "rss_before_mb": before / 1024, "peak_mb": peak / 1024}))
"""


def run(case: str, best_of: int, plain: bool, root: Path) -> dict:
    env = dict(os.environ)
    if plain:
        env["NETDSL_NO_ACCEL"] = "1"
    out = subprocess.run([sys.executable, "-c", CHILD, case, str(best_of), str(root)], env=env, cwd=root,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="layers30000,layers100000,line60000")
    ap.add_argument("--best-of", type=int, default=3)
    ap.add_argument("--root", type=Path, default=REPO,
                    help="the checkout whose netdsl to measure (e.g. an older commit's, to compare)")
    args = ap.parse_args()
    modes = [True] + ([False] if importlib.util.find_spec("lark_cython") else [])
    print(f"{'input':<14} {'parser':<12} {'wall s':>7} {'cpu s':>7} {'MB before':>10} {'peak MB':>8}")
    for case in args.cases.split(","):
        for plain in modes:
            r = run(case, args.best_of, plain, args.root.resolve())
            parser = "lark-cython" if r.get("accelerated") else "plain"
            print(f"{case:<14} {parser:<12} {r['wall']:7.2f} {r['cpu']:7.2f} {r['rss_before_mb']:10.1f} "
                  f"{r['peak_mb']:8.1f}", flush=True)


if __name__ == "__main__":
    main()
