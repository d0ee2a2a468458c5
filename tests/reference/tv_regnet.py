"""Hand-written reference of RegNet X/Y in torchvision's module layout (attribute names and order as
torchvision registers them, so state_dict keys are torchvision's), from the paper's equations; imports
torch only."""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

# Design-space parameters per builder: depth d, initial width w_0, slope w_a, multiplier w_m,
# group width g, and (RegNetY only) the squeeze-excitation ratio relative to a block's input width.
INIT_PARAMS = {
    "regnet_y_400mf": dict(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8, se_ratio=0.25),
    "regnet_y_800mf": dict(depth=14, w_0=56, w_a=38.84, w_m=2.4, group_width=16, se_ratio=0.25),
    "regnet_y_1_6gf": dict(depth=27, w_0=48, w_a=20.71, w_m=2.65, group_width=24, se_ratio=0.25),
    "regnet_y_3_2gf": dict(depth=21, w_0=80, w_a=42.63, w_m=2.66, group_width=24, se_ratio=0.25),
    "regnet_y_8gf": dict(depth=17, w_0=192, w_a=76.82, w_m=2.19, group_width=56, se_ratio=0.25),
    "regnet_y_16gf": dict(depth=18, w_0=200, w_a=106.23, w_m=2.48, group_width=112, se_ratio=0.25),
    "regnet_y_32gf": dict(depth=20, w_0=232, w_a=115.89, w_m=2.53, group_width=232, se_ratio=0.25),
    "regnet_y_128gf": dict(depth=27, w_0=456, w_a=160.83, w_m=2.52, group_width=264, se_ratio=0.25),
    "regnet_x_400mf": dict(depth=22, w_0=24, w_a=24.48, w_m=2.54, group_width=16),
    "regnet_x_800mf": dict(depth=16, w_0=56, w_a=35.73, w_m=2.28, group_width=16),
    "regnet_x_1_6gf": dict(depth=18, w_0=80, w_a=34.01, w_m=2.25, group_width=24),
    "regnet_x_3_2gf": dict(depth=25, w_0=88, w_a=26.31, w_m=2.25, group_width=48),
    "regnet_x_8gf": dict(depth=23, w_0=80, w_a=49.56, w_m=2.88, group_width=120),
    "regnet_x_16gf": dict(depth=22, w_0=216, w_a=55.59, w_m=2.1, group_width=128),
    "regnet_x_32gf": dict(depth=23, w_0=320, w_a=69.86, w_m=2.0, group_width=168),
}


def _round_to_multiple(x: float, q: int) -> int:
    """Nearest multiple of q (at least q), bumped up one step if that lost more than a tenth of x."""
    m = max(q, int(x + q / 2) // q * q)
    return m + q if m < 0.9 * x else m


def stage_table(depth, w_0, w_a, w_m, group_width, bottleneck_multiplier=1.0, se_ratio=None, q=8):
    """Per-stage (width, depth, group width) of the paper's quantised linear width rule.

    Block j < d gets the continuous width u_j = w_0 + w_a * j; its exponent s_j = round(log_{w_m}(u_j / w_0))
    gives the quantised width w_0 * w_m ** s_j, rounded to a multiple of q. Runs of equal widths are the
    stages. Each stage's group width is capped at its bottleneck width, and the bottleneck width is then
    made a multiple of the group width. Evaluated in float32 like the published tables were."""
    if w_0 <= 0 or w_0 % 8 or w_a < 0 or w_m <= 1:
        raise ValueError(f"not a RegNet: w_0={w_0}, w_a={w_a}, w_m={w_m}")
    u = w_0 + w_a * torch.arange(depth, device="cpu")  # float32, on the CPU even under a meta device
    s = torch.round(torch.log(u / w_0) / math.log(w_m))
    per_block = (torch.round(w_0 * torch.pow(w_m, s) / q) * q).int().tolist()
    runs: list[list[int]] = []  # [width, count]
    for w in per_block:
        if runs and runs[-1][0] == w:
            runs[-1][1] += 1
        else:
            runs.append([w, 1])
    table = []
    for w, n in runs:
        w_bot = int(w * bottleneck_multiplier)
        g = min(group_width, w_bot)
        table.append((int(_round_to_multiple(w_bot, g) / bottleneck_multiplier), n, g))
    return table


def _conv_bn(c_in, c_out, k, stride=1, groups=1, relu=True) -> nn.Sequential:
    """Indices 0 conv (no bias), 1 batch norm (eps 1e-5, momentum 0.1), 2 ReLU if wanted."""
    parts = [nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, groups=groups, bias=False),
             nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.1)]
    if relu:
        parts.append(nn.ReLU(inplace=True))
    return nn.Sequential(*parts)


class _SE(nn.Module):
    """Channel gate: global mean -> fc1 (1x1 conv) -> ReLU -> fc2 (1x1 conv) -> sigmoid, times the input."""

    def __init__(self, channels: int, squeezed: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x):
        gate = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * gate


class _Block(nn.Module):
    """Residual bottleneck X block (Y: with SE after the grouped 3x3): relu(shortcut(x) + f(x)), where
    the shortcut is a strided 1x1 conv + BN ("proj") when the shape changes, else the identity."""

    def __init__(self, c_in, c_out, stride, group_width, bottleneck_multiplier, se_ratio):
        super().__init__()
        if c_in != c_out or stride != 1:
            self.proj = _conv_bn(c_in, c_out, 1, stride, relu=False)
        else:
            self.proj = None
        mid = int(round(c_out * bottleneck_multiplier))
        f = OrderedDict()
        f["a"] = _conv_bn(c_in, mid, 1)
        f["b"] = _conv_bn(mid, mid, 3, stride, groups=mid // group_width)
        if se_ratio:
            f["se"] = _SE(mid, int(round(se_ratio * c_in)))
        f["c"] = _conv_bn(mid, c_out, 1, relu=False)
        self.f = nn.Sequential(f)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x):
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


class RegNet(nn.Module):
    """stem (3x3 stride-2 conv to 32, BN, ReLU) -> trunk_output (stages block1.., each halving the
    resolution in its first block) -> global average pool -> fc."""

    def __init__(self, params: dict, num_classes: int = 1000, stem_width: int = 32):
        super().__init__()
        self.stem = _conv_bn(3, stem_width, 3, 2)
        stages = OrderedDict()
        c = stem_width
        for k, (width, n, g) in enumerate(stage_table(**params), start=1):
            stage = nn.Sequential()
            for i in range(n):
                stage.add_module(f"block{k}-{i}", _Block(c, width, 2 if i == 0 else 1, g,
                                                         params.get("bottleneck_multiplier", 1.0),
                                                         params.get("se_ratio")))
                c = width
            stages[f"block{k}"] = stage
        self.trunk_output = nn.Sequential(stages)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, num_classes)
        self._init_weights()

    def _init_weights(self):
        """He-normal convolutions over fan-out, unit/zero batch norms, small normal classifier."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (m.out_channels * m.kernel_size[0] * m.kernel_size[1])))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.avgpool(self.trunk_output(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


def regnet(name: str, **kwargs) -> RegNet:
    """The RegNet of that torchvision builder name, freshly initialised (no pretrained weights)."""
    return RegNet(INIT_PARAMS[name], **kwargs)
