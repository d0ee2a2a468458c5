"""Hand-written references in torchvision's module layout (attribute names and order as torchvision
registers them, so state_dict keys are torchvision's), from the papers; imports torch only.

Used by tests/test_tv_classic.py through ``BUILDERS`` (builder name -> zero-argument constructor).
Every network is evaluation-only here: no weight initialisation, no auxiliary classifiers and no
input transform (the fixtures' state_dicts have none of them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    """Runs its named children in the order they were given; the feature map is flattened after a
    top-level global pool and once more at the end (a no-op when it is flat already)."""

    def __init__(self, *parts: tuple[str, nn.Module]) -> None:
        super().__init__()
        for name, part in parts:
            self.add_module(name, part)

    def forward(self, x):
        for part in self.children():
            x = part(x)
            if isinstance(part, nn.AdaptiveAvgPool2d):
                x = x.flatten(1)
        return x.flatten(1)


def relu() -> nn.ReLU:
    return nn.ReLU(inplace=True)


# ------------------------------------------------------------------ VGG with batch norm, AlexNet

# convolutions per stage for VGG's configurations A, B, D and E; widths 64-128-256-512-512
VGG_DEPTHS = {"vgg11_bn": (1, 1, 2, 2, 2), "vgg13_bn": (2, 2, 2, 2, 2),
              "vgg16_bn": (2, 2, 3, 3, 3), "vgg19_bn": (2, 2, 4, 4, 4)}


def vgg(depths, classes: int = 1000) -> Net:
    feats, c = [], 3
    for width, n in zip((64, 128, 256, 512, 512), depths, strict=True):
        for _ in range(n):
            feats += [nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), relu()]
            c = width
        feats.append(nn.MaxPool2d(2, 2))
    head = [nn.Linear(512 * 49, 4096), relu(), nn.Dropout(0.5),
            nn.Linear(4096, 4096), relu(), nn.Dropout(0.5), nn.Linear(4096, classes)]
    return Net(("features", nn.Sequential(*feats)), ("avgpool", nn.AdaptiveAvgPool2d(7)),
               ("classifier", nn.Sequential(*head)))


def alexnet(classes: int = 1000) -> Net:
    # single-tower AlexNet: (out, kernel, stride, padding, pool after)
    feats, c = [], 3
    for out, k, s, p, pool in ((64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False),
                               (256, 3, 1, 1, False), (256, 3, 1, 1, True)):
        feats += [nn.Conv2d(c, out, k, s, p), relu()] + ([nn.MaxPool2d(3, 2)] if pool else [])
        c = out
    head = [nn.Dropout(0.5), nn.Linear(256 * 36, 4096), relu(),
            nn.Dropout(0.5), nn.Linear(4096, 4096), relu(), nn.Linear(4096, classes)]
    return Net(("features", nn.Sequential(*feats)), ("avgpool", nn.AdaptiveAvgPool2d(6)),
               ("classifier", nn.Sequential(*head)))


# ---------------------------------------------------------------------------------- SqueezeNet


class Fire(nn.Module):
    """1x1 squeeze, then 1x1 and 3x3 expands side by side, each followed by a ReLU."""

    def __init__(self, c_in: int, s: int, e: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(c_in, s, 1)
        self.squeeze_activation = relu()
        self.expand1x1 = nn.Conv2d(s, e, 1)
        self.expand1x1_activation = relu()
        self.expand3x3 = nn.Conv2d(s, e, 3, padding=1)
        self.expand3x3_activation = relu()

    def forward(self, x):
        z = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1x1(z)), F.relu(self.expand3x3(z))], 1)


def squeezenet(stem: tuple[int, int], layout: str, classes: int = 1000) -> Net:
    """stem: (width, kernel) of the stride-2 first convolution; layout: 'P' a ceil-mode 3x3/2 max
    pool, 'F' the next fire module (squeeze widths 16,16,32,32,48,48,64,64, expands 4x each)."""
    width, k = stem
    feats, c, squeezes = [nn.Conv2d(3, width, k, stride=2), relu()], width, iter((16, 16, 32, 32, 48, 48, 64, 64))
    for step in layout:
        if step == "P":
            feats.append(nn.MaxPool2d(3, 2, ceil_mode=True))
        else:
            s = next(squeezes)
            feats.append(Fire(c, s, 4 * s))
            c = 8 * s
    head = [nn.Dropout(0.5), nn.Conv2d(c, classes, 1), relu(), nn.AdaptiveAvgPool2d(1)]
    return Net(("features", nn.Sequential(*feats)), ("classifier", nn.Sequential(*head)))


# ---------------------------------------------------------------------- GoogLeNet, Inception v3


class BasicConv2d(nn.Module):
    """Bias-free convolution, batch norm (eps 1e-3), ReLU."""

    def __init__(self, c_in: int, c_out: int, k=1, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Concat(nn.Module):
    """Children applied to the same input, outputs stacked along the channels."""

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.children()], 1)


def googlenet_block(c_in, n1, r3, n3, r5, n5, pool_proj) -> Concat:
    block = Concat()
    block.branch1 = BasicConv2d(c_in, n1)
    block.branch2 = nn.Sequential(BasicConv2d(c_in, r3), BasicConv2d(r3, n3, 3, padding=1))
    # the "5x5" branch uses a 3x3 kernel in torchvision's weights
    block.branch3 = nn.Sequential(BasicConv2d(c_in, r5), BasicConv2d(r5, n5, 3, padding=1))
    block.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, padding=1, ceil_mode=True), BasicConv2d(c_in, pool_proj))
    return block


# the paper's Table 1, per block: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
GOOGLENET = {"3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
             "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
             "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
             "4e": (256, 160, 320, 32, 128, 128),
             "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128)}


def googlenet(classes: int = 1000) -> Net:
    def pool(k=3):
        return nn.MaxPool2d(k, 2, ceil_mode=True)

    parts = [("conv1", BasicConv2d(3, 64, 7, 2, 3)), ("maxpool1", pool()),
             ("conv2", BasicConv2d(64, 64)), ("conv3", BasicConv2d(64, 192, 3, padding=1)),
             ("maxpool2", pool())]
    c = 192
    for name, widths in GOOGLENET.items():
        parts.append((f"inception{name}", googlenet_block(c, *widths)))
        n1, _, n3, _, n5, pp = widths
        c = n1 + n3 + n5 + pp
        if name == "3b":
            parts.append(("maxpool3", pool()))
        elif name == "4e":
            parts.append(("maxpool4", pool(2)))
    parts += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("dropout", nn.Dropout(0.2)), ("fc", nn.Linear(c, classes))]
    return Net(*parts)


class Mixed(nn.Module):
    """An Inception-v3 block: flat, named BasicConv2d attributes and a list of paths. A path step is
    an attribute name, 'avg' (3x3/1 average pool, padded), 'max' (3x3/2 max pool), or a tuple of
    names applied side by side to the same tensor and concatenated."""

    def __init__(self, convs, paths) -> None:
        super().__init__()
        for name, c_in, c_out, *geometry in convs:
            self.add_module(name, BasicConv2d(c_in, c_out, *geometry))
        self.paths = paths

    def forward(self, x):
        outs = []
        for path in self.paths:
            y = x
            for step in path:
                if step == "avg":
                    y = F.avg_pool2d(y, 3, 1, 1)
                elif step == "max":
                    y = F.max_pool2d(y, 3, 2)
                elif isinstance(step, tuple):
                    y = torch.cat([getattr(self, s)(y) for s in step], 1)
                else:
                    y = getattr(self, step)(y)
            outs.append(y)
        return torch.cat(outs, 1)


ROW, COL = ((1, 7), (0, 3)), ((7, 1), (3, 0))  # factorised 7x7: kernel and padding
ROW3, COL3 = ((1, 3), (0, 1)), ((3, 1), (1, 0))


def mixed_a(c, pool_features):  # 35x35 grid, figure 5
    return Mixed([("branch1x1", c, 64), ("branch5x5_1", c, 48), ("branch5x5_2", 48, 64, 5, 1, 2),
                  ("branch3x3dbl_1", c, 64), ("branch3x3dbl_2", 64, 96, 3, 1, 1),
                  ("branch3x3dbl_3", 96, 96, 3, 1, 1), ("branch_pool", c, pool_features)],
                 [["branch1x1"], ["branch5x5_1", "branch5x5_2"],
                  ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], ["avg", "branch_pool"]])


def mixed_b(c):  # 35 -> 17 grid reduction
    return Mixed([("branch3x3", c, 384, 3, 2), ("branch3x3dbl_1", c, 64),
                  ("branch3x3dbl_2", 64, 96, 3, 1, 1), ("branch3x3dbl_3", 96, 96, 3, 2)],
                 [["branch3x3"], ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], ["max"]])


def mixed_c(c, m):  # 17x17 grid with 1x7 / 7x1 factorisation, figure 6
    (r, rp), (q, qp) = ROW, COL
    return Mixed([("branch1x1", c, 192), ("branch7x7_1", c, m), ("branch7x7_2", m, m, r, 1, rp),
                  ("branch7x7_3", m, 192, q, 1, qp), ("branch7x7dbl_1", c, m),
                  ("branch7x7dbl_2", m, m, q, 1, qp), ("branch7x7dbl_3", m, m, r, 1, rp),
                  ("branch7x7dbl_4", m, m, q, 1, qp), ("branch7x7dbl_5", m, 192, r, 1, rp),
                  ("branch_pool", c, 192)],
                 [["branch1x1"], [f"branch7x7_{i}" for i in (1, 2, 3)],
                  [f"branch7x7dbl_{i}" for i in (1, 2, 3, 4, 5)], ["avg", "branch_pool"]])


def mixed_d(c):  # 17 -> 8 grid reduction
    (r, rp), (q, qp) = ROW, COL
    return Mixed([("branch3x3_1", c, 192), ("branch3x3_2", 192, 320, 3, 2), ("branch7x7x3_1", c, 192),
                  ("branch7x7x3_2", 192, 192, r, 1, rp), ("branch7x7x3_3", 192, 192, q, 1, qp),
                  ("branch7x7x3_4", 192, 192, 3, 2)],
                 [["branch3x3_1", "branch3x3_2"], [f"branch7x7x3_{i}" for i in (1, 2, 3, 4)], ["max"]])


def mixed_e(c):  # 8x8 grid with expanded 1x3 / 3x1 outputs, figure 7
    (r, rp), (q, qp) = ROW3, COL3
    return Mixed([("branch1x1", c, 320), ("branch3x3_1", c, 384), ("branch3x3_2a", 384, 384, r, 1, rp),
                  ("branch3x3_2b", 384, 384, q, 1, qp), ("branch3x3dbl_1", c, 448),
                  ("branch3x3dbl_2", 448, 384, 3, 1, 1), ("branch3x3dbl_3a", 384, 384, r, 1, rp),
                  ("branch3x3dbl_3b", 384, 384, q, 1, qp), ("branch_pool", c, 192)],
                 [["branch1x1"], ["branch3x3_1", ("branch3x3_2a", "branch3x3_2b")],
                  ["branch3x3dbl_1", "branch3x3dbl_2", ("branch3x3dbl_3a", "branch3x3dbl_3b")],
                  ["avg", "branch_pool"]])


def inception_v3(classes: int = 1000) -> Net:
    return Net(
        ("Conv2d_1a_3x3", BasicConv2d(3, 32, 3, 2)), ("Conv2d_2a_3x3", BasicConv2d(32, 32, 3)),
        ("Conv2d_2b_3x3", BasicConv2d(32, 64, 3, padding=1)), ("maxpool1", nn.MaxPool2d(3, 2)),
        ("Conv2d_3b_1x1", BasicConv2d(64, 80)), ("Conv2d_4a_3x3", BasicConv2d(80, 192, 3)),
        ("maxpool2", nn.MaxPool2d(3, 2)),
        ("Mixed_5b", mixed_a(192, 32)), ("Mixed_5c", mixed_a(256, 64)), ("Mixed_5d", mixed_a(288, 64)),
        ("Mixed_6a", mixed_b(288)),
        ("Mixed_6b", mixed_c(768, 128)), ("Mixed_6c", mixed_c(768, 160)),
        ("Mixed_6d", mixed_c(768, 160)), ("Mixed_6e", mixed_c(768, 192)),
        ("Mixed_7a", mixed_d(768)), ("Mixed_7b", mixed_e(1280)), ("Mixed_7c", mixed_e(2048)),
        ("avgpool", nn.AdaptiveAvgPool2d(1)), ("dropout", nn.Dropout(0.5)), ("fc", nn.Linear(2048, classes)),
    )


# ------------------------------------------------------------- ResNeXt-101, Wide ResNet-101-2


class Bottleneck(nn.Module):
    """1x1 reduce, grouped 3x3 (carrying the stride), 1x1 expand to 4x planes; identity or projected
    shortcut added before the last ReLU."""

    def __init__(self, c_in: int, planes: int, stride: int, groups: int, width: int) -> None:
        super().__init__()
        out = 4 * planes
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = relu()
        self.downsample = None
        if stride != 1 or c_in != out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


def resnet101(groups: int, group_width: int, classes: int = 1000) -> Net:
    """ResNet-101 bottlenecks whose 3x3 layer has groups x group_width channels at 64 planes,
    scaled with the stage's planes (ResNeXt: C x d; Wide ResNet-101-2: 1 x 128)."""
    parts = [("conv1", nn.Conv2d(3, 64, 7, 2, 3, bias=False)), ("bn1", nn.BatchNorm2d(64)),
             ("relu", relu()), ("maxpool", nn.MaxPool2d(3, 2, 1))]
    c = 64
    for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 23, 3), strict=True)):
        width = groups * group_width * planes // 64
        stage = []
        for j in range(blocks):
            stage.append(Bottleneck(c, planes, 2 if i and not j else 1, groups, width))
            c = 4 * planes
        parts.append((f"layer{i + 1}", nn.Sequential(*stage)))
    parts += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("fc", nn.Linear(c, classes))]
    return Net(*parts)


BUILDERS = {
    **{name: (lambda d=d: vgg(d)) for name, d in VGG_DEPTHS.items()},
    "alexnet_tv": alexnet,
    "squeezenet1_0": lambda: squeezenet((96, 7), "PFFFPFFFFPF"),
    "squeezenet1_1": lambda: squeezenet((64, 3), "PFFPFFPFFFF"),
    "googlenet_tv": googlenet,
    "inception_v3": inception_v3,
    "resnext101_32x8d": lambda: resnet101(32, 8),
    "resnext101_64x4d": lambda: resnet101(64, 4),
    "wide_resnet101_2": lambda: resnet101(1, 128),
}
