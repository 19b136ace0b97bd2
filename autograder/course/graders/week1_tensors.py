"""Hidden graders for week 1, tensor operations.

Inputs are chosen here and sent to the student's process; references are computed here, with torch in
float64 where it matters. Points per part must equal the points of the notebook's self-check cell with the
same part (a test in tests/ holds the two together).
"""

from __future__ import annotations

import numpy as np
import torch

from autograder.judging.checks import (
    call_keeping_inputs,
    expect_close,
    expect_equal,
    expect_float,
    expect_tensor,
    fail,
    hint_on_error,
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
    """tensor_from_list builds a float32 tensor of the list's shape, a single row (1, 3) included"""
    for values in ([[1, 2, 3], [4, 5, 6]], [[7, 8, 9]]):
        what = f"tensor_from_list({values}, dtype=torch.float32)"
        out = expect_tensor(
            student.tensor_from_list(values, dtype=torch.float32),
            what,
            shape=(len(values), 3),
            dtype=torch.float32,
        )
        expect_close(out, torch.tensor(values, dtype=torch.float64), what)


@part("tensor_from_list")
@points(1)
def test_tensor_from_list_other_dtypes(student):
    """tensor_from_list honours every dtype and device asked for"""
    for values, dtype in (([0.5, 1.5, -2.0], torch.float64), ([[7, 8], [9, 10], [11, 12]], torch.int32)):
        what = f"tensor_from_list({values}, dtype={dtype})"
        out = expect_tensor(student.tensor_from_list(values, dtype=dtype), what, dtype=dtype)
        expect_close(out, torch.tensor(values, dtype=torch.float64), what)
    what = "tensor_from_list([[1, 2], [3, 4]], dtype=torch.float32, device='meta')"
    answer = student.tensor_from_list([[1, 2], [3, 4]], dtype=torch.float32, device="meta")
    out = expect_tensor(answer, what, on_meta=True)
    if student_device(out) != "meta":
        fail(f"{what} is on {student_device(out)}: pass device=device to torch.tensor, so it lands where asked")


# -- 2. float32 is a type, not a count ------------------------------------------------------------------------


@part("storage_facts")
@points(1)
def test_storage_facts_float32(student):
    """storage_facts of a 5x3 float32 tensor is (15, 32, 60)"""
    got = student.storage_facts(torch.zeros(5, 3))
    hint = None
    if isinstance(got, (tuple, list)) and len(got) == 3 and got[0] == 32:
        hint = "float32 means 32 bits per element, not 32 elements: count elements with numel()"
    expect_equal(_as_tuple(got), (15, 32, 60), "storage_facts(<5x3 float32 tensor>)", hint, stated=True)


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
    """flatten_images works for any batch: colour (8, 3, 32, 32), a batch of one, non-square images, float64"""
    cases = ((8, 3, 32, 32, torch.float32), (1, 1, 28, 28, torch.float32), (2, 1, 28, 14, torch.float64))
    for n, c, h, w, dtype in cases:
        batch = torch.rand(n, c, h, w, generator=_generator(2), dtype=dtype)
        what = f"flatten_images(<tensor of shape {(n, c, h, w)}, {str(dtype).removeprefix('torch.')}>)"
        hints = {(c * h * w,): "keep the batch dimension, even for a batch of one: no squeeze"}
        out = expect_tensor(student.flatten_images(batch), what, shape=(n, c * h * w), dtype=dtype, shape_hints=hints)
        expect_close(out, batch.reshape(n, -1), what)


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


KEEP_DTYPE = "keep NumPy's dtype (no .float() or .double())"

# -- 4. NumPy bridge --------------------------------------------------------------------------------------------


@part("numpy_bridge")
@points(2)
def test_share_from_numpy_shares_memory(student):
    """share_from_numpy returns a tensor that sees later changes to the array"""
    for shape, dtype in (((2, 3), np.float64), ((1, 3), np.float32)):
        array = student.put(np.arange(np.prod(shape), dtype=dtype).reshape(shape))
        result = student.share_from_numpy.handle(array)
        array[(0, 0)] = 123.5
        what = f"share_from_numpy(<array of shape {shape}, {np.dtype(dtype).name}>)"
        out = expect_tensor(result.fetch(), what, shape=shape, dtype=_torch_dtype(dtype), dtype_hint=KEEP_DTYPE)
        if out[0, 0].item() != 123.5:
            fail(
                "share_from_numpy: after the array changed, the tensor still held the old value: it is a copy. "
                "torch.tensor() copies; torch.from_numpy() shares the array's memory"
            )
        expected = torch.arange(int(np.prod(shape)), dtype=torch.float64).reshape(shape)[:, 1:]
        expect_close(out[:, 1:], expected, what)


@part("numpy_bridge")
@points(1)
def test_copy_from_numpy_is_independent(student):
    """copy_from_numpy returns an independent copy with the array's dtype"""
    for shape, dtype in (((4,), np.float32), ((1, 4), np.int32)):
        array = student.put(np.arange(4, dtype=dtype).reshape(shape))
        result = student.copy_from_numpy.handle(array)
        array[(0,) * len(shape)] = -50
        what = f"copy_from_numpy(<array of shape {shape}, {np.dtype(dtype).name}>)"
        out = expect_tensor(result.fetch(), what, shape=shape, dtype=_torch_dtype(dtype), dtype_hint=KEEP_DTYPE)
        if out.reshape(-1)[0].item() == -50:
            fail("copy_from_numpy: the tensor changed when the array did: it shares memory. torch.tensor() copies")
        expect_close(out, torch.arange(4, dtype=torch.float64).reshape(shape), what)


# -- 5. normalisation ------------------------------------------------------------------------------------------


@part("normalize")
@points(2)
def test_scale_pixels(student):
    """scale_pixels maps uint8 0..255 to float32 0..1"""
    # where the result goes first, so that a hard-coded device fails alike on every runner
    images = torch.randint(0, 256, (3, 1, 4, 4), dtype=torch.uint8, generator=_generator(6))
    what = "scale_pixels(<uint8 tensor on the meta device>)"
    where, out = student.tool("where_result_goes", shown_as=what)(student.scale_pixels, images, "meta")
    out = expect_tensor(out, what)
    if where != "meta":
        fail(f"{what} returned a tensor on {where}: keep the images on their own device (no .cpu() or .cuda())")
    faint = torch.randint(0, 200, (1, 1, 28, 28), dtype=torch.uint8, generator=_generator(5))  # brightest below 255
    for images in (torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8, generator=_generator(4)), faint):
        what = f"scale_pixels(<uint8 tensor of shape {tuple(images.shape)}, brightest pixel {int(images.max())}>)"
        out = expect_tensor(
            call_keeping_inputs(student.scale_pixels, what, images), what, shape=images.shape, dtype=torch.float32
        )
        as_float = images.to(torch.float64)
        hints = {
            "divide by 255 (the largest pixel value), not 256": as_float / 256,
            "integer division (//) throws the fraction away: convert to float first": as_float // 255,
            "divide by 255, the largest value a pixel can take, not by this image's brightest pixel": as_float
            / as_float.max(),
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
    what = "normalize(<tensor of shape (3, 1, 28, 28), float32>)"
    out = expect_tensor(call_keeping_inputs(student.normalize, what, x), what, dtype=torch.float32, dtype_hint=SAME)
    expect_close(out, expected, what, hints=hints)


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
    expect_float(got[0], -MNIST_MEAN / MNIST_STD, "normalized_range()[0] (black pixel)", 1e-4, hint, stated=True)
    expect_float(got[1], (1 - MNIST_MEAN) / MNIST_STD, "normalized_range()[1] (white pixel)", 1e-4, hint, stated=True)
    other = student.normalized_range(mean=0.5, std=0.5)
    expect_float(_as_tuple(other)[0], -1.0, "normalized_range(mean=0.5, std=0.5)[0]")
    expect_float(_as_tuple(other)[1], 1.0, "normalized_range(mean=0.5, std=0.5)[1]")


SAME = "keep the input's dtype: the course's networks compute in float32"

# -- 6. broadcasting -----------------------------------------------------------------------------------------------


@part("broadcasting")
@points(1)
def test_center_columns_tall(student):
    """center_columns gives every column mean 0, for (6, 3) and a single row (1, 5), leaving its input alone"""
    for shape in ((6, 3), (1, 5)):
        x = torch.randn(*shape, generator=_generator(7)) * 5 + 2
        what = f"center_columns(<tensor of shape {shape}, float32>)"
        hints = {"that subtracts the mean of everything, not of each column": x.double() - x.double().mean()}
        out = call_keeping_inputs(student.center_columns, what, x)
        out = expect_tensor(out, what, shape=shape, dtype=torch.float32, dtype_hint=SAME)
        expect_close(out, x.double() - x.double().mean(dim=0), what, atol=1e-5, hints=hints)


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
    for n, m in ((5, 3), (1, 4)):
        a, b = torch.randn(n, generator=_generator(9)), torch.randn(m, generator=_generator(10))
        what = f"outer_sum(<tensor of shape ({n},), float32>, <tensor of shape ({m},), float32>)"
        out = expect_tensor(call_keeping_inputs(student.outer_sum, what, a, b), what, shape=(n, m), dtype=torch.float32)
        expect_close(out, a[:, None].double() + b[None, :].double(), what)


# -- 7. devices ------------------------------------------------------------------------------------------------


@part("devices")
@points(1)
def test_pick_device(student):
    """pick_device returns the GPU where torch.cuda.is_available() says there is one, else the CPU (both cases)"""
    for available, expected in ((True, "cuda"), (False, "cpu")):
        what = f"pick_device() where torch.cuda.is_available() is {available}"
        got = student.tool("with_cuda_available", shown_as=what)(available, student.pick_device)
        if not isinstance(got, (torch.device, str)):
            fail(f"{what} returned a {type(got).__name__}, expected a torch.device")
        try:
            kind = torch.device(got).type
        except (RuntimeError, TypeError):
            fail(f"{what} returned {str(got)[:60]!r}, which is not a device name")
        expect_equal(
            kind, expected, f"{what}: its type", "ask torch.cuda.is_available(); hard-code no device", stated=True
        )


@part("devices")
@points(1)
def test_move_to(student, device):
    """move_to returns the tensor on the device asked for (the grading device, and 'meta' on every machine)"""
    to_gpu = "went to the GPU whatever the device asked: use t.to(device), not t.cuda()"
    what = "move_to(<tensor of shape (1, 3), float32>, 'meta')"
    with hint_on_error({"CUDA": f"{what} {to_gpu}", "NVIDIA": f"{what} {to_gpu}"}, replace=True):
        out = expect_tensor(
            student.move_to(torch.ones(1, 3), "meta"), what, shape=(1, 3), dtype=torch.float32, on_meta=True
        )
    if student_device(out).startswith("cuda"):
        fail(f"{what} {to_gpu}")
    if student_device(out) != "meta":
        hint = "return what .to(device) gives: it makes a new tensor and leaves the original where it was"
        fail(f"{what} returned a tensor on {student_device(out)}, not on 'meta': {hint}")
    t = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    what = f"move_to(<tensor of shape (2, 3), float64>, {device!r})"
    out = expect_tensor(student.move_to(t, device), what, shape=(2, 3), dtype=torch.float64)
    expect_equal(student_device(out).split(":")[0], device, f"{what}: the result's device", stated=True)
    expect_close(out, t, what)


# -- 8. autograd -------------------------------------------------------------------------------------------------


AUTOGRAD = ["torch.Tensor.backward", "torch.autograd.backward", "torch.autograd.grad"]


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
    out, calls = student.tool("calls_during", shown_as=what)(AUTOGRAD, student.mse_gradient, w, x, y)
    out = expect_tensor(out, what, shape=(4,), dtype=torch.float32, dtype_hint=SAME)
    expect_close(out, expected, what, rtol=1e-4, atol=1e-5, hints=hints)
    if not any(calls.values()):
        fail(f"{what} gives the right numbers without autograd: the part asks for loss.backward(), not a formula")


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
    """mse_gradient leaves the caller's w as it was, even a w that requires grad, and works for a single example"""
    g = _generator(14)
    for count, features, tracked in ((5, 3, False), (1, 1, True)):
        w = torch.randn(features, generator=g).requires_grad_(tracked)
        x, y = torch.randn(count, features, generator=g), torch.randn(count, generator=g)
        what = f"mse_gradient(<w ({features},), requires_grad={tracked}>, <x ({count}, {features})>, <y ({count},)>)"
        out = call_keeping_inputs(student.mse_gradient, what, w, x, y)
        out = expect_tensor(out, what, shape=(features,))
        expect_close(out, _mse_grad(w.detach().double(), x.double(), y.double()), what, rtol=1e-4, atol=1e-5)


def _torch_dtype(numpy_dtype: type) -> torch.dtype:
    return torch.from_numpy(np.zeros(1, dtype=numpy_dtype)).dtype


def _as_tuple(value: object) -> tuple:
    if isinstance(value, torch.Tensor):
        return (value.item(),) if value.dim() == 0 else tuple(value.tolist())
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)
