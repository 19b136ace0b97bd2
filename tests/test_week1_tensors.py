"""Week 1: does the solution score full marks, the stub zero, and each realistic mistake lose exactly its part?"""

from __future__ import annotations

import pytest
from helpers import assert_loses_only, grade, submission

from autograder.weeks import get_week

WEEK = "week1_tensors"

# Each entry: the mistake, the functions as a student wrote them, the part it breaks, and words the feedback
# must contain so the student can act on it.
MISTAKES = {
    "prints instead of returning": (
        {
            "tensor_from_list": "def tensor_from_list(values, dtype=torch.float32, device='cpu'):\n"
            "    print(torch.tensor(values, dtype=dtype, device=device))"
        },
        "tensor_from_list",
        "returned None, expected a tensor: does the function `return`",
    ),
    "ignores the dtype argument": (
        {
            "tensor_from_list": "def tensor_from_list(values, dtype=torch.float32, device='cpu'):\n"
            "    return torch.tensor(values)"
        },
        "tensor_from_list",
        "expected dtype float32, got int64",
    ),
    "reads float32 as 32 elements": (
        {"storage_facts": "def storage_facts(t):\n    return 32, 32, 32 * 4"},
        "storage_facts",
        "float32 means 32 bits per element, not 32 elements",
    ),
    "view on a non-contiguous tensor": (
        {"flatten_images": "def flatten_images(images):\n    return images.view(images.shape[0], -1)"},
        "flatten_images",
        "view() needs contiguous memory",
    ),
    "flattens the batch dimension too": (
        {"flatten_images": "def flatten_images(images):\n    return images.reshape(-1)"},
        "flatten_images",
        "keep the batch dimension",
    ),
    "hard-codes 784 features": (
        {"flatten_images": "def flatten_images(images):\n    return images.reshape(-1, 784)"},
        "flatten_images",
        "flatten_images(<tensor of shape (8, 3, 32, 32)",
    ),
    "copies where sharing was asked": (
        {"share_from_numpy": "def share_from_numpy(array):\n    return torch.tensor(array)"},
        "numpy_bridge",
        "torch.from_numpy() shares the array's memory",
    ),
    "divides pixels by 256": (
        {"scale_pixels": "def scale_pixels(images):\n    return images.float() / 256"},
        "normalize",
        "divide by 255",
    ),
    "normalises with fixed constants": (
        {"normalize": "def normalize(x, mean=MNIST_MEAN, std=MNIST_STD):\n    return (x - 0.1307) / 0.3081"},
        "normalize",
        "the mean and std arguments are ignored",
    ),
    "swaps mean and std": (
        {"normalize": "def normalize(x, mean=MNIST_MEAN, std=MNIST_STD):\n    return (x - std) / mean"},
        "normalize",
        "mean and std are swapped",
    ),
    "averages over the wrong dimension": (
        {"center_columns": "def center_columns(x):\n    return x - x.mean(dim=1, keepdim=True)"},
        "broadcasting",
        "average over dim=0",
    ),
    "adds vectors element by element": (
        {"outer_sum": "def outer_sum(a, b):\n    return a + b"},
        "broadcasting",
        "reshape a to (N, 1) and b to (1, M)",
    ),
    "hard-codes the GPU": (
        {"move_to": "def move_to(t, device):\n    return t.cuda()"},
        "devices",
        "move_to(<tensor of shape (2, 3), float64>, 'cpu') raised",
    ),
    "sums the loss instead of averaging": (
        {
            "mse_gradient": "def mse_gradient(w, x, y):\n"
            "    w = w.detach().clone().requires_grad_(True)\n"
            "    ((x @ w - y) ** 2).sum().backward()\n"
            "    return w.grad"
        },
        "autograd",
        "N times too large",
    ),
    "lets gradients accumulate in the caller's w": (
        {
            "mse_gradient": "def mse_gradient(w, x, y):\n"
            "    w.requires_grad_(True)\n"
            "    ((x @ w - y) ** 2).mean().backward()\n"
            "    return w.grad"
        },
        "autograd",
        ".grad accumulates",
    ),
}


def test_solution_scores_full_marks():
    """Does the reference solution earn every point?"""
    report = grade(get_week(WEEK).solution)
    failed = [(t.name, t.output) for t in report.tests if t.status != "passed"]
    assert not failed
    assert report.score == report.max_score == 25
    assert report.notes == []


def test_stub_scores_zero_without_grader_errors():
    """Does the unmodified stub score 0, every test saying what is not implemented, with no grader crash?"""
    report = grade(get_week(WEEK).stub)
    assert report.max_score == 25 and report.score == 0
    assert all(not t.grader_error for t in report.tests)
    assert all("not implemented yet" in t.output for t in report.tests)


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_mistake_loses_only_its_part(tmp_path, mistake):
    """Does each realistic mistake lose points in the part it breaks, with feedback naming it, and only there?"""
    functions, broken_part, feedback = MISTAKES[mistake]
    assert_loses_only(grade(submission(tmp_path, WEEK, functions)), broken_part, feedback)
