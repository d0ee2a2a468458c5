"""MobileNetV3, MNASNet and EfficientNet (B0-B7, V2-S/M/L) in torchvision's layout: params and MACs
as torchvision's builders, state_dict keys and shapes identical, batch-norm eps/momentum and
stochastic-depth probabilities as torchvision's, and outputs equal to a hand-written reference in
torchvision's layout (tests/reference/tv_mobile.py) with its randomised weights loaded strictly."""

from __future__ import annotations

import copy
from functools import cache

import pytest

import netdsl

try:  # tests/ on sys.path (rootdir-relative import) or tests/ as a package
    from tv import fixture, static_keys
except ImportError:
    from tests.tv import fixture, static_keys

pytestmark = pytest.mark.usefixtures("one_thread")


NAMES = [
    "mobilenet_v3_large", "mobilenet_v3_small",
    "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l",
]
# one or two of each family for the outputs: the SE variants and both activations (V3), a scaled
# stem (MNASNet 0.5), depth-scaled MBConv stages (B1), Fused-MBConv with eps 1e-3 (V2-S)
OUTPUTS = ["mobilenet_v3_small", "mobilenet_v3_large", "mnasnet0_5", "efficientnet_b1", "efficientnet_v2_s"]
# batch-norm eps/momentum and stochastic depth (not seen in eval-mode outputs, or not by OUTPUTS):
# each family's BN, EfficientNet's depth scaling with both BN settings (B2, B5, B7) and V2-M
HYPER = ["mobilenet_v3_large", "mnasnet1_3", "efficientnet_b2", "efficientnet_b5", "efficientnet_b7",
         "efficientnet_v2_m"]


def reference(name: str, **kwargs):
    try:
        from reference.tv_mobile import build
    except ImportError:
        from tests.reference.tv_mobile import build
    return build(name, **kwargs)


@cache
def on_meta(name: str):
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        return netdsl.load(name)


@pytest.mark.parametrize("name", NAMES)
def test_params_and_macs_are_torchvisions(name):
    r = netdsl.check(name)
    ref = fixture(name)
    assert r.total.params == ref["params"]
    assert r.total.macs == ref["macs"]
    assert list(r.net.input_shape) == ref["input"]


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_keys_are_torchvisions(name):
    assert static_keys(name) == fixture(name)["state_dict"]


def _hyper(model):
    """Batch-norm eps and momentum, and the stochastic-depth probability of each residual block
    (torchvision's StochasticDepth, netdsl's DropPath), by module path."""
    out = {}
    for path, mod in model.named_modules():
        kind = type(mod).__name__
        if kind == "BatchNorm2d":
            out[path] = ("bn", mod.eps, mod.momentum)
        elif kind in ("StochasticDepth", "DropPath"):
            out[path] = ("sd", round(mod.p, 12))
    return out


@pytest.mark.parametrize("name", HYPER)
def test_batch_norm_and_stochastic_depth_are_torchvisions(name):
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        ref = reference(name)
    ours, theirs = _hyper(on_meta(name)), _hyper(ref)
    # torchvision keeps a StochasticDepth in every MBConv; it acts only where the input is added back
    used = {p for p, mod in ref.named_modules() if type(mod).__name__ in ("MBConv", "FusedMBConv")
            and mod.use_res_connect}
    theirs = {k: v for k, v in theirs.items() if v[0] == "bn" or k.rsplit(".", 1)[0] in used}
    assert ours == theirs


def _randomise(model, torch) -> None:
    """Every parameter and batch-norm statistic drawn at random, so that a wrong eps, padding,
    activation or shortcut changes the output."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.1, 0.2)  # about sqrt(running_var): outputs stay of order 1
                mod.bias.uniform_(-0.1, 0.1)
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.01, 0.04)  # small: eps 1e-3 instead of 1e-5 shows
            elif isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.uniform_(-(3 / fan_in) ** 0.5, (3 / fan_in) ** 0.5)
                if mod.bias is not None:
                    mod.bias.uniform_(-0.1, 0.1)


@pytest.mark.parametrize("name", OUTPUTS)
def test_outputs_equal_the_reference_with_its_weights(name):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = reference(name).eval()
    _randomise(ref, torch)
    # the network as loaded (its layers do not depend on the input size), allocated on the CPU
    net = copy.deepcopy(on_meta(name)).to_empty(device="cpu").eval()
    net.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        want = ref(x)
        got = net(x)
    assert want.abs().max() > 1e-3 and torch.isfinite(want).all()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    if name.startswith("efficientnet"):
        # training: stochastic depth drops the same samples' residual branches, with the same
        # probabilities and scaling, when both draw from the same generator state
        ref.train(), net.train()
        x = torch.randn(8, 3, 64, 64)
        with torch.no_grad():
            torch.manual_seed(1)
            want = ref(x)
            torch.manual_seed(1)
            got = net(x)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
