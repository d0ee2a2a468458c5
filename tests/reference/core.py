"""Hand-written, plain-PyTorch reference implementations of the classic CNNs.

These modules are the ground truth against which netdsl's compiled networks are checked.
They are written in the style of torchvision (readable ``nn.Module`` subclasses plus a
builder function each) and do not depend on torchvision.

Costs are counted the same way everywhere:

* params = ``sum(p.numel() for p in model.parameters())``
* MACs   = half of ``torch.utils.flop_counter.FlopCounterMode``'s total for one forward
  pass of a batch of 1 in eval mode (it counts convolution and matmul multiply-adds; bias
  additions, activations, pooling and normalisation are not counted).

For GoogLeNet the two auxiliary classifiers are train-time outputs: they are parameters of
the module, but :func:`count` excludes them from the inference totals (see
:data:`GOOGLENET_AUX`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "REFERENCE",
    "GOOGLENET_AUX",
    "count",
    "LeNet5",
    "AlexNet",
    "VGG",
    "GoogLeNet",
    "Inception",
    "InceptionAux",
    "ResNet",
    "BasicBlock",
    "Bottleneck",
    "lenet5",
    "alexnet",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
    "googlenet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
]


# --------------------------------------------------------------------------------------
# LeNet-5 (d2l.ai, section "Convolutional Neural Networks (LeNet)")
# --------------------------------------------------------------------------------------


class LeNet5(nn.Module):
    """LeNet-5 as in d2l.ai: sigmoid activations and average pooling, 1x28x28 input."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2),  # 6x28x28
            nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),  # 6x14x14
            nn.Conv2d(6, 16, kernel_size=5),  # 16x10x10
            nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),  # 16x5x5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.Sigmoid(),
            nn.Linear(120, 84),
            nn.Sigmoid(),
            nn.Linear(84, num_classes),
        )
        # d2l.ai initialises LeNet with Xavier-uniform weights (biases keep PyTorch's default).
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def lenet5(num_classes: int = 10) -> LeNet5:
    return LeNet5(num_classes)


# --------------------------------------------------------------------------------------
# AlexNet (Krizhevsky, Sutskever & Hinton 2012), single tower
# --------------------------------------------------------------------------------------


class AlexNet(nn.Module):
    """AlexNet as in the paper's Figure 2, both towers merged into one (96-256-384-384-256).

    Local response normalisation (size 5, alpha 1e-4, beta 0.75, k 2) follows the ReLU of
    conv1 and conv2; overlapping max pooling 3x3/2; 3x227x227 input.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4),  # 96x55x55
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 96x27x27
            nn.Conv2d(96, 256, kernel_size=5, padding=2),  # 256x27x27
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 256x13x13
            nn.Conv2d(256, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 256x6x6
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        # Paper, section 5: weights ~ N(0, 0.01); biases 1 in conv2, conv4, conv5 and the
        # hidden fully-connected layers, 0 in the remaining layers.
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        linears = [m for m in self.classifier if isinstance(m, nn.Linear)]
        for m in convs + linears:
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
        for m in (convs[1], convs[3], convs[4], linears[0], linears[1]):
            nn.init.ones_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def alexnet(num_classes: int = 1000, dropout: float = 0.5) -> AlexNet:
    return AlexNet(num_classes, dropout)


# --------------------------------------------------------------------------------------
# VGG (Simonyan & Zisserman 2014), torchvision layout, no batch norm
# --------------------------------------------------------------------------------------

# "M" is a 2x2/2 max pool; integers are 3x3 convolutions (padding 1) with that many channels.
VGG_CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_vgg_layers(cfg: list[int | str]) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(v, int)
            layers += [nn.Conv2d(in_channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """torchvision's VGG: ``features`` / ``avgpool`` (adaptive 7x7) / ``classifier``."""

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def vgg11(num_classes: int = 1000) -> VGG:
    return VGG(make_vgg_layers(VGG_CONFIGS["A"]), num_classes)


def vgg13(num_classes: int = 1000) -> VGG:
    return VGG(make_vgg_layers(VGG_CONFIGS["B"]), num_classes)


def vgg16(num_classes: int = 1000) -> VGG:
    return VGG(make_vgg_layers(VGG_CONFIGS["D"]), num_classes)


def vgg19(num_classes: int = 1000) -> VGG:
    return VGG(make_vgg_layers(VGG_CONFIGS["E"]), num_classes)


# --------------------------------------------------------------------------------------
# GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions"), as in the paper
# --------------------------------------------------------------------------------------


class ConvReLU(nn.Sequential):
    """A convolution with bias followed by a ReLU (the paper uses no batch norm)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2),
            nn.ReLU(inplace=True),
        )


class Inception(nn.Module):
    """Inception module of Table 1: 1x1 | 1x1>3x3 | 1x1>5x5 | maxpool 3x3/1 (pad 1)>1x1."""

    def __init__(
        self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int, pool_proj: int
    ) -> None:
        super().__init__()
        self.branch1 = ConvReLU(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(ConvReLU(in_channels, ch3x3red, 1), ConvReLU(ch3x3red, ch3x3, 3))
        self.branch3 = nn.Sequential(ConvReLU(in_channels, ch5x5red, 1), ConvReLU(ch5x5red, ch5x5, 5))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            ConvReLU(in_channels, pool_proj, 1),
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier (paper, section 5), attached to the 14x14 output of 4a / 4d.

    avgpool 5x5/3 (14x14 -> 4x4) > conv 1x1 128 + ReLU > fc 1024 + ReLU > dropout 0.7 > fc.
    """

    def __init__(self, in_channels: int, num_classes: int = 1000, dropout: float = 0.7) -> None:
        super().__init__()
        self.avgpool = nn.AvgPool2d(kernel_size=5, stride=3)
        self.conv = ConvReLU(in_channels, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(p=dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(self.avgpool(x))
        x = torch.flatten(x, 1)
        x = self.dropout(self.relu(self.fc1(x)))
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """GoogLeNet exactly as in Table 1 of the paper (5x5 branches, LRN, biases, no BN).

    Every max pool is 3x3 with ``ceil_mode=True`` and no padding (Caffe's rounding), except
    the 3x3/1 pool inside each inception module, which has padding 1 to keep the size.
    Spatial sizes: 224 > 112 (conv1) > 56 > 28 > 14 > 7 > 1.

    In training mode ``forward`` returns ``(logits, aux2, aux1)`` (as torchvision does);
    in eval mode it returns only the logits and the auxiliary heads are not run.
    """

    def __init__(
        self, num_classes: int = 1000, aux_logits: bool = True, dropout: float = 0.4, dropout_aux: float = 0.7
    ) -> None:
        super().__init__()
        self.aux_logits = aux_logits
        self.conv1 = ConvReLU(3, 64, 7, stride=2)  # 64x112x112
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # 64x56x56
        self.lrn1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)
        self.conv2 = ConvReLU(64, 64, 1)  # 3x3 reduce
        self.conv3 = ConvReLU(64, 192, 3)  # 192x56x56
        self.lrn2 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # 192x28x28

        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)  # 256x28x28
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)  # 480x28x28
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # 480x14x14

        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)  # 512x14x14
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)  # 512x14x14
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)  # 512x14x14
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)  # 528x14x14
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)  # 832x14x14
        self.maxpool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # 832x7x7

        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)  # 832x7x7
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)  # 1024x7x7

        if aux_logits:
            self.aux1: InceptionAux | None = InceptionAux(512, num_classes, dropout_aux)  # after 4a
            self.aux2: InceptionAux | None = InceptionAux(528, num_classes, dropout_aux)  # after 4d
        else:
            self.aux1 = None
            self.aux2 = None

        self.avgpool = nn.AvgPool2d(7, stride=1)  # 1024x1x1
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

        # Caffe's bvlc_googlenet: "xavier" weights (uniform, bound sqrt(3 / fan_in)), biases 0.2
        # in the convolutions and the hidden fully-connected layers, 0 in the classifiers.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="linear")
                nn.init.constant_(m.bias, 0.2)
        classifiers = [self.fc] + [aux.fc2 for aux in (self.aux1, self.aux2) if aux is not None]
        for m in classifiers:
            nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        x = self.conv1(x)
        x = self.lrn1(self.maxpool1(x))
        x = self.conv3(self.conv2(x))
        x = self.maxpool2(self.lrn2(x))

        x = self.inception3a(x)
        x = self.inception3b(x)
        x = self.maxpool3(x)

        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.training and self.aux1 is not None else None
        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)
        aux2 = self.aux2(x) if self.training and self.aux2 is not None else None
        x = self.inception4e(x)
        x = self.maxpool4(x)

        x = self.inception5a(x)
        x = self.inception5b(x)

        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(self.dropout(x))
        if aux1 is not None and aux2 is not None:
            return x, aux2, aux1
        return x


def googlenet(num_classes: int = 1000, aux_logits: bool = True) -> GoogLeNet:
    return GoogLeNet(num_classes, aux_logits)


# --------------------------------------------------------------------------------------
# ResNet (He et al. 2015), torchvision layout (Bottleneck v1.5: stride on the 3x3)
# --------------------------------------------------------------------------------------


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet; attribute names (and hence state_dict keys) are identical."""

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: list[int], num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(
        self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers: list[nn.Module] = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


def resnet18(num_classes: int = 1000) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


def resnet101(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes)


def resnet152(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes)


# --------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------


def _inference_params(model: nn.Module) -> int:
    """Parameters used by an inference forward pass (GoogLeNet's aux heads excluded)."""
    total = sum(p.numel() for p in model.parameters())
    if isinstance(model, GoogLeNet):
        for head in (model.aux1, model.aux2):
            if head is not None:
                total -= sum(p.numel() for p in head.parameters())
    return total


def macs_of(model: nn.Module, input_shape: tuple[int, ...], device: str | torch.device = "cpu") -> int:
    """Multiply-accumulates of one forward of a batch of 1 of ``model`` as it is (train/eval)."""
    x = torch.zeros((1, *input_shape), device=device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


def count(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(params, MACs) of the inference network: eval-mode forward of a batch of 1.

    For GoogLeNet the auxiliary classifiers are excluded from both numbers (they are not
    run in eval mode, and their parameters are subtracted); see :data:`GOOGLENET_AUX`.
    The model may live on the ``meta`` device, which gives the same counts without doing
    the arithmetic.
    """
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        macs = macs_of(model, input_shape, device)
    finally:
        model.train(was_training)
    return _inference_params(model), macs


# name: (builder, input shape CHW, params, MACs) -- measured with count() above.
REFERENCE: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int], int, int]] = {
    "lenet5": (lenet5, (1, 28, 28), 61_706, 416_520),
    "alexnet": (alexnet, (3, 227, 227), 62_378_344, 1_135_256_096),
    "vgg11": (vgg11, (3, 224, 224), 132_863_336, 7_609_090_048),
    "vgg13": (vgg13, (3, 224, 224), 133_047_848, 11_308_466_176),
    "vgg16": (vgg16, (3, 224, 224), 138_357_544, 15_470_264_320),
    "vgg19": (vgg19, (3, 224, 224), 143_667_240, 19_632_062_464),
    "googlenet": (googlenet, (3, 224, 224), 6_998_552, 1_582_671_872),
    "resnet18": (resnet18, (3, 224, 224), 11_689_512, 1_814_073_344),
    "resnet34": (resnet34, (3, 224, 224), 21_797_672, 3_663_761_408),
    "resnet50": (resnet50, (3, 224, 224), 25_557_032, 4_089_184_256),
    "resnet101": (resnet101, (3, 224, 224), 44_549_160, 7_801_405_440),
    "resnet152": (resnet152, (3, 224, 224), 60_192_808, 11_513_626_624),
}

# GoogLeNet's auxiliary classifiers (train-time only), each (params, MACs) for a batch of 1.
GOOGLENET_AUX: dict[str, tuple[int, int]] = {
    "aux1": (3_188_840, 4_169_728),  # on inception4a's 512x14x14 output
    "aux2": (3_190_888, 4_202_496),  # on inception4d's 528x14x14 output
}
# Whole GoogLeNet with both heads: 13,378,280 params, 1,591,044,096 MACs in a training forward.
