"""The stages after the parse are linear in the size of the network (issue 11), pinned without a
clock: the number of Python function calls each pass makes, and the memory it keeps, per layer, at
two sizes. A pass that rescans what it has built (a quadratic lookup, a copy per node) doubles its
count per layer when the network doubles. (benchmarks/bench_check.py measures the time.)"""

from __future__ import annotations

import sys
import tracemalloc

from netdsl import cost, expand, layout, link, parse, shapes, sources
from netdsl.ir import deep_recursion, gc_paused
from netdsl.limits import Limits
from netdsl.pipeline import front_end, generate

# calls(2n) / calls(n): linear is 2 (a fixed part makes it a little less); quadratic would be 4
LINEAR = 2.1


def written_out(n_layers: int) -> str:
    """Every layer written out, as benchmarks/bench_check.py's `generate`: lines of conv; bn; relu
    (3 layers) and residual blocks (8 layers), topped up with relu."""
    lines = [f"network lin{n_layers}", "input 16x8x8"]
    made = 0
    while made + 11 <= n_layers:
        lines.append("conv 3x3 p1 x16; bn; relu")
        lines.append("residual<conv 3x3 p1 x16 > bn > relu > conv 3x3 p1 x16 > bn> > relu")
        made += 11
    lines += ["relu"] * (n_layers - made)
    return "\n".join(lines) + "\n"


def _calls(fn) -> int:
    """Python function calls made by fn() (C functions not counted)."""
    count = 0

    def prof(frame, event, arg):
        nonlocal count
        if event == "call":
            count += 1

    old = sys.getprofile()
    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(old)
    return count


def _post_parse(text: str):
    """The front end's stages after the parse, each as a thunk over one shared state."""
    smap = sources.program_sources(text, "<lin>")
    limits = Limits()
    prog = parse.parse(text, "<lin>")
    state: dict = {}

    def run():
        with gc_paused(), deep_recursion():
            linked = link.link(prog, smap, None, limits)
            net = expand.expand(linked, None, limits)
            shapes.infer(net)
            layout.assign_names(net)
            state["report"] = cost.analyze(net)

    return run, state


def test_post_parse_calls_are_linear():
    per_layer = {}
    for n in (1_100, 2_200):
        run, state = _post_parse(written_out(n))
        per_layer[n] = _calls(run)
        assert state["report"].total.layers == n
    assert per_layer[2_200] / per_layer[1_100] < LINEAR, per_layer


def test_post_parse_memory_is_linear_and_small():
    kept = {}
    for n in (1_100, 2_200):
        run, state = _post_parse(written_out(n))
        tracemalloc.start()
        try:
            run()
            kept[n], _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert kept[2_200] / kept[1_100] < LINEAR, kept
    # the IR of a layer: its attribute dict, arguments, shapes and names (no per-node graph
    # containers besides: the successors are indexed only when a back end asks)
    assert kept[2_200] / 2_200 < 1_500, kept


def test_compile_calls_are_linear():
    counts = {}
    for n in (550, 1_100):
        report = front_end(written_out(n), f"lin{n}.net")
        counts[n] = _calls(lambda report=report: generate(report))
    assert counts[1_100] / counts[550] < LINEAR, counts


def test_compile_of_a_long_run_is_linear():
    """Issue 11, class 5: a stage of thousands of identical layers, or of a repeating pattern."""
    for body in ("s1 = (conv 3x3 p1 x8) * {n}",
                 "s1 = (conv 3x3 p1 x8 > conv 1x1 x8 > relu) * {n}",
                 "define b(c) = conv 3x3 p1 out=c > relu\ns1 = (b(8 + i % 3)) * {n} as i"):
        counts = {}
        for n in (300, 600):
            report = front_end("input 8x8x8\n" + body.format(n=n) + "\n", "run.net")
            counts[n] = _calls(lambda report=report: generate(report))
        assert counts[600] / counts[300] < LINEAR, (body, counts)
