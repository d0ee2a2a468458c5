"""Repeat indices (`* n as i`), empty repeats (`* 0`) and the integer helpers of expressions
(min, max, round, floor, ceil, int, divisible): shapes and parameters against hand-written
PyTorch, and the generated code equal to `netdsl.load` equal to `netdsl.check`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import netdsl
from netdsl.evaluate import divisible


def _make_divisible(v, divisor, min_value=None):  # torchvision/models/_utils.py
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _exec(source: str) -> dict:
    ns: dict = {"__name__": "netdsl_generated_under_test"}
    exec(compile(source, "<generated>", "exec"), ns)  # noqa: S102 - the text under test
    return ns


@pytest.mark.parametrize("v", [3, 8.8, 12, 16 * 0.75, 32 * 1.1, 35.2, 100, 1280 * 1.15, 0.5])
@pytest.mark.parametrize("d", [1, 4, 8, 16])
def test_divisible_is_torchvisions_make_divisible(v, d):
    assert divisible(v, d) == _make_divisible(v, d)


@pytest.mark.parametrize(("expr", "value"), [
    ("min(7, 3, 5)", 3), ("max(2, 9)", 9), ("round(2.5)", 2), ("round(3.5)", 4), ("floor(7 / 2)", 3),
    ("ceil(7 / 2)", 4), ("int(-2.7) + 5", 3), ("divisible(32 * 1.1, 8)", 32), ("divisible(16 * 0.75, 8)", 16),
    ("32 * 0.25", 8), ("max(1, round(24 * 0.35))", 8),
])
def test_helpers_give_whole_channels(expr, value):
    r = netdsl.checks(f"input 3x8x8\nconv 1x1 out=({expr})\n")
    assert r.net.node(r.net.output_node)["shape"] == (value, 8, 8)


STOCHASTIC = """network sd(p=0.2)
input 3x16x16
defaults conv bias=false bn act=relu
define blk(c, p) = residual(droppath=p)<1x1:c > 3x3:c>
define stage(c, n, first) = blk(c, p * (first + i) / 8) * n as i
conv 3x3 p1 out=divisible(16 * 1.1, 8)
stage(16, 3, 0)
(3x3/2:(32 * 0.5) > blk(16, p * (3 + i) / 8) * 2 as i)
stage(16, 3, 5)
"""


def test_stochastic_depth_schedule():
    """EfficientNet/ConvNeXt's `p * i / total`: the DropPath probabilities of the loaded module, in
    order, are torchvision's schedule (a probability of 0 has no DropPath)."""
    want = [0.2 * k / 8 for k in range(8)]
    model = netdsl.loads(STOCHASTIC, name="sd.net")
    got = [m.p for m in model.modules() if type(m).__name__ == "DropPath"]
    assert got == want[1:]
    ns = _exec(netdsl.compiles(STOCHASTIC, name="sd.net"))
    gen = ns["Sd"]()
    assert [m.p for m in gen.modules() if type(m).__name__ == "DropPath"] == want[1:]
    r = netdsl.checks(STOCHASTIC, name="sd.net")
    assert _params(model) == _params(gen) == r.total.params
    assert list(model.state_dict()) == list(gen.state_dict())
    x = torch.randn(2, 3, 16, 16)
    assert model.eval()(x).shape == gen.eval()(x).shape == (2, 16, 8, 8)


def test_index_in_nested_repeats_layers_and_groups():
    """`x2 as j` around `* 2 as i` around a layer: each level sees its own index, from 0."""
    text = "input 3x8x8\nconv 1x1 x4\n((conv 1x1 out=(4 + 2 * j + i)) * 2 as i) x2 as j\n"
    r = netdsl.checks(text)
    outs = [r.net.node(n)["shape"][0] for n in r.net.op_nodes() if r.net.node(n)["op"] == "conv"]
    assert outs == [4, 4, 5, 6, 7]
    hand = nn.Sequential(*(nn.Conv2d(a, b, 1) for a, b in [(3, 4), (4, 4), (4, 5), (5, 6), (6, 7)]))
    assert r.total.params == _params(hand) == _params(netdsl.loads(text))


def test_index_shadows_and_leaves_a_define_parameter():
    """Inside a define, the index is one more name of the body, for that repetition only."""
    text = ("input 3x8x8\ndefine d(i) = conv 1x1 out=i > (conv 1x1 out=(8 + i)) * 2 as i > conv 1x1 out=i\n"
            "d(4)\n")
    r = netdsl.checks(text)
    assert [r.net.node(n)["shape"][0] for n in r.net.op_nodes()] == [4, 8, 9, 4]


EMPTY = """network e(n=1)
input 3x8x8
define stage(c, n) = 3x3/2:c > residual<1x1:c > 3x3:c> * (n - 1)
conv 3x3 p1 x8
stage(16, n)
stage(16, 3)
gap; flatten; linear 10
"""


def test_an_empty_repeat_is_no_layer_and_no_module():
    """`block * (n - 1)` with n = 1: the stage is its first layer alone, with nothing left of the
    repeat in the report, the loaded module or the generated code."""
    r = netdsl.checks(EMPTY, name="e.net")
    hand = nn.ModuleList([nn.Conv2d(3, 8, 3), nn.Conv2d(8, 16, 3), nn.Conv2d(16, 16, 3),
                          *[nn.Sequential(nn.Conv2d(16, 16, 1), nn.Conv2d(16, 16, 3)) for _ in range(2)],
                          nn.Linear(16, 10)])
    assert r.total.params == _params(hand)
    model = netdsl.loads(EMPTY, name="e.net")
    source = netdsl.compiles(EMPTY, name="e.net")
    gen = _exec(source)["E"]()
    assert _params(model) == _params(gen) == r.total.params
    assert list(model.state_dict()) == list(gen.state_dict())
    first = [k for k in model.state_dict() if k.startswith("stage1.")]
    assert first == ["stage1.conv1.weight", "stage1.conv1.bias"]
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 10)


def test_an_empty_branch_or_shortcut_passes_the_input_through():
    r = netdsl.checks("input 8x4x4\nresidual<1x1:8 | 1x1:8 * 0>\nconcat<1x1:4 | 3x3:4 * 0>\n")
    assert r.net.node(r.net.output_node)["shape"] == (12, 4, 4)
    assert r.total.params == 8 * 8 + 8 + 8 * 4 + 4
