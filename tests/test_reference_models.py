"""The hand-written reference networks reproduce the published parameter and MAC counts exactly."""

from __future__ import annotations

import re

import pytest
import torch

try:  # tests/ on sys.path (pytest's rootdir-relative "prepend" import of a non-package tests/)
    from reference.core import GOOGLENET_AUX, REFERENCE, GoogLeNet, count, macs_of
except ImportError:  # tests/ is a package
    from tests.reference.core import GOOGLENET_AUX, REFERENCE, GoogLeNet, count, macs_of

META = torch.device("meta")


def build_on_meta(name: str) -> torch.nn.Module:
    builder = REFERENCE[name][0]
    with META:
        return builder()


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_params_and_macs_exact(name: str) -> None:
    _, shape, params, macs = REFERENCE[name]
    model = build_on_meta(name)
    assert count(model, shape) == (params, macs)


@pytest.mark.parametrize("name", ["lenet5", "googlenet", "resnet18"])
def test_meta_counts_equal_real_counts(name: str) -> None:
    """Counting on the meta device (as above) gives the same numbers as a real forward."""
    builder, shape, params, macs = REFERENCE[name]
    torch.manual_seed(0)
    model = builder().eval()
    with torch.no_grad():
        out = model(torch.randn(1, *shape))
    assert out.shape == (1, 10 if name == "lenet5" else 1000)
    assert torch.isfinite(out).all()
    assert count(model, shape) == count(build_on_meta(name), shape) == (params, macs)


def test_googlenet_aux_heads() -> None:
    model = build_on_meta("googlenet")
    assert isinstance(model, GoogLeNet)
    assert model.aux1 is not None and model.aux2 is not None
    heads = {"aux1": (model.aux1, 512), "aux2": (model.aux2, 528)}
    for name, (head, channels) in heads.items():
        head_params = sum(p.numel() for p in head.parameters())
        assert (head_params, macs_of(head.eval(), (channels, 14, 14), META)) == GOOGLENET_AUX[name]

    _, shape, params, macs = REFERENCE["googlenet"]
    aux_params = sum(p for p, _ in GOOGLENET_AUX.values())
    aux_macs = sum(m for _, m in GOOGLENET_AUX.values())
    assert sum(p.numel() for p in model.parameters()) == params + aux_params == 13_378_280

    # Training forward runs both heads and returns (logits, aux2, aux1); eval returns logits.
    model.train()
    assert macs_of(model, shape, META) == macs + aux_macs == 1_591_044_096
    with torch.no_grad():
        outputs = model(torch.zeros(1, *shape, device=META))
    assert isinstance(outputs, tuple) and [o.shape for o in outputs] == [(1, 1000)] * 3
    model.eval()
    with torch.no_grad():
        logits = model(torch.zeros(1, *shape, device=META))
    assert isinstance(logits, torch.Tensor) and logits.shape == (1, 1000)


RESNET_KEY = re.compile(
    r"(conv1\.weight|bn1\.(weight|bias|running_mean|running_var|num_batches_tracked)|fc\.(weight|bias)"
    r"|layer[1-4]\.\d+\.(conv[1-3]\.weight|downsample\.0\.weight"
    r"|(bn[1-3]|downsample\.1)\.(weight|bias|running_mean|running_var|num_batches_tracked)))"
)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_state_dict_keys_are_torchvisions(name: str) -> None:
    model = build_on_meta(name)
    keys = list(model.state_dict())
    assert all(RESNET_KEY.fullmatch(k) for k in keys), [k for k in keys if not RESNET_KEY.fullmatch(k)]
    bottleneck = name == "resnet50"
    assert ("layer1.0.downsample.0.weight" in keys) == bottleneck  # 64 -> 256 channels needs a projection
    assert "layer2.0.downsample.1.running_var" in keys and "layer2.1.downsample.0.weight" not in keys
    assert ("layer4.2.conv3.weight" in keys) == bottleneck
    # v1.5: the stride of a downsampling bottleneck sits on its 3x3 convolution.
    block = model.layer2[0]
    strided = block.conv2 if bottleneck else block.conv1
    assert strided.stride == (2, 2) and block.downsample[0].stride == (2, 2)
    assert all(not isinstance(m, torch.nn.Conv2d) or m.bias is None for m in model.modules())
