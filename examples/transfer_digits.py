"""Transfer learning with netdsl: pretrain on the digits 0-4, learn 5-9 from 2 examples each.

    python examples/transfer_digits.py            # needs torch and scikit-learn (its 8x8 digits ship
                                                  # with the package: no download)

The task: scikit-learn's 8x8 digits, each placed at a random position of a 16x16 canvas.

1. `examples/digits_base.net` (a small CNN ending in global max pooling) is trained on the digits 0-4,
   each drawn at a new random position every epoch, and saved with `torch.save(model.state_dict(),
   ...)` in a temporary folder.
2. `examples/digits_transfer.net` extends it, replaces the head `fc` (5 classes: the digits 5-9) and
   freezes the body. `netdsl.load(..., weights=checkpoint)` fills the body from the base checkpoint;
   the replaced `fc` keeps its fresh weights (netdsl says so with a NetdslWarning, printed below).
   Only the head trains, on `--shots` labelled examples per class of the digits 5-9 (each at one
   random position).
3. Two baselines, the same network on the same examples with the same optimiser, steps and seed, but no
   checkpoint: "scratch" unfreezes and trains every layer; "random body" keeps the body frozen at its
   random initialisation and trains only the head (what the checkpoint adds to the same training).

Few-shot results vary with which examples are drawn, so, as few-shot papers do, each method runs on
`--episodes` draws of the few examples and the mean held-out accuracy on every other image of the
digits 5-9 (placed at random positions) is reported, with how many episodes transfer won.

Measured (2 shots, 5 episodes, 2 CPU cores, 26-29 s a run), transfer / from scratch / random frozen
body, mean held-out accuracy on the 886 images of 5-9:
    seed 0: 53.4% / 40.5% / 33.1%, transfer won 5 of 5 episodes
    seed 1: 54.5% / 36.7% / 30.7%, 5 of 5
    seed 2: 52.0% / 38.7% / 30.9%, 5 of 5
What it does not show: where the few examples alone teach enough, training every layer beats this
frozen body. On the digits centred in their 8x8 frame with 10 examples per class (the first version
of this example), scratch reached 95-98% and the frozen body 91-96%; here, with the few examples
moved to a new position every epoch (data augmentation), scratch reaches 78-86% and the frozen body
57-65% (seeds 0-2). Five digits teach features that help where the few examples cannot.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

import netdsl

HERE = Path(__file__).resolve().parent
BASE = HERE / "digits_base.net"
TRANSFER = HERE / "digits_transfer.net"
CANVAS = 16


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 8x8 digits as (N, 1, 8, 8) floats in [0, 1] and (N,) labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0, torch.tensor(d.target)


def place(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Each (1, h, w) image of `x` at a random position of a CANVAS x CANVAS canvas."""
    n, _, h, w = x.shape
    out = torch.zeros(n, 1, CANVAS, CANVAS)
    rows = torch.randint(0, CANVAS - h + 1, (n,), generator=g).tolist()
    cols = torch.randint(0, CANVAS - w + 1, (n,), generator=g).tolist()
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        out[i, :, r:r + h, c:c + w] = x[i]
    return out


def few_shot(x, y, shots: int, g: torch.Generator):
    """From the digits 5-9 (labels 0-4): `shots` examples per class, each placed once, and every other
    image placed once (the held-out set)."""
    perm = torch.randperm(len(y), generator=g)
    chosen = torch.cat([perm[y[perm] == c][:shots] for c in range(5)])
    held = torch.ones(len(y), dtype=torch.bool)
    held[chosen] = False
    return (place(x[chosen], g), y[chosen]), (place(x[held], g), y[held])


def train(model, x, y, epochs: int, seed: int, lr: float = 1e-2, batch: int = 64, frozen=(),
          augment: bool = False) -> None:
    """Adam on the parameters that require gradients; modules in `frozen` stay in eval mode (their
    batch norms keep the pretrained statistics). `augment`: each image at a new random position every
    epoch."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(epochs):
        model.train()
        for m in frozen:
            m.eval()
        perm = torch.randperm(len(y))
        for i in range(0, len(y), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(place(x[idx], g) if augment else x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


@torch.no_grad()
def accuracy(model, x, y) -> float:
    model.eval()
    return (model(x).argmax(1) == y).float().mean().item()


def run(base_epochs: int = 30, head_epochs: int = 150, shots: int = 2, episodes: int = 5, seed: int = 0,
        data=None, say=print) -> dict[str, float]:
    """Pretrain; then, for each episode, transfer, train from scratch, train a head on a random body.
    The mean accuracies, and `wins`: the episodes where transfer beat scratch. `data`: (images,
    labels) in place of scikit-learn's digits (same layout)."""
    x, y = data if data is not None else load_digits_tensors()
    g = torch.Generator().manual_seed(seed)
    lo = y < 5
    xb, yb = x[lo], y[lo]
    perm = torch.randperm(len(yb), generator=g)
    cut = int(0.8 * len(yb))

    torch.manual_seed(seed)
    base = netdsl.load(BASE)
    train(base, xb[perm[:cut]], yb[perm[:cut]], epochs=base_epochs, seed=seed, augment=True)
    out = {"base": accuracy(base, place(xb[perm[cut:]], g), yb[perm[cut:]])}
    say(f"base network on the digits 0-4: {out['base']:.1%} held-out accuracy "
        f"({cut} training images, {base_epochs} epochs)")

    scores = {"transfer": [], "scratch": [], "random_body": []}
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "digits_base.pth"
        torch.save(base.state_dict(), checkpoint)
        for episode in range(episodes):
            few, held = few_shot(x[~lo], y[~lo] - 5, shots, g)
            run_seed = seed * 1000 + episode
            torch.manual_seed(run_seed)
            with warnings.catch_warnings(record=True) as notes:
                warnings.simplefilter("always", netdsl.NetdslWarning)
                transfer = netdsl.load(TRANSFER, weights=checkpoint)
            if episode == 0:
                for note in notes:
                    say(f"netdsl: {note.message}")
            train(transfer, *few, epochs=head_epochs, seed=run_seed, frozen=[transfer.body])
            scores["transfer"].append(accuracy(transfer, *held))

            torch.manual_seed(run_seed)
            scratch = netdsl.load(TRANSFER)  # no checkpoint
            for p in scratch.parameters():  # and nothing frozen: every layer trains
                p.requires_grad_(True)
            train(scratch, *few, epochs=head_epochs, seed=run_seed)
            scores["scratch"].append(accuracy(scratch, *held))

            torch.manual_seed(run_seed)
            random_body = netdsl.load(TRANSFER)  # no checkpoint, body frozen as written
            train(random_body, *few, epochs=head_epochs, seed=run_seed, frozen=[random_body.body])
            scores["random_body"].append(accuracy(random_body, *held))

    out.update({k: sum(v) / len(v) for k, v in scores.items()})
    out["wins"] = sum(t > s for t, s in zip(scores["transfer"], scores["scratch"], strict=True))
    trainable = sum(p.numel() for p in transfer.parameters() if p.requires_grad)
    every = sum(p.numel() for p in scratch.parameters())
    say(f"digits 5-9 from {shots} labelled examples each, {len(held[1])} held-out images, {head_epochs} epochs, "
        f"mean of {episodes} episodes:")
    say(f"  transfer (pretrained body frozen, {trainable:,} parameters trained): {out['transfer']:.1%}")
    say(f"  from scratch (no weights, all {every:,} parameters trained): {out['scratch']:.1%}")
    say(f"  random frozen body (no weights, {trainable:,} parameters trained): {out['random_body']:.1%}")
    say(f"  transfer beat scratch in {out['wins']} of {episodes} episodes")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-epochs", type=int, default=30)
    p.add_argument("--head-epochs", type=int, default=150)
    p.add_argument("--shots", type=int, default=2, help="labelled examples per class of the digits 5-9")
    p.add_argument("--episodes", type=int, default=5, help="draws of the few examples (results are means)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("this example needs scikit-learn for its 8x8 digits: pip install scikit-learn", file=sys.stderr)
        return 2
    torch.set_num_threads(min(4, torch.get_num_threads()))  # a tiny network: more threads only add overhead
    start = time.perf_counter()
    run(args.base_epochs, args.head_epochs, args.shots, args.episodes, args.seed)
    print(f"({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
