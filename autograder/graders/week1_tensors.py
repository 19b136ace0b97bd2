"""Hidden graders for week 1, tensor operations.

Inputs are chosen here and sent to the student's process; references are computed here, with torch in
float64 where it matters. Points per part must equal the points of the notebook's self-check cell with the
same part (a test in tests/ holds the two together).
"""

from __future__ import annotations

import numpy as np
import torch

from autograder.checks import (
    expect_close,
    expect_equal,
    expect_float,
    expect_tensor,
    fail,
    part,
    points,
    student_device,
)

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- 1. building tensors ------------------------------------------------------------------------------------


@part("tensor_from_list")
@points(1)
def test_tensor_from_list_float32(student):
    """tensor_from_list builds a float32 tensor from a nested list of ints"""
    values = [[1, 2, 3], [4, 5, 6]]
    what = "tensor_from_list([[1, 2, 3], [4, 5, 6]], dtype=torch.float32)"
    out = expect_tensor(
        student.tensor_from_list(values, dtype=torch.float32),
        what,
        shape=(2, 3),
        dtype=torch.float32,
    )
    expect_close(out, torch.tensor(values, dtype=torch.float64), what)


@part("tensor_from_list")
@points(1)
def test_tensor_from_list_other_dtypes(student):
    """tensor_from_list honours every dtype asked for"""
    for values, dtype in (([0.5, 1.5, -2.0], torch.float64), ([[7, 8], [9, 10], [11, 12]], torch.int32)):
        what = f"tensor_from_list({values}, dtype={dtype})"
        out = expect_tensor(student.tensor_from_list(values, dtype=dtype), what, dtype=dtype)
        expect_close(out, torch.tensor(values, dtype=torch.float64), what)


# -- 2. float32 is a type, not a count ------------------------------------------------------------------------


@part("storage_facts")
@points(1)
def test_storage_facts_float32(student):
    """storage_facts of a 5x3 float32 tensor is (15, 32, 60)"""
    got = student.storage_facts(torch.zeros(5, 3))
    hint = None
    if isinstance(got, (tuple, list)) and len(got) == 3 and got[0] == 32:
        hint = "float32 means 32 bits per element, not 32 elements: count elements with numel()"
    expect_equal(_as_tuple(got), (15, 32, 60), "storage_facts(<5x3 float32 tensor>)", hint)


@part("storage_facts")
@points(1)
def test_storage_facts_other_types(student):
    """storage_facts works for float64 and uint8 tensors of any shape"""
    for shape, dtype, expected in (((2, 3, 4), torch.float64, (24, 64, 192)), ((7,), torch.uint8, (7, 8, 7))):
        got = student.storage_facts(torch.zeros(shape, dtype=dtype))
        hint = "use the tensor's own element_size(), not a fixed 4 bytes" if _as_tuple(got)[1:2] == (32,) else None
        expect_equal(_as_tuple(got), expected, f"storage_facts(<tensor of shape {shape}, {dtype}>)", hint)


# -- 3. reshaping -------------------------------------------------------------------------------------------------


FLATTEN_HINTS = {(64 * 784,): "keep the batch dimension: the result should have one row per image"}


@part("flatten_images")
@points(1)
def test_flatten_mnist_batch(student):
    """flatten_images turns a (64, 1, 28, 28) batch into (64, 784)"""
    batch = torch.rand(64, 1, 28, 28, generator=_generator(1))
    what = "flatten_images(<tensor of shape (64, 1, 28, 28)>)"
    out = expect_tensor(student.flatten_images(batch), what, shape=(64, 784), shape_hints=FLATTEN_HINTS)
    expect_close(out, batch.reshape(64, 784), what, hints={"rows are mixed between images": batch.reshape(784, 64).T})


@part("flatten_images")
@points(1)
def test_flatten_any_image_size(student):
    """flatten_images works for colour images of another size, (8, 3, 32, 32) to (8, 3072)"""
    batch = torch.rand(8, 3, 32, 32, generator=_generator(2))
    what = "flatten_images(<tensor of shape (8, 3, 32, 32)>)"
    out = expect_tensor(student.flatten_images(batch), what, shape=(8, 3072))
    expect_close(out, batch.reshape(8, -1), what)


@part("flatten_images")
@points(1)
def test_flatten_non_contiguous(student):
    """flatten_images accepts a non-contiguous batch (channels-last images moved with permute)"""
    batch = torch.rand(4, 28, 28, 3, generator=_generator(3)).permute(0, 3, 1, 2)
    assert not batch.is_contiguous()
    what = "flatten_images(<non-contiguous tensor of shape (4, 3, 28, 28)>)"
    try:
        out = student.flatten_images(batch)
    except Exception as exc:
        if "view" in str(exc):
            fail(f"{exc}: view() needs contiguous memory; reshape() or flatten() handle any layout")
        raise
    out = expect_tensor(out, what, shape=(4, 3 * 28 * 28))
    expect_close(out, batch.reshape(4, -1), what)


# -- 4. NumPy bridge --------------------------------------------------------------------------------------------


@part("numpy_bridge")
@points(2)
def test_share_from_numpy_shares_memory(student):
    """share_from_numpy returns a tensor that sees later changes to the array"""
    array = student.put(np.arange(6, dtype=np.float64).reshape(2, 3))
    result = student.share_from_numpy.handle(array)
    array[(0, 0)] = 123.5
    out = expect_tensor(result.fetch(), "share_from_numpy(<array of shape (2, 3), float64>)", shape=(2, 3))
    expect_equal(str(out.dtype), "torch.float64", "share_from_numpy: the tensor's dtype", "keep NumPy's dtype")
    if out[0, 0].item() != 123.5:
        fail(
            "share_from_numpy: after the array changed, the tensor still held the old value: it is a copy. "
            "torch.tensor() copies; torch.from_numpy() shares the array's memory"
        )
    expect_close(out[1], torch.tensor([3.0, 4.0, 5.0], dtype=torch.float64), "share_from_numpy")


@part("numpy_bridge")
@points(1)
def test_copy_from_numpy_is_independent(student):
    """copy_from_numpy returns an independent copy with the array's dtype"""
    array = student.put(np.arange(4, dtype=np.float32))
    result = student.copy_from_numpy.handle(array)
    array[0] = -50.0
    out = expect_tensor(result.fetch(), "copy_from_numpy(<array of shape (4,), float32>)", shape=(4,))
    expect_equal(str(out.dtype), "torch.float32", "copy_from_numpy: the tensor's dtype", "keep NumPy's dtype")
    if out[0].item() == -50.0:
        fail("copy_from_numpy: the tensor changed when the array did: it shares memory. torch.tensor() copies")
    expect_close(out, torch.arange(4, dtype=torch.float64), "copy_from_numpy")


# -- 5. normalisation ------------------------------------------------------------------------------------------


@part("normalize")
@points(2)
def test_scale_pixels(student):
    """scale_pixels maps uint8 0..255 to float32 0..1"""
    images = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8, generator=_generator(4))
    images[0, 0, 0, :2] = torch.tensor([0, 255], dtype=torch.uint8)
    what = "scale_pixels(<uint8 tensor of shape (2, 1, 28, 28)>)"
    out = expect_tensor(student.scale_pixels(images), what, shape=(2, 1, 28, 28), dtype=torch.float32)
    as_float = images.to(torch.float64)
    hints = {
        "divide by 255 (the largest pixel value), not 256": as_float / 256,
        "integer division (//) throws the fraction away: convert to float first": as_float // 255,
    }
    expect_close(out, as_float / 255, what, hints=hints)


@part("normalize")
@points(1)
def test_normalize_mnist_defaults(student):
    """normalize uses MNIST's mean 0.1307 and std 0.3081 by default"""
    x = torch.rand(3, 1, 28, 28, generator=_generator(5))
    expected = (x.double() - MNIST_MEAN) / MNIST_STD
    hints = {
        "mean and std are swapped": (x.double() - MNIST_STD) / MNIST_MEAN,
        "that multiplies by std and adds mean (it undoes normalisation)": x.double() * MNIST_STD + MNIST_MEAN,
        "subtract the mean before dividing by std: (x - mean) / std": x.double() - MNIST_MEAN / MNIST_STD,
    }
    expect_close(student.normalize(x), expected, "normalize(<tensor of shape (3, 1, 28, 28)>)", hints=hints)


@part("normalize")
@points(1)
def test_normalize_uses_given_constants(student):
    """normalize uses the mean and std it is given, not fixed constants"""
    x = torch.rand(2, 3, 8, 8, generator=_generator(6))
    what = "normalize(<tensor of shape (2, 3, 8, 8)>, mean=0.5, std=0.25)"
    hints = {"the mean and std arguments are ignored": (x.double() - MNIST_MEAN) / MNIST_STD}
    expect_close(student.normalize(x, mean=0.5, std=0.25), (x.double() - 0.5) / 0.25, what, hints=hints)


@part("normalize")
@points(1)
def test_normalized_range(student):
    """normalized_range gives where black and white pixels land after normalisation"""
    got = student.normalized_range()
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(f"normalized_range() returned {got!r}, expected a pair (lowest, highest)")
    hint = "0 and 1 must go through (x - mean) / std too: the result is not 0..1"
    expect_float(got[0], -MNIST_MEAN / MNIST_STD, "normalized_range()[0] (black pixel)", 1e-4, hint)
    expect_float(got[1], (1 - MNIST_MEAN) / MNIST_STD, "normalized_range()[1] (white pixel)", 1e-4, hint)
    other = student.normalized_range(mean=0.5, std=0.5)
    expect_float(_as_tuple(other)[0], -1.0, "normalized_range(mean=0.5, std=0.5)[0]")
    expect_float(_as_tuple(other)[1], 1.0, "normalized_range(mean=0.5, std=0.5)[1]")


# -- 6. broadcasting -----------------------------------------------------------------------------------------------


@part("broadcasting")
@points(1)
def test_center_columns_tall(student):
    """center_columns gives every column of a (6, 3) matrix mean 0"""
    x = torch.randn(6, 3, generator=_generator(7), dtype=torch.float64) * 5 + 2
    hints = {"that subtracts the mean of everything, not of each column": x - x.mean()}
    expect_close(student.center_columns(x), x - x.mean(dim=0), "center_columns(<tensor of shape (6, 3)>)", hints=hints)


@part("broadcasting")
@points(1)
def test_center_columns_square(student):
    """center_columns on a square matrix subtracts column means, not row means"""
    x = torch.randn(4, 4, generator=_generator(8), dtype=torch.float64) * 3
    hints = {
        "that subtracts each row's mean: average over dim=0 (down the columns)": x - x.mean(dim=1),
        "that subtracts each row's mean from that row: average over dim=0": x - x.mean(dim=1, keepdim=True),
    }
    expect_close(student.center_columns(x), x - x.mean(dim=0), "center_columns(<tensor of shape (4, 4)>)", hints=hints)


@part("broadcasting")
@points(2)
def test_outer_sum(student):
    """outer_sum of a (5,) and a (3,) vector is the (5, 3) table of sums"""
    c = torch.randn(4, generator=_generator(11), dtype=torch.float64)
    hints = {"a + b adds element by element; reshape a to (N, 1) and b to (1, M) first": c + c.flip(0)}
    what = "outer_sum of two (4,) vectors"
    expect_close(student.outer_sum(c, c.flip(0)), c[:, None] + c.flip(0)[None, :], what, hints=hints)
    a = torch.randn(5, generator=_generator(9), dtype=torch.float64)
    b = torch.randn(3, generator=_generator(10), dtype=torch.float64)
    out = student.outer_sum(a, b)
    expect_close(out, a[:, None] + b[None, :], "outer_sum(<tensor of shape (5,)>, <tensor of shape (3,)>)")


# -- 7. devices ------------------------------------------------------------------------------------------------


@part("devices")
@points(1)
def test_pick_device(student, device):
    """pick_device returns the GPU where there is one, else the CPU"""
    got = student.pick_device()
    if not isinstance(got, (torch.device, str)):
        fail(f"pick_device() returned a {type(got).__name__}, expected a torch.device")
    try:
        kind = torch.device(got).type
    except (RuntimeError, TypeError):
        fail(f"pick_device() returned {str(got)[:60]!r}, which is not a device name")
    expect_equal(kind, device, "pick_device().type")


@part("devices")
@points(1)
def test_move_to(student, device):
    """move_to puts a tensor on the grading device and keeps its values and dtype"""
    t = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    what = f"move_to(<tensor of shape (2, 3), float64>, {device!r})"
    out = expect_tensor(student.move_to(t, device), what, shape=(2, 3), dtype=torch.float64)
    expect_equal(student_device(out).split(":")[0], device, f"{what}: the result's device")
    expect_close(out, t, what)


# -- 8. autograd -------------------------------------------------------------------------------------------------


def _mse_grad(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The reference, by the closed form 2/N X^T (Xw - y): independent of autograd."""
    return 2.0 / x.shape[0] * x.T @ (x @ w - y)


@part("autograd")
@points(2)
def test_mse_gradient_values(student):
    """mse_gradient matches the gradient of the mean squared error"""
    g = _generator(12)
    x, w, y = torch.randn(10, 4, generator=g), torch.randn(4, generator=g), torch.randn(10, generator=g)
    expected = _mse_grad(w.double(), x.double(), y.double())
    hints = {
        "that is N times too large: the loss is a mean, not a sum": expected * x.shape[0],
        "the sign is flipped: check (x @ w - y), not (y - x @ w) before squaring... and the backward pass": -expected,
    }
    what = "mse_gradient(<w (4,)>, <x (10, 4)>, <y (10,)>)"
    out = expect_tensor(student.mse_gradient(w, x, y), what, shape=(4,))
    expect_close(out, expected, what, rtol=1e-4, atol=1e-5, hints=hints)


@part("autograd")
@points(1)
def test_mse_gradient_repeatable(student):
    """mse_gradient gives the same answer when called twice on the same w (gradients do not accumulate)"""
    g = _generator(13)
    x, w, y = torch.randn(6, 3, generator=g), torch.randn(3, generator=g), torch.randn(6, generator=g)
    expected = _mse_grad(w.double(), x.double(), y.double())
    same_w = student.put(w)
    first = expect_tensor(student.mse_gradient(same_w, x, y), "mse_gradient(<w (3,)>, <x (6, 3)>, <y (6,)>)")
    expect_close(first, expected, "mse_gradient(<w (3,)>, <x (6, 3)>, <y (6,)>)", rtol=1e-4, atol=1e-5)
    hints = {"the gradient doubled: .grad accumulates, so differentiate a fresh copy of w each call": 2 * expected}
    second = student.mse_gradient(same_w, x, y)
    what = "mse_gradient called a second time with the same w"
    expect_close(second, expected, what, rtol=1e-4, atol=1e-5, hints=hints)


@part("autograd")
@points(1)
def test_mse_gradient_leaves_w_alone(student):
    """mse_gradient does not change the caller's w"""
    g = _generator(14)
    w = student.put(torch.randn(3, generator=g))
    before = w.fetch()
    x, y = torch.randn(5, 3, generator=g), torch.randn(5, generator=g)
    out = student.mse_gradient(w, x, y)
    expect_tensor(out, "mse_gradient(...)", shape=(3,))
    expect_close(w.fetch(), before, "the caller's w after mse_gradient (it must not change)")


def _as_tuple(value: object) -> tuple:
    if isinstance(value, torch.Tensor):
        return tuple(value.tolist())
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)
