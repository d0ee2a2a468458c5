"""Linking (includes, extends) and the pieces the front end's stages share: each file is read and
parsed once per program, the program carries its source text, and the one expression evaluator."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import netdsl
from netdsl import ast as A
from netdsl import errors, evaluate, parse
from netdsl.errors import NetdslError, NetdslLimitError, NetdslNameError, Span
from netdsl.limits import Limits
from netdsl.pipeline import front_end_file


def _diamond(folder: Path, n: int) -> Path:
    """f0 .. f{n-1}, each including the next twice: 2^n include statements reach the last file."""
    for i in range(n):
        lines = [f'include "f{i + 1}.net"'] * 2 if i + 1 < n else []
        lines.append(f"define d{i}(c) = conv 3x3 out=c > relu")
        (folder / f"f{i}.net").write_text("\n".join(lines) + "\n")
    main = folder / "main.net"
    main.write_text(f'include "f0.net"\ninput 3x8x8\nd0(4) > d{n - 1}(8)\n')
    return main


def test_include_diamond_reads_and_parses_each_file_once(tmp_path, monkeypatch):
    main = _diamond(tmp_path, 16)
    reads: Counter[str] = Counter()
    parses: Counter[str] = Counter()
    read_bytes = Path.read_bytes
    real_parse = parse.parse

    def counting_read(self):
        reads[Path(self).name] += 1
        return read_bytes(self)

    def counting_parse(text, file="<string>", max_items=None):
        parses[Path(file).name] += 1
        return real_parse(text, file, max_items)

    monkeypatch.setattr(Path, "read_bytes", counting_read)
    monkeypatch.setattr(parse, "parse", counting_parse)
    r = front_end_file(main)
    names = ["main.net"] + [f"f{i}.net" for i in range(16)]
    assert dict(reads) == dict.fromkeys(names, 1)
    assert dict(parses) == dict.fromkeys(names, 1)
    assert r.total.params == (3 * 4 * 9 + 4) + (4 * 8 * 9 + 8)
    assert set(r.net.sources) == {str(tmp_path / n) for n in names}


def test_include_nesting_limit_holds_for_a_file_met_shallow_first(tmp_path):
    # x.net is first included at depth 1 (fine); through y and z it is met again at depth 3, where
    # its own include is one too many. A file collected once must not hide that.
    (tmp_path / "w.net").write_text("define w1(c) = conv 1x1 out=c\n")
    (tmp_path / "x.net").write_text('include "w.net"\n')
    (tmp_path / "z.net").write_text('include "x.net"\n')
    (tmp_path / "y.net").write_text('include "z.net"\n')
    (tmp_path / "main.net").write_text('include "x.net"\ninclude "y.net"\nw1(4)\n')
    with pytest.raises(NetdslLimitError) as e:
        front_end_file(tmp_path / "main.net", limits=Limits(max_include_depth=3))
    assert e.value.message == "includes nested more than 3 deep"
    assert e.value.span.file == str(tmp_path / "x.net") and e.value.span.line == 1
    assert front_end_file(tmp_path / "main.net", limits=Limits(max_include_depth=4)).total.params == 4 * 3 + 4


def test_include_cycle_through_a_diamond(tmp_path):
    (tmp_path / "a.net").write_text('include "b.net"\ninclude "b.net"\n')
    (tmp_path / "b.net").write_text('include "a.net"\n')
    (tmp_path / "main.net").write_text('include "a.net"\nconv 1x1 x4\n')
    with pytest.raises(NetdslNameError, match="include cycle"):
        front_end_file(tmp_path / "main.net")


def test_the_program_carries_its_source_text(tmp_path):
    (tmp_path / "lib.net").write_text("define blk(c) = conv 3x3 out=c > bogus\n")
    (tmp_path / "main.net").write_text('include "lib.net"\nblk(4)\n')
    assert not hasattr(errors, "_SOURCES") and not hasattr(errors, "register_source")
    with pytest.raises(NetdslError) as e:
        front_end_file(tmp_path / "main.net", input_shape=(3, 8, 8))
    err = e.value
    assert set(err.sources) == {str(tmp_path / "main.net"), str(tmp_path / "lib.net")}
    shown = str(err)
    assert "    1 | define blk(c) = conv 3x3 out=c > bogus\n" in shown
    err.sources = None  # without the program's text: the same message, no source line
    assert str(err).splitlines()[0] == shown.splitlines()[0]
    assert "define blk" not in str(err)
    r = netdsl.checks("conv 3x3 x8\n", name="<mine>")
    assert r.net.sources.get("<mine>") == "conv 3x3 x8\n"


def test_every_error_of_a_collection_renders_its_source_line():
    with pytest.raises(NetdslError) as e:
        netdsl.checks("input 3x8x8\nconcat<conv 9x9 p0 x8 | conv 11x11 p0 x8>\n", name="s.net")
    items = e.value.errors
    assert len(items) == 2 and all(x.sources is e.value.sources is not None for x in items)
    assert str(e.value).count("    2 | concat<conv 9x9 p0 x8 | conv 11x11 p0 x8>\n") == 2


# ------------------------------------------------------------------ the evaluator


S = Span("<t>", 1, 1, 1, 2)


def num(v):
    return A.Num(v, S)


def binop(op, a, b):
    return A.BinOp(op, a, b, S)


def no_names(e):
    raise AssertionError(e)


@pytest.mark.parametrize("op, a, b, want", [
    ("/", 6, 3, 2), ("/", 7, 2, 3.5), ("/", 6.0, 3, 2.0), ("//", 7, 2, 3), ("%", 7, 2, 1),
    ("+", 2, 3, 5), ("-", 2, 3, -1), ("*", 2, 3, 6),
])
def test_exact_division_rule(op, a, b, want):
    got = evaluate.evaluate(binop(op, num(a), num(b)), no_names)
    assert got == want and type(got) is type(want)


def test_evaluator_errors():
    with pytest.raises(NetdslNameError, match="division by zero"):
        evaluate.evaluate(binop("%", num(1), num(0)), no_names)
    with pytest.raises(NetdslLimitError, match="10\\^30"):
        evaluate.evaluate(binop("*", num(10**20), num(10**20)), no_names)
    with pytest.raises(NetdslNameError, match="unknown name `wdith`") as e:
        evaluate.evaluate(A.Name("wdith", S), evaluate.names({"width": 2}))
    assert e.value.hint == "did you mean `width`?"
    with pytest.raises(NetdslNameError, match="cannot compare"):
        evaluate.evaluate(A.Compare("==", A.Str("a", S), num(1), S), no_names)


def test_arithmetic_is_pluggable():
    """Another arithmetic gets the operations; the language's rules stay in the evaluator."""

    class Spelled(evaluate.ConcreteArith):
        def add(self, a, b):
            return f"({a}+{b})"

        def floordiv(self, a, b):
            return f"({a}//{b})"

        def truediv(self, a, b):
            return f"({a}/{b})"

        def exact_div(self, a, b):
            return a == "even"

        def is_number(self, v):
            return True

        def is_zero(self, v):
            return False

        def too_large(self, v):
            return False

    lookup = evaluate.names({"c": "c", "even": "even"})
    e = binop("+", A.Name("c", S), binop("/", A.Name("even", S), num(2)))
    assert evaluate.evaluate(e, lookup, Spelled()) == "(c+(even//2))"
    e = binop("/", A.Name("c", S), num(2))
    assert evaluate.evaluate(e, lookup, Spelled()) == "(c/2)"
