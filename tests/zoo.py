"""Zoo networks analysed once per test session (the tools' tests share them)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

ZOO = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "networks").glob("*.net"))


@cache
def report(name: str, **overrides):
    from netdsl.pipeline import front_end_file

    return front_end_file(name, {k: str(v) for k, v in overrides.items()})


def golden(path: Path, text: str) -> None:
    """Compare with a golden file; NETDSL_REGEN=1 (re)writes it, a missing one is written and fails."""
    import pytest
    from conftest import REGEN

    if REGEN or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        if not REGEN:
            pytest.fail(f"wrote missing golden {path.name}; check it and commit it")
    assert text == path.read_text(encoding="utf-8")
