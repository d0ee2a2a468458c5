"""The state_dict netdsl knows before any module exists (netdsl.state, read by `check --weights`
and the torchvision zoo tests) equals the state_dict of the module it builds: keys, order, shapes.
One network of every family and every feature that changes keys (fused layers, written names,
flattened defines, seq defines, shortcuts, block-held layer scales, aux heads, loops)."""

from __future__ import annotations

import pytest

import netdsl
from netdsl.cli import main
from netdsl.state import state_dict

torch = pytest.importorskip("torch")

NAMES = ["convnext_tiny", "densenet121", "efficientnet_v2_s", "fractalnet", "googlenet", "googlenet_tv",
         "inception_v3", "mnasnet0_5", "mobilenet_v2", "mobilenet_v3_small", "nasnet_a_mobile", "preact_resnet18",
         "regnet_y_400mf", "resnet20", "resnet50_transfer", "se_resnet50", "shufflenet_v2_x0_5", "squeezenet1_1",
         "wrn28_10"]


@pytest.mark.parametrize("name", NAMES)
def test_static_state_is_the_modules(name):
    r = netdsl.check(name)
    with torch.device("meta"):
        model = netdsl.load(name)
    assert [(k, tuple(s)) for k, s in state_dict(r.net)] == [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def test_a_layer_scale_in_a_sequential_stage_is_a_module():
    text = "input 8x4x4\ns = conv 1x1 x8 > layerscale 0.5\ndefine b(c) = conv 1x1 out=c > layerscale\nb(8)\n"
    with torch.device("meta"):
        model = netdsl.loads(text)
    keys = [k for k, _ in state_dict(netdsl.checks(text).net)]
    assert keys == list(model.state_dict()) == ["s.0.weight", "s.0.bias", "s.1.gamma", "b.layer_scale",
                                                "b.conv1.weight", "b.conv1.bias"]


def test_zoo_lists_names_references_params_and_macs(capsys):
    assert main(["zoo", "convnext"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "reference", "params", "MACs"]
    tiny = next(line for line in out if line.startswith("convnext_tiny "))
    assert "ConvNeXt-T (Liu et al.)" in tiny and "28,589,128" in tiny and "4,455,531,264" in tiny
    assert len(out) == 5
    assert main(["zoo", "no-such-net"]) == 2
