"""Hidden graders for week 3: convolution and pooling arithmetic.

References: torch's own layers (F.conv2d, F.max_pool2d, nn.Conv2d) for values and shapes, in float64. Padding is
per side, as PyTorch counts it.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F

from autograder.judging.checks import (
    Mismatch,
    call_keeping_inputs,
    expect_close,
    expect_equal,
    expect_tensor,
    fail,
    part,
    points,
    same,
)
from autograder.running.limits import StudentError

SEED_IMAGE = torch.tensor(
    [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], dtype=torch.float32
)
SEED_KERNEL = torch.tensor([[0, 1, 2], [2, 2, 0], [0, 1, 2]], dtype=torch.float32)
FLIPPED = "the kernel is flipped: deep-learning 'convolution' is cross-correlation, lay the kernel on as it is"


KEEP_DTYPE = "keep the input's dtype (make new tensors with dtype=x.dtype)"
NO_CONV = ["torch.nn.functional.conv2d", "torch.conv2d", "torch.nn.Conv2d.forward"]
LOOP_LINES = 1000  # on a 64x64 image: 3,844 output positions, 9 kernel offsets; a loop over positions runs more


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _torch_size(n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """What nn.Conv2d itself produces along one dimension: the reference for conv_output_size."""
    x = torch.zeros(1, 1, n, 1)
    w = torch.zeros(1, 1, kernel, 1)
    return F.conv2d(x, w, stride=(stride, 1), padding=(padding, 0), dilation=(dilation, 1)).shape[2]


def _int_answer(value: object, what: str) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, float):
        fail(f"{what} returned the float {value}: use floor division (//) so the size is a whole number")
    if not isinstance(value, int) or isinstance(value, bool):
        fail(f"{what} returned {value!r}, expected an int")
    return value


# -- 1. output sizes ---------------------------------------------------------------------------------------------


@part("output_size")
@points(1)
def test_conv_output_size_basic(student):
    """conv_output_size for stride 1 without padding: 28 with a 5x5 kernel gives 24"""
    for n, k in ((28, 5), (64, 3), (7, 3), (32, 1)):
        what = f"conv_output_size({n}, {k})"
        got = _int_answer(student.conv_output_size(n, k), what)
        hint = "off by one: the formula ends in + 1" if got == n - k else None
        expect_equal(got, _torch_size(n, k), what, hint, stated=(n, k) == (28, 5))


@part("output_size")
@points(1)
def test_conv_output_size_stride_padding_dilation(student):
    """conv_output_size with stride, per-side padding and dilation matches nn.Conv2d"""
    for n, k, s, p, d in ((64, 7, 2, 0, 1), (28, 3, 1, 1, 1), (32, 5, 3, 2, 1), (50, 3, 2, 1, 2), (10, 4, 1, 0, 3)):
        what = f"conv_output_size({n}, {k}, stride={s}, padding={p}, dilation={d})"
        got = _int_answer(student.conv_output_size(n, k, stride=s, padding=p, dilation=d), what)
        expected = _torch_size(n, k, s, p, d)
        hint = None
        if got == (n + p - d * (k - 1) - 1) // s + 1 and p:
            hint = "padding is added on each side: 2 * padding"
        elif got == (n + 2 * p - k) // s + 1 and d > 1:
            hint = "dilation spreads the kernel over d * (k - 1) + 1 positions"
        expect_equal(got, expected, what, hint)


@part("output_size")
@points(1)
def test_conv_output_size_rounds_down(student):
    """conv_output_size rounds down when the last window does not fit (64 with 7 and stride 2 is 29)"""
    for n, k, s in ((64, 7, 2), (10, 3, 4), (31, 2, 2)):
        what = f"conv_output_size({n}, {k}, stride={s})"
        got = _int_answer(student.conv_output_size(n, k, stride=s), what)
        hint = "round down (//), not up or to nearest" if got == _torch_size(n, k, s) + 1 else None
        expect_equal(got, _torch_size(n, k, s), what, hint, stated=(n, k, s) == (64, 7, 2))


@part("output_size")
@points(1)
def test_pool_output_size(student):
    """pool_output_size uses the kernel as default stride and rounds down (29 pooled by 2 is 14)"""
    for args, kwargs, expected in (
        ((29, 2), {}, 14),
        ((31, 3), {}, 10),
        ((28, 3), {"stride": 1}, 26),
        ((7, 2), {"padding": 1}, 4),
    ):
        text = ", ".join([str(a) for a in args] + [f"{k}={v}" for k, v in kwargs.items()])
        what = f"pool_output_size({text})"
        got = _int_answer(student.pool_output_size(*args, **kwargs), what)
        hint = (
            "a pooling layer's stride defaults to its kernel size"
            if got == args[0] - args[1] + 1 and not kwargs
            else None
        )
        expect_equal(got, expected, what, hint, stated=args == (29, 2) and not kwargs)


# -- 2. shapes through networks ------------------------------------------------------------------------------------


@contextmanager
def _pointing_back_to_sizes(student):
    """seed_net_shapes and face_features are traced with the notebook's own conv_output_size and pool_output_size,
    as the part suggests: where those are wrong, the feedback here says so, since the slip is there, not here."""
    try:
        yield
    except Mismatch as exc:
        wrong = _wrong_size_functions(student)
        if not wrong:
            raise
        said = " and ".join(wrong)
        raise Mismatch(
            f"{exc}; your {said} {'gives' if len(wrong) == 1 else 'give'} wrong sizes too (see the output-size "
            "tests): if this builds on it, fix it there first",
            exc.reference,
        ) from None


def _wrong_size_functions(student) -> list[str]:
    """Which of the student's size functions give a wrong size on the sizes these networks pass through."""
    cases = {
        "conv_output_size": [((n, 3), {}, n - 2) for n in (64, 31, 100, 23)] + [((48, 3), {"padding": 1}, 48)],
        "pool_output_size": [((n, 2), {}, n // 2) for n in (62, 29, 98, 11)],
    }
    wrong = []
    for name, calls in cases.items():
        try:  # same(): whatever odd value comes back (a tensor, an object with its own ==), it is a wrong size
            if not all(same(getattr(student, name)(*args, **kwargs), expected) for args, kwargs, expected in calls):
                wrong.append(name)
        except StudentError:
            wrong.append(name)
    return wrong


def _seed_net_reference(batch: int, height: int, width: int) -> list[tuple[int, ...]]:
    x = torch.zeros(batch, 3, height, width)
    shapes = [tuple(x.shape)]
    for c_in, c_out in ((3, 6), (6, 12), (12, 24)):
        x = F.conv2d(x, torch.zeros(c_out, c_in, 3, 3))
        shapes.append(tuple(x.shape))
        x = F.max_pool2d(x, 2)
        shapes.append(tuple(x.shape))
    shapes.append((batch, x[0].numel()))
    return shapes


def _expect_seed_trace(student, batch: int, height: int, width: int) -> None:
    """The student's seed_net_shapes(batch, height, width) is SeedNet's trace of shapes."""
    with _pointing_back_to_sizes(student):
        got = student.seed_net_shapes(batch, height, width)
        expect_equal(
            [tuple(s) for s in got] if isinstance(got, (list, tuple)) else got,
            _seed_net_reference(batch, height, width),
            f"seed_net_shapes({batch}, {height}, {width})",
            stated=True,  # shapes: what the sizes of the input make of them, which feedback may name
        )


@part("shapes")
@points(1)
def test_seed_net_shapes_64(student):
    """seed_net_shapes(2, 64, 64) traces (2, 3, 64, 64) to (2, 12, 29, 29) to (2, 864)"""
    _expect_seed_trace(student, 2, 64, 64)


@part("shapes")
@points(1)
def test_seed_net_shapes_other_size(student):
    """seed_net_shapes works for other input sizes, e.g. a single 100x80 image"""
    _expect_seed_trace(student, 1, 100, 80)


@part("shapes")
@points(1)
def test_seed_net_module(student):
    """SeedNet maps (2, 3, 64, 64) to (2, 864), a single image to (1, 864), in float32, with 3,444 parameters"""
    model = student.SeedNet.handle()
    for count in (2, 1):
        what = f"SeedNet()(<images ({count}, 3, 64, 64)>)"
        out = model(torch.rand(count, 3, 64, 64, generator=_generator(1)))
        expect_tensor(out, what, shape=(count, 864), dtype=torch.float32, dtype_hint=KEEP_DTYPE)
    state = model.state_dict()
    total = sum(t.numel() for t in state.values()) if isinstance(state, dict) else None
    expect_equal(total, 3_444, "the number of parameters in SeedNet()", stated=True)


@part("shapes")
@points(1)
def test_face_features(student):
    """face_features gives 128 x 6 x 6 = 4608 for 48x48 faces, and the right count for other sizes"""
    for size, expected in ((48, 4608), (64, 8192), (50, 4608)):
        got = student.face_features(size)
        unpadded = size
        for _ in range(3):
            unpadded = (unpadded - 2) // 2
        hint = "padding=1 keeps the size through each 3x3 convolution" if same(got, 128 * unpadded**2) else None
        with _pointing_back_to_sizes(student):
            expect_equal(got, expected, f"face_features({size})", hint, stated=size == 48)


# -- 3. naive convolution ----------------------------------------------------------------------------------------


@part("naive_conv")
@points(1)
def test_conv2d_single_seed_example(student):
    """conv2d_single reproduces the class example [[12, 12, 17], [10, 17, 19], [9, 6, 14]]"""
    expected = torch.tensor([[12.0, 12, 17], [10, 17, 19], [9, 6, 14]])
    hints = {FLIPPED: F.conv2d(SEED_IMAGE[None, None].double(), SEED_KERNEL.flip(0, 1)[None, None].double())[0, 0]}
    expect_close(
        student.conv2d_single(SEED_IMAGE, SEED_KERNEL),
        expected,
        "conv2d_single(<class 5x5 image>, <class 3x3 kernel>)",
        hints=hints,
    )


@part("naive_conv")
@points(1)
def test_conv2d_single_random(student):
    """conv2d_single matches F.conv2d on a random 9x9 image and 3x3 kernel"""
    image, kernel = torch.randn(9, 9, generator=_generator(2)), torch.randn(3, 3, generator=_generator(3))
    expected = F.conv2d(image[None, None].double(), kernel[None, None].double())[0, 0]
    hints = {FLIPPED: F.conv2d(image[None, None].double(), kernel.flip(0, 1)[None, None].double())[0, 0]}
    expect_close(
        student.conv2d_single(image, kernel),
        expected,
        "conv2d_single(<image (9, 9)>, <kernel (3, 3)>)",
        rtol=1e-4,
        atol=1e-5,
        hints=hints,
    )


@part("naive_conv")
@points(1)
def test_conv2d_single_rectangular(student):
    """conv2d_single handles non-square images and kernels, (7, 10) with (2, 4), and one row, in the image's dtype"""
    cases = (((7, 10), (2, 4), torch.float32), ((1, 6), (1, 3), torch.float64))
    for image_shape, kernel_shape, dtype in cases:
        image = torch.randn(image_shape, generator=_generator(4), dtype=dtype)
        kernel = torch.randn(kernel_shape, generator=_generator(5), dtype=dtype)
        expected = F.conv2d(image[None, None].double(), kernel[None, None].double())[0, 0]
        what = f"conv2d_single(<image {image_shape}, {str(dtype).removeprefix('torch.')}>, <kernel {kernel_shape}>)"
        out = call_keeping_inputs(student.conv2d_single, what, image, kernel)
        out = expect_tensor(out, what, shape=tuple(expected.shape), dtype=dtype, dtype_hint=KEEP_DTYPE)
        expect_close(out, expected, what, rtol=1e-4, atol=1e-5)


# -- 4. vectorised conv2d ----------------------------------------------------------------------------------------


def _conv_case(
    seed: int, n: int, c: int, h: int, w: int, f: int, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = _generator(seed)
    return torch.randn(n, c, h, w, generator=g), torch.randn(f, c, k, k, generator=g), torch.randn(f, generator=g)


def _check_conv(student, x, weight, bias, stride=1, padding=0, hints_for=()) -> None:
    bias_text = "<bias>" if bias is not None else "None"
    what = (
        f"conv2d(<x {tuple(x.shape)}>, <weight {tuple(weight.shape)}>, {bias_text}, stride={stride}, padding={padding})"
    )
    X, W = x.double(), weight.double()
    B = bias.double() if bias is not None else None
    expected = F.conv2d(X, W, B, stride=stride, padding=padding)
    hints = {}
    if "flip" in hints_for:
        hints[FLIPPED] = F.conv2d(X, W.flip(2, 3), B, stride=stride, padding=padding)
    if "padding" in hints_for:
        hints["the zero padding is missing: pad padding zeros on each side of H and W"] = F.conv2d(
            X, W, B, stride=stride
        )
    if "stride" in hints_for:
        hints["the stride is ignored"] = F.conv2d(X, W, B, padding=padding)
    if "bias" in hints_for:
        hints["the bias is missing: add bias[f] to every position of output channel f"] = F.conv2d(
            X, W, None, stride=stride, padding=padding
        )
    probe = student.tool("calls_during", shown_as=what)
    out, used = probe(NO_CONV, student.conv2d, x, weight, bias, stride=stride, padding=padding)
    if any(used.values()):
        fail(f"{what} called PyTorch's own convolution: the part asks you to write it (without F.conv2d or nn.Conv2d)")
    expect_close(out, expected, what, rtol=1e-4, atol=1e-4, hints=hints)  # the shape first: wrong ones have hints
    expect_tensor(out, what, dtype=x.dtype, dtype_hint=KEEP_DTYPE)


def _without_pixel_loops(student, name: str, *args: torch.Tensor) -> None:
    """The student's ``name``, on an image of 64x64 pixels, runs no Python loop over its pixels or output positions
    (counted in lines of the notebook's own code run meanwhile)."""
    what = f"{name}({', '.join(f'<{tuple(a.shape)}>' for a in args)})"
    called = student.tool("lines_run", shown_as=what)(getattr(student, name), *args)
    if not isinstance(called, (tuple, list)) or len(called) != 3:
        fail(f"{what} could not be run to see how it works")
    _, lines, intact = called
    if not intact:
        fail(f"{what} switched Python's tracing off, so whether it loops over pixels cannot be told")
    if lines > LOOP_LINES:
        fail(f"{what} ran {lines:,} lines of Python: loop over the kernel's offsets (few), not over output positions")


@part("conv2d")
@points(1)
def test_conv2d_channels_and_filters(student):
    """conv2d sums over 3 input channels for each of 4 filters, like F.conv2d, with no loop over output positions"""
    x, w, _ = _conv_case(6, 2, 3, 8, 8, 4, 3)
    _check_conv(student, x, w, None, hints_for=("flip",))
    _without_pixel_loops(student, "conv2d", torch.randn(1, 1, 64, 64, generator=_generator(6)), torch.randn(1, 1, 3, 3))


@part("conv2d")
@points(1)
def test_conv2d_bias(student):
    """conv2d adds one bias per filter"""
    x, w, b = _conv_case(7, 2, 3, 6, 6, 5, 3)
    _check_conv(student, x, w, b, hints_for=("bias", "flip"))


@part("conv2d")
@points(1)
def test_conv2d_padding(student):
    """conv2d pads with zeros on each side: padding=1 keeps 8x8 at 8x8"""
    x, w, b = _conv_case(8, 1, 2, 8, 8, 3, 3)
    _check_conv(student, x, w, b, padding=1, hints_for=("padding",))


@part("conv2d")
@points(1)
def test_conv2d_stride(student):
    """conv2d with stride 2 visits every other position"""
    x, w, b = _conv_case(9, 2, 3, 9, 9, 2, 3)
    _check_conv(student, x, w, b, stride=2, hints_for=("stride",))


@part("conv2d")
@points(1)
def test_conv2d_everything_non_square(student):
    """conv2d with padding, stride and a 5x5 kernel on a 13x10 image, and a 3x2 kernel on one float64 32x24 image"""
    g = _generator(10)
    x, w, b = torch.randn(2, 4, 13, 10, generator=g), torch.randn(6, 4, 5, 5, generator=g), torch.randn(6, generator=g)
    _check_conv(student, x, w, b, stride=3, padding=2, hints_for=("padding", "stride", "flip"))
    x, w = (
        torch.randn(1, 1, 32, 24, generator=g, dtype=torch.float64),
        torch.randn(3, 1, 3, 2, generator=g, dtype=torch.float64),
    )
    _check_conv(student, x, w, None, stride=1, padding=1)


# -- 5. pooling ----------------------------------------------------------------------------------------------------


@part("pooling")
@points(1)
def test_max_pool2d(student):
    """max_pool2d matches F.max_pool2d, dropping windows that do not fit"""
    for shape, k, dtype in (
        ((2, 3, 9, 8), 2, torch.float32),
        ((2, 3, 9, 8), 3, torch.float32),
        ((1, 1, 2, 3), 2, torch.float64),
    ):
        x = torch.randn(shape, generator=_generator(11), dtype=dtype)
        hints = {"that averages: max pooling keeps the largest value": F.avg_pool2d(x.double(), k)}
        what = f"max_pool2d(<x {shape}, {str(dtype).removeprefix('torch.')}>, {k})"
        expected = F.max_pool2d(x.double(), k)
        out = call_keeping_inputs(student.max_pool2d, what, x, k)
        out = expect_tensor(out, what, shape=tuple(expected.shape), dtype=dtype, dtype_hint=KEEP_DTYPE)
        expect_close(out, expected, what, hints=hints)


@part("pooling")
@points(1)
def test_avg_pool2d(student):
    """avg_pool2d matches F.avg_pool2d"""
    for shape, k, dtype in (
        ((2, 3, 9, 8), 2, torch.float32),
        ((2, 3, 9, 8), 3, torch.float32),
        ((1, 1, 2, 3), 2, torch.float64),
    ):
        x = torch.randn(shape, generator=_generator(12), dtype=dtype)
        mean = F.avg_pool2d(x.double(), k)
        hints = {
            "that keeps the maximum: average pooling takes the mean": F.max_pool2d(x.double(), k),
            f"that is each window's sum: the mean divides it by the window's {k * k} values": mean * k * k,
        }
        what = f"avg_pool2d(<x {shape}, {str(dtype).removeprefix('torch.')}>, {k})"
        out = call_keeping_inputs(student.avg_pool2d, what, x, k)
        out = expect_tensor(out, what, shape=tuple(mean.shape), dtype=dtype, dtype_hint=KEEP_DTYPE)
        expect_close(out, mean, what, rtol=1e-5, hints=hints)


# -- 6. counting -----------------------------------------------------------------------------------------------------


def _counts(c_in: int, h: int, w: int, c_out: int, k: int, stride: int = 1, padding: int = 0) -> tuple[int, int]:
    layer = torch.nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding)
    units = layer(torch.zeros(1, c_in, h, w)).numel()
    return units, sum(p.numel() for p in layer.parameters())


def _check_counts(student, case: tuple) -> None:
    got = student.conv_counts(*case)
    what = f"conv_counts{case}"
    got = tuple(got) if isinstance(got, (list, tuple)) else got
    expected = _counts(*case)
    hint = None
    if isinstance(got, tuple) and len(got) == 2 and got[1] == expected[1] - case[3]:
        hint = "count the biases too: one per filter"
    expect_equal(got, expected, what, hint)


@part("counts")
@points(1)
def test_counts_single_filter(student):
    """conv_counts: 7x7 greyscale and 3x7x7 RGB inputs with one 3x3 filter"""
    for case in ((1, 7, 7, 1, 3), (3, 7, 7, 1, 3)):
        _check_counts(student, case)


@part("counts")
@points(1)
def test_counts_many_filters(student):
    """conv_counts: five filters on 3x7x7, ten on 5x32x32, and a padded, strided layer"""
    for case in ((3, 7, 7, 5, 3), (5, 32, 32, 10, 3), (3, 28, 28, 8, 5, 2, 2)):
        _check_counts(student, case)


# -- 7. filters ----------------------------------------------------------------------------------------------------


def _kernel_matches(got: object, expected: torch.Tensor, name: str) -> None:
    kernel = expect_tensor(got, name, shape=(3, 3))
    k = kernel.double()
    if not (torch.allclose(k, expected) or torch.allclose(k, -expected)):
        hint = ""
        if torch.allclose(k, expected.T) or torch.allclose(k, -expected.T):
            hint = ": that kernel finds edges in the other direction (it is the transpose)"
        fail(f"{name} does not match the kernel described in the notebook{hint}")


@part("filters")
@points(1)
def test_filter_kernels(student):
    """SOBEL_VERTICAL, SOBEL_HORIZONTAL, BLUR and OUTLINE hold the kernels from class"""
    sobel_v = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=torch.float64)
    _kernel_matches(student.value("SOBEL_VERTICAL"), sobel_v, "SOBEL_VERTICAL")
    _kernel_matches(student.value("SOBEL_HORIZONTAL"), sobel_v.T, "SOBEL_HORIZONTAL")
    expect_close(
        student.value("BLUR"),
        torch.full((3, 3), 1 / 9, dtype=torch.float64),
        "BLUR",
        atol=1e-6,
        hints={"the blur kernel must sum to 1 (nine values of 1/9) to keep brightness": torch.ones(3, 3)},
    )
    _kernel_matches(
        student.value("OUTLINE"),
        torch.tensor([[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=torch.float64),
        "OUTLINE",
    )


@part("filters")
@points(1)
def test_apply_filter(student):
    """apply_filter cross-correlates a 2-D image with a kernel, like F.conv2d, vectorised: (20, 15), (3, 10), float64"""
    for shape, dtype in (((20, 15), torch.float32), ((3, 10), torch.float64)):
        image = torch.rand(shape, generator=_generator(13), dtype=dtype)
        kernel = torch.randn(3, 3, generator=_generator(14), dtype=dtype)
        expected = F.conv2d(image[None, None].double(), kernel[None, None].double())[0, 0]
        hints = {FLIPPED: F.conv2d(image[None, None].double(), kernel.flip(0, 1)[None, None].double())[0, 0]}
        what = f"apply_filter(<image {shape}, {str(dtype).removeprefix('torch.')}>, <kernel (3, 3)>)"
        out = call_keeping_inputs(student.apply_filter, what, image, kernel)
        out = expect_tensor(out, what, shape=tuple(expected.shape), dtype=dtype, dtype_hint=KEEP_DTYPE)
        expect_close(out, expected, what, rtol=1e-4, atol=1e-5, hints=hints)
    _without_pixel_loops(student, "apply_filter", torch.rand(64, 64, generator=_generator(15)), torch.randn(3, 3))
