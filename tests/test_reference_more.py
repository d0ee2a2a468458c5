"""The second batch of hand-written reference networks reproduces the published parameter / MAC counts."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

try:  # tests/ on sys.path (pytest's rootdir-relative "prepend" import of a non-package tests/)
    from reference import more
except ImportError:  # tests/ is a package
    from tests.reference import more

REFERENCE_MORE = more.REFERENCE_MORE
PUBLISHED_MORE = more.PUBLISHED_MORE
META = torch.device("meta")


def count(model: nn.Module, shape: tuple[int, int, int]) -> tuple[int, int, torch.Size]:
    """(params, MACs, output shape) of an eval-mode forward of a batch of 1 on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    params = sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(torch.zeros((1, *shape), device=device))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return params, flops // 2, out.shape


def build_on_meta(name: str) -> nn.Module:
    with META:
        return REFERENCE_MORE[name][0]()


@pytest.fixture(scope="module")
def meta_counts() -> dict[str, tuple[int, int, torch.Size]]:
    return {name: count(build_on_meta(name), spec[1]) for name, spec in REFERENCE_MORE.items()}


def test_tables_cover_the_same_networks() -> None:
    assert set(REFERENCE_MORE) == set(PUBLISHED_MORE)


@pytest.mark.parametrize("name", sorted(REFERENCE_MORE))
def test_params_and_macs_exact(name: str, meta_counts: dict) -> None:
    _, shape, params, macs = REFERENCE_MORE[name]
    got_params, got_macs, out_shape = meta_counts[name]
    assert got_params == params
    assert macs is None or got_macs == macs
    assert out_shape == (1, 10 if shape[1] == 32 else 1000)


@pytest.mark.parametrize("name", sorted(PUBLISHED_MORE))
def test_matches_published_figures(name: str, meta_counts: dict) -> None:
    params, macs, params_tol, macs_tol = PUBLISHED_MORE[name]
    got_params, got_macs, _ = meta_counts[name]
    assert abs(got_params - params) <= params_tol * params
    if macs is not None:
        assert abs(got_macs - macs) <= macs_tol * macs


@pytest.mark.parametrize("name", ["nin_cifar", "fractalnet", "mobilenet_v1", "densenet121", "nasnet_a_mobile"])
def test_meta_counts_equal_real_counts(name: str, meta_counts: dict) -> None:
    """Counting on the meta device gives the same numbers as a real forward (checked for all once)."""
    builder, shape, _, _ = REFERENCE_MORE[name]
    torch.manual_seed(0)
    model = builder()
    real = count(model, shape)
    assert real == meta_counts[name]
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, *shape))).all()


# ------------------------------------------------------------------------------------------------------
# Structural details that the counts alone do not pin down
# ------------------------------------------------------------------------------------------------------


def _cadene_pad_crop(x: torch.Tensor, op) -> torch.Tensor:
    """Cadene's TF-"SAME" emulation: zero-pad one row/column at the top/left, apply the symmetrically
    padded op, crop the first output row/column."""
    return op(F.pad(x, (1, 0, 1, 0)))[:, :, 1:, 1:]


@pytest.mark.parametrize("size", [8, 14])
def test_nasnet_same_padding_equals_cadene_pad_crop(size: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, size, size)
    # MaxPoolPad / AvgPoolPad
    pool = more.SamePool2d("max", 2)
    assert torch.equal(pool(x), _cadene_pad_crop(x, lambda t: F.max_pool2d(t, 3, 2, 1)))
    pool = more.SamePool2d("avg", 2)
    ref = _cadene_pad_crop(x, lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False))
    assert torch.allclose(pool(x), ref)
    # 'specific' / BranchSeparablesReduction depthwise convs (k, stride 2, padding (k-1)/2)
    for k in (3, 5, 7):
        conv = more.SameConv2d(4, 4, k, 2, groups=4)
        ref = _cadene_pad_crop(x, lambda t, conv=conv, k=k: F.conv2d(t, conv.weight, None, 2, (k - 1) // 2,
                                                                   groups=4))
        assert torch.allclose(conv(x), ref, atol=1e-6)
    # odd input (stem cell 0 on 111x111): symmetric padding like plain nn.MaxPool2d(3, 2, 1)
    y = torch.randn(1, 4, size + 1, size + 1)
    assert torch.equal(more.SamePool2d("max", 2)(y), F.max_pool2d(y, 3, 2, 1))


def test_nasnet_factorized_reduction_paths() -> None:
    torch.manual_seed(0)
    fr = more.FactorizedReduction(3, 4).eval()
    x = torch.randn(1, 3, 7, 7)
    with torch.no_grad():
        out = fr(x)
        r = x.relu()
        p1 = F.conv2d(F.avg_pool2d(r, 1, 2), fr.path_1.weight)
        p2 = F.conv2d(F.avg_pool2d(F.pad(r, (0, 1, 0, 1))[:, :, 1:, 1:], 1, 2), fr.path_2.weight)
        assert torch.allclose(out, fr.bn(torch.cat([p1, p2], 1)))
    assert out.shape == (1, 4, 4, 4)


def test_fractal_block_structure_and_drop_path() -> None:
    block = more.FractalBlock(3, 8, num_columns=3, dropout=0.1)
    assert [len(col) for col in block.columns] == [1, 2, 4]
    net = more.fractalnet()
    assert [p.p for p in net.modules() if isinstance(p, nn.Dropout)][::7] == [0.0, 0.1, 0.2, 0.3, 0.4]
    x = torch.randn(2, 3, 32, 32)
    net.train()
    random.seed(0)
    with torch.no_grad():
        for _ in range(3):  # exercises both global (single column) and local drop-path
            assert net(x).shape == (2, 10)
        for column in range(3):
            assert block(x, column).shape == (2, 8, 32, 32)


def test_wrn_dropout_option_does_not_change_counts() -> None:
    with META:
        model = more.wrn28_10(drop_rate=0.3)
    assert sum(p.numel() for p in model.parameters()) == REFERENCE_MORE["wrn28_10"][2]
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.3 for m in model.modules()) == 12
