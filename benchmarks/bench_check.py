#!/usr/bin/env python
"""Benchmark of `netdsl check` against PyTorch model analysers (not a unit test).

Three measurements, each printed as a table with PASS/FAIL against the issues' targets:

1. ResNet-152, whole fresh processes.  `netdsl check resnet152 --json` against processes that
   import torch, build a torchvision-equivalent ResNet-152 (``tests/reference/core.py``) and
   analyse it with torchinfo / ptflops / fvcore / torch's FlopCounterMode.  Each tool runs as a
   separate process, N times round-robin; the median wall time (Python start and imports included) and the
   peak RSS of that process (``os.wait4`` rusage, ``ru_maxrss``) are reported, with netdsl's
   speed-up and memory ratio against each.  Targets: >= 10x faster and >= 6x less memory.

2. Scaling, in this process.  Generated `.net` text of 1k ... 20k layers (every layer written
   out, no repeat counts) through ``netdsl.pipeline.front_end``, best of 3.  Targets: 10k layers
   in < 2 s, and linear growth (time(20k) / time(10k) ~ 2).

3. Large inputs (issue 11), one fresh process per size: `check` of 10k / 100k / 200k written-out
   layers, a 1 MB line of 60k convolutions (and 30k), `compile` and `load(device="meta")` of
   12.5k / 25k layers; wall time, peak RSS and the growth factor of each pair. Each child ends as
   the `netdsl` command does (`os._exit` once the output is flushed, see `cli.console`). Targets: 100k layers
   < 5 s and < 300 MB, the 60k line < 6 s, 200k layers < 10 s, compile and meta-load linear.
   (`--only large`; left out of `--quick`.)

Usage (see benchmarks/README.md):

    python -m pip install -c constraints.txt -r benchmarks/requirements.txt   # optional baselines
    python benchmarks/bench_check.py            # full run (a few minutes)
    python benchmarks/bench_check.py --quick    # smoke run

Only the standard library is imported at the top: the parent process must not skew the
children it measures, and torch is only ever imported inside the baseline children.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE_CORE = REPO / "tests" / "reference" / "core.py"

TARGET_SPEEDUP = 10.0  # netdsl check must be at least this many times faster than each baseline
TARGET_MEMORY = 6.0  # ... and use at least this many times less peak memory
TARGET_10K_SECONDS = 2.0  # parse + check of a 10,000-layer network
LINEAR_TOLERANCE = 1.15  # time(2n) / time(n) up to 2 x this counts as linear

SIZES = (1_000, 2_000, 5_000, 10_000, 20_000)
QUICK_SIZES = (1_000, 5_000, 10_000)

# Published / reference figures for ResNet-152 (tests/reference/core.py, README zoo table).
RESNET152_PARAMS = 60_192_808
RESNET152_MACS = 11_513_626_624


# ------------------------------------------------------------------------------ child code
#
# One baseline process: `python -c BASELINE_CHILD <tool> <core.py or "">`.  It imports torch,
# builds ResNet-152 (from tests/reference/core.py, else the minimal copy below), analyses it with
# one tool and prints one JSON line {"params", "macs", "note"} as its last line of output.

BASELINE_CHILD = r'''
import json, sys, warnings
warnings.filterwarnings("ignore")
tool, core_path = sys.argv[1], sys.argv[2]

import torch
from torch import nn

def builtin_resnet152():
    # Minimal torchvision-identical ResNet-152 (Bottleneck v1.5), used only when
    # tests/reference/core.py is missing or has no resnet152().
    class Bottleneck(nn.Module):
        def __init__(self, cin, c, stride=1, down=None):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, c, 1, bias=False); self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, stride, 1, bias=False); self.bn2 = nn.BatchNorm2d(c)
            self.conv3 = nn.Conv2d(c, 4 * c, 1, bias=False); self.bn3 = nn.BatchNorm2d(4 * c)
            self.relu = nn.ReLU(inplace=True); self.downsample = down
        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))
    class ResNet(nn.Module):
        def __init__(self, layers=(3, 8, 36, 3), num_classes=1000):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False); self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True); self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, (c, n) in enumerate(zip((64, 128, 256, 512), layers)):
                s = 1 if i == 0 else 2
                down = nn.Sequential(nn.Conv2d(cin, 4 * c, 1, s, bias=False), nn.BatchNorm2d(4 * c))
                blocks = [Bottleneck(cin, c, s, down)] + [Bottleneck(4 * c, c) for _ in range(n - 1)]
                setattr(self, f"layer{i + 1}", nn.Sequential(*blocks)); cin = 4 * c
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1)); self.fc = nn.Linear(2048, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))
    return ResNet()

builder, source = None, "builtin"
if core_path:
    import importlib.util
    spec = importlib.util.spec_from_file_location("netdsl_bench_reference_core", core_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    builder, source = getattr(mod, "resnet152", None), "tests/reference/core.py"
if builder is None:
    builder, source = builtin_resnet152, "builtin"
model = builder().eval()
x = torch.zeros(1, 3, 224, 224)
params = macs = None
note = ""

if tool == "torchinfo":
    import torchinfo
    s = torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0)
    params, macs = s.total_params, s.total_mult_adds
elif tool == "ptflops":
    import ptflops
    macs, params = ptflops.get_model_complexity_info(model, (3, 224, 224), as_strings=False,
                                                      print_per_layer_stat=False, verbose=False)
elif tool == "fvcore":
    from fvcore.nn import FlopCountAnalysis, parameter_count
    with torch.no_grad():
        fca = FlopCountAnalysis(model, x)
        fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        macs = fca.total()  # fvcore counts one "flop" per multiply-add
    params = parameter_count(model)[""]
elif tool == "flopcounter":
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    macs = counter.get_total_flops() // 2
    params = sum(p.numel() for p in model.parameters())
elif tool == "build-only":
    params = sum(p.numel() for p in model.parameters())
    note = "no analysis"
else:
    raise SystemExit(f"unknown tool {tool}")
print(json.dumps({"params": int(params), "macs": None if macs is None else int(macs),
                  "note": (note + "; " if note else "") + "model: " + source}))
'''

# (name, module that must be importable, pip name, description)
BASELINES = [
    ("torchinfo", "torchinfo", "torchinfo", "torchinfo.summary, input 1x3x224x224"),
    ("ptflops", "ptflops", "ptflops", "ptflops.get_model_complexity_info (3,224,224)"),
    ("fvcore", "fvcore", "fvcore", "fvcore FlopCountAnalysis + parameter_count"),
    ("flopcounter", "torch", "torch", "torch.utils.flop_counter.FlopCounterMode + numel"),
]
# Reference rows (no targets): what any process, and any torch-based baseline, pays before it does anything.
FLOOR_PYTHON = "interpreter start only"
FLOOR_BUILD = "import torch + build ResNet-152, no analysis"


# ------------------------------------------------------------------------------ processes


class Run:
    def __init__(self, wall: float, cpu: float, peak: int, rc: int, out: str, err: str):
        self.wall, self.cpu, self.peak, self.rc, self.out, self.err = wall, cpu, peak, rc, out, err


def run_process(argv: list[str], env: dict[str, str], timeout: float) -> Run:
    """Run one fresh process; wall time from spawn to exit, CPU time and peak RSS of that process.

    `os.wait4` gives the rusage of exactly this child (RUSAGE_CHILDREN would be the maximum over
    every child waited for so far, so a big baseline would mask a small netdsl run after it)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=REPO)
        killer = threading.Timer(timeout, p.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        p.returncode = rc = os.waitstatus_to_exitcode(status)
        # ru_maxrss: kilobytes on Linux, bytes on macOS
        peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
        out.seek(0)
        err.seek(0)
        return Run(wall, usage.ru_utime + usage.ru_stime, peak, rc, out.read().decode(errors="replace"),
                   err.read().decode(errors="replace"))


def netdsl_argv() -> tuple[list[str], str]:
    """The installed `netdsl` console script itself (not a pyenv/asdf shell shim around it)."""
    script = Path(sysconfig.get_path("scripts")) / ("netdsl.exe" if os.name == "nt" else "netdsl")
    if not script.exists():
        script = Path(sys.executable).parent / script.name
    if script.exists():
        return [str(script)], str(script)
    return [sys.executable, "-m", "netdsl"], f"{sys.executable} -m netdsl"


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def measure_all(jobs: list[dict], env: dict[str, str], repeats: int, warmup: bool, timeout: float) -> None:
    """Run every job `repeats` times, round-robin (one run of each tool per round, so that load from
    elsewhere on the machine spreads over all tools alike), after one untimed warm-up round if asked.
    Fills in each job's median wall time, CPU time and peak RSS, or `skipped` with the reason."""
    runs: dict[str, list[Run]] = {j["name"]: [] for j in jobs}
    rounds = (["warm-up"] if warmup else []) + [f"run {i + 1}/{repeats}" for i in range(repeats)]
    for label in rounds:
        for j in jobs:
            if "skipped" in j:
                continue
            r = run_process(j["argv"], env, timeout)
            if r.rc != 0:
                tail = (r.err.strip() or r.out.strip() or f"exit status {r.rc}").splitlines()[-1]
                if r.rc in (-9, 137):
                    tail = f"killed after {timeout:.0f} s timeout"
                j["skipped"] = f"failed: {tail[:150]}"
                continue
            print(f"    {label:<10} {j['name']:<16} {r.wall:6.2f} s wall {r.cpu:6.2f} s cpu {r.peak / 2**20:7.1f} MB",
                  file=sys.stderr)
            if label != "warm-up":
                runs[j["name"]].append(r)
    for j in jobs:
        rs = runs[j["name"]]
        if "skipped" in j or not rs:
            continue
        j.update({
            "seconds": statistics.median(r.wall for r in rs),
            "seconds_min": min(r.wall for r in rs),
            "seconds_all": [round(r.wall, 4) for r in rs],
            "cpu_seconds": statistics.median(r.cpu for r in rs),
            "peak_bytes": int(statistics.median(r.peak for r in rs)),
            "peak_bytes_all": [r.peak for r in rs],
            **(j["parse"](rs[-1].out) or {}),
        })


def parse_netdsl(out: str) -> dict:
    try:
        j = json.loads(out)
    except ValueError:
        return {"note": "output is not JSON"}
    return {"params": j.get("params"), "macs": j.get("macs"), "note": f"{j.get('layers_count')} layers"}


def bench_resnet152(args) -> tuple[list[dict], bool | None]:
    env = dict(os.environ)
    if args.warm_bytecode:
        # Same conditions for every tool: bytecode caching on (an installed package has its .pyc;
        # an editable install under PYTHONDONTWRITEBYTECODE=1 recompiles netdsl on every start).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="netdsl-bench-pyc-")
    if args.threads > 0:
        # torch's OpenMP workers spin-wait; when another process holds a core they burn CPU and a
        # baseline run takes 3x longer (seen on a loaded 2-core machine), which would flatter netdsl.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(args.threads)
    argv, shown = netdsl_argv()
    print(f"\n== 1. ResNet-152: whole fresh processes, median of {args.repeats}"
          f"{' after 1 warm-up' if args.warmup else ''} ==", file=sys.stderr)
    print(f"netdsl command: {shown} check resnet152 --json", file=sys.stderr)
    threads = f"OMP_NUM_THREADS={args.threads}" if args.threads > 0 else "torch's default thread count"
    print(f"baselines run with {threads}", file=sys.stderr)

    core = str(REFERENCE_CORE) if REFERENCE_CORE.exists() and not args.builtin_resnet else ""
    rows: list[dict] = [{"name": "netdsl check", "desc": "netdsl check resnet152 --json",
                         "argv": [*argv, "check", "resnet152", "--json"], "parse": parse_netdsl}]
    for name, module, pip_name, desc in BASELINES:
        if args.tools is not None and name not in args.tools:
            continue
        row = {"name": name, "desc": desc, "baseline": True, "parse": last_json_line,
               "argv": [sys.executable, "-c", BASELINE_CHILD, name, core]}
        if importlib.util.find_spec(module) is None:
            row["skipped"] = f"not installed (pip install {pip_name}; see benchmarks/requirements.txt)"
        rows.append(row)
    if not args.no_floors:
        rows.append({"name": "python -c pass", "desc": FLOOR_PYTHON, "floor": True, "parse": last_json_line,
                     "argv": [sys.executable, "-c", "pass"]})
        if importlib.util.find_spec("torch") is not None:
            rows.append({"name": "build-only", "desc": FLOOR_BUILD, "floor": True, "parse": last_json_line,
                         "argv": [sys.executable, "-c", BASELINE_CHILD, "build-only", core]})
    measure_all(rows, env, args.repeats, args.warmup, args.timeout)
    for r in rows:
        del r["argv"], r["parse"]

    nd = rows[0]
    verdict: bool | None = False if "skipped" in nd else None  # netdsl itself failing is a FAIL
    if "skipped" not in nd:
        for r in rows[1:]:
            if "skipped" in r:
                continue
            r["speedup"] = r["seconds"] / nd["seconds"]
            r["memory_ratio"] = r["peak_bytes"] / nd["peak_bytes"]
            if r.get("baseline"):
                r["speed_ok"] = r["speedup"] >= TARGET_SPEEDUP
                r["memory_ok"] = r["memory_ratio"] >= TARGET_MEMORY
                ok = r["speed_ok"] and r["memory_ok"]
                verdict = ok if verdict is None else (verdict and ok)
    print_resnet_table(rows, verdict, args.threads)
    return rows, verdict


def _fmt_int(v) -> str:
    return "-" if v is None else f"{v:,}"


def _fmt_g(v) -> str:
    return "-" if v is None else f"{v / 1e9:.3f}G"


def print_resnet_table(rows: list[dict], verdict: bool | None, threads: int) -> None:
    print()
    print(f"ResNet-152 -- fresh process per run; targets: netdsl >= {TARGET_SPEEDUP:g}x faster and "
          f">= {TARGET_MEMORY:g}x less peak RSS than each baseline")
    print("(baselines: " + (f"OMP_NUM_THREADS={threads}" if threads > 0 else "torch's default threads") +
          "; median and min wall time, median CPU time, median peak RSS)")
    head = (f"{'tool':<16} {'median s':>9} {'min s':>7} {'cpu s':>6} {'peak MB':>8} {'params':>12} {'MACs':>9} "
            f"{'speed-up':>9} {'mem ratio':>9}  {'speed':<5} {'memory':<6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        if "skipped" in r:
            print(f"{r['name']:<16} SKIPPED: {r['skipped']}")
            continue
        sp = f"{r['speedup']:.1f}x" if "speedup" in r else "-"
        mr = f"{r['memory_ratio']:.1f}x" if "memory_ratio" in r else "-"
        s_ok = ("PASS" if r["speed_ok"] else "FAIL") if "speed_ok" in r else ""
        m_ok = ("PASS" if r["memory_ok"] else "FAIL") if "memory_ok" in r else ""
        if r.get("floor"):
            s_ok, m_ok = "(ref)", "(ref)"
        print(f"{r['name']:<16} {r['seconds']:>9.3f} {r['seconds_min']:>7.3f} {r['cpu_seconds']:>6.2f} "
              f"{r['peak_bytes'] / 2**20:>8.1f} "
              f"{_fmt_int(r.get('params')):>12} {_fmt_g(r.get('macs')):>9} {sp:>9} {mr:>9}  {s_ok:<5} {m_ok:<6}")
    print()
    for r in rows:
        extra = f" [{r['note']}]" if r.get("note") else ""
        print(f"  {r['name']:<16} {r.get('desc', '')}{extra}")
    print(f"  (reference ResNet-152: {RESNET152_PARAMS:,} params, {RESNET152_MACS / 1e9:.3f}G MACs; tools differ in"
          " what they count as MACs)")
    print(f"ResNet-152 verdict: {'n/a (no baseline ran)' if verdict is None else 'PASS' if verdict else 'FAIL'}")


# ------------------------------------------------------------------------------ scaling

PLAIN = "conv 3x3 p1 x16; bn; relu"  # 3 layers
RESIDUAL = "residual<conv 3x3 p1 x16 > bn > relu > conv 3x3 p1 x16 > bn> > relu"  # 8 layers (+shortcut, add)
UNIT_LAYERS = 11


def generate(n_layers: int) -> str:
    """A network of exactly `n_layers` expanded layers, every one written out (no repeat counts):
    alternating plain `conv; bn; relu` lines and residual blocks at 16x8x8, topped up with relu."""
    lines = [f"# generated by benchmarks/bench_check.py: {n_layers} layers", f"network gen{n_layers}",
             "input 16x8x8"]
    k = 0
    while n_layers - k >= UNIT_LAYERS:
        lines += [PLAIN, RESIDUAL]
        k += UNIT_LAYERS
    lines += ["relu"] * (n_layers - k)
    return "\n".join(lines) + "\n"


class _GcTimer:
    """Time spent in the cyclic garbage collector (gc.callbacks), per generation collected."""

    def __init__(self):
        self.total, self.count, self._t = 0.0, [0, 0, 0], 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._t
            self.count[min(info.get("generation", 2), 2)] += 1

    def reset(self) -> None:
        self.total, self.count = 0.0, [0, 0, 0]

    def close(self) -> None:
        gc.callbacks.remove(self)


def _layers_of(report) -> int | None:
    try:
        return report.total.layers
    except AttributeError:
        return None


def stage_breakdown(text: str) -> list[tuple[str, float]] | None:
    """front_end's stages timed one by one (internal API: skipped if it has changed)."""
    try:
        from netdsl import cost, expand, layout, link, parse, shapes, sources

        out = []
        t = time.perf_counter()
        smap = sources.program_sources(text, "<bench>")
        program = parse.parse(text, "<bench>")
        out.append(("parse (lark + AST)", time.perf_counter() - t))
        t = time.perf_counter()
        linked = link.link(program, smap)
        out.append(("link.link", time.perf_counter() - t))
        t = time.perf_counter()
        net = expand.expand(linked)
        out.append(("expand.expand", time.perf_counter() - t))
        t = time.perf_counter()
        shapes.infer(net)
        out.append(("shapes.infer", time.perf_counter() - t))
        t = time.perf_counter()
        layout.assign_names(net)
        out.append(("layout.assign_names", time.perf_counter() - t))
        t = time.perf_counter()
        cost.analyze(net)
        out.append(("cost.analyze", time.perf_counter() - t))
        return out
    except Exception as e:  # noqa: BLE001 - informational only
        print(f"(stage breakdown unavailable: {type(e).__name__}: {e})", file=sys.stderr)
        return None


def bench_scaling(args) -> tuple[list[dict], bool | None]:
    sys.path.insert(0, str(REPO))
    t = time.perf_counter()
    from netdsl.pipeline import front_end

    import_s = time.perf_counter() - t
    t = time.perf_counter()
    front_end(generate(UNIT_LAYERS), "<warm-up>")  # builds the (cached) parser once
    warm_s = time.perf_counter() - t
    print(f"\n== 2. Scaling: front_end(text) in-process, best of {args.best_of} ==", file=sys.stderr)

    gc_time = _GcTimer()
    rows = []
    for n in args.sizes:
        text = generate(n)
        best = None
        walls = []
        for _ in range(args.best_of):
            gc.collect()
            gc_time.reset()
            c = time.process_time()
            t = time.perf_counter()
            rep = front_end(text, f"gen{n}.net")
            wall = time.perf_counter() - t
            cpu = time.process_time() - c
            walls.append(wall)
            if best is None or wall < best["seconds"]:
                best = {"seconds": wall, "cpu_seconds": cpu, "gc_seconds": gc_time.total,
                        "gc_collections": list(gc_time.count), "counted_layers": _layers_of(rep)}
            del rep
        rows.append({"layers": n, "lines": text.count("\n"), "bytes": len(text), **best,
                     "seconds_all": [round(x, 4) for x in walls]})
        print(f"    {n:>6} layers: best {best['seconds']:.3f} s of {', '.join(f'{x:.3f}' for x in walls)}",
              file=sys.stderr)
    gc_time.close()

    by_n = {r["layers"]: r for r in rows}
    verdict_10k = by_n[10_000]["seconds"] < TARGET_10K_SECONDS if 10_000 in by_n else None
    # the linearity check: 20k / 10k, else the largest doubling available, else largest / smallest
    pair = None
    if 20_000 in by_n and 10_000 in by_n:
        pair = (10_000, 20_000)
    else:
        doubles = [(n, 2 * n) for n in by_n if 2 * n in by_n]
        if doubles:
            pair = max(doubles)
        elif len(rows) >= 2:
            pair = (rows[0]["layers"], rows[-1]["layers"])
    lin = None
    if pair:
        lo, hi = pair
        ratio = by_n[hi]["seconds"] / by_n[lo]["seconds"]
        expected = hi / lo
        lin = {"lo": lo, "hi": hi, "ratio": ratio, "expected": expected, "ok": ratio <= expected * LINEAR_TOLERANCE}

    print()
    print(f"Scaling -- netdsl.pipeline.front_end(text) in-process, best of {args.best_of}; target: 10k layers "
          f"< {TARGET_10K_SECONDS:g} s, linear growth")
    print(f"(import netdsl.pipeline {import_s:.3f} s and first call incl. parser construction {warm_s:.3f} s, "
          "both excluded)")
    head = (f"{'layers':>7} {'lines':>6} {'KB':>6} {'best s':>8} {'cpu s':>7} {'gc s':>6} {'us/layer':>9} "
            f"{'x prev':>7} {'x expected':>10}")
    print(head)
    print("-" * len(head))
    prev = None
    for r in rows:
        xp = xe = ""
        if prev:
            xp = f"{r['seconds'] / prev['seconds']:.2f}"
            xe = f"{r['layers'] / prev['layers']:.2f}"
        counted = "" if r["counted_layers"] in (None, r["layers"]) else f"  (netdsl counted {r['counted_layers']})"
        print(f"{r['layers']:>7} {r['lines']:>6} {r['bytes'] / 1024:>6.0f} {r['seconds']:>8.3f} "
              f"{r['cpu_seconds']:>7.3f} {r['gc_seconds']:>6.3f} {r['seconds'] / r['layers'] * 1e6:>9.1f} "
              f"{xp:>7} {xe:>10}{counted}")
        prev = r
    print()
    if verdict_10k is None:
        print("10k layers < 2 s: not measured (10000 not among --sizes)")
    else:
        print(f"10k layers: {by_n[10_000]['seconds']:.3f} s (target < {TARGET_10K_SECONDS:g} s) -> "
              f"{'PASS' if verdict_10k else 'FAIL'}")
    if lin:
        print(f"linearity: time({lin['hi']}) / time({lin['lo']}) = {lin['ratio']:.2f} (linear = {lin['expected']:.2f},"
              f" accepted <= {lin['expected'] * LINEAR_TOLERANCE:.2f}) -> {'PASS' if lin['ok'] else 'FAIL'}")

    stages = None
    if not args.no_stages and rows:
        n = 10_000 if 10_000 in by_n else rows[-1]["layers"]
        gc.collect()
        stages = stage_breakdown(generate(n))
        if stages:
            total = sum(s for _, s in stages)
            print(f"stage breakdown, {n} layers (one run): " +
                  ", ".join(f"{name} {s:.3f} s ({s / total:.0%})" for name, s in stages))
    ok = [v for v in (verdict_10k, lin["ok"] if lin else None) if v is not None]
    verdict = all(ok) if ok else None
    print(f"Scaling verdict: {'n/a' if verdict is None else 'PASS' if verdict else 'FAIL'}")
    return [{"rows": rows, "ten_k_ok": verdict_10k, "linearity": lin,
             "stages": stages and [{"stage": a, "seconds": b} for a, b in stages]}], verdict


# ------------------------------------------------------------------------------ large inputs
#
# The sizes of issue 11, each in a fresh process (`python -c LARGE_CHILD JOB N`): wall time from
# spawn to exit, and the peak RSS of that process. Pairs of sizes give the growth factor. The
# "analysis" rows run `pipeline.front_end` (parse to cost); the "command" rows run `netdsl check`
# on a file, which also makes the training-memory estimate and prints the report.

TARGET_100K_SECONDS, TARGET_100K_MB = 5.0, 300  # `check` of 100k written-out layers
TARGET_LINE_SECONDS = 6.0  # the 1 MB line of 60k convolutions
TARGET_200K_SECONDS = 10.0

LARGE_CHILD = r'''
import json, os, sys, time
sys.path.insert(0, sys.argv[3])
import bench_check as B
from netdsl.limits import Limits
from netdsl.pipeline import front_end, generate
job, n = sys.argv[1], int(sys.argv[2])
text = (B.generate(n) if job != "line" else
        "input 16x8x8\n" + " > ".join(["conv 3x3 p1 x16"] * n) + "\n")
limits = Limits(max_layers=max(200_000, 2 * n))
if job == "meta-load":  # imported before the clock starts
    import torch
    from netdsl import runtime
t = time.perf_counter()
report = front_end(text, f"large{n}.net", limits=limits)
if job == "compile":
    generate(report)
elif job == "meta-load":
    runtime.build_module(report, device=torch.device("meta"))
print(json.dumps({"seconds": time.perf_counter() - t, "bytes": len(text), "layers": report.total.layers}),
      flush=True)
os._exit(0)  # as the `netdsl` command ends (cli.console): what was built is not freed object by object
'''

# (label, job, sizes): the first size is the base of the growth factor
LARGE = (
    ("written-out layers, analysis", "check", (10_000, 100_000)),
    ("one 1 MB line of convs, analysis", "line", (30_000, 60_000)),
    ("written-out layers, analysis", "check", (200_000,)),
    ("written-out layers, compile", "compile", (12_500, 25_000)),
    ("written-out layers, load on meta", "meta-load", (12_500, 25_000)),
    # the whole command as a user runs it: the analysis above, then the training-memory estimate
    # and the report (45,460 rows at depth 2 for 100k layers), written to a file
    ("`netdsl check FILE`, whole command", "command", (100_000,)),
    ("`netdsl check FILE --json`", "command-json", (100_000,)),
)


def bench_large(args) -> tuple[list[dict], bool | None]:
    print("\n== 3. Large inputs: one fresh process per size ==", file=sys.stderr)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rows = []
    for label, job, sizes in LARGE:
        if job == "meta-load" and importlib.util.find_spec("torch") is None:
            continue
        base = None
        for n in sizes:
            if job.startswith("command"):
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / f"large{n}.net"
                    path.write_text(generate(n))
                    run = run_process([sys.executable, "-m", "netdsl", "check", str(path), "--max-layers", str(2 * n),
                                       *(["--json"] if job == "command-json" else [])], env, args.timeout)
                    doc = {"bytes": path.stat().st_size}
            else:
                run = run_process([sys.executable, "-c", LARGE_CHILD, job, str(n), str(REPO / "benchmarks")], env,
                                  args.timeout)
                doc = last_json_line(run.out) or {}
            row = {"input": label, "job": job, "n": n, "rc": run.rc, "wall_s": run.wall, "peak_mb": run.peak / 2**20,
                   "front_s": doc.get("seconds"), "bytes": doc.get("bytes")}
            if base is not None and run.rc == 0 and base["rc"] == 0:
                row["growth"] = run.wall / base["wall_s"]
                row["size_factor"] = n / base["n"]
            base = base or row
            rows.append(row)
            print(f"    {job} {n}: {run.wall:.2f} s, {row['peak_mb']:.0f} MB" + ("" if run.rc == 0 else
                  f" (exit {run.rc}: {run.err.strip().splitlines()[-1:]})"), file=sys.stderr)
    print()
    print("Large inputs -- wall time of a fresh process (start and imports included), peak RSS")
    head = f"{'input':<34} {'n':>8} {'MB in':>6} {'wall s':>8} {'in-process s':>12} {'peak MB':>8} {'growth':>14}"
    print(head)
    print("-" * len(head))
    for r in rows:
        growth = f"{r['growth']:.2f} for x{r['size_factor']:g}" if "growth" in r else ""
        front = f"{r['front_s']:.2f}" if r["front_s"] is not None else "-" if r["rc"] == 0 else "failed"
        size = f"{r['bytes'] / 1e6:.2f}" if r["bytes"] else "?"
        print(f"{r['input']:<34} {r['n']:>8} {size:>6} {r['wall_s']:>8.2f} {front:>12} {r['peak_mb']:>8.0f} "
              f"{growth:>14}")
    by = {(r["job"], r["n"]): r for r in rows}
    checks = []
    if ("check", 100_000) in by:
        r = by[("check", 100_000)]
        checks.append(("analysis of 100k layers < 5 s and < 300 MB", r["wall_s"] < TARGET_100K_SECONDS and
                       r["peak_mb"] < TARGET_100K_MB))
    if ("command", 100_000) in by:  # the figure for `check`, as a user runs it
        r = by[("command", 100_000)]
        checks.append(("`netdsl check` of 100k layers < 5 s and < 300 MB", r["wall_s"] < TARGET_100K_SECONDS and
                       r["peak_mb"] < TARGET_100K_MB))
    if ("line", 60_000) in by:
        checks.append(("60k-conv line < 6 s", by[("line", 60_000)]["wall_s"] < TARGET_LINE_SECONDS))
    if ("check", 200_000) in by:
        checks.append(("200k layers < 10 s", by[("check", 200_000)]["wall_s"] < TARGET_200K_SECONDS))
    for r in rows:
        if "growth" in r:
            checks.append((f"{r['job']} linear ({r['n']:,})", r["growth"] <= r["size_factor"] * LINEAR_TOLERANCE))
    for name, ok in checks:
        print(f"{name}: {'PASS' if ok else 'FAIL'}")
    verdict = all(ok for _, ok in checks) if checks else None
    print(f"Large-input verdict: {'n/a' if verdict is None else 'PASS' if verdict else 'FAIL'}")
    return rows, verdict


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Prints two tables with PASS/FAIL; see benchmarks/README.md.")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 run per tool, no warm-up, sizes 1k/5k/10k, best of 1")
    p.add_argument("--repeats", type=int, help="fresh processes per tool (default 5; --quick 1)")
    p.add_argument("--best-of", type=int, help="in-process runs per size (default 3; --quick 1)")
    p.add_argument("--sizes", type=lambda s: tuple(int(x) for x in s.split(",")),
                   help="comma-separated layer counts (default 1000,2000,5000,10000,20000)")
    p.add_argument("--tools", type=lambda s: set(s.split(",")),
                   help="comma-separated subset of baselines: " + ",".join(b[0] for b in BASELINES))
    p.add_argument("--only", choices=["resnet152", "scaling", "large"], help="run one of the benchmarks")
    p.add_argument("--no-warmup", dest="warmup", action="store_false", default=None,
                   help="do not run each tool once untimed first")
    p.add_argument("--no-floors", action="store_true", help="skip the reference rows (python start, torch+build)")
    p.add_argument("--no-stages", action="store_true", help="skip the per-stage breakdown of the scaling run")
    p.add_argument("--warm-bytecode", action="store_true",
                   help="run all children with bytecode caching on (private PYTHONPYCACHEPREFIX; implies warm-up)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="OMP_NUM_THREADS for the child processes (default 1: stable under load; 0 = torch's default)")
    p.add_argument("--builtin-resnet", action="store_true",
                   help="use the benchmark's own ResNet-152 instead of tests/reference/core.py")
    p.add_argument("--timeout", type=float, default=300, help="seconds per process (default 300)")
    p.add_argument("--json-out", metavar="PATH", help="also write all measurements as JSON")
    p.add_argument("--strict", action="store_true", help="exit status 1 when a target is missed")
    args = p.parse_args(argv)

    args.repeats = args.repeats or (1 if args.quick else 5)
    args.best_of = args.best_of or (1 if args.quick else 3)
    args.sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    if args.warmup is None:
        args.warmup = not args.quick
    if args.warm_bytecode:
        args.warmup = True
    if args.repeats < 1 or args.best_of < 1 or any(n < 1 for n in args.sizes):
        p.error("--repeats, --best-of and --sizes must be positive")
    if args.tools and not args.tools <= {b[0] for b in BASELINES}:
        p.error(f"--tools: unknown {sorted(args.tools - {b[0] for b in BASELINES})}")

    print(f"netdsl benchmark: Python {platform.python_version()} on {platform.platform()}, "
          f"{os.cpu_count()} CPUs; {'quick' if args.quick else 'full'} run")
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not args.warm_bytecode:
        print("note: PYTHONDONTWRITEBYTECODE is set: an editable netdsl recompiles its modules on every start "
              "(try --warm-bytecode)")
    if shutil.which("netdsl") and Path(shutil.which("netdsl")).resolve() != Path(netdsl_argv()[1]).resolve():
        print(f"note: `netdsl` on PATH is {shutil.which('netdsl')} (a shim?); timing {netdsl_argv()[1]} directly")

    results: dict = {"args": {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(args).items()}}
    verdicts = []
    if args.only in (None, "resnet152"):
        rows, v = bench_resnet152(args)
        results["resnet152"] = rows
        verdicts.append(v)
    if args.only in (None, "scaling"):
        rows, v = bench_scaling(args)
        results["scaling"] = rows[0]
        verdicts.append(v)
    if args.only == "large" or (args.only is None and not args.quick):
        rows, v = bench_large(args)
        results["large"] = rows
        verdicts.append(v)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1) + "\n")
    failed = any(v is False for v in verdicts)
    print(f"\noverall: {'FAIL' if failed else 'PASS' if any(v for v in verdicts) else 'n/a'}")
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
