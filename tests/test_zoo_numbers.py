"""Every zoo network against its published reference numbers (exact unless a tolerance is given)."""

import pytest

import netdsl

# name: (params, MACs, activations or None, reference)
CORE = {
    "lenet5": (61_706, 416_520, None, "d2l.ai LeNet"),
    "alexnet": (62_378_344, 1_135_256_096, None, "Krizhevsky 2012, one tower"),
    "vgg11": (132_863_336, 7_609_090_048, None, "torchvision vgg11 (7.609 GFLOPS)"),
    "vgg13": (133_047_848, 11_308_466_176, None, "torchvision vgg13 (11.308 GFLOPS)"),
    "vgg16": (138_357_544, 15_470_264_320, 13_556_712, "torchvision vgg16 (15.470 GFLOPS); timm activations"),
    "vgg19": (143_667_240, 19_632_062_464, None, "torchvision vgg19 (19.632 GFLOPS)"),
    "googlenet": (6_998_552, 1_582_671_872, None, "Szegedy 2014 Table 1"),
    "resnet18": (11_689_512, 1_814_073_344, 2_484_712, "torchvision resnet18 (1.814 GFLOPS); timm activations"),
    "resnet34": (21_797_672, 3_663_761_408, None, "torchvision resnet34 (3.664 GFLOPS)"),
    "resnet50": (25_557_032, 4_089_184_256, 11_114_984, "torchvision resnet50 (4.089 GFLOPS); timm activations"),
    "resnet101": (44_549_160, 7_801_405_440, None, "torchvision resnet101 (7.801 GFLOPS)"),
    "resnet152": (60_192_808, 11_513_626_624, None, "torchvision resnet152 (11.514 GFLOPS)"),
}

# Extended zoo: (params, MACs or None, tolerance as a fraction (0 = exact) for params, for MACs, reference)
MORE = {
    "alexnet_grouped": (60_965_224, 724_406_816, 0, 0, "Krizhevsky 2012, two towers as groups=2"),
    "zfnet": (62_357_608, 1_168_032_896, 0, 0, "Zeiler & Fergus 2013 (MACs: ceil pools, as Caffe)"),
    "nin": (7_595_176, 1_100_188_800, 0, 0, "NiN ImageNet, Caffe model zoo (MACs measured)"),
    "nin_cifar": (966_986, 222_486_528, 0, 0, "NiN CIFAR-10 (MACs measured)"),
    "se_resnet50": (28_088_024, 4_091_699_200, 0, 0, "Hu et al. 2018, reduction 16 (MACs measured)"),
    "wide_resnet50_2": (68_883_240, 11_398_021_120, 0, 0, "torchvision wide_resnet50_2"),
    "resnext50_32x4d": (25_028_904, 4_230_479_872, 0, 0, "torchvision resnext50_32x4d"),
    "densenet121": (7_978_856, 2_834_161_664, 0, 0, "torchvision densenet121 (2.834 GFLOPS)"),
    "densenet169": (14_149_480, 3_359_843_328, 0, 0, "torchvision densenet169 (3.36 GFLOPS)"),
    "densenet201": (20_013_928, 4_291_365_888, 0, 0, "torchvision densenet201 (4.291 GFLOPS)"),
    "densenet161": (28_681_000, 7_727_907_072, 0, 0, "torchvision densenet161 (7.728 GFLOPS)"),
    "mobilenet_v1": (4_231_976, 569_000_000, 0, 0.01, "Howard et al. 2017 Table 1 (569M mult-adds)"),
    "wrn28_10": (36_479_194, 5_243_328_768, 0, 0, "Zagoruyko & Komodakis 2016, WRN-28-10 CIFAR (36.5M)"),
    "mobilenet_v2": (3_504_872, 300_774_272, 0, 0, "torchvision mobilenet_v2 (3.5M, 0.30 GFLOPS)"),
    "fractalnet": (33_724_618, 845_222_912, 0.01, 0, "Larsson et al. 2017, CIFAR, 5 blocks x 3 columns"),
    "nasnet_a_mobile": (5_289_978, 564_000_000, 0.01, 0.02, "Zoph et al. 2018 Table 2 (5.3M, 564M mult-adds)"),
}

# the published GFLOPS figures, rounded to three decimals as torchvision prints them
PUBLISHED_GMACS = {"vgg11": 7.609, "vgg13": 11.308, "vgg16": 15.470, "vgg19": 19.632, "resnet18": 1.814,
                   "resnet34": 3.664, "resnet50": 4.089, "resnet101": 7.801, "resnet152": 11.514}


@pytest.mark.parametrize("name", sorted(CORE))
def test_core_zoo(name):
    params, macs, acts, _ = CORE[name]
    r = netdsl.check(name)
    assert r.total.params == params
    assert r.total.trainable == params
    assert r.total.macs == macs
    if acts is not None:
        assert r.total.activations == acts
    if name in PUBLISHED_GMACS:
        assert round(r.total.macs / 1e9, 3) == PUBLISHED_GMACS[name]


def test_googlenet_aux_classifiers_listed_apart():
    r = netdsl.check("googlenet")
    assert set(r.aux) == {"aux1", "aux2"}
    # avgpool 5x5/3 -> 4x4, conv 1x1 128, fc 1024, fc 1000 (input 512 after 4a, 528 after 4d)
    assert r.aux["aux1"].params == (512 * 128 + 128) + (2048 * 1024 + 1024) + (1024 * 1000 + 1000)
    assert r.aux["aux2"].params == (528 * 128 + 128) + (2048 * 1024 + 1024) + (1024 * 1000 + 1000)


def test_googlenet_rows_read_like_table_1():
    from netdsl import report

    rows = {r.name: r for r in report.rows(netdsl.check("googlenet"))}
    # Table 1: input channels, the six filter columns, output size, and the "ops" column (M)
    table1 = {
        "inception3a": (192, (64, 96, 128, 16, 32, 32), (256, 28, 28), 128),
        "inception3b": (256, (128, 128, 192, 32, 96, 64), (480, 28, 28), 304),
        "inception4a": (480, (192, 96, 208, 16, 48, 64), (512, 14, 14), 73),
        "inception4b": (512, (160, 112, 224, 24, 64, 64), (512, 14, 14), 88),
        "inception4c": (512, (128, 128, 256, 24, 64, 64), (512, 14, 14), 100),
        "inception4d": (512, (112, 144, 288, 32, 64, 64), (528, 14, 14), 119),
        "inception4e": (528, (256, 160, 320, 32, 128, 128), (832, 14, 14), 170),
        "inception5a": (832, (256, 160, 320, 32, 128, 128), (832, 7, 7), None),  # the paper prints 54M,
        "inception5b": (832, (384, 192, 384, 48, 128, 128), (1024, 7, 7), 71),  # its columns give 51M
    }
    for name, (cin, (n1, r3, n3, r5, n5, pp), shape, mops) in table1.items():
        weights = cin * n1 + cin * r3 + r3 * n3 * 9 + cin * r5 + r5 * n5 * 25 + cin * pp
        biases = n1 + r3 + n3 + r5 + n5 + pp
        assert rows[name].output_shape == shape
        assert rows[name].params == weights + biases
        if mops is not None:
            assert abs(rows[name].macs / 1e6 - mops) < 1, name  # the paper rounds either way


@pytest.mark.parametrize("classes", [3, 10])
def test_override_classes(classes):
    r = netdsl.check("vgg16", classes=classes)
    assert r.total.params == 138_357_544 - 4_097_000 + 4096 * classes + classes
    assert r.net.node(r.net.output_node)["shape"] == (classes,)


def test_vgg16_three_classes_published():
    assert netdsl.check("vgg16", classes=3).total.params == 134_272_835


def test_zoo_files_are_short_and_cite_a_source(root):
    for path in (root / "networks").glob("*.net"):
        text = path.read_text()
        assert text.startswith("#"), f"{path.name} needs a header comment citing its source"
    assert len((root / "networks" / "resnet50.net").read_text().splitlines()) < 40


@pytest.mark.parametrize("name", sorted(MORE))
def test_extended_zoo(name):
    params, macs, ptol, mtol, _ = MORE[name]
    r = netdsl.check(name)
    assert abs(r.total.params - params) <= ptol * params
    if macs is not None:
        assert abs(r.total.macs - macs) <= mtol * macs


def test_every_zoo_file_has_reference_numbers(root):
    names = {p.stem for p in (root / "networks").glob("*.net")}
    torchvision = {p.stem for p in (root / "tests" / "fixtures" / "torchvision").glob("*.json")}
    missing = names - set(CORE) - set(MORE) - TRANSFER_EXAMPLES - torchvision - CIFAR_REFERENCES
    assert not missing, f"zoo files without reference numbers in the tests: {sorted(missing)}"


TRANSFER_EXAMPLES: set[str] = {"resnet50_transfer"}
CIFAR_REFERENCES = {"resnet20", "resnet56", "preact_resnet18"}  # tests/test_cifar_resnets.py
