"""ConvNeXt (T, S, B, L) in torchvision's layout: params and MACs as torchvision's builders, the
state_dict (the block-held `layer_scale` included) identical, outputs equal to a hand-written
reference with its weights; channels-last layers (`permute`, `linear` and `layernorm` over channels
at every position) and their errors."""

from __future__ import annotations

import pytest

import netdsl

try:  # tests/ on sys.path (rootdir-relative import) or tests/ as a package
    from tv import assert_torchvisions, same_outputs
except ImportError:
    from tests.tv import assert_torchvisions, same_outputs

NAMES = ["convnext_tiny", "convnext_small", "convnext_base", "convnext_large"]


@pytest.mark.parametrize("name", NAMES)
def test_params_macs_and_keys_are_torchvisions(name):
    pytest.importorskip("torch")
    assert_torchvisions(name)


def test_outputs_equal_the_reference_with_its_weights():
    pytest.importorskip("torch")
    try:
        from reference.tv_convnext import ConvNeXt
    except ImportError:
        from tests.reference.tv_convnext import ConvNeXt
    net = netdsl.load("convnext_tiny", input_shape=(3, 64, 64), c1=16, c2=32, c3=48, c4=64, b3=2, classes=10)
    ref = ConvNeXt((16, 32, 48, 64), (3, 3, 2, 3), classes=10)
    for m in ref.modules():  # layer scales of 1e-6 would hide the blocks: make them count
        if hasattr(m, "layer_scale"):
            m.layer_scale.data.fill_(0.5)
    same_outputs(net, ref, (3, 64, 64))


@pytest.mark.parametrize(("text", "message"), [
    ("input 8x4x4\npermute 0x2x3x1 > conv 1x1 x8\n",
     "conv needs channels first (N, C, H, W); this tensor is channels last"),
    ("input 8x4x4\nlinear 16\n", "put it between `permute 0x2x3x1` and `permute 0x3x1x2`"),
    ("input 8x4x4\npermute 0x2x3x1 > permute 0x2x3x1\n", "the tensor is already channels-last"),
    ("input 8x4x4\npermute 0x1x3x2\n", "permute: only channels last (0x2x3x1) and back (0x3x1x2)"),
])
def test_channels_last_errors(text, message):
    with pytest.raises(netdsl.NetdslError) as e:
        netdsl.checks(text)
    assert message in str(e.value)


def test_a_channels_last_linear_counts_every_position():
    r = netdsl.checks("input 8x4x4\npermute 0x2x3x1 > linear 16 > gelu > layernorm > permute 0x3x1x2\n")
    assert r.total.params == 8 * 16 + 16 + 2 * 16
    assert r.total.macs == 4 * 4 * 8 * 16
    assert r.net.node(r.net.output_node)["shape"] == (16, 4, 4)
