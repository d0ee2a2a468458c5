"""torchvision's RegNet X/Y builders as netdsl zoo files (networks/regnet_*.net, shared blocks in
networks/families/regnet.net): parameters, multiply-adds and state_dict keys against torchvision's
figures (tests/fixtures/torchvision/<builder>.json), and outputs against a hand-written reference in
torchvision's layout (tests/reference/tv_regnet.py) with the same weights loaded strictly."""

from __future__ import annotations

import pytest
import torch

import netdsl

try:  # tests/ on sys.path (pytest's rootdir-relative "prepend" import of a non-package tests/)
    from reference import tv_regnet
    from tv import FIXTURES, fixture, static_keys
except ImportError:  # tests/ is a package
    from tests.reference import tv_regnet
    from tests.tv import FIXTURES, fixture, static_keys

BUILDERS = [
    "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf", "regnet_y_16gf",
    "regnet_y_32gf", "regnet_y_128gf", "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf",
    "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf",
]
# Y with SE and a one-block stage; X without SE, its first stage's group width cut to the width
# (min(120, 80): one group), a 15-block stage. 64x64 inputs: 2x2 at the last stride-2 3x3 and
# at the global pool (a padding or a pooling mistake shows)
OUTPUTS = ["regnet_y_400mf", "regnet_x_8gf"]
SIZE = 64


def test_the_builders_are_torchvisions():
    assert sorted(BUILDERS) == sorted(tv_regnet.INIT_PARAMS)
    assert sorted(p.stem for p in FIXTURES.glob("regnet_*.json")) == sorted(BUILDERS)


@pytest.mark.parametrize("name", BUILDERS)
def test_params_and_macs(name):
    ref = fixture(name)
    r = netdsl.check(name)
    assert list(r.net.input_shape) == ref["input"]
    assert r.total.params == ref["params"]
    assert r.total.macs == ref["macs"]


@pytest.mark.parametrize("name", BUILDERS)
def test_state_dict_keys(name):
    assert static_keys(name) == fixture(name)["state_dict"]


def _randomise(model: torch.nn.Module) -> None:
    """Every parameter and batch-norm statistic away from its initial value, so that a wrong eps,
    a missing affine or a swapped buffer changes the output."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
            elif isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)) and mod.bias is not None:
                mod.bias.uniform_(-0.2, 0.2)


@pytest.mark.parametrize("name", OUTPUTS)
def test_outputs_equal_torchvisions(name, one_thread):
    torch.manual_seed(0)
    ref = tv_regnet.regnet(name).eval()
    _randomise(ref)
    with torch.device("meta"):  # no weights of its own to draw: it takes the reference's
        net = netdsl.load(name, input_shape=(3, SIZE, SIZE))
    net.load_state_dict(ref.state_dict(), strict=True, assign=True)
    net.eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = ref(x)
        got = net(x)
    assert got.shape == (1, 1000)
    assert not any(t.is_meta for t in [*net.parameters(), *net.buffers()])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
