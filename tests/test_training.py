"""Lowered networks train: fp32, bf16 autocast, torch.compile, DDP across processes, and export.

Kept small on purpose: CI has 2 CPU cores.
"""

import os
import socket

import pytest

torch = pytest.importorskip("torch")
lower = pytest.importorskip("netdsl.lower")

import netdsl  # noqa: E402

SMALL = """
network small(classes=4)
input 3x16x16
defaults conv bias=false bn act=relu
init kaiming
define basic(c, s=1) = residual<3x3/s:c > 3x3:c act=none> > relu
conv 3x3 p1 x16
layer1 = basic(16) > basic(32, s=2)
inception<1x1:8 | 1x1:8 > 3x3:16 | pool 3x3/1 p1 > 1x1:8>
gap; flatten; dropout 0.1
fc = linear classes
"""


def _batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 4, (n,), generator=g)


def _train(model, steps=25, autocast=False, lr=0.05):
    x, y = _batch()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_learns_fp32():
    torch.manual_seed(0)
    losses = _train(netdsl.loads(SMALL))
    assert losses[-1] < 0.5 * losses[0], losses


def test_learns_under_bf16_autocast():
    torch.manual_seed(0)
    losses = _train(netdsl.loads(SMALL), autocast=True)
    assert losses[-1] < 0.5 * losses[0], losses


def test_learns_under_torch_compile_fullgraph():
    torch.manual_seed(0)
    model = netdsl.loads(SMALL)
    compiled = torch.compile(model, fullgraph=True)
    losses = _train(compiled, steps=12)
    assert losses[-1] < 0.7 * losses[0], losses


def test_channels_last_and_trace_and_export():
    torch.manual_seed(0)
    model = netdsl.loads(SMALL).eval()
    x, _ = _batch(4)
    ref = model(x)
    cl = model.to(memory_format=torch.channels_last)
    torch.testing.assert_close(cl(x.to(memory_format=torch.channels_last)), ref, rtol=1e-4, atol=1e-4)
    traced = torch.jit.trace(model, x)
    torch.testing.assert_close(traced(x), ref)
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), ref)


def test_onnx_export(tmp_path):
    pytest.importorskip("onnxscript")
    onnx = pytest.importorskip("onnx")
    model = netdsl.loads(SMALL).eval()
    x, _ = _batch(2)
    path = tmp_path / "small.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=True)
    onnx.checker.check_model(onnx.load(str(path)))


def test_frozen_layers_do_not_train():
    model = netdsl.loads(SMALL + "freeze * except fc\n")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _train(model, steps=2)
    after = model.state_dict()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    for k in before:
        if k.startswith("fc."):
            assert not torch.equal(before[k], after[k])
        elif "running" not in k and "num_batches" not in k:
            assert torch.equal(before[k], after[k]), k


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, out):
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)  # same initial weights on every rank
    model = torch.nn.parallel.DistributedDataParallel(netdsl.loads(SMALL))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _batch(8, seed=rank)  # different data per rank
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    flat = torch.cat([p.detach().flatten() for p in model.module.parameters()])
    torch.save(flat, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_distributed_data_parallel_keeps_replicas_in_sync(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a, b = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    torch.manual_seed(0)
    start = torch.cat([p.detach().flatten() for p in netdsl.loads(SMALL).parameters()])
    assert torch.equal(a, b)
    assert not torch.equal(a, start)


ZOO_SMALL_INPUT = {"lenet5": (1, 28, 28), "nin_cifar": (3, 32, 32), "wrn28_10": (3, 32, 32),
                   "fractalnet": (3, 32, 32), "alexnet": (3, 67, 67), "alexnet_grouped": (3, 67, 67),
                   "googlenet": (3, 224, 224), "zfnet": (3, 64, 64), "nasnet_a_mobile": (3, 64, 64)}


def _zoo():
    try:
        from zoo import FORWARD
    except ImportError:
        from tests.zoo import FORWARD
    return list(FORWARD)


@pytest.mark.slow
@pytest.mark.parametrize("name", _zoo())
def test_every_zoo_network_trains_a_step(name):
    shape = ZOO_SMALL_INPUT.get(name, (3, 64, 64))
    torch.manual_seed(0)
    try:
        model = netdsl.load(name, input_shape=shape)
    except netdsl.NetdslError as e:  # fixed-size heads (flatten + linear) need their own size
        pytest.fail(f"{name} does not build at {shape}: {e}")
    model.train()
    x = torch.randn(2, *shape)
    out = model(x)
    main = out[0] if isinstance(out, tuple) else out
    loss = main.float().pow(2).mean()
    if isinstance(out, tuple):
        loss = loss + sum(o.float().pow(2).mean() for o in out[1:])
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
