"""Golden cost tables: `netdsl check NAME` output, byte for byte (NETDSL_REGEN=1 rewrites them)."""

from pathlib import Path

import pytest

from netdsl.cli import main

GOLDEN = Path(__file__).parent / "golden" / "tables"
CASES = {  # file stem: arguments
    "googlenet_depth1": ["check", "googlenet", "--depth", "1"],
    "resnet50": ["check", "resnet50"],
    "vgg16_classes3": ["check", "vgg16", "-D", "classes=3", "--depth", "1"],
    "densenet121_depth1": ["check", "densenet121", "--depth", "1", "--batch", "32", "--dtype", "bfloat16"],
    "resnet50_transfer": ["check", "resnet50_transfer", "--depth", "1", "--optimizer", "adam"],
    "nasnet_a_mobile_depth1": ["check", "nasnet_a_mobile", "--depth", "1"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cost_table_golden(name, capsys):
    from conftest import REGEN

    code = main(CASES[name])
    out = capsys.readouterr().out
    assert code == 0
    path = GOLDEN / f"{name}.txt"
    if REGEN or not path.exists():
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(out)
        if not REGEN:
            pytest.fail(f"wrote missing golden {path.name}; check it and commit it")
    assert out == path.read_text()
