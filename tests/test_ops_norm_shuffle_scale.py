"""layernorm, groupnorm, channel_shuffle and layerscale against hand-written PyTorch.

Each reference below is written from the papers' and torchvision's code, not from netdsl's registry:
ConvNeXt's LayerNorm2d (torchvision.models.convnext), ShuffleNetV2's channel_shuffle
(torchvision.models.shufflenetv2), ConvNeXt's layer scale (a (C, 1, 1) parameter multiplied in) and
torch's own GroupNorm. The reference's weights are randomised and ported into `netdsl.loads(...)` in
state_dict order; outputs, gradients, parameter counts and FlopCounterMode's MACs must agree.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import netdsl  # noqa: E402
from netdsl.errors import NetdslError  # noqa: E402


class RefLayerNorm2d(nn.LayerNorm):  # torchvision.models.convnext.LayerNorm2d
    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def ref_channel_shuffle(x, groups: int):  # torchvision.models.shufflenetv2.channel_shuffle
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, num_channels, height, width)


class Reference(nn.Module):
    """conv 3x3 p1 x32; groupnorm 8; relu; layernorm eps=1e-6; channel_shuffle 4; layerscale;
    gap; flatten; layernorm; layerscale 0.5; linear 10"""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 32, 3, padding=1)
        self.gn = nn.GroupNorm(8, 32)
        self.ln = RefLayerNorm2d(32, eps=1e-6)
        # ConvNeXt's layer_scale: parameters of the module itself (listed first in its state_dict)
        self.scale = nn.Parameter(torch.full((32, 1, 1), 1e-6))
        self.ln1d = nn.LayerNorm(32)
        self.scale1d = nn.Parameter(torch.full((32,), 0.5))
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.gn(self.conv(x)))
        x = self.ln(x)
        x = ref_channel_shuffle(x, 4)
        x = self.scale * x
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        x = self.scale1d * self.ln1d(x)
        return self.fc(x)


SOURCE = """input 8x16x16
conv 3x3 p1 x32; groupnorm 8; relu; layernorm eps=1e-6; channel_shuffle 4; layerscale
gap; flatten; layernorm; layerscale 0.5; linear 10
"""


def _ported():
    torch.manual_seed(0)
    ref = Reference().double()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn_like(p))
    ours = netdsl.loads(SOURCE).double()
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert [tuple(v.shape) for v in ref_sd.values()] == [tuple(v.shape) for v in our_sd.values()]
    ours.load_state_dict(dict(zip(our_sd, ref_sd.values(), strict=True)))
    return ref, ours


def test_initial_values_are_the_references():
    ours = netdsl.loads(SOURCE)
    sd = ours.state_dict()
    gammas = [v for k, v in sd.items() if k.startswith("layer_scale")]
    assert [tuple(g.shape) for g in gammas] == [(32, 1, 1), (32,)]
    assert torch.all(gammas[0] == 1e-6) and torch.all(gammas[1] == 0.5)
    norms = [m for m in ours.modules() if isinstance(m, (nn.LayerNorm, nn.GroupNorm))]
    assert [type(m).__name__ for m in norms] == ["GroupNorm", "LayerNorm2d", "LayerNorm"]
    assert [m.eps for m in norms] == [1e-5, 1e-6, 1e-5]


def test_outputs_and_gradients_equal_the_reference():
    ref, ours = _ported()
    x = torch.randn(3, 8, 16, 16, dtype=torch.float64)
    for mode in (True, False):
        ref.train(mode)
        ours.train(mode)
        x1 = x.clone().requires_grad_()
        x2 = x.clone().requires_grad_()
        y1, y2 = ref(x1), ours(x2)
        torch.testing.assert_close(y2, y1, rtol=1e-10, atol=1e-10)
        w = torch.randn_like(y1)
        (y1 * w).sum().backward()
        (y2 * w).sum().backward()
        torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-10, atol=1e-10)
        for a, b in zip(ref.parameters(), ours.parameters(), strict=True):
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-10, atol=1e-10)
            a.grad = b.grad = None


def test_channel_shuffle_moves_channels_as_shufflenet():
    x = torch.arange(12.0).view(1, 12, 1, 1)
    ours = netdsl.loads("input 12x1x1\nchannel_shuffle 3")
    assert ours(x).flatten().tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]


def test_params_and_macs_equal_torch():
    report = netdsl.checks(SOURCE)
    ref = Reference()
    assert report.total.params == sum(p.numel() for p in ref.parameters()) == 2922
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        ref(torch.zeros(1, 8, 16, 16))
    assert report.total.macs == counter.get_total_flops() // 2
    rows = {report.net.node(n)["op"]: report.net.node(n)["params"] for n in report.net.op_nodes()}
    assert rows["groupnorm"] == 64 and rows["channel_shuffle"] == 0


def test_ops_without_affine_have_no_parameters():
    report = netdsl.checks("input 8x4x4\ngroupnorm 2 affine=false; layernorm affine=false")
    assert report.total.params == 0
    assert netdsl.loads("input 8x4x4\ngroupnorm 2 affine=false; layernorm affine=false").state_dict() == {}


@pytest.mark.parametrize("source, message", [
    ("input 6x4x4\ngroupnorm 4", "groupnorm: 6 channels are not divisible by 4 groups"),
    ("input 6x4x4\nchannel_shuffle 4", "channel_shuffle: 6 channels are not divisible by 4 groups"),
    ("input 6\nchannel_shuffle 2", "channel_shuffle needs a 4-D input (N, C, H, W)"),
    ("input 6x4x4\ngroupnorm", "groupnorm needs `groups`"),
])
def test_bad_use_is_a_located_error(source, message):
    with pytest.raises(NetdslError) as e:
        netdsl.checks(source, name="t.net")
    assert message in str(e.value)
    assert str(e.value).startswith("t.net:2:")
