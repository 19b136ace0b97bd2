"""Test accuracy of the course's reference networks over many seeds, to set week 4's thresholds with a margin.

Trains the seeds' two networks exactly as the course does (SGD with momentum, mini-batches, normalised inputs):
  * NetFF: 784-500-300-100-10 with tanh
  * NetCNN: conv 1->20 (5x5), max-pool, conv 20->50 (5x5), max-pool, 800-500-10 with ReLU (LeNet-style)
on the full training set of --dataset, once per seed, and prints each seed's test accuracy and time, then the
minimum, mean and maximum, and a threshold = minimum - margin, rounded down to a whole percent.
Asserts nothing. Run: .venv/bin/python benchmarks/training_thresholds.py [--seeds 10] [--epochs 2]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - the name every PyTorch course uses

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.course.data import fashion_mnist, mnist  # noqa: E402
from autograder.course.graders.week4_cnn import NetCNN, NetFF  # noqa: E402 - the course's reference networks

NORMALISE = {"fashion-mnist": (0.2860, 0.3530), "mnist": (0.1307, 0.3081)}


def tensors(dataset, mean: float, std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as one normalised float tensor (N, 1, 28, 28) and its labels: fast to batch from."""
    images = dataset.data.unsqueeze(1).float().div(255).sub(mean).div(std)
    return images, dataset.targets


def training_steps(model: nn.Module, data: dict, epochs: int, lr: float, batch: int) -> Iterator[int]:
    """The course's training (SGD with momentum 0.9, mini-batches shuffled each epoch), one step at a time: yields
    the number of steps taken, so a caller can measure or stop between steps."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    images, labels = data["train"]
    steps = 0
    for _ in range(epochs):
        order = torch.randperm(len(images))
        for start in range(0, len(images), batch):
            model.train()  # a caller may have evaluated the model since the last step
            index = order[start : start + batch]
            optimizer.zero_grad()
            F.nll_loss(model(images[index]), labels[index]).backward()
            optimizer.step()
            steps += 1
            yield steps


def train_and_test(model_class: type, seed: int, data: dict, epochs: int, lr: float, batch: int) -> float:
    torch.manual_seed(seed)
    model = model_class()
    for _ in training_steps(model, data, epochs, lr, batch):
        pass
    return test_accuracy(model, data)


def test_accuracy(model: nn.Module, data: dict) -> float:
    """Accuracy on the whole test split, in evaluation mode, 1,000 images at a time."""
    model.eval()
    images, labels = data["test"]
    with torch.no_grad():
        predictions = torch.cat([model(images[i : i + 1000]).argmax(1) for i in range(0, len(images), 1000)])
    return (predictions == labels).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=list(NORMALISE), default="fashion-mnist")
    parser.add_argument("--data-root", help="data root (default: $DLGRADE_DATA or ~/.cache/dlgrade)")
    parser.add_argument("--models", nargs="*", choices=["cnn", "ff"], default=["cnn", "ff"])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--margin", type=float, default=0.02, help="below the worst seed (default: 0.02)")
    args = parser.parse_args()
    load = fashion_mnist if args.dataset == "fashion-mnist" else mnist
    mean, std = NORMALISE[args.dataset]
    data = {split: tensors(load(args.data_root, train=split == "train"), mean, std) for split in ("train", "test")}
    print(
        f"{args.dataset}: {args.epochs} epochs, SGD lr {args.lr} momentum 0.9, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads"
    )
    for name in args.models:
        model_class = NetCNN if name == "cnn" else NetFF
        accuracies = []
        for seed in range(1, args.seeds + 1):
            started = time.perf_counter()
            accuracies.append(train_and_test(model_class, seed, data, args.epochs, args.lr, args.batch_size))
            seconds = time.perf_counter() - started
            print(f"  {model_class.__name__} seed {seed:>2}: {accuracies[-1]:.4f}  ({seconds:.0f} s)")
        low, mean_acc, high = min(accuracies), statistics.mean(accuracies), max(accuracies)
        threshold = math.floor((low - args.margin) * 100) / 100
        print(
            f"{model_class.__name__}: min {low:.4f}, mean {mean_acc:.4f}, max {high:.4f} over {args.seeds} seeds "
            f"-> threshold {threshold:.2f}"
        )


if __name__ == "__main__":
    main()
