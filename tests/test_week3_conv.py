"""Week 3: full marks for the solution and for differently written correct code; each mistake loses its part.

A slip in conv_output_size also costs the parts that reuse it (shape tracing, conv2d, counts, filters), as the notebook
tells students to reuse it; those are listed with the mistake, and every other part must keep its points.
"""

from __future__ import annotations

import pytest
from helpers import assert_full_marks, assert_loses_only, grade, submission

from autograder.course.weeks import get_week

WEEK = "week3_conv"
REUSERS = frozenset({"shapes", "conv2d", "counts", "filters"})

MISTAKES = {
    "conv2d by F.conv2d itself": (
        {
            "conv2d": "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
            "    return F.conv2d(x, weight, bias, stride=stride, padding=padding)"
        },
        "conv2d",
        "called PyTorch's own convolution",
        frozenset({"filters"}),
    ),
    "conv2d looping over output positions": (
        {
            "conv2d": "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
            "    x = F.pad(x, (padding,) * 4)\n    f, _, kh, kw = weight.shape\n"
            "    oh = (x.shape[2] - kh) // stride + 1\n    ow = (x.shape[3] - kw) // stride + 1\n"
            "    out = torch.zeros(x.shape[0], f, oh, ow, dtype=x.dtype)\n"
            "    for i in range(oh):\n        for j in range(ow):\n"
            "            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]\n"
            "            out[:, :, i, j] = torch.einsum('nchw,fchw->nf', patch, weight)\n"
            "    return out if bias is None else out + bias.view(1, -1, 1, 1)"
        },
        "conv2d",
        "loop over the kernel's offsets (few), not over output positions",
        frozenset({"filters"}),
    ),
    "convolution with loops in float32 whatever the image": (
        {
            "conv2d_single": "def conv2d_single(image, kernel):\n    kh, kw = kernel.shape\n"
            "    out = torch.zeros(image.shape[0] - kh + 1, image.shape[1] - kw + 1)\n"
            "    for i in range(out.shape[0]):\n        for j in range(out.shape[1]):\n"
            "            out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum()\n    return out"
        },
        "naive_conv",
        "expected dtype float64, got float32",
        frozenset(),
    ),
    "pooling that squeezes a single window away": (
        {
            "max_pool2d": "def max_pool2d(x, k):\n"
            "    return x.unfold(2, k, k).unfold(3, k, k).amax(dim=(-2, -1)).squeeze()"
        },
        "pooling",
        "expected shape (1, 1, 1, 1)",
        frozenset(),
    ),
    "apply_filter looping over pixels": (
        {
            "apply_filter": "def apply_filter(image, kernel):\n    kh, kw = kernel.shape\n"
            "    out = torch.zeros(image.shape[0] - kh + 1, image.shape[1] - kw + 1, dtype=image.dtype)\n"
            "    for i in range(out.shape[0]):\n        for j in range(out.shape[1]):\n"
            "            out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum()\n    return out"
        },
        "filters",
        "ran",
        frozenset(),
    ),
    "off-by-one in the output size": (
        {
            "conv_output_size": "def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):\n"
            "    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride"
        },
        "output_size",
        "off by one: the formula ends in + 1",
        REUSERS,
    ),
    "true division instead of floor division": (
        {
            "conv_output_size": "def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):\n"
            "    return (n + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1"
        },
        "output_size",
        "use floor division (//)",
        REUSERS,
    ),
    "padding counted on one side only": (
        {
            "conv_output_size": "def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):\n"
            "    return (n + padding - dilation * (kernel - 1) - 1) // stride + 1"
        },
        "output_size",
        "padding is added on each side",
        REUSERS,
    ),
    "pooling with stride 1 by default": (
        {
            "pool_output_size": "def pool_output_size(n, kernel, stride=None, padding=0):\n"
            "    return conv_output_size(n, kernel, stride=stride or 1, padding=padding)"
        },
        "output_size",
        "stride defaults to its kernel size",
        REUSERS,
    ),
    "face network without padding": (
        {
            "face_features": "def face_features(size=48):\n    for _ in range(3):\n"
            "        size = pool_output_size(conv_output_size(size, 3), 2)\n    return 128 * size * size"
        },
        "shapes",
        "padding=1 keeps the size",
        frozenset(),
    ),
    "convolution that flips the kernel": (
        {
            "conv2d_single": "def conv2d_single(image, kernel):\n    kernel = kernel.flip(0, 1)\n"
            "    kh, kw = kernel.shape\n"
            "    out = torch.zeros(image.shape[0] - kh + 1, image.shape[1] - kw + 1)\n"
            "    for i in range(out.shape[0]):\n        for j in range(out.shape[1]):\n"
            "            out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum()\n    return out"
        },
        "naive_conv",
        "the kernel is flipped",
        frozenset(),
    ),
    "forgetting the padding": (
        {
            "conv2d": "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
            "    return torch.stack([conv2d_ref(x, weight, bias, stride)], 0)[0]\n\n\n"
            "def conv2d_ref(x, weight, bias, stride):\n"
            "    cols = x.unfold(2, weight.shape[2], stride).unfold(3, weight.shape[3], stride)\n"
            "    out = torch.einsum('nchwij,fcij->nfhw', cols, weight)\n"
            "    return out if bias is None else out + bias.view(1, -1, 1, 1)"
        },
        "conv2d",
        "the zero padding is missing",
        frozenset(),
    ),
    "ignoring the stride": (
        {
            "conv2d": "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
            "    x = F.pad(x, (padding,) * 4)\n"
            "    cols = x.unfold(2, weight.shape[2], 1).unfold(3, weight.shape[3], 1)\n"
            "    out = torch.einsum('nchwij,fcij->nfhw', cols, weight)\n"
            "    return out if bias is None else out + bias.view(1, -1, 1, 1)"
        },
        "conv2d",
        "the stride is ignored",
        frozenset(),
    ),
    "forgetting the bias": (
        {
            "conv2d": "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
            "    x = F.pad(x, (padding,) * 4)\n"
            "    cols = x.unfold(2, weight.shape[2], stride).unfold(3, weight.shape[3], stride)\n"
            "    return torch.einsum('nchwij,fcij->nfhw', cols, weight)"
        },
        "conv2d",
        "the bias is missing",
        frozenset(),
    ),
    "counting weights without biases": (
        {
            "conv_counts": "def conv_counts(in_channels, height, width, out_channels, kernel, stride=1, padding=0):\n"
            "    h = conv_output_size(height, kernel, stride, padding)\n"
            "    w = conv_output_size(width, kernel, stride, padding)\n"
            "    return out_channels * h * w, out_channels * in_channels * kernel * kernel"
        },
        "counts",
        "count the biases too",
        frozenset(),
    ),
    "max pooling that averages": (
        {"max_pool2d": "def max_pool2d(x, k):\n    return x.unfold(2, k, k).unfold(3, k, k).mean(dim=(-2, -1))"},
        "pooling",
        "max pooling keeps the largest value",
        frozenset(),
    ),
    "average pooling that sums": (
        {"avg_pool2d": "def avg_pool2d(x, k):\n    return x.unfold(2, k, k).unfold(3, k, k).sum(dim=(-2, -1))"},
        "pooling",
        "that is each window's sum",
        frozenset(),
    ),
    "blur kernel that does not sum to 1": (
        {
            "apply_filter": "BLUR = torch.ones(3, 3)\n\n\ndef apply_filter(image, kernel):\n"
            "    return conv2d(image[None, None], kernel[None, None])[0, 0]"
        },
        "filters",
        "must sum to 1",
        frozenset(),
    ),
}

VARIANTS = {
    "unfold and einsum, F.conv2d for the filters, tensordot": {
        "conv2d": "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
        "    cols = F.pad(x, (padding,) * 4).unfold(2, weight.shape[2], stride).unfold(3, weight.shape[3], stride)\n"
        "    out = torch.einsum('nchwij,fcij->nfhw', cols, weight)\n"
        "    return out if bias is None else out + bias.view(1, -1, 1, 1)",
        "apply_filter": "def apply_filter(image, kernel):\n"
        "    return F.conv2d(image.unsqueeze(0).unsqueeze(0), kernel.unsqueeze(0).unsqueeze(0)).squeeze(0).squeeze(0)",
        "avg_pool2d": "def avg_pool2d(x, k):\n    windows = x.unfold(2, k, k).unfold(3, k, k)\n"
        "    return windows.sum(dim=(-2, -1)) / (k * k)",
    },
    "a loop over kernel offsets with stride slicing, pooling by F": {
        "conv2d": "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
        "    x = F.pad(x, (padding, padding, padding, padding))\n    f, c, kh, kw = weight.shape\n"
        "    oh, ow = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1\n"
        "    out = x.new_zeros(x.shape[0], f, oh, ow)\n"
        "    for i in range(kh):\n        for j in range(kw):\n"
        "            window = x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]\n"
        "            out = out + torch.tensordot(window, weight[:, :, i, j], dims=([1], [1])).permute(0, 3, 1, 2)\n"
        "    return out + (0 if bias is None else bias[None, :, None, None])",
        "max_pool2d": "def max_pool2d(x, k):\n    return F.max_pool2d(x, k)",
        "avg_pool2d": "def avg_pool2d(x, k):\n    return F.avg_pool2d(x, k)",
    },
    "kernels built by hand, a filter through the notebook's conv2d, sizes by the formula": {
        "apply_filter": "def apply_filter(image, kernel):\n    batch = image.reshape(1, 1, *image.shape)\n"
        "    return conv2d(batch, kernel.reshape(1, 1, *kernel.shape)).reshape(\n"
        "        image.shape[0] - kernel.shape[0] + 1, image.shape[1] - kernel.shape[1] + 1)",
        "face_features": "def face_features(size=48):\n    for _ in range(3):\n        size = size // 2\n"
        "    return 128 * size ** 2",
        "conv_counts": "def conv_counts(in_channels, height, width, out_channels, kernel, stride=1, padding=0):\n"
        "    units = out_channels * conv_output_size(height, kernel, stride, padding)"
        " * conv_output_size(width, kernel, stride, padding)\n"
        "    return units, (in_channels * kernel ** 2 + 1) * out_channels",
    },
    "math.floor, im2col with matmul, reshape pooling": {
        "conv_output_size": "import math\n\n\ndef conv_output_size(n, kernel, stride=1, padding=0, dilation=1):\n"
        "    span = dilation * (kernel - 1) + 1\n"
        "    return int(math.floor((n + 2 * padding - span) / stride)) + 1",
        "conv2d": "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
        "    n, c, h, w = x.shape\n    f, _, kh, kw = weight.shape\n"
        "    x = F.pad(x, [padding] * 4)\n"
        "    patches = x.unfold(2, kh, stride).unfold(3, kw, stride)\n"
        "    oh, ow = patches.shape[2], patches.shape[3]\n"
        "    cols = patches.permute(0, 2, 3, 1, 4, 5).reshape(n, oh * ow, c * kh * kw)\n"
        "    out = (cols @ weight.reshape(f, -1).T).permute(0, 2, 1).reshape(n, f, oh, ow)\n"
        "    if bias is not None:\n        out = out + bias[None, :, None, None]\n    return out",
        "max_pool2d": "def max_pool2d(x, k):\n    n, c, h, w = x.shape\n    x = x[:, :, : h // k * k, : w // k * k]\n"
        "    return x.reshape(n, c, h // k, k, w // k, k).amax(dim=(3, 5))",
    },
    "helper functions and a loop over filters": {
        "conv2d_single": "def _window_sum(image, kernel, i, j):\n"
        "    kh, kw = kernel.shape\n    return torch.sum(image[i:i + kh, j:j + kw] * kernel)\n\n\n"
        "def conv2d_single(image, kernel):\n"
        "    rows = image.shape[0] - kernel.shape[0] + 1\n    cols = image.shape[1] - kernel.shape[1] + 1\n"
        "    return torch.stack([torch.stack([_window_sum(image, kernel, i, j) for j in range(cols)])"
        " for i in range(rows)])",
        "conv2d": "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
        "    padded = F.pad(x, (padding, padding, padding, padding))\n"
        "    outputs = []\n"
        "    for f in range(weight.shape[0]):\n"
        "        windows = padded.unfold(2, weight.shape[2], stride).unfold(3, weight.shape[3], stride)\n"
        "        channel = (windows * weight[f][None, :, None, None]).sum(dim=(1, 4, 5))\n"
        "        outputs.append(channel + (0 if bias is None else bias[f]))\n"
        "    return torch.stack(outputs, dim=1)",
    },
    "nn.Sequential and shapes measured with real layers": {
        "SeedNet": "class SeedNet(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        blocks = []\n        for c_in, c_out in ((3, 6), (6, 12), (12, 24)):\n"
        "            blocks += [nn.Conv2d(c_in, c_out, kernel_size=3), nn.ReLU(), nn.MaxPool2d(2)]\n"
        "        self.features = nn.Sequential(*blocks, nn.Flatten())\n\n"
        "    def forward(self, x):\n        return self.features(x)",
        "seed_net_shapes": "def seed_net_shapes(batch, height, width):\n"
        "    x = torch.zeros(batch, 3, height, width)\n    shapes = [tuple(x.shape)]\n"
        "    for c_in, c_out in ((3, 6), (6, 12), (12, 24)):\n"
        "        x = nn.Conv2d(c_in, c_out, 3)(x)\n        shapes.append(tuple(x.shape))\n"
        "        x = F.max_pool2d(x, 2)\n        shapes.append(tuple(x.shape))\n"
        "    return shapes + [(batch, x[0].numel())]",
        "face_features": "def face_features(size=48):\n    side = size\n    for block in range(3):\n"
        "        side = (side + 2 - 3) // 1 + 1\n        side = side // 2\n    return 128 * side ** 2",
    },
}


def test_solution_scores_full_marks():
    """Does the reference solution earn every point?"""
    report = grade(get_week(WEEK).solution)
    assert_full_marks(report)
    assert report.max_score == 22


def test_stub_scores_zero_without_grader_errors():
    """Does the unmodified stub score 0 with no grader crash?"""
    report = grade(get_week(WEEK).stub)
    assert report.score == 0 and report.max_score == 22
    assert not any(t.grader_error for t in report.tests)


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_mistake_loses_its_part(tmp_path, mistake):
    """Does each realistic mistake lose points in its part (and the parts reusing it), with feedback naming it?"""
    functions, broken_part, feedback, reusers = MISTAKES[mistake]
    assert_loses_only(grade(submission(tmp_path, WEEK, functions)), broken_part, feedback, also=reusers)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_correct_variants_score_full_marks(tmp_path, variant):
    """Does correct code written differently from the reference get every point?"""
    assert_full_marks(grade(submission(tmp_path, WEEK, VARIANTS[variant])))


def test_slip_in_pool_output_size_is_pointed_out_where_it_costs_the_shapes(tmp_path):
    """A pool_output_size whose stride defaults to 1 fails its own test and, through seed_net_shapes and
    face_features, three shapes tests: do those three say the slip is in pool_output_size (and nothing else)?"""
    slip = {
        "pool_output_size": "def pool_output_size(n, kernel, stride=1, padding=0):\n"
        "    return conv_output_size(n, kernel, stride=stride, padding=padding)"
    }
    report = grade(submission(tmp_path, WEEK, slip))
    shapes = {test.name: test.output for test in report.tests if test.part == "shapes" and test.score == 0}
    assert len(shapes) == 3, shapes
    for output in shapes.values():
        assert "your pool_output_size gives wrong sizes too" in output and "conv_output_size" not in output, output
    assert_loses_only(report, "output_size", "stride defaults to its kernel size", also=frozenset({"shapes"}))
