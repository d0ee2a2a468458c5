"""The course's networks that have torchvision's layout (ResNets, ResNeXt, Wide ResNet, VGGs,
DenseNets, MobileNetV2): params, MACs and the state_dict (keys, order, shapes) of torchvision's
builders, so that torchvision's checkpoints load with strict=True."""

from __future__ import annotations

import pytest

try:  # tests/ on sys.path (rootdir-relative import) or tests/ as a package
    from tv import assert_torchvisions
except ImportError:
    from tests.tv import assert_torchvisions

NAMES = ["densenet121", "densenet161", "densenet169", "densenet201", "mobilenet_v2", "resnet18", "resnet34",
         "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "vgg11", "vgg13", "vgg16", "vgg19",
         "wide_resnet50_2"]


@pytest.mark.parametrize("name", NAMES)
def test_numbers_and_keys_are_torchvisions(name):
    pytest.importorskip("torch")
    assert_torchvisions(name)
