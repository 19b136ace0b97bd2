"""Datasets in their real formats: IDX files (MNIST, Fashion-MNIST) and Kaggle's FER2013 CSV, offline."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch
from torchvision import transforms

from autograder.course.data import (
    DEBIAN_FASHION_MNIST,
    IDX_FILES,
    DataMissing,
    Fer2013,
    data_root,
    fashion_mnist,
    mnist,
)


def write_idx(folder, name: str, array: np.ndarray) -> None:
    """An IDX file as LeCun's MNIST ships it: magic (unsigned bytes, n dims), big-endian sizes, data; gzipped."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / f"{name}.gz", "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def small_mnist(root, train_count: int = 12, test_count: int = 5) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (train_count, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(train_count) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (test_count, 28, 28)),
        "t10k-labels-idx1-ubyte": (np.arange(test_count) * 3) % 10,
    }
    for name, array in arrays.items():
        write_idx(root / "MNIST" / "raw", name, array)
    return arrays


def test_mnist_reads_gzipped_idx_files_through_torchvision(tmp_path):
    """Do small MNIST files in the real IDX format load, with images, labels and the course's transform?"""
    arrays = small_mnist(tmp_path)
    train = mnist(tmp_path, train=True)
    test = mnist(tmp_path, train=False, transform=transforms.ToTensor())
    assert (len(train), len(test)) == (12, 5)
    image, label = train[3]
    assert np.array_equal(np.asarray(image), arrays["train-images-idx3-ubyte"][3]) and label == 3
    tensor, label = test[1]
    assert tensor.shape == (1, 28, 28) and tensor.dtype == torch.float32 and label == 3
    assert torch.allclose(tensor * 255, torch.tensor(arrays["t10k-images-idx3-ubyte"][1], dtype=torch.float32))


def test_missing_data_names_the_files_and_the_setting(tmp_path):
    """Without the files (and no network), is the error a clear list of what is expected where?"""
    with pytest.raises(DataMissing) as missing:
        mnist(tmp_path)
    message = str(missing.value)
    assert str(tmp_path / "MNIST" / "raw") in message and all(f"{name}.gz" in message for name in IDX_FILES)
    assert "DLGRADE_DATA" in message and "download=True" in message


def test_data_root_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DLGRADE_DATA", str(tmp_path / "shared"))
    assert data_root() == tmp_path / "shared" and data_root(tmp_path) == tmp_path


@pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it with apt-get)",
)
def test_real_fashion_mnist_from_the_debian_package(tmp_path):
    """Does the real Fashion-MNIST load: 60,000 and 10,000 28x28 images, ten balanced classes?"""
    train, test = fashion_mnist(tmp_path, train=True), fashion_mnist(tmp_path, train=False)
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.data.shape == (60_000, 28, 28) and train.classes[9] == "Ankle boot"
    assert torch.bincount(test.targets).tolist() == [1000] * 10
    assert train[0][1] == 9  # the first training image is an ankle boot


def write_fer(path, rows: list[tuple[int | None, list[int]]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    labelled = rows[0][0] is not None
    lines = ["emotion,pixels" if labelled else "pixels"]
    for emotion, pixels in rows:
        text = " ".join(map(str, pixels))
        lines.append(f"{emotion},{text}" if labelled else text)
    path.write_text("\n".join(lines) + "\n")


def test_fer2013_reads_kaggle_csv_files(tmp_path):
    """Do train.csv (emotion,pixels) and test.csv (pixels only) load as 48x48 faces with emotions 0..6?"""
    faces = [(emotion, [(emotion * 30 + i) % 256 for i in range(48 * 48)]) for emotion in range(7)]
    write_fer(tmp_path / "fer2013" / "train.csv", faces)
    write_fer(tmp_path / "fer2013" / "test.csv", [(None, pixels) for _, pixels in faces[:2]])
    train = Fer2013(tmp_path, "train", transform=transforms.ToTensor())
    test = Fer2013(tmp_path, "test")
    image, emotion = train[4]
    assert len(train) == 7 and image.shape == (1, 48, 48) and emotion == 4
    assert image[0, 0, 0].item() == pytest.approx(120 / 255)
    assert len(test) == 2 and test[1][1] == -1 and np.asarray(test[1][0]).shape == (48, 48)


def test_fer2013_bad_rows_and_missing_files_are_named(tmp_path):
    """Is a row with the wrong pixel count reported with its line, and a missing file with what to download?"""
    write_fer(tmp_path / "fer2013" / "train.csv", [(0, [0] * 2304), (1, [0] * 2000)])
    with pytest.raises(ValueError, match=r"train.csv, line 3: 2000 pixels, expected 48x48"):
        Fer2013(tmp_path, "train")
    with pytest.raises(DataMissing, match=r"fer2013/test.csv .*Kaggle"):
        Fer2013(tmp_path, "test")
