"""Hand-written plain-PyTorch reference implementations of classic CNNs.

These are the ground truth against which netdsl's ``.net`` versions of the same networks are checked:
each builder returns an ``nn.Module`` whose parameter count and multiply-accumulate count match the
published figures (see ``REFERENCE_MORE`` at the bottom, whose integers were measured with
``torch.utils.flop_counter.FlopCounterMode``: MACs = FLOPs / 2 for one forward of batch 1; only
convolutions and matrix multiplications are counted, biases / BN / pooling / additions are free).

Nothing here imports torchvision; the torchvision-derived networks (ResNet family, DenseNet,
MobileNet v2) are re-implemented with the same layout so that their counts match torchvision's.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "PUBLISHED_MORE",
    "REFERENCE_MORE",
    "alexnet_grouped",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "fractalnet",
    "mobilenet_v1",
    "mobilenet_v2",
    "nasnet_a_mobile",
    "nin",
    "nin_cifar",
    "resnext50_32x4d",
    "se_resnet50",
    "wide_resnet50_2",
    "wrn28_10",
    "zfnet",
]


# ----------------------------------------------------------------------------------------------------
# AlexNet (two-GPU, grouped) and ZFNet
# ----------------------------------------------------------------------------------------------------


class AlexNetGrouped(nn.Module):
    """AlexNet as in Krizhevsky et al. 2012 / Caffe ``bvlc_alexnet``: conv2, conv4 and conv5 are split
    over the two GPUs (groups=2); LRN(5, 1e-4, 0.75, k=1) after relu1 and relu2, before the pools.
    All convolutions and linears have biases.  Input 227x227: 55 -> 27 -> 27 -> 13 -> 13 -> 6."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4),  # 227 -> 55
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 55 -> 27
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 27 -> 13
            nn.Conv2d(256, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 13 -> 6
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def alexnet_grouped(num_classes: int = 1000) -> nn.Module:
    return AlexNetGrouped(num_classes)


class ZFNet(nn.Module):
    """Zeiler & Fergus 2013 (Fig. 3): conv1 96 7x7/2 pad 1, conv2 256 5x5/2 pad 0, then AlexNet's
    conv3-5 (384, 384, 256, 3x3 pad 1, *no* groups) and fc 4096-4096-1000.  Max pools are 3x3/2 with
    Caffe-style ceil rounding: 224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 6.  Contrast normalisation (LRN)
    after pool1 and pool2.  All convolutions and linears have biases."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=7, stride=2, padding=1),  # 224 -> 110
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),  # 110 -> 55
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0),
            nn.Conv2d(96, 256, kernel_size=5, stride=2),  # 55 -> 26
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),  # 26 -> 13
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0),
            nn.Conv2d(256, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),  # 13 -> 6
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def zfnet(num_classes: int = 1000) -> nn.Module:
    return ZFNet(num_classes)


# ----------------------------------------------------------------------------------------------------
# Network in Network
# ----------------------------------------------------------------------------------------------------


def _mlpconv(in_ch: int, channels: tuple[int, int, int], kernel_size: int, stride: int = 1,
             padding: int = 0) -> list[nn.Module]:
    """One NiN mlpconv stage: a kxk conv followed by two 1x1 convs ("cccp"), each with bias + ReLU."""
    c1, c2, c3 = channels
    return [
        nn.Conv2d(in_ch, c1, kernel_size, stride=stride, padding=padding),
        nn.ReLU(inplace=True),
        nn.Conv2d(c1, c2, 1),
        nn.ReLU(inplace=True),
        nn.Conv2d(c2, c3, 1),
        nn.ReLU(inplace=True),
    ]


class NiN(nn.Module):
    """Network in Network, ImageNet model from the Caffe model zoo (``nin_imagenet``).

    mlpconv 11x11/4 96-96-96, maxpool 3/2; 5x5 p2 256-256-256, maxpool 3/2; 3x3 p1 384-384-384,
    maxpool 3/2, dropout 0.5; 3x3 p1 1024-1024-1000 (ReLU after the last 1x1 too), global average
    pool.  Pools use Caffe's ceil rounding: 224 -> 54 -> 27 -> 27 -> 13 -> 13 -> 6 -> 6 -> 1."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_mlpconv(3, (96, 96, 96), 11, stride=4),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            *_mlpconv(96, (256, 256, 256), 5, padding=2),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            *_mlpconv(256, (384, 384, 384), 3, padding=1),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.Dropout(dropout),
            *_mlpconv(384, (1024, 1024, num_classes), 3, padding=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def nin(num_classes: int = 1000) -> nn.Module:
    return NiN(num_classes)


class NiNCifar(nn.Module):
    """Network in Network for CIFAR-10 (Lin et al., Caffe ``cifar10_nin``).

    mlpconv 5x5 p2 192-160-96, maxpool 3/2 (ceil: 32 -> 16), dropout 0.5; 5x5 p2 192-192-192,
    avgpool 3/2 (ceil: 16 -> 8), dropout 0.5; 3x3 p1 192-192-10, global average pool (8x8).
    Every conv has a bias and is followed by a ReLU (including the last, 10-way one)."""

    def __init__(self, num_classes: int = 10, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_mlpconv(3, (192, 160, 96), 5, padding=2),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.Dropout(dropout),
            *_mlpconv(96, (192, 192, 192), 5, padding=2),
            nn.AvgPool2d(3, stride=2, ceil_mode=True),
            nn.Dropout(dropout),
            *_mlpconv(192, (192, 192, num_classes), 3, padding=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def nin_cifar(num_classes: int = 10) -> nn.Module:
    return NiNCifar(num_classes)


# ----------------------------------------------------------------------------------------------------
# ResNet family (torchvision v1.5 layout): SE-ResNet-50, Wide ResNet-50-2, ResNeXt-50 32x4d
# ----------------------------------------------------------------------------------------------------


class SqueezeExcitation(nn.Module):
    """Hu et al.: global average pool -> 1x1 conv (C -> C/r, bias) -> ReLU -> 1x1 conv (C/r -> C, bias)
    -> sigmoid -> channel-wise multiply.  (1x1 convs with bias == Linear layers with bias.)"""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=True)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))
        return x * s


class Bottleneck(nn.Module):
    """torchvision Bottleneck (ResNet v1.5: the stride sits on the 3x3 conv).  Convs have no bias and
    each is followed by BN.  width = planes * base_width / 64 * groups; output = planes * 4.  With
    ``se_reduction`` an SE module is applied to the bn3 output, before the residual addition."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, se_reduction: int | None = None) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.se = SqueezeExcitation(out, se_reduction) if se_reduction else None
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision ResNet with Bottleneck blocks: conv 7x7/2 p3 64 + BN + ReLU, maxpool 3/2 p1, four
    stages (64, 128, 256, 512 planes; strides 1, 2, 2, 2), downsample = 1x1 conv (stride) + BN on the
    first block of each stage, global average pool, fc 2048 -> num_classes (bias)."""

    def __init__(self, layers: tuple[int, int, int, int], num_classes: int = 1000, groups: int = 1,
                 width_per_group: int = 64, se_reduction: int | None = None) -> None:
        super().__init__()
        self.inplanes = 64
        self.groups = groups
        self.base_width = width_per_group
        self.se_reduction = se_reduction
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = []
        for i in range(blocks):
            layers.append(Bottleneck(self.inplanes, planes, stride if i == 0 else 1,
                                     downsample if i == 0 else None, self.groups, self.base_width,
                                     self.se_reduction))
            self.inplanes = planes * Bottleneck.expansion
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def se_resnet50(num_classes: int = 1000) -> nn.Module:
    return ResNet((3, 4, 6, 3), num_classes, se_reduction=16)


def wide_resnet50_2(num_classes: int = 1000) -> nn.Module:
    return ResNet((3, 4, 6, 3), num_classes, width_per_group=128)


def resnext50_32x4d(num_classes: int = 1000) -> nn.Module:
    return ResNet((3, 4, 6, 3), num_classes, groups=32, width_per_group=4)


# ----------------------------------------------------------------------------------------------------
# Wide ResNet 28-10 (CIFAR)
# ----------------------------------------------------------------------------------------------------


class WideBasicBlock(nn.Module):
    """Pre-activation wide block (Zagoruyko & Komodakis): BN-ReLU-conv3x3(stride)-BN-ReLU-dropout-
    conv3x3.  Convs have no bias.  When the width changes, the shortcut is a 1x1 conv (stride, no
    bias) applied to the *pre-activated* input relu(bn1(x)); otherwise it is the identity on x."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu2 = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(drop_rate)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.shortcut = None
        if in_ch != out_ch or stride != 1:
            self.shortcut = nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.relu1(self.bn1(x))
        y = self.conv1(o)
        y = self.conv2(self.dropout(self.relu2(self.bn2(y))))
        return y + (x if self.shortcut is None else self.shortcut(o))


class WideResNet(nn.Module):
    """WRN-depth-k for CIFAR: conv3x3 3->16 (no bias); three groups of n=(depth-4)/6 blocks with widths
    16k, 32k, 64k and strides 1, 2, 2; final BN-ReLU, global average pool (8x8), fc 64k -> classes."""

    def __init__(self, depth: int = 28, widen_factor: int = 10, num_classes: int = 10,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        assert (depth - 4) % 6 == 0
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        in_ch = widths[0]
        for group, stride in zip((1, 2, 3), (1, 2, 2), strict=True):
            for i in range(n):
                blocks.append(WideBasicBlock(in_ch, widths[group], stride if i == 0 else 1, drop_rate))
                in_ch = widths[group]
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(in_ch)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def wrn28_10(num_classes: int = 10, drop_rate: float = 0.0) -> nn.Module:
    return WideResNet(28, 10, num_classes, drop_rate)


# ----------------------------------------------------------------------------------------------------
# DenseNet-BC (torchvision layout)
# ----------------------------------------------------------------------------------------------------


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (bn_size*k, no bias)-BN-ReLU-conv3x3 p1 (k, no bias)[-dropout]; its output is
    concatenated to its input along channels."""

    def __init__(self, in_ch: int, growth_rate: int, bn_size: int, drop_rate: float) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_ch)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_ch, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.relu1(self.norm1(x)))
        y = self.dropout(self.conv2(self.relu2(self.norm2(y))))
        return torch.cat([x, y], 1)


class DenseNet(nn.Module):
    """torchvision DenseNet: conv 7x7/2 p3 (no bias)-BN-ReLU-maxpool 3/2 p1; dense blocks separated by
    transitions BN-ReLU-conv1x1 (C -> C/2, no bias)-avgpool 2/2; final BN, ReLU, global average pool,
    fc (bias)."""

    def __init__(self, growth_rate: int = 32, block_config: tuple[int, ...] = (6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, drop_rate: float = 0.0,
                 num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, num_init_features, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(num_init_features),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        ]
        ch = num_init_features
        for i, num_layers in enumerate(block_config):
            for _ in range(num_layers):
                layers.append(DenseLayer(ch, growth_rate, bn_size, drop_rate))
                ch += growth_rate
            if i != len(block_config) - 1:
                layers += [
                    nn.BatchNorm2d(ch),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(ch, ch // 2, 1, bias=False),
                    nn.AvgPool2d(2, stride=2),
                ]
                ch //= 2
        layers += [nn.BatchNorm2d(ch), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def densenet121(num_classes: int = 1000) -> nn.Module:
    return DenseNet(32, (6, 12, 24, 16), 64, num_classes=num_classes)


def densenet169(num_classes: int = 1000) -> nn.Module:
    return DenseNet(32, (6, 12, 32, 32), 64, num_classes=num_classes)


def densenet201(num_classes: int = 1000) -> nn.Module:
    return DenseNet(32, (6, 12, 48, 32), 64, num_classes=num_classes)


def densenet161(num_classes: int = 1000) -> nn.Module:
    return DenseNet(48, (6, 12, 36, 24), 96, num_classes=num_classes)


# ----------------------------------------------------------------------------------------------------
# FractalNet (CIFAR)
# ----------------------------------------------------------------------------------------------------


class FractalConv(nn.Sequential):
    """conv3x3 p1 (no bias) -> dropout (the block's rate) -> BN -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int, dropout: float) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
            nn.Dropout(dropout),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class FractalBlock(nn.Module):
    """Fractal expansion f_C with f_1(z) = conv(z), f_{C+1}(z) = join(f_C(f_C(z)), conv(z)), joins
    flattened.  Column c (c = 0 .. C-1) is a chain of 2**c convs; the deepest column has 2**(C-1).
    Step d = 1 .. 2**(C-1) is a join of every column whose conv ends at d (column c ends at multiples
    of 2**(C-1-c)); a conv of column c starting after step s reads the join output of step s (step 0 is
    the block input).  For C = 3 (7 convs): step 2 joins (col2 conv2, col1 conv1), step 4 joins
    (col2 conv4, col1 conv2, col0 conv1).  Join = element-wise mean of the surviving inputs.

    Local drop-path (training): each join input is dropped with probability ``drop_local`` (one kept
    at random if all are dropped); global drop-path: ``forward(x, column)`` runs only that column."""

    def __init__(self, in_ch: int, out_ch: int, num_columns: int = 3, dropout: float = 0.0,
                 drop_local: float = 0.15) -> None:
        super().__init__()
        self.num_columns = num_columns
        self.drop_local = drop_local
        self.columns = nn.ModuleList(
            nn.ModuleList(FractalConv(in_ch if i == 0 else out_ch, out_ch, dropout) for i in range(2**c))
            for c in range(num_columns)
        )

    def _join(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.training and len(inputs) > 1 and self.drop_local > 0:
            kept = [t for t in inputs if random.random() >= self.drop_local]
            inputs = kept or [random.choice(inputs)]
        return torch.stack(inputs).mean(0)

    def forward(self, x: torch.Tensor, column: int | None = None) -> torch.Tensor:
        if column is not None:  # global drop-path: a single column, no joins
            for conv in self.columns[column]:
                x = conv(x)
            return x
        depth = 2 ** (self.num_columns - 1)
        outs = [x]
        for d in range(1, depth + 1):
            ending = []
            for column_convs in self.columns:
                span = depth // len(column_convs)
                if d % span == 0:
                    ending.append(column_convs[d // span - 1](outs[d - span]))
            outs.append(self._join(ending))
        return outs[-1]


class FractalNet(nn.Module):
    """FractalNet for CIFAR (Larsson et al.): 5 fractal blocks of C=3 columns with 64-128-256-512-512
    channels, each block followed by maxpool 2x2/2 (32 -> 1), dropout rates 0/.1/.2/.3/.4 per block,
    fc 512 -> classes (bias).  Drop-path in training: per mini-batch, with probability ``global_ratio``
    a single column (chosen uniformly) is used in every block, otherwise local drop-path in joins."""

    def __init__(self, num_classes: int = 10, channels: tuple[int, ...] = (64, 128, 256, 512, 512),
                 num_columns: int = 3, dropouts: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4),
                 drop_local: float = 0.15, global_ratio: float = 0.5) -> None:
        super().__init__()
        self.num_columns = num_columns
        self.global_ratio = global_ratio
        blocks = []
        in_ch = 3
        for out_ch, p in zip(channels, dropouts, strict=True):
            blocks.append(FractalBlock(in_ch, out_ch, num_columns, p, drop_local))
            in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        column = None
        if self.training and random.random() < self.global_ratio:
            column = random.randrange(self.num_columns)
        for block in self.blocks:
            x = self.pool(block(x, column))
        return self.fc(torch.flatten(x, 1))


def fractalnet(num_classes: int = 10) -> nn.Module:
    return FractalNet(num_classes)


# ----------------------------------------------------------------------------------------------------
# MobileNet v1 / v2
# ----------------------------------------------------------------------------------------------------


def _conv_bn_relu(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, groups: int = 1,
                  activation: Callable[..., nn.Module] = nn.ReLU) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        activation(inplace=True),
    )


class MobileNetV1(nn.Module):
    """MobileNet v1 1.0-224 (Howard et al., Keras ``MobileNet``): conv 3x3/2 32, then 13 depthwise-
    separable blocks (dw 3x3 -> BN -> ReLU -> pw 1x1 -> BN -> ReLU), all convs without bias, global
    average pool, dropout, fc 1024 -> classes (with bias; Keras uses an equivalent 1x1 conv)."""

    cfg = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))

    def __init__(self, num_classes: int = 1000, dropout: float = 1e-3) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu(3, 32, 3, stride=2)]
        in_ch = 32
        for out_ch, stride in self.cfg:
            layers.append(_conv_bn_relu(in_ch, in_ch, 3, stride, groups=in_ch))
            layers.append(_conv_bn_relu(in_ch, out_ch, 1))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.fc(self.dropout(x))


def mobilenet_v1(num_classes: int = 1000) -> nn.Module:
    return MobileNetV1(num_classes)


class InvertedResidual(nn.Module):
    """torchvision MobileNet v2 block: [1x1 expand -> BN -> ReLU6] (skipped when t = 1), dw 3x3 (stride)
    -> BN -> ReLU6, 1x1 project -> BN (linear); residual add when stride 1 and in == out."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(in_ch * expand_ratio))
        self.use_res_connect = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu(in_ch, hidden, 1, activation=nn.ReLU6))
        layers += [
            _conv_bn_relu(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision MobileNet v2 (width 1.0): conv 3x3/2 32, 17 inverted residual blocks (t, c, n, s)
    below, conv 1x1 320 -> 1280 (BN, ReLU6), global average pool, dropout 0.2, fc 1280 -> classes."""

    cfg = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
           (6, 320, 1, 1))

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu(3, 32, 3, stride=2, activation=nn.ReLU6)]
        in_ch = 32
        for t, c, n, s in self.cfg:
            for i in range(n):
                layers.append(InvertedResidual(in_ch, c, s if i == 0 else 1, t))
                in_ch = c
        layers.append(_conv_bn_relu(in_ch, 1280, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2(num_classes: int = 1000) -> nn.Module:
    return MobileNetV2(num_classes)


# ----------------------------------------------------------------------------------------------------
# NASNet-A Mobile (4 @ 1056), as Cadene's pretrainedmodels ``nasnetamobile``
# ----------------------------------------------------------------------------------------------------
#
# All spatial ops use TensorFlow "SAME" padding: for an input of size n, kernel k and stride s, the
# output is ceil(n / s) and the total padding max((ceil(n/s) - 1) * s + k - n, 0) is split with the
# smaller half before (top/left).  Stride 1: symmetric (k-1)/2.  Stride 2 on an even input: (k-3)/2
# before and (k-1)/2 after (k=3: 0/1, k=5: 1/2, k=7: 2/3); on an odd input (only the 111x111 input of
# stem cell 0): symmetric (k-1)/2.  This is exactly what Cadene's pad-conv-crop tricks compute
# (``name='specific'``, ``BranchSeparablesReduction``, ``MaxPoolPad``, ``AvgPoolPad``), without the
# wasted extra row/column of work.  Average pools exclude padding; max pools ignore it.


def _same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """Conv2d (no bias) with TF "SAME" padding computed from the input size."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(in_ch, out_ch, kernel_size, stride=stride, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        top, bottom = _same_padding(x.shape[-2], k, s)
        left, right = _same_padding(x.shape[-1], k, s)
        return super().forward(F.pad(x, (left, right, top, bottom)))


class SamePool2d(nn.Module):
    """3x3 max or average pool with TF "SAME" padding (padding excluded from averages)."""

    def __init__(self, kind: str, stride: int, kernel_size: int = 3) -> None:
        super().__init__()
        assert kind in ("max", "avg")
        self.kind, self.kernel_size, self.stride = kind, kernel_size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size, self.stride
        before, after = _same_padding(x.shape[-1], k, s)
        assert (before, after) == _same_padding(x.shape[-2], k, s)
        # PyTorch pools only pad symmetrically; one extra trailing row/column is what ceil_mode adds.
        ceil = after > before
        if self.kind == "max":
            return F.max_pool2d(x, k, s, before, ceil_mode=ceil)
        return F.avg_pool2d(x, k, s, before, ceil_mode=ceil, count_include_pad=False)


class ReLUConvBN(nn.Sequential):
    """ReLU -> 1x1 conv (no bias) -> BN(eps 1e-3): the per-cell input adapters."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(nn.ReLU(), nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch, eps=1e-3))


class SepConvBranch(nn.Sequential):
    """NASNet separable branch, "relu-dw-pw-bn twice": ReLU -> dw kxk (stride) -> pw 1x1 (in -> mid)
    -> BN -> ReLU -> dw kxk (stride 1) -> pw 1x1 (mid -> out) -> BN.  No conv has a bias.  mid = in
    (``BranchSeparables``) except in stem cell 0's branches on the raw stem (``BranchSeparablesStem``),
    where mid = out."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1,
                 mid_ch: int | None = None) -> None:
        mid = in_ch if mid_ch is None else mid_ch
        super().__init__(
            nn.ReLU(),
            SameConv2d(in_ch, in_ch, kernel_size, stride, groups=in_ch),
            nn.Conv2d(in_ch, mid, 1, bias=False),
            nn.BatchNorm2d(mid, eps=1e-3),
            nn.ReLU(),
            SameConv2d(mid, mid, kernel_size, 1, groups=mid),
            nn.Conv2d(mid, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch, eps=1e-3),
        )


class FactorizedReduction(nn.Module):
    """Halves the resolution of h_{i-2} when the previous cell reduced: ReLU, then two paths of
    out/2 channels each, concatenated and batch-normalised:
      path 1: 1x1 conv stride 2 (Cadene: avgpool 1x1/2 then 1x1 conv), i.e. pixels (0, 2, 4, ...);
      path 2: shift by one pixel (zero-pad 1 at bottom/right, crop the first row/column), then the
              same 1x1 conv stride 2, i.e. pixels (1, 3, 5, ...) with a zero pixel past the end."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.path_1 = nn.Conv2d(in_ch, out_ch // 2, 1, stride=2, bias=False)
        self.path_2 = nn.Conv2d(in_ch, out_ch // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.path_1(x), self.path_2(shifted)], 1))


class NormalCell(nn.Module):
    """NASNet-A normal cell, inputs (cur = h_{i-1}, prev = h_{i-2}); c filters per branch.
      h = ReLUConvBN(cur), p = ReLUConvBN(prev) or FactorizedReduction(prev) if prev has 2x resolution
      (the first cell after a reduction, Cadene's ``FirstCell``).
      b0 = sep5(h) + sep3(p);  b1 = sep5(p) + sep3(p);  b2 = avg3(h) + p;  b3 = avg3(p) + avg3(p);
      b4 = sep3(h) + h;  output = concat(p, b0, b1, b2, b3, b4)  (6c channels, stride 1)."""

    def __init__(self, prev_ch: int, cur_ch: int, c: int, reduce_prev: bool = False) -> None:
        super().__init__()
        self.prev = FactorizedReduction(prev_ch, c) if reduce_prev else ReLUConvBN(prev_ch, c)
        self.cur = ReLUConvBN(cur_ch, c)
        self.comb_0_left, self.comb_0_right = SepConvBranch(c, c, 5), SepConvBranch(c, c, 3)
        self.comb_1_left, self.comb_1_right = SepConvBranch(c, c, 5), SepConvBranch(c, c, 3)
        self.comb_4_left = SepConvBranch(c, c, 3)
        self.avg = SamePool2d("avg", 1)

    def forward(self, cur: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        p, h = self.prev(prev), self.cur(cur)
        b0 = self.comb_0_left(h) + self.comb_0_right(p)
        b1 = self.comb_1_left(p) + self.comb_1_right(p)
        b2 = self.avg(h) + p
        b3 = self.avg(p) + self.avg(p)
        b4 = self.comb_4_left(h) + h
        return torch.cat([p, b0, b1, b2, b3, b4], 1)


class ReductionCell(nn.Module):
    """NASNet-A reduction cell (stride 2), inputs (cur, prev), c filters per branch.
      h = ReLUConvBN(cur);  p = ReLUConvBN(prev) in ``reduction_cell_0/1``; in the stem cells
      p = the raw stem conv output (stem 0, whose p-branches are ``SepConvBranch(32, c, k, 2, mid=c)``)
      or FactorizedReduction(stem conv output) (stem 1, whose inputs differ 2x in resolution).
      b0 = sep5/2(h) + sep7/2(p);  b1 = max3/2(h) + sep7/2(p);  b2 = avg3/2(h) + sep5/2(p);
      b3 = avg3/1(b0) + b1;  b4 = sep3/1(b0) + max3/2(h);  output = concat(b1, b2, b3, b4)  (4c)."""

    def __init__(self, prev_ch: int, cur_ch: int, c: int, prev_mode: str = "conv") -> None:
        super().__init__()
        self.cur = ReLUConvBN(cur_ch, c)
        if prev_mode == "stem":
            self.prev: nn.Module = nn.Identity()
            p_ch, mid = prev_ch, c
        else:
            self.prev = FactorizedReduction(prev_ch, c) if prev_mode == "factorized" else ReLUConvBN(prev_ch, c)
            p_ch, mid = c, None
        self.comb_0_left = SepConvBranch(c, c, 5, 2)
        self.comb_0_right = SepConvBranch(p_ch, c, 7, 2, mid)
        self.comb_1_right = SepConvBranch(p_ch, c, 7, 2, mid)
        self.comb_2_right = SepConvBranch(p_ch, c, 5, 2, mid)
        self.comb_4_left = SepConvBranch(c, c, 3, 1)
        self.max = SamePool2d("max", 2)
        self.avg2 = SamePool2d("avg", 2)
        self.avg1 = SamePool2d("avg", 1)

    def forward(self, cur: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        h, p = self.cur(cur), self.prev(prev)
        b0 = self.comb_0_left(h) + self.comb_0_right(p)
        b1 = self.max(h) + self.comb_1_right(p)
        b2 = self.avg2(h) + self.comb_2_right(p)
        b3 = self.avg1(b0) + b1
        b4 = self.comb_4_left(b0) + self.max(h)
        return torch.cat([b1, b2, b3, b4], 1)


class NASNetAMobile(nn.Module):
    """NASNet-A Mobile 4 @ 1056 (Zoph et al.), structured like Cadene's ``nasnetamobile``.

    filters f = 1056 // 24 = 44.  conv0: 3x3/2 VALID, 32 filters, no bias, BN (no ReLU): 224 -> 111.
    stem_0 = ReductionCell(x=conv0, p=conv0 raw, c=f/4=11)            -> 44 ch @ 56
    stem_1 = ReductionCell(cur=stem_0, prev=conv0 factorized, c=f/2=22) -> 88 ch @ 28
    cell_0..3   (c=f=44, 264 ch @ 28): cell_0 = Normal(cur=stem_1, prev=stem_0 factorized),
                cell_1 = Normal(cell_0, stem_1), cell_2 = Normal(cell_1, cell_0), cell_3 = (cell_2, cell_1)
    reduction_0 = ReductionCell(cur=cell_3, prev=cell_2, c=2f=88)       -> 352 ch @ 14
    cell_6..9   (c=88, 528 ch @ 14): cell_6 = Normal(red_0, cell_3 factorized), cell_7 = (cell_6, red_0),
                cell_8 = (cell_7, cell_6), cell_9 = (cell_8, cell_7)
    reduction_1 = ReductionCell(cur=cell_9, prev=cell_8, c=4f=176)      -> 704 ch @ 7
    cell_12..15 (c=176, 1056 ch @ 7): cell_12 = Normal(red_1, cell_9 factorized), cell_13 = (cell_12, red_1),
                cell_14 = (cell_13, cell_12), cell_15 = (cell_14, cell_13)
    head: ReLU, global average pool (7x7), dropout 0.5, fc 1056 -> classes (bias)."""

    def __init__(self, num_classes: int = 1000, stem_filters: int = 32, penultimate_filters: int = 1056,
                 dropout: float = 0.5) -> None:
        super().__init__()
        f = penultimate_filters // 24
        self.conv0 = nn.Sequential(nn.Conv2d(3, stem_filters, 3, stride=2, bias=False),
                                   nn.BatchNorm2d(stem_filters, eps=1e-3))
        self.cell_stem_0 = ReductionCell(stem_filters, stem_filters, f // 4, prev_mode="stem")
        self.cell_stem_1 = ReductionCell(stem_filters, 4 * (f // 4), f // 2, prev_mode="factorized")
        cells: list[nn.Module] = []
        prev_ch, cur_ch = 4 * (f // 4), 4 * (f // 2)  # channels of (h_{i-2}, h_{i-1})
        for stage, c in enumerate((f, 2 * f, 4 * f)):
            if stage > 0:
                cells.append(ReductionCell(prev_ch, cur_ch, c))
                prev_ch, cur_ch = cur_ch, 4 * c
            for i in range(4):
                cells.append(NormalCell(prev_ch, cur_ch, c, reduce_prev=(i == 0)))
                prev_ch, cur_ch = cur_ch, 6 * c
        self.cells = nn.ModuleList(cells)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.last_linear = nn.Linear(cur_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.conv0(x)
        s0 = self.cell_stem_0(x0, x0)
        prev, cur = s0, self.cell_stem_1(s0, x0)
        for cell in self.cells:
            prev, cur = cur, cell(cur, prev)
        x = torch.flatten(self.avgpool(self.relu(cur)), 1)
        return self.last_linear(self.dropout(x))


def nasnet_a_mobile(num_classes: int = 1000) -> nn.Module:
    return NASNetAMobile(num_classes)


# ----------------------------------------------------------------------------------------------------
# name -> (builder, input shape CHW, parameters, MACs or None)
# ----------------------------------------------------------------------------------------------------

REFERENCE_MORE: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int], int, int | None]] = {
    "alexnet_grouped": (alexnet_grouped, (3, 227, 227), 60_965_224, 724_406_816),
    "zfnet": (zfnet, (3, 224, 224), 62_357_608, 1_168_032_896),
    "nin": (nin, (3, 224, 224), 7_595_176, 1_100_188_800),
    "nin_cifar": (nin_cifar, (3, 32, 32), 966_986, 222_486_528),
    "se_resnet50": (se_resnet50, (3, 224, 224), 28_088_024, 4_091_699_200),
    "wrn28_10": (wrn28_10, (3, 32, 32), 36_479_194, 5_243_328_768),
    "wide_resnet50_2": (wide_resnet50_2, (3, 224, 224), 68_883_240, 11_398_021_120),
    "resnext50_32x4d": (resnext50_32x4d, (3, 224, 224), 25_028_904, 4_230_479_872),
    "densenet121": (densenet121, (3, 224, 224), 7_978_856, 2_834_161_664),
    "densenet169": (densenet169, (3, 224, 224), 14_149_480, 3_359_843_328),
    "densenet201": (densenet201, (3, 224, 224), 20_013_928, 4_291_365_888),
    "densenet161": (densenet161, (3, 224, 224), 28_681_000, 7_727_907_072),
    "fractalnet": (fractalnet, (3, 32, 32), 33_724_618, 845_222_912),
    "mobilenet_v1": (mobilenet_v1, (3, 224, 224), 4_231_976, 568_740_352),
    "mobilenet_v2": (mobilenet_v2, (3, 224, 224), 3_504_872, 300_774_272),
    "nasnet_a_mobile": (nasnet_a_mobile, (3, 224, 224), 5_289_978, 563_638_816),
}

# Published figures as quoted (DenseNet MACs to 4 significant figures, hence 1e-4), with the relative
# tolerance each must hold to: name -> (params, MACs or None, params rel. tol., MACs rel. tol.).
PUBLISHED_MORE: dict[str, tuple[int, int | None, float, float]] = {
    "alexnet_grouped": (60_965_224, 724_406_816, 0.0, 0.0),
    "zfnet": (62_357_608, None, 0.0, 0.0),
    "nin": (7_595_176, None, 0.0, 0.0),
    "nin_cifar": (966_986, None, 0.0, 0.0),
    "se_resnet50": (28_088_024, None, 0.0, 0.0),
    "wrn28_10": (36_479_194, None, 0.0, 0.0),
    "wide_resnet50_2": (68_883_240, 11_398_021_120, 0.0, 0.0),
    "resnext50_32x4d": (25_028_904, 4_230_479_872, 0.0, 0.0),
    "densenet121": (7_978_856, 2_834_000_000, 0.0, 1e-4),
    "densenet169": (14_149_480, 3_360_000_000, 0.0, 1e-4),
    "densenet201": (20_013_928, 4_291_000_000, 0.0, 1e-4),
    "densenet161": (28_681_000, 7_728_000_000, 0.0, 1e-4),
    "fractalnet": (33_724_618, None, 0.01, 0.0),
    "mobilenet_v1": (4_231_976, 569_000_000, 0.0, 0.01),
    "mobilenet_v2": (3_504_872, 300_774_272, 0.0, 0.0),
    "nasnet_a_mobile": (5_289_978, 564_000_000, 0.01, 0.02),
}
