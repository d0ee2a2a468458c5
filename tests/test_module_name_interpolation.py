"""Module names that interpolate values: `@"block{k}-{i + 1}"` (torchvision's RegNet names the
i-th block of stage k `block{k}-{i}`): keys and outputs against a hand-written PyTorch module, the
generated source, and the located errors of a bad `{...}`."""

from __future__ import annotations

from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import netdsl  # noqa: E402
from netdsl.errors import NetdslError  # noqa: E402

STAGES = """
input 3x16x16
define unit(c, s=1) = seq<conv 3x3/s p1 out=c bias=false bn act=relu>
# stage k: n units named stage{k}-0 ... stage{k}-(n - 1), the first with stride 2
define stage(k, c, n) = seq<unit(c, s=2) @"stage{k}-0" > (unit(c) @"stage{k}-{i + 1}") * (n - 1) as i>
body = { stage(1, 8, 3) @s1 > stage(2, 16, 1) @"s{2 * 1}" }
gap; flatten
fc = linear 10
"""


def _unit(cin: int, c: int, s: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, c, 3, s, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True))


class Stages(nn.Module):
    def __init__(self):
        super().__init__()
        s1 = nn.Sequential(OrderedDict([("stage1-0", _unit(3, 8, 2)), ("stage1-1", _unit(8, 8)),
                                        ("stage1-2", _unit(8, 8))]))
        s2 = nn.Sequential(OrderedDict([("stage2-0", _unit(8, 16, 2))]))
        self.body = nn.Sequential(OrderedDict([("s1", s1), ("s2", s2)]))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.body(x), 1), 1))


def test_interpolated_names_give_the_reference_keys_and_outputs():
    net = netdsl.loads(STAGES, name="stages.net")
    ref = Stages()
    assert [(k, v.shape) for k, v in net.state_dict().items()] == [(k, v.shape) for k, v in ref.state_dict().items()]
    torch.manual_seed(0)
    with torch.no_grad():
        for v in ref.state_dict().values():
            if v.is_floating_point():
                v.uniform_(0.5, 1.5)
    net.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(net.eval()(x), ref.eval()(x), rtol=1e-5, atol=1e-5)


def test_interpolated_names_in_the_generated_source():
    src = netdsl.compiles(STAGES, name="stages.net")
    for name in ("stage1-0", "stage1-1", "stage1-2", "stage2-0", "s2"):
        assert f'("{name}", ' in src
    assert "{" not in "".join(line for line in src.splitlines() if '("stage' in line)


def test_a_name_without_braces_is_unchanged():
    net = netdsl.loads('input 3x8x8\nconv 1x1 x4 @"block1-0"\n')
    assert list(net.state_dict()) == ["block1-0.weight", "block1-0.bias"]


@pytest.mark.parametrize(("name", "message"), [
    ('"b{i"', "unmatched `{`"),
    ('"b}{i}"', "unmatched `}`"),
    ('"b{j}"', "unknown"),
    ('"b{i / 2}"', "whole number"),
    ('"b{i +}"', "`{i +}` is not an expression"),
    ('"b{}"', "`{}` is not an expression"),
])
def test_bad_interpolations_are_located_errors(name, message):
    text = f"input 3x8x8\n(conv 1x1 x4 @{name}) * 3 as i\n"
    with pytest.raises(NetdslError) as e:
        netdsl.checks(text)
    err = e.value.errors[0]
    assert message in err.message
    assert (err.span.line, err.span.col) == (2, 14)


def test_interpolated_names_must_still_be_unique():
    with pytest.raises(NetdslError):
        netdsl.checks('input 3x8x8\n(conv 1x1 x4 @"b{i // 2}") * 3 as i\n')
