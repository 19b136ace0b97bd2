"""Small instruments the graders build inside the student's process (``student.tool(name)``).

Some questions cannot be asked from outside: whether autograd was recording while the student's ``evaluate``
ran, or what a loop does to a model whose train and eval modes differ. These are the course's own objects,
built where the student's code runs and then handed to it; the graders build the same ones in their own process
for references. Only the names in ``TOOLS`` can be asked for.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class GradModeLog:
    """A forward pre-hook that records whether autograd was recording at each forward pass."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def __call__(self, module: nn.Module, args: tuple) -> None:
        self.seen.append(torch.is_grad_enabled())


def batchnorm_classifier(seed: int, classes: int = 10) -> nn.Sequential:
    """784-32-classes with batch norm, seeded: its train and eval modes differ, deterministically."""
    with torch.random.fork_rng(devices=[]):  # the student's random stream is theirs: leave it as it was
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 32),
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.Linear(32, classes),
            nn.LogSoftmax(dim=1),
        )


def lenet(seed: int) -> nn.Sequential:
    """The course's NetCNN as one Sequential (same layers, same order), seeded; independent of the student's."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(1, 20, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(800, 500),
            nn.ReLU(),
            nn.Linear(500, 10),
            nn.LogSoftmax(dim=1),
        )


def tensor_loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> DataLoader:
    """Batches in a fixed order, so that the grader can replay them exactly."""
    return DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=False)


def parameters_with_gradients(model: nn.Module) -> list[str]:
    """Names of the parameters that hold a gradient."""
    return [name for name, parameter in model.named_parameters() if parameter.grad is not None]


def tensor_dataset(images: torch.Tensor, labels: torch.Tensor) -> TensorDataset:
    return TensorDataset(images, labels)


# -- files: the grader's files reach the student's code only through its own scratch space ------------------------


def make_folder() -> str:
    """A new, empty folder in the student's scratch space (the only place its process can write)."""
    return tempfile.mkdtemp(prefix="files-")


def write_file(path: str, data: bytes) -> None:
    """Write a file the grader made (weights, a checkpoint, images) where the student's code will read it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def is_file(path: str) -> bool:
    return Path(path).is_file()


def remove_folder(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


TOOLS = {
    tool.__name__: tool
    for tool in (
        GradModeLog,
        batchnorm_classifier,
        lenet,
        parameters_with_gradients,
        tensor_loader,
        tensor_dataset,
        make_folder,
        write_file,
        is_file,
        remove_folder,
    )
}
