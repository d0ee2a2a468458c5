"""The training-memory estimate of `netdsl check` against what PyTorch really allocates.

    python benchmarks/bench_memory.py                         # every zoo network, batch 1 and 8, CPU
    python benchmarks/bench_memory.py resnet50 googlenet --batches 1 8 32 --device cuda

For each network and batch size a fresh process builds `netdsl.load(NAME)` and measures one
training step (SGD by default) after a warm-up step (`tests/reference/memprobe.py`): on CPU the
parameters, buffers, optimizer state and input already resident plus the peak of the running sum
of `torch.profiler`'s allocation events (profile_memory=True); on CUDA
`torch.cuda.max_memory_allocated`. The estimate is `netdsl.check(NAME).memory(batch, dtype,
optimizer, device)`, computed without torch in this process. The table prints estimate /
measured per network; the target is every ratio within 1 +- `--tolerance` (0.10). Exit status
0 unless `--strict` and a ratio misses it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DTYPES = {"float32": None, "bfloat16": "bfloat16", "float16": "float16"}


def child(name: str, batch: int, device: str, optimizer: str, dtype: str) -> None:
    """Measure one network in this (fresh) process and print a JSON line."""
    sys.path.insert(0, str(ROOT))
    import torch

    import netdsl
    from tests.reference.memprobe import measure_step

    torch.manual_seed(0)
    model = netdsl.load(name, device=device)
    shape = netdsl.check(name).net.input_shape
    x = torch.randn(batch, *shape, device=device)
    ac = getattr(torch, DTYPES[dtype]) if DTYPES[dtype] else None
    print(json.dumps({"measured": measure_step(model, x, optimizer, ac)}))


def zoo() -> list[str]:
    return sorted(p.stem for p in (ROOT / "networks").glob("*.net"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("networks", nargs="*", help="zoo names (default: every networks/*.net)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--optimizer", choices=["sgd", "momentum", "adam", "adamw"], default="sgd")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="float16/bfloat16: autocast")
    ap.add_argument("--tolerance", type=float, default=0.10)
    ap.add_argument("--timeout", type=float, default=1200, help="seconds per measurement")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a ratio misses the target")
    ap.add_argument("--child", nargs=2, metavar=("NAME", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.device, args.optimizer, args.dtype)
        return 0
    sys.path.insert(0, str(ROOT))
    import netdsl

    names = args.networks or zoo()
    print(f"training-memory estimate / measured: one {args.optimizer} step, {args.dtype}, on {args.device}")
    print(f"{'network':<22}{'batch':>6}{'estimate':>16}{'measured':>16}{'ratio':>8}  {'peak in':<9} status")
    misses = []
    for name in names:
        report = netdsl.check(name)
        for batch in args.batches:
            est = report.memory(batch, args.dtype, args.optimizer, args.device)
            cmd = [sys.executable, __file__, "--child", name, str(batch), "--device", args.device,
                   "--optimizer", args.optimizer, "--dtype", args.dtype]
            t = time.perf_counter()
            try:
                run = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT)
                lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
                measured = json.loads(lines[-1])["measured"] if run.returncode == 0 and lines else None
                why = run.stderr.strip().splitlines()[-1] if measured is None and run.stderr.strip() else ""
            except subprocess.TimeoutExpired:
                measured, why = None, f"timed out after {args.timeout:.0f} s"
            secs = time.perf_counter() - t
            if measured is None:
                print(f"{name:<22}{batch:>6}{est.peak:>16,}{'-':>16}{'-':>8}  {est.phase:<9} FAILED {why}")
                misses.append((name, batch))
                continue
            ratio = est.peak / measured
            ok = abs(ratio - 1) <= args.tolerance
            if not ok:
                misses.append((name, batch))
            print(f"{name:<22}{batch:>6}{est.peak:>16,}{measured:>16,}{ratio:>8.3f}  {est.phase:<9} "
                  f"{'PASS' if ok else 'FAIL'}  ({secs:.0f} s)", flush=True)
    print(f"overall: {'PASS' if not misses else 'FAIL'} "
          f"({len(misses)} outside +-{args.tolerance:.0%}: {', '.join(f'{n}@{b}' for n, b in misses) or 'none'})")
    return 1 if args.strict and misses else 0


if __name__ == "__main__":
    sys.exit(main())
