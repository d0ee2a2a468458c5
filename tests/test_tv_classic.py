"""The classic torchvision CNN builders in torchvision's layout: VGG with batch norm, AlexNet,
SqueezeNet, GoogLeNet, Inception v3, ResNeXt-101 and Wide ResNet-101-2.

Each zoo file has the fixture's parameter and MAC counts (tests/fixtures/torchvision/<builder>.json,
measured on torchvision) and its exact state_dict keys, order and shapes; for representative builders,
the weights of a hand-written reference in torchvision's layout (tests/reference/tv_classic.py),
randomised batch norms included, load into the netdsl module with strict=True and give its outputs.
"""

from __future__ import annotations

import pytest

import netdsl

torch = pytest.importorskip("torch")

try:
    from reference import tv_classic
    from tv import fixture, static_keys
except ImportError:  # pragma: no cover - run from the repository root
    from tests.reference import tv_classic
    from tests.tv import fixture, static_keys

pytestmark = pytest.mark.usefixtures("one_thread")

BUILDERS = sorted(tv_classic.BUILDERS)

# builders whose outputs are compared with the reference, and the input they take (C, H, W)
OUTPUTS = {
    "vgg11_bn": (3, 32, 32),
    "alexnet_tv": (3, 63, 63),
    "squeezenet1_0": (3, 65, 65),  # 65: the ceil-mode pools round up
    "squeezenet1_1": (3, 65, 65),
    "googlenet_tv": (3, 64, 64),
    "inception_v3": (3, 75, 75),
    "resnext101_64x4d": (3, 32, 32),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_params_and_macs_equal_torchvision(name):
    fx = fixture(name)
    r = netdsl.check(name)
    assert (r.total.params, r.total.macs) == (fx["params"], fx["macs"])
    assert r.total.trainable == fx["params"]


@pytest.mark.parametrize("name", BUILDERS)
def test_state_dict_keys_equal_torchvision(name):
    fx = fixture(name)
    assert static_keys(name) == fx["state_dict"]


def _fill(t, pool, offset: int) -> None:
    """Fill t with the random pool read cyclically from offset (cheap for 100M-weight layers)."""
    flat, n, i = t.view(-1), t.numel(), 0
    while i < n:
        k = min(n - i, len(pool) - offset)
        flat[i:i + k] = pool[offset:offset + k]
        i, offset = i + k, 0


def _randomised(module):
    """Random weights (uniform, scaled by the fan-in), with the batch norms' running statistics and
    affine parameters drawn too; the running variances are small, so that a wrong eps shows."""
    module.to_empty(device="cpu")
    g = torch.Generator().manual_seed(0)
    pool = torch.rand(1_000_003, generator=g) * 2 - 1  # uniform in [-1, 1)
    with torch.no_grad():
        for i, (name, t) in enumerate(module.state_dict().items()):
            if not t.is_floating_point():
                t.zero_()
                continue
            _fill(t, pool, (7919 * i) % len(pool))
            if name.endswith("running_var"):
                t.mul_(0.01).add_(0.011)  # in [0.001, 0.021)
            elif t.dim() == 1:
                t.mul_(0.5)  # biases, batch norm shifts and running means in [-0.5, 0.5)
            else:
                t.mul_((3.0 / t[0].numel()) ** 0.5)  # weights: variance 1 / fan-in
        # a batch norm scales by weight / sqrt(var + eps): draw the weight near sqrt(var)
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(m.running_var.sqrt() * (m.weight + 1.0))  # factor in [0.5, 1.5)
    return module.eval()


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_outputs_equal_the_reference(name):
    torch.manual_seed(0)
    shape = OUTPUTS[name]
    with torch.device("meta"):
        ref = tv_classic.BUILDERS[name]()
        net = netdsl.load(name, input_shape=shape)
    ref = _randomised(ref)
    net.to_empty(device="cpu")
    net.load_state_dict(ref.state_dict(), strict=True)
    net.eval()
    x = torch.randn(1, *shape)
    with torch.no_grad():
        want = ref(x)
        got = net(x)
    assert want.abs().max() > 1e-3  # the signal reaches the output
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
