"""ShuffleNetV2 written by hand in torchvision's module layout (attribute names and order as
torchvision.models.shufflenetv2 registers them, so that state_dict keys are torchvision's): the
independent reference of tests/test_tv_shufflenet.py. Written from the paper (Ma et al., ECCV
2018, Fig. 3 c/d and Table 5) and the documented torchvision layout, imports torch only."""

from __future__ import annotations

import torch
from torch import nn


def _shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def _cbr(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def _dw(c: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False), nn.BatchNorm2d(c)]


class Unit(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        half = cout // 2
        self.stride = stride
        self.branch1 = nn.Sequential(*_dw(cin, stride), *_cbr(cin, half)) if stride > 1 else nn.Sequential()
        self.branch2 = nn.Sequential(*_cbr(cin if stride > 1 else half, half), *_dw(half, stride), *_cbr(half, half))

    def forward(self, x):
        if self.stride == 1:
            half = x.shape[1] // 2
            out = torch.cat([x[:, :half], self.branch2(x[:, half:])], 1)
        else:
            out = torch.cat([self.branch1(x), self.branch2(x)], 1)
        return _shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, widths: list[int], repeats=(4, 8, 4), classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = widths[0]
        for i, (n, c) in enumerate(zip(repeats, widths[1:4], strict=True)):
            setattr(self, f"stage{i + 2}", nn.Sequential(Unit(cin, c, 2), *[Unit(c, c, 1) for _ in range(n - 1)]))
            cin = c
        self.conv5 = nn.Sequential(nn.Conv2d(cin, widths[4], 1, bias=False), nn.BatchNorm2d(widths[4]), nn.ReLU())
        self.fc = nn.Linear(widths[4], classes)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.fc(x.mean((2, 3)))


WIDTHS = {"shufflenet_v2_x0_5": [24, 48, 96, 192, 1024], "shufflenet_v2_x1_0": [24, 116, 232, 464, 1024],
          "shufflenet_v2_x1_5": [24, 176, 352, 704, 1024], "shufflenet_v2_x2_0": [24, 244, 488, 976, 2048]}
