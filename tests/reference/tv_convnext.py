"""ConvNeXt written by hand in torchvision's module layout (attribute names and registration order
as torchvision.models.convnext has them, so state_dict keys are torchvision's): the independent
reference of tests/test_tv_convnext.py. From the paper (Liu et al., CVPR 2022: patchify stem,
depthwise 7x7, LayerNorm, inverted bottleneck with GELU, layer scale, stochastic depth, LayerNorm +
2x2 stride-2 downsampling). Imports torch only; eval-mode outputs (stochastic depth is off)."""

from __future__ import annotations

import torch
from torch import nn


class ChannelsLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) tensor."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ToLast(nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 3, 1)


class ToFirst(nn.Module):
    def forward(self, x):
        return x.permute(0, 3, 1, 2)


class Block(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(c, c, 7, padding=3, groups=c), ToLast(), nn.LayerNorm(c, eps=1e-6),
                                   nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c), ToFirst())
        self.layer_scale = nn.Parameter(torch.full((c, 1, 1), 1e-6))

    def forward(self, x):
        return x + self.layer_scale * self.block(x)


class ConvNeXt(nn.Module):
    def __init__(self, widths=(96, 192, 384, 768), depths=(3, 3, 9, 3), classes: int = 1000):
        super().__init__()
        stem = nn.Sequential(nn.Conv2d(3, widths[0], 4, 4), ChannelsLayerNorm(widths[0], eps=1e-6))
        layers: list[nn.Module] = [stem]
        for i, (c, n) in enumerate(zip(widths, depths, strict=True)):
            if i:
                down = nn.Sequential(ChannelsLayerNorm(widths[i - 1], eps=1e-6), nn.Conv2d(widths[i - 1], c, 2, 2))
                layers.append(down)
            layers.append(nn.Sequential(*[Block(c) for _ in range(n)]))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(ChannelsLayerNorm(widths[-1], eps=1e-6), nn.Flatten(1),
                                        nn.Linear(widths[-1], classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))
