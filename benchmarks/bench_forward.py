"""Lowered-module speed: netdsl.load("resnet50") against a hand-written ResNet-50.

Interleaved in one run (A B B A ...), so drift and thermal effects hit both sides alike.
Prints medians and ratios (netdsl / reference); the targets are forward and forward+backward
within 2%, construction (netdsl.load, parsing and code generation included) within 10%.

    python benchmarks/bench_forward.py            # CPU, batch 8 at 224x224
    python benchmarks/bench_forward.py --quick    # smoke run
    python benchmarks/bench_forward.py --device cuda --amp --channels-last   # on a GPU machine
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from reference.core import resnet50 as reference_resnet50  # noqa: E402

import netdsl  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--amp", action="store_true", help="bf16 autocast")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--baseline", choices=["reference", "torchvision"], default="reference",
                    help="hand-written tests/reference ResNet-50, or torchvision's (where it imports)")
    args = ap.parse_args()
    build_reference = reference_resnet50
    if args.baseline == "torchvision":
        from torchvision.models import resnet50 as build_reference  # same state_dict keys as netdsl's
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.batch, args.size, args.rounds = 2, 112, 4
    device = torch.device(args.device)
    torch.manual_seed(0)

    # construction: netdsl.load (parse + check + codegen + exec + build + init) vs the class
    cold = timed(lambda: netdsl.load("resnet50"), torch.device("cpu"))  # first call: imports jinja2, templates
    build_reference()
    ctor_n, ctor_r = [], []
    for i in range(max(6, args.rounds)):
        pair = [("n", lambda: netdsl.load("resnet50")), ("r", build_reference)]
        for tag, fn in pair if i % 2 == 0 else pair[::-1]:
            dt = timed(fn, torch.device("cpu"))
            (ctor_n if tag == "n" else ctor_r).append(dt)

    ours = netdsl.load("resnet50").to(device)
    ref = build_reference().to(device)
    ref.load_state_dict(ours.state_dict())  # identical keys: same weights, same work
    mf = torch.channels_last if args.channels_last else torch.contiguous_format
    ours, ref = ours.to(memory_format=mf), ref.to(memory_format=mf)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device).to(memory_format=mf)

    def fwd(m):
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            m(x)

    def fwd_bwd(m):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            out = m(x)
        out.float().sum().backward()

    results = {}
    for label, fn, mode in (("forward", fwd, "eval"), ("forward+backward", fwd_bwd, "train")):
        ours.train(mode == "train")
        ref.train(mode == "train")
        for m in (ours, ref):  # warm-up
            fn(m)
        a, b = [], []
        for i in range(args.rounds):
            order = [(ours, a), (ref, b)] if i % 2 == 0 else [(ref, b), (ours, a)]
            for m, acc in order:
                acc.append(timed(lambda m=m, fn=fn: fn(m), device))
        results[label] = (statistics.median(a), statistics.median(b),
                          statistics.median(x / y for x, y in zip(a, b, strict=True)))

    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, "
          f"{args.size}x{args.size}, amp={args.amp}, channels_last={args.channels_last}, rounds {args.rounds}")
    print(f"{'measure':<18} {'netdsl':>10} {'reference':>10} {'ratio':>7}  target")
    ok = True
    for label, (n, r, ratio) in results.items():  # ratio: median of the paired per-round ratios
        good = abs(ratio - 1) <= 0.02
        ok &= good
        extra = f"  {args.batch / n:,.1f} img/s" if label == "forward" else ""
        print(f"{label:<18} {n * 1e3:>8.1f}ms {r * 1e3:>8.1f}ms {ratio:>7.3f}  within 2%: "
              f"{'PASS' if good else 'FAIL'}{extra}")
    n, r = statistics.median(ctor_n), statistics.median(ctor_r)
    ratio = statistics.median(x / y for x, y in zip(ctor_n, ctor_r, strict=True))
    good = ratio <= 1.10
    ok &= good
    print(f"{'construction':<18} {n * 1e3:>8.1f}ms {r * 1e3:>8.1f}ms {ratio:>7.3f}  within 10%: "
          f"{'PASS' if good else 'FAIL'}  (netdsl.load includes parse, check and code generation)")
    print(f"{'first load':<18} {cold * 1e3:>8.1f}ms  (once per process: imports jinja2, loads the templates)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
