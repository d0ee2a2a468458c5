"""Training throughput of a zoo network: `netdsl.load(NAME).to(device)` and SGD steps, images/s.

    python benchmarks/bench_train.py --network vgg19 --device cuda --amp --channels-last
    python benchmarks/bench_train.py --network resnet18 --device cpu --batch 4 --size 64 --steps 3

With --compare-torchvision (where torchvision imports, e.g. on the GPU machines) the same loop runs
on torchvision's model of the same name, interleaved, and the ratio is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

import netdsl


def step_time(model, x, y, opt, device, amp: bool) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        loss = torch.nn.functional.cross_entropy(out.float(), y)
    loss.backward()
    opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", default="vgg19")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--amp", action="store_true", help="bf16 autocast")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compare-torchvision", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    mf = torch.channels_last if args.channels_last else torch.contiguous_format
    models = {"netdsl": netdsl.load(args.network, input_shape=(3, args.size, args.size))}
    if args.compare_torchvision:
        import torchvision

        models["torchvision"] = getattr(torchvision.models, args.network)()
    x = torch.randn(args.batch, 3, args.size, args.size, device=device).to(memory_format=mf)
    times: dict[str, list[float]] = {k: [] for k in models}
    opts = {}
    for k, m in models.items():
        models[k] = m.to(device).to(memory_format=mf).train()
        opts[k] = torch.optim.SGD(models[k].parameters(), lr=0.01, momentum=0.9)
    with torch.no_grad():
        out = models["netdsl"].eval()(x[:1])
        classes = (out[0] if isinstance(out, tuple) else out).shape[-1]
    models["netdsl"].train()
    y = torch.randint(0, classes, (args.batch,), device=device)
    for k, m in models.items():  # warm-up
        step_time(m, x, y, opts[k], device, args.amp)
    for i in range(args.steps):
        order = list(models) if i % 2 == 0 else list(models)[::-1]
        for k in order:
            times[k].append(step_time(models[k], x, y, opts[k], device, args.amp))
    print(f"{args.network} on {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}), "
          f"batch {args.batch} at {args.size}x{args.size}, amp={args.amp}, channels_last={args.channels_last}")
    for k, ts in times.items():
        med = statistics.median(ts)
        print(f"  {k:<12} {med * 1e3:8.1f} ms/step  {args.batch / med:10.1f} images/s")
    if len(times) == 2:
        ratio = statistics.median(times["netdsl"]) / statistics.median(times["torchvision"])
        print(f"  ratio netdsl / torchvision: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
