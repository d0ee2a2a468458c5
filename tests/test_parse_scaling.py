"""The parse stays linear in the size of its input (issue 11), pinned without timing: the LALR
stack stays as deep for a long chain, block, statement list or argument list as for a short one,
the number of reductions grows by the same amount per item, and the parse's memory peak per layer
does not grow with the number of layers. Also: the optional accelerator (lark-cython) gives the
same ASTs and errors as the plain parser."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from netdsl import parse as P
from netdsl import reductions as R
from netdsl.errors import NetdslError

ROOT = Path(__file__).resolve().parent.parent

# (name, text of n items): each repeats one construct n times
SHAPES = [
    ("chain", lambda n: "input 3x8x8\n" + " > ".join(["conv 3x3 p1 x16"] * n)),
    ("block chain", lambda n: "input 3x8x8\nseq<" + " > ".join(["relu"] * n) + ">"),
    ("block branches", lambda n: "input 3x8x8\ncat<" + " | ".join(["3x3:4"] * n) + ">"),
    ("lines", lambda n: "input 3x8x8\n" + "conv 3x3 p1 x16; bn\n" * n),
    ("arguments", lambda n: "input 3x8x8\nconv 3x3" + " x16" * n),
    ("freeze list", lambda n: "input 3x8x8\nrelu\nfreeze " + ", ".join(["a.1"] * n)),
    ("call arguments", lambda n: "input 3x8x8\nf(" + ", ".join(["1"] * n) + ")"),
]


def _run(text: str, callbacks=None) -> int:
    """Parse with the plain parser, step by step; the deepest the LALR value stack gets."""
    parser = P._parser()
    lalr = parser.parser.parser.parser
    saved = lalr.callbacks
    deepest = 0
    with P._PARSING:
        R.BUILDER.start_file("<test>")
        try:
            if callbacks is not None:
                lalr.callbacks = callbacks
            ip = parser.parse_interactive(P.blank_comments(text))
            stack = ip.parser_state.value_stack
            for _ in ip.iter_parse():
                deepest = max(deepest, len(stack))
            ip.feed_eof()
        finally:
            lalr.callbacks = saved
            R.BUILDER.start_file(None)
    return deepest


@pytest.mark.parametrize("name,make", SHAPES, ids=[s[0] for s in SHAPES])
def test_stack_depth_does_not_grow(name, make):
    assert _run(make(2000)) == _run(make(20)), f"{name}: the LALR stack grows with the input"


@pytest.mark.parametrize("name,make", SHAPES, ids=[s[0] for s in SHAPES])
def test_reductions_per_item_are_constant(name, make):
    lalr = P._parser().parser.parser.parser
    counts = []
    for n in (100, 200, 300):
        calls = [0]

        def counting(f, calls=calls):
            def g(s):
                calls[0] += 1
                return f(s)

            return g

        _run(make(n), {rule: counting(f) for rule, f in lalr.callbacks.items()})
        counts.append(calls[0])
    assert counts[2] - counts[1] == counts[1] - counts[0], f"{name}: {counts}"


def _peak(text: str) -> int:
    tracemalloc.start()
    try:
        P.parse(text)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name,make", SHAPES[:4], ids=[s[0] for s in SHAPES[:4]])
def test_memory_per_item_does_not_grow(name, make, monkeypatch):
    monkeypatch.setattr(P, "_ACCELERATE_FROM", 0)  # one parser for both sizes (lark-cython's when installed)
    P.parse(make(1))  # the parser built before measuring
    small, large = _peak(make(1000)), _peak(make(4000))
    assert large < 4.6 * small, f"{name}: peak {small} bytes for 1000 items, {large} for 4000"


def _outcome(text: str, file: str):
    try:
        return repr(P.parse(text, file))
    except NetdslError as e:
        return ("error", e.message, e.span, e.expected, e.found, e.hint, type(e).__name__)


def test_accelerator_gives_the_same_results(monkeypatch):
    pytest.importorskip("lark_cython")
    if P._accelerated() is None:
        pytest.skip("lark-cython is installed but does not load with this Lark")
    texts = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in sorted(ROOT.glob("networks/*.net"))]
    texts += [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8"))
              for p in sorted((ROOT / "tests" / "fixtures").rglob("*.net"))]
    texts += [(name, make(50)) for name, make in SHAPES]
    texts += [("<multi-line>", "input 3x8x8\nres<conv 3x3 x8\n  > relu |\n id>\n> f(1,\n 2)\n")]
    texts += _mutants([t for _, t in texts[:90]], 1500)
    monkeypatch.setattr(P, "_ACCELERATE_FROM", 0)
    fast = [_outcome(t, f) for f, t in texts]
    monkeypatch.setattr(P, "_accelerated", lambda: None)
    plain = [_outcome(t, f) for f, t in texts]
    assert fast == plain


_PIECES = [">", "<", "|", "(", ")", "{", "}", ";", "\n", ",", "=", ":", "/", "*", "x3", "3x3", "p1", "relu", "define",
           "then", "else", "@a", '"s"', "...", "1.5", "#c\n", "residual<", "if", "-", "+", "\x07", "@ a"]


def _mutants(sources: list[str], n: int) -> list[tuple[str, str]]:
    """Zoo files with one to three insertions or deletions: mostly syntax errors, at every kind of
    parser state (the accelerator reports them from its own state, see `parse._accepts`)."""
    import random

    rng = random.Random(11)
    out = []
    for k in range(n):
        t = rng.choice(sources)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(t) + 1)
            op = rng.random()
            if op < 0.4:
                t = t[:i] + rng.choice(_PIECES) + t[i:]
            elif op < 0.8:
                t = t[:i] + t[i + rng.randint(1, 6):]
            else:
                t = t[:i] + " " + rng.choice(_PIECES) + " " + t[i:]
        out.append((f"<mutant {k}>", t))
    return out


def test_a_syntax_error_in_a_large_file_is_read_once(monkeypatch):
    """The accelerator's own state gives the message: the plain parser does not read the file again."""
    pytest.importorskip("lark_cython")
    if P._accelerated() is None:
        pytest.skip("lark-cython is installed but does not load with this Lark")
    text = "input 3x8x8\n" + "relu > relu\n" * 6000 + "relu >> relu\n"
    assert len(text) > P._ACCELERATE_FROM

    def no_second_read(*args, **kw):
        raise AssertionError("the plain parser read the file again")

    monkeypatch.setattr(P._parser(), "parse", no_second_read)
    with pytest.raises(NetdslError) as e:
        P.parse(text, "big.net")
    assert (e.value.message, e.value.span.line, e.value.span.col) == ("unexpected `>`", 6002, 7)


def test_written_out_reductions_build_what_the_rules_methods_build(monkeypatch):
    """`reductions._fast` writes out the reductions of the common rules; each must build exactly the node
    (spans included) that the rule's `_ToAst` method builds through `_generic` and `_positions`."""
    real_fast = R._fast

    def without_written_out(b):  # keep only what has no method (lists, separators, pass-throughs)
        return {key: f for key, f in real_fast(b).items() if getattr(b, key[0], None) is None}

    texts = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in sorted(ROOT.glob("networks/*.net"))]
    texts += [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8"))
              for p in sorted((ROOT / "tests" / "fixtures").rglob("*.net"))]
    texts += [("<kw>", "input 3x8x8\ndefaults conv eps=1e-3 k=(1+2) act=relu\nf(1, (2), x=3.5, y=(4*2)) > (relu)\n")]
    texts += _mutants([t for _, t in texts[:90]], 300)
    monkeypatch.setattr(P, "_ACCELERATE_FROM", 10**12)
    fast = [_outcome(t, f) for f, t in texts]
    P._parser.cache_clear()
    monkeypatch.setattr(R, "_fast", without_written_out)
    try:
        generic = [_outcome(t, f) for f, t in texts]
    finally:
        P._parser.cache_clear()  # the next parse builds the parser with the written-out reductions again
    assert fast == generic
