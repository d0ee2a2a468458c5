"""CIFAR ResNets written by hand in the layouts of the repositories whose checkpoints people load:
akamaster/pytorch_resnet_cifar10 (ResNet-20/56, option-A shortcuts: identity with every second
pixel and zero channels appended) and kuangliu/pytorch-cifar (PreActResNet18). Attribute names and
registration order follow those repositories, so state_dict keys are theirs. Imports torch only."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class OptionABlock(nn.Module):
    def __init__(self, cin: int, c: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.pad = (c - cin) // 2 if stride != 1 or cin != c else None

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        short = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + short)


class CifarResNet(nn.Module):
    def __init__(self, n: int, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for i, (c, s) in enumerate([(16, 1), (32, 2), (64, 2)]):
            blocks = []
            for j in range(n):
                blocks.append(OptionABlock(cin, c, s if j == 0 else 1))
                cin = c
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.linear = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(F.avg_pool2d(x, x.shape[3]).flatten(1))


class PreActBlock(nn.Module):
    def __init__(self, cin: int, c: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        if stride != 1 or cin != c:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False))

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        short = self.shortcut(pre) if hasattr(self, "shortcut") else x
        return self.conv2(F.relu(self.bn2(self.conv1(pre)))) + short


class PreActResNet18(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        cin = 64
        for i, (c, s) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
            setattr(self, f"layer{i + 1}", nn.Sequential(PreActBlock(cin, c, s), PreActBlock(c, c, 1)))
            cin = c
        self.linear = nn.Linear(512, classes)

    def forward(self, x):
        x = self.conv1(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.linear(F.avg_pool2d(x, 4).flatten(1))


REFERENCES = {"resnet20": lambda: CifarResNet(3), "resnet56": lambda: CifarResNet(9),
              "preact_resnet18": PreActResNet18}
# parameters as the repositories' READMEs state them (akamaster: 0.27M / 0.85M; kuangliu's 11.17M)
PARAMS = {"resnet20": 269_722, "resnet56": 853_018, "preact_resnet18": 11_171_146}
del torch
