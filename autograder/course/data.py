"""The course's datasets in their real formats, offline first: MNIST, Fashion-MNIST (IDX files) and FER2013 (CSV).

One data root serves every week and the graders: ``--data-root``, else ``$DLGRADE_DATA``, else ``~/.cache/dlgrade``.
MNIST and Fashion-MNIST load through torchvision's own dataset classes from ``ROOT/<Name>/raw``; the gzipped IDX
files are taken from there, from Debian's ``dataset-fashion-mnist`` package, or downloaded where the network
allows it. FER2013 is read from the Kaggle challenge's ``ROOT/fer2013/train.csv`` and ``test.csv`` by a small reader
here, because torchvision's checks the full files' checksums and so refuses the subsets courses and tests use.
Missing data is a ``DataMissing`` error that names the files expected and how to get them.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from autograder.course.data_locations import DATA_ENV, DEBIAN_FASHION_MNIST, data_root

__all__ = [
    "DATA_ENV",
    "DEBIAN_FASHION_MNIST",
    "DataMissing",
    "Fer2013",
    "data_root",
    "fashion_mnist",
    "idx_archives",
    "mnist",
]

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FER2013_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class DataMissing(FileNotFoundError):
    """A dataset is not where the data root says; the message lists the files and how to get them."""


def mnist(root: str | os.PathLike | None = None, train: bool = True, transform=None, download: bool = False):
    """torchvision's MNIST from ``ROOT/MNIST/raw`` (IDX files, gzipped or not)."""
    from torchvision.datasets import MNIST  # noqa: PLC0415 - torchvision is slow to import

    return _idx_dataset(MNIST, data_root(root), train, transform, download, sources=[])


def fashion_mnist(root: str | os.PathLike | None = None, train: bool = True, transform=None, download: bool = False):
    """torchvision's FashionMNIST from ``ROOT/FashionMNIST/raw``, or from Debian's dataset-fashion-mnist package."""
    from torchvision.datasets import FashionMNIST  # noqa: PLC0415

    return _idx_dataset(FashionMNIST, data_root(root), train, transform, download, sources=[DEBIAN_FASHION_MNIST])


def idx_archives(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The gzipped IDX files of ``name`` (``MNIST`` or ``FashionMNIST``), from the data root or Debian's package,
    to pack with an autograder; DataMissing names what is missing and where it was looked for."""
    raw = data_root(root) / name / "raw"
    sources = [raw] + ([DEBIAN_FASHION_MNIST] if name == "FashionMNIST" else [])
    found = []
    for file in IDX_FILES:
        archive = next((folder / f"{file}.gz" for folder in sources if (folder / f"{file}.gz").is_file()), None)
        if archive is None:
            how = (
                "apt-get install dataset-fashion-mnist"
                if sources[1:]
                else f"download them once ({name.lower()}(download=True))"
            )
            raise DataMissing(_missing_message(name, raw, sources[1:], how))
        found.append(archive)
    return found


def _idx_dataset(cls: type, root: Path, train: bool, transform, download: bool, sources: list[Path]):
    raw = root / cls.__name__ / "raw"
    for name in IDX_FILES:
        if not (raw / name).is_file():
            _unpack(name, [raw, *sources], raw)
    if all((raw / name).is_file() for name in IDX_FILES):
        return cls(str(root), train=train, transform=transform, download=False)
    if download:
        try:
            return cls(str(root), train=train, transform=transform, download=True)
        except (RuntimeError, OSError) as exc:
            raise DataMissing(_missing_message(cls.__name__, raw, sources, f"download failed: {exc}")) from None
    raise DataMissing(_missing_message(cls.__name__, raw, sources, "pass download=True where there is a network"))


def _unpack(name: str, folders: list[Path], raw: Path) -> None:
    """``name`` from ``name.gz`` in the first folder that has it, into ``raw``."""
    from torchvision.datasets.utils import extract_archive  # noqa: PLC0415

    for folder in folders:
        archive = folder / f"{name}.gz"
        if archive.is_file():
            raw.mkdir(parents=True, exist_ok=True)
            if archive.parent != raw:
                shutil.copyfile(archive, raw / archive.name)
            extract_archive(str(raw / archive.name), str(raw))
            return


def _missing_message(name: str, raw: Path, sources: list[Path], how: str) -> str:
    files = ", ".join(f"{file}.gz" for file in IDX_FILES)
    where = f" (or Debian's package at {sources[0]})" if sources else ""
    return f"{name} not found: expected {files} in {raw}{where}; set --data-root or ${DATA_ENV}, or {how}"


class Fer2013(Dataset):
    """FER2013 as Kaggle ships it: 48x48 grey faces, 7 emotions; ``test.csv`` has no labels (target -1).

    Each item is ``(image, target)``: a PIL image (or ``transform(image)``) and an int in 0..6, an index into
    ``classes`` as in torchvision's datasets.
    """

    classes = list(FER2013_EMOTIONS)

    def __init__(self, root: str | os.PathLike | None = None, split: str = "train", transform=None):
        if split not in ("train", "test"):
            raise ValueError(f"FER2013 split {split!r}: expected 'train' or 'test'")
        path = data_root(root) / "fer2013" / f"{split}.csv"
        if not path.is_file():
            raise DataMissing(
                f"FER2013 not found: expected {path} (train.csv with columns emotion,pixels and test.csv with "
                f"pixels, from Kaggle's 'Challenges in Representation Learning: Facial Expression Recognition'); "
                f"set --data-root or ${DATA_ENV}"
            )
        self.transform = transform
        self.images, self.targets = _read_fer_csv(path)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        from PIL import Image  # noqa: PLC0415

        image = Image.fromarray(self.images[index], mode="L")
        return (self.transform(image) if self.transform else image), int(self.targets[index])


def _read_fer_csv(path: Path) -> tuple[np.ndarray, torch.Tensor]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if "pixels" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: not a FER2013 file (no `pixels` column)")
        images, targets = [], []
        for line, row in enumerate(reader, start=2):
            pixels = row["pixels"].split()
            if len(pixels) != 48 * 48:
                raise ValueError(f"{path}, line {line}: {len(pixels)} pixels, expected 48x48 = 2304")
            images.append(np.asarray(pixels, dtype=np.uint8).reshape(48, 48))
            targets.append(int(row["emotion"]) if row.get("emotion", "") != "" else -1)
    return np.stack(images) if images else np.zeros((0, 48, 48), np.uint8), torch.tensor(targets)
