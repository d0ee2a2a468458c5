"""First-class arguments: sizes (`1x7`) and activations (`act=hardswish`) as define arguments and
network parameters, `then` / `else` on the next line, and a base file's defines seen by `extends`.

Shapes and parameters are checked against hand-computed values and a hand-written PyTorch module
(an Inception-v3 style factorized 7x7 block); the messages of the new errors are pinned by
tests/fixtures/errors/ (tests/test_errors.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netdsl
from netdsl.errors import NetdslError

ARGS = Path(__file__).resolve().parent / "fixtures" / "args"

# Inception-v3's InceptionC (torchvision `inception.py`), at reduced widths: a 1x1 branch, a 7x7
# factorized as 1x7 then 7x1, and an average-pool branch; every conv is conv (no bias) + bn + relu.
INCEPTION_C = """
network inception_c(c7=16, k=1x7, act=relu)
input 32x17x17
defaults conv bias=false bn act=act
define cbr(c, k) = conv k out=c p=same
define fact(c, k1, k2) = cbr(c, k1) > cbr(c, k2)
cat<1x1:24 | fact(c7, k, 7x1) > cbr(24, 1x7) | avgpool 3x3 stride=1 p1 > 1x1:24>
"""


def _nodes(r) -> dict[str, dict]:
    """The op nodes of a checked network, by module path."""
    return {r.net.node(n)["path"]: r.net.node(n) for n in r.net.op_nodes()}


def _outputs(r) -> dict[str, tuple[int, ...]]:
    return {path: tuple(n["shape"]) for path, n in _nodes(r).items()}


def _torch_inception_c(c7: int, act):
    """The same block written by hand in PyTorch (the reference to count parameters against)."""
    import torch
    from torch import nn

    def cbr(cin, cout, k, p):
        return nn.Sequential(nn.Conv2d(cin, cout, k, padding=p, bias=False), nn.BatchNorm2d(cout), act())

    class InceptionC(nn.Module):
        def __init__(self):
            super().__init__()
            self.b1 = cbr(32, 24, 1, 0)
            self.b7 = nn.Sequential(cbr(32, c7, (1, 7), (0, 3)), cbr(c7, c7, (7, 1), (3, 0)),
                                    cbr(c7, 24, (1, 7), (0, 3)))
            self.pool = nn.Sequential(nn.AvgPool2d(3, 1, 1), cbr(32, 24, 1, 0))

        def forward(self, x):
            return torch.cat([self.b1(x), self.b7(x), self.pool(x)], 1)

    return InceptionC()


def test_factorized_inception_block_matches_hand_written_pytorch():
    torch = pytest.importorskip("torch")
    r = netdsl.checks(INCEPTION_C)
    ref = _torch_inception_c(16, torch.nn.ReLU)
    assert r.total.params == sum(p.numel() for p in ref.parameters())
    assert tuple(r.net.node(r.net.output_node)["shape"]) == (72, 17, 17)
    model = netdsl.loads(INCEPTION_C)
    assert [tuple(p.shape) for p in model.parameters()] == [tuple(p.shape) for p in ref.parameters()]
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), ref.parameters(), strict=True):
            theirs.copy_(torch.randn_like(theirs))
            mine.copy_(theirs)
    model.eval()
    ref.eval()
    x = torch.randn(2, 32, 17, 17)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))


def test_size_and_activation_parameters_from_outside_match_pytorch():
    torch = pytest.importorskip("torch")
    r = netdsl.checks(INCEPTION_C, c7=8, act="silu")
    ref = _torch_inception_c(8, torch.nn.SiLU)
    assert r.total.params == sum(p.numel() for p in ref.parameters())
    assert "silu" in {r.net.node(n)["op"] for n in r.net.op_nodes()}
    # k=(1, 7) from Python is -D k=1x7: the same network; k=(1, 5) another one
    assert netdsl.checks(INCEPTION_C, k=(1, 7)).total.params == netdsl.checks(INCEPTION_C).total.params
    c7, cin = 16, 32
    fewer = (7 - 5) * cin * c7  # the first 1x7 of the factorized branch becomes a 1x5
    assert netdsl.checks(INCEPTION_C, k=(1, 5)).total.params == r_params(16) - fewer


def r_params(c7: int) -> int:
    return netdsl.checks(INCEPTION_C, c7=c7).total.params


def test_compiled_source_takes_a_size_argument():
    pytest.importorskip("torch")
    import inspect

    source = netdsl.compiles(INCEPTION_C)
    assert "kernel_size=k" in source  # the size stays a constructor argument of the define's class
    ns: dict = {}
    exec(compile(source, "inception_c.py", "exec", dont_inherit=True), ns)  # noqa: S102
    cls = inspect.signature(ns["inception_c"]).return_annotation
    for kw in ({}, {"c7": 8}):
        model = cls(**kw)
        assert sum(p.numel() for p in model.parameters()) == netdsl.checks(INCEPTION_C, **kw).total.params
    # the network parameter k sets paddings the lowering keeps as literals: refused, as documented
    with pytest.raises(ValueError, match="compiled into this structure"):
        cls(k=(1, 5))


def test_sizes_as_arguments_keywords_and_kernels():
    r = netdsl.checks("""
network n(k=1x7)
input 3x32x32
define sep(c, k) = conv k p=same out=c
sep(16, 7x1)
sep(16, k)
conv 3x3 x16 p=1x0 stride=1x2
k/1x2:8
""")
    shapes = _outputs(r)
    assert shapes["sep1.conv1"] == (16, 32, 32) and shapes["sep2.conv1"] == (16, 32, 32)
    assert shapes["conv1"] == (16, 32, 15)  # (32 + 2 - 3) + 1 high, (32 - 3) // 2 + 1 wide
    assert shapes["conv2"] == (8, 32, 8)  # 1x7 "same", stride 1x2
    nodes = _nodes(r)
    assert [nodes[p]["params"] for p in ("sep1.conv1", "sep2.conv1")] == [3 * 16 * 7 + 16, 16 * 16 * 7 + 16]


def test_size_override_from_the_command_line(capsys, tmp_path):
    from netdsl.cli import main

    f = tmp_path / "n.net"
    f.write_text("network n(k=3x3)\ninput 3x8x8\nk:4\n")
    assert main(["check", str(f), "-D", "k=1x5"]) == 0
    assert "conv 1x5" in capsys.readouterr().out


def test_activation_arguments_and_parameters():
    r = netdsl.checks("""
network n(act=relu)
input 3x8x8
define block(c, act=relu) = conv 3x3 out=c p=1 act=act > conv 1x1 out=c > act
conv 3x3 x4 p=1 act=act
block(4, act=hardswish)
block(4, act=none)
""")
    ops = [r.net.node(n)["op"] for n in r.net.op_nodes()]
    assert ops == ["conv", "relu", "conv", "hardswish", "conv", "hardswish", "conv", "conv"]


def test_then_and_else_on_the_next_line():
    r = netdsl.checks("""
input 3x8x8
define f(c) = if c == 16
  then conv 3x3 out=c p=1
  else conv 1x1 out=c
f(16) > f(4)
""")
    nodes = _nodes(r)
    assert [(nodes[p]["args"]["kernel"], nodes[p]["args"]["out"]) for p in ("f1.conv1", "f2.conv1")] == [
        (3, 16), (1, 4)]


def test_extends_sees_the_base_defines_with_the_base_parameters_and_defaults():
    r = netdsl.check(str(ARGS / "derived.net"))
    shapes = _outputs(r)
    # stage(6) of the base: c=6 then c + w with the base's w=2 (from `extends "base.net"(w=2)`)
    assert shapes["head.0.conv2"] == (8, 16, 16)
    # ... and the base file's `defaults conv bn act=relu` apply inside it
    assert {"bn", "relu"} <= {r.net.node(n)["op"] for n in r.net.op_nodes()
                              if r.net.node(n)["path"].startswith("head.0.")}
    assert shapes["head.3"] == (5,)


def test_a_base_define_reading_a_parameter_the_caller_sees_otherwise_is_an_error():
    with pytest.raises(NetdslError, match="reads the base network's parameter `w`"):
        netdsl.checks('network d(w=8)\nextends "base.net"\nhead = stage(8)\n',
                      name=str(ARGS / "d.net"))
    # the same value, or the name not read by the define: fine
    netdsl.checks('network d(w=4)\nextends "base.net"\nhead = stage(8)\n', name=str(ARGS / "d.net"))


def test_a_base_define_calls_the_base_defines_even_where_the_program_redefines_one():
    r = netdsl.check(str(ARGS / "derived_override.net"))
    nodes = _nodes(r)
    assert nodes["head.block1.conv1"]["args"]["kernel"] == 3  # the base's block, not the program's 1x1
    assert nodes["head.block1.conv1"]["params"] == 4 * 9 * 6 + 6
