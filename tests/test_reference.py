"""The op reference: `netdsl ops` and docs/language.md, both generated from the registry.

docs/language.md's op section must equal what `netdsl.reference` generates now; after a change
to an op, regenerate it with `NETDSL_REGEN=1 python -m pytest tests/test_reference.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netdsl import ops, reference
from netdsl.cli import main

REGEN = os.environ.get("NETDSL_REGEN") == "1"
DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"


def test_language_md_op_section_is_generated_from_the_registry():
    text = DOC.read_text(encoding="utf-8")
    if REGEN:
        DOC.write_text(reference.refresh(text), encoding="utf-8", newline="\n")
        text = DOC.read_text(encoding="utf-8")
    assert reference.generated_part(text) == reference.ops_markdown(), \
        "docs/language.md is out of date: run NETDSL_REGEN=1 python -m pytest tests/test_reference.py"


def test_every_op_and_argument_is_in_the_reference():
    md = reference.ops_markdown()
    listing = reference.ops_text()
    for name, spec in ops.REGISTRY.items():
        assert f"### `{name}`" in md
        assert f"  {name}" in listing
        one = reference.op_text(spec)
        for a in spec.args:
            assert f"| {a.name} |" in md and a.name in one


def test_readme_links_the_reference():
    readme = (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    assert "docs/language.md" in readme


def test_netdsl_ops_lists_every_op(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert out == reference.ops_text()
    assert "layernorm (ln)" in out and "netdsl ops NAME" in out


@pytest.mark.parametrize("name", ["conv", "pool", "ln"])
def test_netdsl_ops_name_shows_one_op(name, capsys):
    assert main(["ops", name]) == 0
    out = capsys.readouterr().out
    spec = ops.lookup(name)
    assert out == reference.op_text(spec)
    assert out.startswith(spec.name)


def test_conv_arguments_show_type_default_and_aliases(capsys):
    main(["ops", "conv"])
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[5:]}
    assert "required" in rows["kernel"] and " k " in rows["kernel"]
    assert " 0 " in rows["padding"] and "p, pad" in rows["padding"]


def test_netdsl_ops_unknown_name_is_a_usage_error(capsys):
    assert main(["ops", "lnn"]) == 2
    err = capsys.readouterr().err
    assert err == "netdsl: no op named `lnn` (did you mean `ln`?); `netdsl ops` lists them all\n"
