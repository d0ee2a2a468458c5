"""Differential fuzz of the whole pipeline: random small programs, valid or not, go through
check -> compile -> load -> forward. Each either runs to the end or stops with a located
`NetdslError`; any other exception (a NameError in generated code, a torch error at load or in the
forward, a Python error in a pass) is a bug: what `check` accepts must build and run.

The programs mix layers with random (sometimes absurd) arguments, blocks, repeats, a define, named
stages and references to them, and train-only `aux` outputs; the network, the define, its parameter, the
stages and the aux outputs are often named as generated code names its own things (`x`, `Join`,
`DropPath`, `drop_path_mean`, `sample_columns`, a define parameter named like the network, `aux main`).
A second generator writes programs that are mostly valid (sane sizes, every op of the registry
that takes a 4-D input), and holds what `check` reports against torch itself: the parameters
against the module's, the multiply-adds against `FlopCounterMode`, and a training step runs.

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


# ------------------------------------------------------------------ mostly valid programs, costed by torch

SOUND_LAYERS = (
    "conv {k}x{k} p{p} x{c}", "{k}x{k}:{c}", "{k}x{k}/2:{c}", "conv 3x3 p1 x{c} groups={g}",
    "conv 3x3 p2 x{c} dilation=2",
    "conv 1x1 x{c} bias=false bn act=relu", "conv 1x1 ratio=2", "conv 1x3 padding=0x1 x{c}", "dw 3x3 p1",
    "dw 3x3/2 p1 bn act=relu6", "dw 5x5 p2 multiplier=2", "pool 3x3/2 p1", "pool 2x2/2 ceil",
    "avgpool 3x3/1 p1 count_include_pad=false", "avgpool 2x2/2", "adaptive_avgpool 3x3", "adaptive_maxpool 2x2", "bn",
    "lrn 5", "groupnorm {g}", "relu", "relu6", "sigmoid", "tanh", "leaky_relu 0.1", "elu", "gelu", "silu", "hardswish",
    "hardsigmoid", "mish", "softmax", "id", "prelu", "dropout 0.2", "dropout2d 0.1", "channel_shuffle {g}",
    "layerscale", "pad sides=0x1x0x1", "crop 1x1", "subsample 2", "pad_channels 2", "slice 0 2", "blk({c})",
    "blk({c}, s=2)",
)
SOUND_BLOCKS = (
    "residual<{L} > {L}>", "residual<3x3:{c} > bn > relu>", "add<{L} | {L}>", "concat<id | {L}>",
    "concat<{L} | {L} | {L}>", "mean<{L} | id>", "mul<id | gap > 1x1:4 > relu > 1x1:{c} > sigmoid>", "seq<{L} > {L}>",
    "inception<1x1:{c} | 1x1:4 > 3x3:{c} | pool 3x3/1 p1 > 1x1:{c}>", "({L}) x{n}", "{L} *{n}",
    "residual(droppath=0.1)<{L}>", "join(droppath=0.1)<{L} | {L} > {L}>",
)
SOUND_HEADS = ("gap > flatten > linear 10", "flatten > linear 7 > relu > dropout 0.5 > linear 3",
               "gmp > flatten > linear 5 bn act=relu", "gap > flatten > linear 10 > log_softmax",
               "gap > flatten > bn > linear 4")
SOUND_DEFINES = ("define blk(c, s=1) = 3x3/s:c > bn > relu",
                 "define blk(c, s=1) = residual<3x3/s:c > bn > relu > 3x3:c > bn> > relu",
                 "define blk(c, s=1) = conv 1x1 out=(2*c) bn act=relu > dw 3x3/s p1 > conv 1x1 out=c",
                 "define blk(c, s=1) = if s == 1 then residual<1x1:c > relu> else 3x3/s:c")
SOUND_SIZES = {"k": (1, 3, 5), "c": (4, 8, 16), "g": (1, 2, 4), "p": (0, 1, 2), "n": (1, 2, 3)}


def _sound_item(rnd, depth: int = 0) -> str:
    pool = SOUND_LAYERS if depth >= 2 or rnd.random() < 0.65 else SOUND_BLOCKS

    def value(m):
        key = m.group(1)
        return _sound_item(rnd, depth + 1) if key == "L" else str(rnd.choice(SOUND_SIZES[key]))

    return re.sub(r"\{(\w)\}", value, rnd.choice(pool))


def sound_program(rnd) -> str:
    c, h = rnd.choice([(3, 32), (4, 16), (8, 24), (3, 17)])
    lines = [f"input {c}x{h}x{h}"]
    if rnd.random() < 0.3:
        lines.append(rnd.choice(["defaults conv bias=false", "defaults conv bn act=relu", "defaults bn eps=1e-3"]))
    lines.append(rnd.choice(SOUND_DEFINES))
    for i in range(rnd.randint(1, 4)):
        chain = " > ".join(_sound_item(rnd) for _ in range(rnd.randint(1, 3)))
        lines.append(f"s{i} = {chain}" if rnd.random() < 0.4 else chain)
    if rnd.random() < 0.2:
        lines.append("aux side = gap > flatten > linear 3")
    if rnd.random() < 0.7:
        lines.append(rnd.choice(SOUND_HEADS))
    return "\n".join(lines) + "\n"


COSTED: dict[str, int] = {}


@pytest.mark.skipif(_torch is None, reason="needs torch")
@settings(max_examples=60, **FUZZ)
@given(st.randoms(use_true_random=False))
def test_random_programs_cost_what_torch_counts(rnd):
    """Parameters as the module holds them (train-only heads included), multiply-adds as
    FlopCounterMode counts conv and linear (2 FLOPs each), and one training step."""
    from torch.utils.flop_counter import FlopCounterMode

    text = sound_program(rnd)
    try:
        report = netdsl.checks(text, name="fuzz.net")
    except NetdslError as e:
        assert re.match(r"^fuzz\.net:\d+:\d+: error: ", str(e)), str(e)
        COSTED["error"] = COSTED.get("error", 0) + 1
        return
    _torch.manual_seed(0)
    model = netdsl.loads(text, name="fuzz.net", device="cpu")
    params = report.total.params + sum(t.params for t in report.aux.values())
    assert sum(p.numel() for p in model.parameters()) == params, text
    x = _torch.randn(2, *report.net.input_shape)
    model.eval()
    with _torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    assert counter.get_total_flops() == 2 * 2 * report.total.macs, text  # batch 2, 2 FLOPs per multiply-add
    model.train()
    out = model(x)
    loss = sum(o.float().sum() for o in (out if isinstance(out, tuple) else (out,)))
    if loss.requires_grad:
        loss.backward()
    COSTED["costed"] = COSTED.get("costed", 0) + 1


def test_the_costed_fuzz_reaches_the_end():
    if not COSTED:
        pytest.skip("run with the fuzz test above")
    assert COSTED.get("costed", 0) >= 20, COSTED
