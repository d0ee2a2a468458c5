"""Every failure on `.net` input is a located netdsl error, never a traceback.

`tests/fixtures/errors/NAME.net` holds one bad input each and `NAME.expected` the full stderr of
`netdsl check NAME.net` run in that folder (exit code 1). Regenerate the golden files after a
deliberate change of wording with `NETDSL_REGEN=1 python -m pytest tests/test_errors.py`, then
read the diff as a user would. Files under `fixtures/errors/lib/` are only included by fixtures.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from netdsl.cli import main

REGEN = os.environ.get("NETDSL_REGEN") == "1"  # as in conftest.py

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "errors"
CASES = sorted(p.stem for p in FIXTURES.glob("*.net"))

# Internal names that must never reach a user: Lark terminals, Python reprs, tracebacks.
FORBIDDEN = ("__ANON", "_NL", "$END", "Token(", "Traceback", "object at 0x", "NetdslError(", "Tree(",
             "VisitError", "lark", "None")
PY_REPR = re.compile(r"'[^'\s]+'")  # a Python string repr like 'relu' (the language quotes with " and `)


def _check(name: str, capsys, monkeypatch, *extra: str) -> tuple[int, str, str]:
    monkeypatch.chdir(FIXTURES)
    capsys.readouterr()
    code = main(["check", name, *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_corpus_is_large_enough():
    assert len(CASES) >= 70, len(CASES)


@pytest.mark.parametrize("name", CASES)
def test_error_fixture(name, capsys, monkeypatch):
    code, out, err = _check(f"{name}.net", capsys, monkeypatch)
    golden = FIXTURES / f"{name}.expected"
    if REGEN:
        golden.write_text(err, encoding="utf-8", newline="\n")
    assert code == 1, f"exit code {code}\n{err}"
    assert out == ""
    assert golden.exists(), f"no golden file {golden.name}: run with NETDSL_REGEN=1"
    assert err == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", CASES)
def test_error_message_shape(name, capsys, monkeypatch):
    """file:line:col: error: ..., the source line, a caret; no internal names anywhere."""
    _, _, err = _check(f"{name}.net", capsys, monkeypatch)
    first = err.splitlines()[0]
    assert re.match(r"^[\w./-]+\.net:\d+:\d+: error: \S", first), first
    assert re.search(r"^ +\d+ \| ", err, re.M), err
    assert re.search(r"^ +\| *\^+$", err, re.M), err
    for word in FORBIDDEN:
        assert word not in err, f"{word!r} in:\n{err}"
    assert not PY_REPR.search(err), err


# ------------------------------------------------------------------ encodings (not fixtures)


def _write(tmp_path: Path, data: bytes, name: str = "in.net") -> str:
    (tmp_path / name).write_bytes(data)
    return name


@pytest.mark.parametrize("data, what", [
    (b"conv 3x3 x8\n\xff\xfe relu\n", "not UTF-8"),
    (b"conv 3x3 x8\n\xc3\x28\n", "not UTF-8"),
    (b"conv 3x3 x8\x00relu\n", "binary data"),
    (bytes(range(256)) * 4, "not UTF-8"),
    (b"\x00\x00\x00\x00", "binary data"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
])
def test_undecodable_input_is_a_usage_error(tmp_path, capsys, monkeypatch, data, what):
    name = _write(tmp_path, data)
    monkeypatch.chdir(tmp_path)
    code = main(["check", name])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("netdsl: ") and what in err, err
    assert "Traceback" not in err


def test_byte_order_mark_is_accepted(tmp_path, capsys, monkeypatch):
    name = _write(tmp_path, "\ufeffinput 3x8x8\nconv 3x3 p1 x4\n".encode())
    monkeypatch.chdir(tmp_path)
    code = main(["check", name, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"params": 112' in out


def test_byte_order_mark_keeps_columns(tmp_path, capsys, monkeypatch):
    name = _write(tmp_path, "\ufeffconv 3x3 x8 bogus\n".encode())
    monkeypatch.chdir(tmp_path)
    assert main(["check", name]) == 1
    err = capsys.readouterr().err
    assert err.startswith("in.net:1:13: error: unknown name `bogus`")
    assert "\ufeff" not in err
    assert "    1 | conv 3x3 x8 bogus\n      |             ^^^^^\n" in err


def test_crlf_reports_the_right_line_and_a_clean_source_line(tmp_path, capsys, monkeypatch):
    name = _write(tmp_path, b"input 3x8x8\r\nconv 3x3 p1 x8\r\nconv 3x3 x8 bogus\r\nrelu\r\n")
    monkeypatch.chdir(tmp_path)
    assert main(["check", name]) == 1
    err = capsys.readouterr().err
    assert err.startswith("in.net:3:13: ")
    assert "\r" not in err


# ------------------------------------------------------------------ usage mistakes: exit 2, one line


@pytest.mark.parametrize("argv", [
    ["check"],
    ["check", "no_such_network_anywhere"],
    ["check", "lib"],  # a folder
    ["check", "lib/needs_param.net", "-D", "nonexistent=3"],
    ["check", "empty_file.net", "--input", "3x0x8"],
    ["check", "empty_file.net", "--input", "three"],
    ["check", "empty_file.net", "-D", "novalue"],
    ["check", "empty_file.net", "--depth", "x"],
    ["check", "empty_file.net", "--max-layers", "0"],
    ["check", "empty_file.net", "--bogus-flag"],
    ["frobnicate", "empty_file.net"],
])
def test_usage_errors_are_one_line(argv, capsys, monkeypatch):
    monkeypatch.chdir(FIXTURES)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("netdsl"), err


def test_limits_are_quick(capsys, monkeypatch):
    """An exponential define is refused before expansion, at the default limit, in well under a second."""
    import time

    monkeypatch.chdir(FIXTURES)
    t = time.perf_counter()
    code = main(["check", "lib/exponential.net"])
    elapsed = time.perf_counter() - t
    err = capsys.readouterr().err
    assert code == 1
    assert "the network expands to at least" in err and "the limit is 200,000" in err
    assert elapsed < 1.0, elapsed
