"""Hand-written references in torchvision's module layout (attribute names and order as torchvision
registers them, so state_dict keys are torchvision's), from the papers; imports torch only.

MobileNetV3 (Howard et al., ICCV 2019, Tables 1-2), MNASNet (Tan et al., CVPR 2019), EfficientNet
B0-B7 (Tan & Le, ICML 2019, Table 1 and compound scaling) and EfficientNetV2 S/M/L (Tan & Le, ICML
2021, Table 4 and the M/L configurations). Only `build(name)` is public; the classes named MBConv,
FusedMBConv and StochasticDepth are looked up by type name in the tests."""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn


def _round8(x: float) -> int:
    """Nearest multiple of 8, at least 8, bumped up by 8 when rounding lost more than 10%."""
    r = max(8, int(x + 4) // 8 * 8)
    return r + 8 if r < 0.9 * x else r


def _cba(cin, cout, k=1, stride=1, groups=1, bn=nn.BatchNorm2d, act=None) -> nn.Sequential:
    """conv (no bias) -> batch norm -> optional activation, as indices 0, 1, 2."""
    mods = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), bn(cout)]
    if act is not None:
        mods.append(act(inplace=True))
    return nn.Sequential(*mods)


class SqueezeExcitation(nn.Module):
    """Global pool, 1x1 reduce, act, 1x1 expand, gate; the input scaled by the gate."""

    def __init__(self, channels, squeezed, act=nn.ReLU, gate=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)
        self.activation = act()
        self.scale_activation = gate()

    def forward(self, x):
        w = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * w


class StochasticDepth(nn.Module):
    """Per-sample drop of a residual branch with probability p (survivors scaled by 1/(1-p))."""

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        if keep > 0.0:
            mask.div_(keep)
        return x * mask


class _Residual(nn.Module):
    """`block` plus the input where shapes allow (`use_res_connect`)."""

    def forward(self, x):
        y = self.block(x)
        return y + x if self.use_res_connect else y


# ------------------------------------------------------------------ MobileNetV3

# per bottleneck: kernel, expansion width, output width, squeeze-excite, hard-swish, stride
_V3 = {
    "mobilenet_v3_large": ([
        (3, 16, 16, 0, 0, 1), (3, 64, 24, 0, 0, 2), (3, 72, 24, 0, 0, 1),
        (5, 72, 40, 1, 0, 2), (5, 120, 40, 1, 0, 1), (5, 120, 40, 1, 0, 1),
        (3, 240, 80, 0, 1, 2), (3, 200, 80, 0, 1, 1), (3, 184, 80, 0, 1, 1), (3, 184, 80, 0, 1, 1),
        (3, 480, 112, 1, 1, 1), (3, 672, 112, 1, 1, 1),
        (5, 672, 160, 1, 1, 2), (5, 960, 160, 1, 1, 1), (5, 960, 160, 1, 1, 1),
    ], 1280),
    "mobilenet_v3_small": ([
        (3, 16, 16, 1, 0, 2), (3, 72, 24, 0, 0, 2), (3, 88, 24, 0, 0, 1),
        (5, 96, 40, 1, 1, 2), (5, 240, 40, 1, 1, 1), (5, 240, 40, 1, 1, 1),
        (5, 120, 48, 1, 1, 1), (5, 144, 48, 1, 1, 1),
        (5, 288, 96, 1, 1, 2), (5, 576, 96, 1, 1, 1), (5, 576, 96, 1, 1, 1),
    ], 1024),
}


class InvertedResidual(_Residual):
    def __init__(self, cin, k, mid, cout, se, hs, stride, bn):
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        mods = [] if mid == cin else [_cba(cin, mid, 1, bn=bn, act=act)]
        mods.append(_cba(mid, mid, k, stride, mid, bn=bn, act=act))
        if se:
            mods.append(SqueezeExcitation(mid, _round8(mid // 4), nn.ReLU, nn.Hardsigmoid))
        mods.append(_cba(mid, cout, 1, bn=bn))
        self.use_res_connect = stride == 1 and cin == cout
        self.block = nn.Sequential(*mods)


class MobileNetV3(nn.Module):
    def __init__(self, rows, hidden, num_classes=1000, dropout=0.2):
        super().__init__()
        bn = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)
        feats, c = [_cba(3, 16, 3, 2, bn=bn, act=nn.Hardswish)], 16
        for k, mid, cout, se, hs, s in rows:
            feats.append(InvertedResidual(c, k, mid, cout, se, hs, s, bn))
            c = cout
        feats.append(_cba(c, 6 * c, 1, bn=bn, act=nn.Hardswish))
        self.features = nn.Sequential(*feats)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(6 * c, hidden), nn.Hardswish(inplace=True),
                                        nn.Dropout(dropout, inplace=True), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


# ------------------------------------------------------------------ MNASNet (B1, version 2)

# per stage of inverted residuals: kernel, stride, expansion, repeats (widths from _MNAS_WIDTHS[3:])
_MNAS_STAGES = [(3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1)]
_MNAS_WIDTHS = [32, 16, 24, 40, 80, 96, 192, 320]  # stem, separable conv, then one per stage
_MNAS_BN = partial(nn.BatchNorm2d, momentum=1 - 0.9997)  # TensorFlow's decay 0.9997 as a momentum


class _MnasBlock(nn.Module):
    def __init__(self, cin, cout, k, stride, t):
        super().__init__()
        mid = cin * t
        self.apply_residual = stride == 1 and cin == cout
        self.layers = nn.Sequential(*_cba(cin, mid, 1, act=nn.ReLU, bn=_MNAS_BN),
                                    *_cba(mid, mid, k, stride, mid, act=nn.ReLU, bn=_MNAS_BN),
                                    *_cba(mid, cout, 1, bn=_MNAS_BN))

    def forward(self, x):
        y = self.layers(x)
        return y + x if self.apply_residual else y


class MNASNet(nn.Module):
    _version = 2

    def __init__(self, alpha, num_classes=1000, dropout=0.2):
        super().__init__()
        self.alpha, self.num_classes = alpha, num_classes
        w = [_round8(c * alpha) for c in _MNAS_WIDTHS]
        mods = [*_cba(3, w[0], 3, 2, act=nn.ReLU, bn=_MNAS_BN),
                *_cba(w[0], w[0], 3, 1, w[0], act=nn.ReLU, bn=_MNAS_BN),
                *_cba(w[0], w[1], 1, bn=_MNAS_BN)]
        for (k, s, t, n), cin, cout in zip(_MNAS_STAGES, w[1:-1], w[2:], strict=True):
            mods.append(nn.Sequential(*(_MnasBlock(cin if i == 0 else cout, cout, k, s if i == 0 else 1, t)
                                        for i in range(n))))
        mods += _cba(w[-1], 1280, 1, act=nn.ReLU, bn=_MNAS_BN)
        self.layers = nn.Sequential(*mods)
        self.classifier = nn.Sequential(nn.Dropout(dropout, inplace=True), nn.Linear(1280, num_classes))

    def forward(self, x):
        return self.classifier(self.layers(x).mean((2, 3)))


# ------------------------------------------------------------------ EfficientNet and EfficientNetV2

# per stage: fused?, expansion, kernel, stride, input width, output width, layers
_B_STAGES = [(0, 1, 3, 1, 32, 16, 1), (0, 6, 3, 2, 16, 24, 2), (0, 6, 5, 2, 24, 40, 2),
             (0, 6, 3, 2, 40, 80, 3), (0, 6, 5, 1, 80, 112, 3), (0, 6, 5, 2, 112, 192, 4),
             (0, 6, 3, 1, 192, 320, 1)]
_V2_STAGES = {
    "s": [(1, 1, 3, 1, 24, 24, 2), (1, 4, 3, 2, 24, 48, 4), (1, 4, 3, 2, 48, 64, 4),
          (0, 4, 3, 2, 64, 128, 6), (0, 6, 3, 1, 128, 160, 9), (0, 6, 3, 2, 160, 256, 15)],
    "m": [(1, 1, 3, 1, 24, 24, 3), (1, 4, 3, 2, 24, 48, 5), (1, 4, 3, 2, 48, 80, 5),
          (0, 4, 3, 2, 80, 160, 7), (0, 6, 3, 1, 160, 176, 14), (0, 6, 3, 2, 176, 304, 18),
          (0, 6, 3, 1, 304, 512, 5)],
    "l": [(1, 1, 3, 1, 32, 32, 4), (1, 4, 3, 2, 32, 64, 7), (1, 4, 3, 2, 64, 96, 7),
          (0, 4, 3, 2, 96, 192, 10), (0, 6, 3, 1, 192, 224, 19), (0, 6, 3, 2, 224, 384, 25),
          (0, 6, 3, 1, 384, 640, 7)],
}
_BN_TF = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)
_BN_V2 = partial(nn.BatchNorm2d, eps=1e-3)
# name: width multiplier, depth multiplier, classifier dropout, batch norm
_EFF = {
    "b0": (1.0, 1.0, 0.2, nn.BatchNorm2d), "b1": (1.0, 1.1, 0.2, nn.BatchNorm2d),
    "b2": (1.1, 1.2, 0.3, nn.BatchNorm2d), "b3": (1.2, 1.4, 0.3, nn.BatchNorm2d),
    "b4": (1.4, 1.8, 0.4, nn.BatchNorm2d), "b5": (1.6, 2.2, 0.4, _BN_TF),
    "b6": (1.8, 2.6, 0.5, _BN_TF), "b7": (2.0, 3.1, 0.5, _BN_TF),
    "v2_s": (1.0, 1.0, 0.2, _BN_V2), "v2_m": (1.0, 1.0, 0.3, _BN_V2), "v2_l": (1.0, 1.0, 0.4, _BN_V2),
}


class MBConv(_Residual):
    def __init__(self, cin, cout, t, k, stride, p, bn):
        super().__init__()
        mid = _round8(cin * t)
        mods = [] if mid == cin else [_cba(cin, mid, 1, bn=bn, act=nn.SiLU)]
        mods += [_cba(mid, mid, k, stride, mid, bn=bn, act=nn.SiLU),
                 SqueezeExcitation(mid, max(1, cin // 4), partial(nn.SiLU, inplace=True)),
                 _cba(mid, cout, 1, bn=bn)]
        self.use_res_connect = stride == 1 and cin == cout
        self.block = nn.Sequential(*mods)
        self.stochastic_depth = StochasticDepth(p)

    def forward(self, x):
        y = self.block(x)
        return self.stochastic_depth(y) + x if self.use_res_connect else y


class FusedMBConv(MBConv):
    def __init__(self, cin, cout, t, k, stride, p, bn):
        nn.Module.__init__(self)
        mid = _round8(cin * t)
        if mid == cin:
            mods = [_cba(cin, cout, k, stride, bn=bn, act=nn.SiLU)]
        else:
            mods = [_cba(cin, mid, k, stride, bn=bn, act=nn.SiLU), _cba(mid, cout, 1, bn=bn)]
        self.use_res_connect = stride == 1 and cin == cout
        self.block = nn.Sequential(*mods)
        self.stochastic_depth = StochasticDepth(p)


class EfficientNet(nn.Module):
    def __init__(self, stages, head, dropout, bn, num_classes=1000, stochastic_depth_prob=0.2):
        super().__init__()
        feats = [_cba(3, stages[0][4], 3, 2, bn=bn, act=nn.SiLU)]
        total, i = sum(st[-1] for st in stages), 0
        for fused, t, k, s, cin, cout, n in stages:
            blocks = []
            for j in range(n):
                p = stochastic_depth_prob * float(i) / total  # grows linearly with the block index
                blocks.append((FusedMBConv if fused else MBConv)(cout if j else cin, cout, t, k,
                                                                 1 if j else s, p, bn))
                i += 1
            feats.append(nn.Sequential(*blocks))
        c = stages[-1][5]
        head = head or 4 * c
        feats.append(_cba(c, head, 1, bn=bn, act=nn.SiLU))
        self.features = nn.Sequential(*feats)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout, inplace=True), nn.Linear(head, num_classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def _efficientnet(variant, **kwargs):
    wm, dm, dropout, bn = _EFF[variant]
    if variant.startswith("v2"):
        return EfficientNet(_V2_STAGES[variant[-1]], 1280, dropout, bn, **kwargs)
    stages = [(f, t, k, s, _round8(ci * wm), _round8(co * wm), math.ceil(n * dm))
              for f, t, k, s, ci, co, n in _B_STAGES]  # compound scaling of widths and depths
    return EfficientNet(stages, None, dropout, bn, **kwargs)


def build(name: str, **kwargs) -> nn.Module:
    """The reference model for a torchvision builder name (e.g. "efficientnet_b1", "mnasnet0_5")."""
    if name in _V3:
        return MobileNetV3(*_V3[name], **kwargs)
    if name.startswith("mnasnet"):
        return MNASNet(float(name[7:].replace("_", ".")), **kwargs)
    if name.startswith("efficientnet_"):
        return _efficientnet(name[len("efficientnet_"):], **kwargs)
    raise ValueError(f"unknown model {name!r}")
