"""Differential fuzz of the whole pipeline: random small programs, valid or not, go through
check -> compile -> load -> forward. Each either runs to the end or stops with a located
`NetdslError`; any other exception (a NameError in generated code, a torch error at load or in the
forward, a Python error in a pass) is a bug: what `check` accepts must build and run.

The programs mix layers with random (sometimes absurd) arguments, blocks, repeats, a define, named
stages and references to them, and train-only `aux` outputs; the network, the define, its parameter, the
stages and the aux outputs are often named as generated code names its own things (`x`, `Join`,
`DropPath`, `drop_path_mean`, `sample_columns`, a define parameter named like the network, `aux main`).
Hypothesis runs derandomized with no example database, so the same programs are tried on every run
and machine; the whole file takes a few seconds.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netdsl
from netdsl.errors import NetdslError

FUZZ = dict(deadline=None, derandomize=True, database=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SIZES = {"k": (1, 2, 3, 5), "c": (1, 2, 4, 8, 0), "s": (1, 2), "p": (0, 1, 2), "g": (1, 2, 4), "n": (1, 2, 3),
         "f": ("0.5", "0.1", "1e-5", "0", "(-1)", "1e309", "2.5", "(0.0 / 1)")}

LAYERS = (
    "conv {k}x{k} x{c}", "{k}x{k}:{c}", "{k}x{k}/{s}:{c}", "conv {k}x{k}/{s} p{p} x{c} groups={g}",
    "conv {k}x{k} p{p} x{c} bn act=relu", "conv 1x1 ratio={f}", "dw {k}x{k}", "pool {k}x{k}/{s}",
    "avgpool {k}x{k}/{s} p{p}", "pool {k}x{k}/{s} ceil", "adaptive_avgpool {k}x{k}", "bn", "bn eps={f}", "relu",
    "gelu", "sigmoid", "leaky_relu {f}", "dropout {f}", "dropout2d 0.2", "lrn {k} alpha={f}", "gap", "flatten",
    "linear {c}", "groupnorm {g}", "layernorm eps={f}", "channel_shuffle {g}", "layerscale {f}", "prelu",
    "softmax", "id", "{D}({c})", "{D}({c}, s={s})",
)
BLOCKS = (
    "residual<{L} > {L}>", "residual(droppath={f})<{L}>", "add<{L} | {L}>", "concat<id | {L}>",
    "mean<{L} | id>", "mul<id | gap > 1x1:{c} > sigmoid>", "seq<{L} > {L}>", "inception<{L} | {L} > {L}>",
    "join(droppath=0.1)<{L} | {L} > {L}>", "join(global_droppath=0.5)<{L} | id>",
    "({L}) x{n}", "{L} *{n}", "add<{T} | {L}>", "{T} > {L}",
)


# names that generated code also uses (its input, helpers, imports, the namedtuple's field), and plain ones
NET_NAMES = ("x", "Join", "DropPath", "drop_path_mean", "sample_columns", "LayerNorm2d", "OrderedDict", "t", "net")
DEFINE_NAMES = ("blk", "Join", "DropPath", "drop_path_mean", "x", "t", "LayerNorm2d")
STAGE_NAMES = ("Join", "DropPath", "drop_path_mean", "sample_columns", "t", "main", "logits", "Outputs")
AUX_NAMES = ("main", "logits", "aux", "Join", "t")


def _fill(rnd, template: str, names: list[str], depth: int, define: str) -> str:
    def value(m):
        key = m.group(1)
        if key == "L":
            return _item(rnd, names, depth + 1, define)
        if key == "T":
            return rnd.choice(names) if names else "id"
        if key == "D":
            return define
        return str(rnd.choice(SIZES[key]))

    return re.sub(r"\{(\w)\}", value, template)


def _item(rnd, names: list[str], depth: int = 0, define: str = "blk") -> str:
    pool = LAYERS if depth >= 2 or rnd.random() < 0.6 else BLOCKS
    return _fill(rnd, rnd.choice(pool), names, depth, define)


def program(rnd) -> str:
    c, h = rnd.choice([(3, 8), (1, 6), (4, 5), (2, 9)])
    lines = []
    net = rnd.choice(NET_NAMES) if rnd.random() < 0.5 else None
    if net is not None:
        lines.append(f"network {net}")
    lines.append(f"input {c}x{h}x{h}")
    if rnd.random() < 0.3:
        lines.append(rnd.choice(["defaults conv bias=false", "defaults conv bn act=relu", "defaults bn eps=1e-3"]))
    define = rnd.choice(DEFINE_NAMES)
    p = rnd.choice(["c", "c", net or "c", "Join", "x"])  # the define's channel parameter
    lines.append(rnd.choice([f"define {define}({p}, s=1) = 3x3/s:{p} > bn > relu",
                             f"define {define}({p}, s=1) = residual<3x3/s:{p} > relu > 3x3:{p}>",
                             f"define {define}({p}, s=1) = if {p} == 0 then id else conv 1x1/s out=({p}) > relu"]))
    names: list[str] = []
    for i in range(rnd.randint(1, 5)):
        chain = " > ".join(_item(rnd, names, 0, define) for _ in range(rnd.randint(1, 3)))
        if rnd.random() < 0.4:
            name = rnd.choice(STAGE_NAMES) if rnd.random() < 0.5 else f"s{i}"
            name = name if name not in names else f"s{i}"
            lines.append(f"{name} = {chain}")
            names.append(name)
        else:
            lines.append(chain)
    if rnd.random() < 0.3:
        aux = rnd.choice(AUX_NAMES)
        if rnd.random() < 0.5 and aux not in names:
            lines.append(f"aux {aux} = gap > flatten > linear 3")
        lines.append("gap > flatten > linear 10")
    return "\n".join(lines) + "\n"


def run_everything(text: str, torch) -> str:
    """How far the program went: 'error' (a located NetdslError), 'compiled' or 'ran'."""
    try:
        report = netdsl.checks(text, name="fuzz.net")
        source = netdsl.compiles(text, name="fuzz.net")
        compile(source, "fuzz.py", "exec")  # noqa: S102 - the generated source parses as Python
        if torch is None:
            return "compiled"
        model = netdsl.loads(text, name="fuzz.net", device="cpu").eval()
        with torch.no_grad():
            out = model(torch.zeros(2, *report.net.input_shape))
        out = out[0] if isinstance(out, tuple) else out
        assert tuple(out.shape[1:]) == tuple(report.net.node(report.net.output_node)["shape"]), text
        return "ran"
    except NetdslError as e:
        assert re.match(r"^fuzz\.net:\d+:\d+: error: ", str(e)), str(e)
        return "error"


try:
    import torch as _torch
except ImportError:  # check and compile are fuzzed all the same
    _torch = None

SEEN: dict[str, int] = {}


@settings(max_examples=80, **FUZZ)
@given(st.randoms(use_true_random=False))
def test_random_programs_run_or_fail_with_a_located_error(rnd):
    outcome = run_everything(program(rnd), _torch)
    SEEN[outcome] = SEEN.get(outcome, 0) + 1


def test_the_fuzz_reaches_the_end():
    """The generator is not all errors: a fair share of the programs build and run."""
    if not SEEN:
        pytest.skip("run with the fuzz test above")
    assert SEEN.get("ran", 0) + SEEN.get("compiled", 0) >= 10, SEEN
