"""Fuzzing the front end: nothing but a located NetdslError (or a valid network) ever comes out.

(a) random token streams of the language mixed with junk characters; (b) random mutations of
every zoo file (each checked in under 2 s); (c) random *valid* small networks, whose inferred
shapes follow an independent model; with the PyTorch back end, the JSON totals of some of them
equal what torch counts (parameters of the module built on the meta device, FlopCounterMode's
FLOPs), and some run forward with hooks comparing every layer's output shape and the parameter
count with `netdsl check`.

Hypothesis runs derandomized (the same examples on every run and machine) and with no example
database, so CI is reproducible; the whole file takes well under a minute on two cores.
"""

from __future__ import annotations

import importlib
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdsl import report as R
from netdsl.errors import NetdslError, UsageError
from netdsl.limits import Limits
from netdsl.pipeline import front_end

try:  # tests/ on sys.path (rootdir-relative import) or tests/ as a package
    from zoo import COURSE
except ImportError:
    from tests.zoo import COURSE

ROOT = Path(__file__).resolve().parent.parent
ZOO = [ROOT / "networks" / f"{n}.net" for n in COURSE]

FUZZ = dict(deadline=None, derandomize=True, database=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def outcome(text: str, name: str = "fuzz.net", limits: Limits | None = None):
    """The report of a valid network, or the NetdslError; anything else propagates (a bug)."""
    try:
        return front_end(text, name, limits=limits or Limits(max_layers=20_000))
    except NetdslError as e:
        for item in e.errors:  # every error is located and renders without failing
            assert item.span is not None, f"error without a location: {item.message}"
            assert item.span.line >= 1 and item.span.col >= 1
        rendered = str(e)
        assert re.match(r"^[^\n]+:\d+:\d+: error: ", rendered), rendered
        assert "Traceback" not in rendered and "__ANON" not in rendered and "$END" not in rendered
        return e
    except UsageError as e:  # text can only cause located errors, never usage errors
        raise AssertionError(f"usage error from .net text: {e}") from e


# ------------------------------------------------------------------ (a) random token streams

WORDS = (
    "network input defaults define if then else include extends freeze except init aux replace and or not "
    "conv pool maxpool avgpool gap gmp relu relu6 sigmoid tanh gelu bn lrn dropout dropout2d flatten linear fc "
    "dw prelu softmax residual inception concat add mul mean seq id identity pad crop droppath adaptive_avgpool "
    "a b c n s x classes bias act groups dilation stride padding out num p ceil true false same kaiming "
    "0 1 2 3 7 16 64 1000 1000000 3x3 1x1 5x5 0x3 3x224x224 3x16x16 1x7 1x1x1x1 x64 x3 x0 x1000 p1 p0 p3 "
    '0.5 1e-4 1.0 .5 "nope.net" "same" "." '
    "> < | ; = ( ) { } : / * , . + - // % == != <= >= #"
).split()
TOKEN = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(["\n", "\r\n", "\t", " ", ";", "\n> ", "\n| "]),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=3),
)
STREAM = st.lists(TOKEN, min_size=1, max_size=40).flatmap(
    lambda toks: st.lists(st.sampled_from([" ", "", "\n"]), min_size=len(toks), max_size=len(toks)).map(
        lambda seps: "".join(t + s for t, s in zip(toks, seps, strict=True))))


@settings(max_examples=400, **FUZZ)
@given(STREAM)
def test_random_token_streams(text):
    outcome(text)


@settings(max_examples=400, **FUZZ)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join), st.booleans())
def test_random_statements_with_a_valid_prefix(body, chain):
    """Valid context first (input, a define, a stage), so that the fuzz reaches expansion and shapes."""
    head = "input 3x16x16\ndefine blk(c, s=1) = 3x3/s:c > relu\nstem = 3x3:8\n"
    outcome(head + ("stem > " if chain else "") + body + "\n")


# ------------------------------------------------------------------ (b) mutations of the zoo

_PIECES = re.compile(r"\s+|[A-Za-z_][A-Za-z0-9_]*|[0-9]+(?:x[0-9]+)*|.", re.S)
MUTATION = st.tuples(st.sampled_from(["delete", "duplicate", "swap", "insert", "char_delete", "char_insert"]),
                     st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True),
                     st.sampled_from(WORDS + ["\n", " "]), st.characters(exclude_categories=("Cs",)))


def mutate(text: str, mutations) -> str:
    pieces = _PIECES.findall(text)
    for kind, f, g, word, ch in mutations:
        if kind.startswith("char_"):
            s = "".join(pieces)
            i = int(f * (len(s) + 1))
            s = s[:i] + s[i + 1:] if kind == "char_delete" else s[:i] + ch + s[i:]
            pieces = _PIECES.findall(s)
            continue
        i, j = int(f * len(pieces)), int(g * len(pieces))
        if kind == "delete" and pieces:
            del pieces[i]
        elif kind == "duplicate" and pieces:
            pieces.insert(i, pieces[i])
        elif kind == "swap" and pieces:
            pieces[i], pieces[j] = pieces[j], pieces[i]
        elif kind == "insert":
            pieces.insert(i, word)
    return "".join(pieces)


@pytest.mark.parametrize("path", ZOO, ids=[p.stem for p in ZOO])
@settings(max_examples=30, **FUZZ)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_zoo_mutations(path, mutations):
    text = mutate(path.read_text(encoding="utf-8"), mutations)
    t0 = time.perf_counter()
    outcome(text, path.name, Limits())  # the default limits: what a user gets
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"{elapsed:.2f} s for a mutation of {path.name}"


def test_zoo_files_are_valid():
    for path in ZOO:
        r = outcome(path.read_text(encoding="utf-8"), path.name, Limits())
        assert not isinstance(r, (NetdslError, UsageError)), f"{path.name}: {r}"


# ------------------------------------------------------------------ (c) random valid networks


def _out(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """PyTorch's output size of a convolution / pooling window (independent of netdsl.ops)."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


@st.composite
def valid_networks(draw):
    """(text, expected output shape): a chain of layers and blocks with consistent sizes."""
    c, h = draw(st.sampled_from([(3, 16), (1, 12), (4, 8), (3, 15), (2, 9)]))
    lines = [f"input {c}x{h}x{h}"]
    if draw(st.booleans()):
        lines.append("defaults conv bias=false")
    use_define = draw(st.booleans())
    if use_define:
        lines.append("define blk(c, s=1) = 3x3/s:c > bn > relu")
    channels = st.sampled_from([4, 8, 12, 16])
    steps: list[str] = []
    flat = False
    stage = 0
    for _ in range(draw(st.integers(1, 7))):
        kinds = ["linear", "act", "bn", "dropout"] if flat else [
            "conv", "short", "pool", "act", "bn", "dropout", "residual", "inception", "concat", "add", "mean",
            "mul", "seq", "repeat", "flatten", "gap"] + (["define"] * use_define)
        kind = draw(st.sampled_from(kinds))
        if kind == "conv":
            k = draw(st.sampled_from([1, 3, 5]))
            dil = draw(st.sampled_from([1, 1, 2])) if k == 3 else 1
            p = draw(st.integers(0, k // 2 * dil))
            if h + 2 * p < dil * (k - 1) + 1:
                p = (dil * (k - 1) + 1 - h + 1) // 2
            s = draw(st.sampled_from([1, 2]))
            o = draw(channels)
            g = 2 if c % 2 == 0 and o % 2 == 0 and draw(st.booleans()) else 1
            text = f"conv {k}x{k}/{s} p{p} x{o}" + (f" groups={g}" if g > 1 else "") + (
                f" dilation={dil}" if dil > 1 else "") + draw(st.sampled_from(["", " bn", " act=relu", " bn act=relu"]))
            c, h = o, _out(h, k, s, p, dil)
        elif kind == "short":
            k, s, o = draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 2])), draw(channels)
            text = f"{k}x{k}/{s}:{o}" if s > 1 else f"{k}x{k}:{o}"
            c, h = o, _out(h, k, s, k // 2)
        elif kind == "pool":
            k, s = draw(st.sampled_from([2, 3])), draw(st.sampled_from([1, 2]))
            if h < k:
                k = s = 1
            p = draw(st.integers(0, k // 2))
            ceil = draw(st.booleans()) and p == 0
            op = draw(st.sampled_from(["pool", "avgpool"]))
            text = f"{op} {k}x{k}/{s} p{p}" + (" ceil" if ceil else "")
            h = _out(h, k, s, p, 1, ceil)
        elif kind == "act":
            text = draw(st.sampled_from(["relu", "sigmoid", "tanh", "gelu", "silu", "relu6", "leaky_relu 0.1"]))
        elif kind == "bn":
            text = "bn"
        elif kind == "dropout":
            text = draw(st.sampled_from(["dropout 0.5", "dropout 0.1"] + ([] if flat else ["dropout2d 0.2"])))
        elif kind == "residual":
            s = 2 if h % 2 == 0 and h >= 2 and draw(st.booleans()) else 1
            o = draw(st.sampled_from([c, 8]))
            opt = draw(st.sampled_from(["", "(droppath=0.1)"]))
            text = f"residual{opt}<3x3/{s}:{o} > relu > 3x3:{o}>"
            c, h = o, _out(h, 3, s, 1)
        elif kind == "inception":
            a, b, d, e = (draw(channels) for _ in range(4))
            text = f"inception<1x1:{a} | 1x1:{b} > 3x3:{d} | pool 3x3/1 p1 > 1x1:{e}>"
            c = a + d + e
        elif kind == "concat":
            g = draw(channels)
            text = f"concat<id | bn > relu > 3x3:{g}>"
            c += g
        elif kind == "add":
            text = f"add<3x3:{c} | 1x1:{c}>"
        elif kind == "mean":
            text = f"mean<3x3:{c} | id>"
        elif kind == "mul":
            text = f"mul<id | gap > 1x1:{c} > sigmoid>"
        elif kind == "seq":
            o = draw(channels)
            text = f"seq<3x3:{o} > relu>"
            c = o
        elif kind == "repeat":
            n = draw(st.integers(1, 3))
            text = draw(st.sampled_from([f"conv 3x3 p1 x{c} *{n}", f"(3x3:{c} > relu) x{n}",
                                         f"residual<3x3:{c} > 3x3:{c}> x{n}"]))
        elif kind == "define":
            o, s = draw(channels), draw(st.sampled_from([1, 2]))
            text = f"blk({o}, s={s})" if s > 1 else f"blk({o})"
            c, h = o, _out(h, 3, s, 1)
        elif kind == "gap":
            text, h = "gap", 1
        elif kind == "flatten":
            text, c, flat = "flatten", c * h * h, True
        else:  # linear
            o = draw(st.sampled_from([10, 32]))
            text = f"linear {o}" + draw(st.sampled_from(["", " act=relu", " bias=false"]))
            c = o
        if draw(st.integers(0, 4)) == 0:
            stage += 1
            text = f"stage{stage} = {text}"
        steps.append(text)
    if draw(st.booleans()) and not flat:
        steps += ["gap", "flatten", "linear 10"]
        c, h, flat = 10, 1, True
    body = ""
    for i, text in enumerate(steps):
        sep = "" if i == 0 else ("\n" if "=" in text or "=" in steps[i - 1] else
                                 draw(st.sampled_from(["\n", "; ", " > "])))
        body += sep + text
    shape = (c,) if flat else (c, h, h)
    return "\n".join(lines) + "\n" + body + "\n", shape


@settings(max_examples=400, **FUZZ)
@given(valid_networks())
def test_random_valid_networks_check(case):
    text, shape = case
    rep = outcome(text, "random.net")
    assert not isinstance(rep, (NetdslError, UsageError)), f"{text}\n{rep}"
    doc = R.to_json(rep)
    assert tuple(doc["output_shape"]) == shape, text
    assert doc["flops"] == 2 * doc["macs"]


def _have_back_end() -> bool:
    """True once the PyTorch back end can be imported (netdsl.lower, and the codegen it builds on)."""
    try:
        importlib.import_module("netdsl.lower")
        importlib.import_module("netdsl.codegen")
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _have_back_end(), reason="the PyTorch back end (netdsl.lower) is not there yet")
@settings(max_examples=80, **FUZZ)
@given(valid_networks())
def test_random_valid_networks_totals_match_torch(case):
    """The JSON totals against torch (not against the rows they are summed from): the parameters
    of the module built on the meta device, and half the FLOPs FlopCounterMode counts in a forward
    of one image."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import netdsl

    text, _ = case
    doc = R.to_json(netdsl.checks(text, name="random.net"))
    model = netdsl.loads(text, device="meta", name="random.net").eval()
    assert sum(p.numel() for p in model.parameters()) == doc["params"], text
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == doc["trainable_params"], text
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, *doc["input_shape"], device="meta"))
    assert counter.get_total_flops() == 2 * doc["macs"] == doc["flops"], text


@pytest.mark.skipif(not _have_back_end(), reason="the PyTorch back end (netdsl.lower) is not there yet")
@settings(max_examples=50, **FUZZ)
@given(valid_networks())
def test_random_networks_match_forward(case):
    import torch

    import netdsl
    from netdsl import ops

    text, shape = case
    rep = netdsl.checks(text, name="random.net")
    model = netdsl.loads(text, device=None, name="random.net")
    model.eval()
    seen: dict[str, list[tuple[int, ...]]] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: seen.setdefault(name, []).append(
        tuple(out.shape[1:]))) for name, m in model.named_modules() if name]
    try:
        with torch.no_grad():
            y = model(torch.zeros(2, *rep.net.input_shape))
    finally:
        for hk in hooks:
            hk.remove()
    assert tuple(y.shape) == (2, *shape), text
    assert sum(p.numel() for p in model.parameters()) == rep.total.params, text
    for nid in rep.net.op_nodes():
        node = rep.net.node(nid)
        path = node.get("path")
        if not path or path not in seen or ops.REGISTRY[node["op"]].shared:
            continue
        assert tuple(node["shape"]) in seen[path], (path, node["shape"], seen[path], text)
    # and the values: every node evaluated independently with torch.nn.functional
    try:
        from reference import port
        from reference.functional import interpret
    except ImportError:
        from tests.reference import port
        from tests.reference.functional import interpret
    g = torch.Generator().manual_seed(1)
    port.init_weights(model, g)  # He's scale: activations keep their size (relu6 clips)
    port.randomize_batchnorm(model, g, only_batchnorm=False)
    x = torch.randn(2, *rep.net.input_shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = model(x.clone())
    want = interpret(model, rep.net, x)[rep.net.output_node]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()), msg=lambda m: f"{m}\n{text}")
