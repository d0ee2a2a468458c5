"""Zoo networks analysed once per test session (the tools' tests share them)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

# The course's networks: every test of the tools (goldens, lowering, drawing, formats, fuzzing) runs
# on each. The torchvision zoo (networks/ also holds a file for every CNN builder of
# torchvision.models) is checked by tests/test_tv_*.py: numbers, keys and outputs per family.
COURSE = (
    "alexnet", "alexnet_grouped", "densenet121", "densenet161", "densenet169", "densenet201", "fractalnet",
    "googlenet", "lenet5", "mobilenet_v1", "mobilenet_v2", "nasnet_a_mobile", "nin", "nin_cifar", "resnet101",
    "resnet152", "resnet18", "resnet34", "resnet50", "resnet50_transfer", "resnext50_32x4d", "se_resnet50",
    "vgg11", "vgg13", "vgg16", "vgg19", "wide_resnet50_2", "wrn28_10", "zfnet",
)
ZOO = list(COURSE)
# Siblings whose blocks another network of the list runs with other counts or widths (the VGGs:
# vgg16; densenet161/169/201: densenet121; resnet101/152 and wide_resnet50_2: resnet50): the tests
# that run real forward and backward passes skip them to keep the suite short; their numbers, keys
# and generated code are still checked.
SIBLINGS = ("vgg11", "vgg13", "vgg19", "densenet161", "densenet169", "densenet201", "resnet101", "resnet152",
            "wide_resnet50_2")
FORWARD = [n for n in COURSE if n not in SIBLINGS]
ALL = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "networks").glob("*.net"))


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
