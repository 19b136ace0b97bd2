"""Week 1: does the solution score full marks, the stub zero, and each realistic mistake lose exactly its part?"""

from __future__ import annotations

import pytest
from helpers import assert_full_marks, assert_loses_only, grade, submission

from autograder.course.weeks import get_week

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
    "scales pixels on the GPU whatever device they came on": (
        {"scale_pixels": "def scale_pixels(images):\n    return images.cuda().float() / 255"},
        "normalize",
        "returned a tensor on cuda: keep the images on their own device",
    ),
    "scales pixels on the CPU whatever device they came on": (
        {"scale_pixels": "def scale_pixels(images):\n    return images.to('cpu', torch.float32) / 255"},
        "normalize",
        "returned a tensor on cpu: keep the images on their own device",
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
        "went to the GPU whatever the device asked: use t.to(device), not t.cuda()",
    ),
    "hard-codes the CPU": (
        {"move_to": "def move_to(t, device):\n    return t.to('cpu')"},
        "devices",
        "returned a tensor on cpu, not on 'meta'",
    ),
    "throws away what .to returns": (
        {"move_to": "def move_to(t, device):\n    t.to(device)\n    return t"},
        "devices",
        "return what .to(device) gives",
    ),
    "always picks the CPU": (
        {"pick_device": "def pick_device():\n    return torch.device('cpu')"},
        "devices",
        "pick_device() where torch.cuda.is_available() is True: its type: expected 'cuda', got 'cpu'",
    ),
    "ignores the device argument": (
        {
            "tensor_from_list": "def tensor_from_list(values, dtype=torch.float32, device='cpu'):\n"
            "    return torch.tensor(values, dtype=dtype)"
        },
        "tensor_from_list",
        "is on cpu: pass device=device to torch.tensor",
    ),
    "squeezes a batch of one away": (
        {"flatten_images": "def flatten_images(images):\n    return images.reshape(images.shape[0], -1).squeeze()"},
        "flatten_images",
        "keep the batch dimension, even for a batch of one",
    ),
    "scales by the image's brightest pixel": (
        {"scale_pixels": "def scale_pixels(images):\n    return images.float() / images.max()"},
        "normalize",
        "not by this image's brightest pixel",
    ),
    "returns float64": (
        {"normalize": "def normalize(x, mean=MNIST_MEAN, std=MNIST_STD):\n    return ((x - mean) / std).double()"},
        "normalize",
        "expected dtype float32, got float64: keep the input's dtype",
    ),
    "centres the caller's matrix in place": (
        {"center_columns": "def center_columns(x):\n    x -= x.mean(dim=0)\n    return x"},
        "broadcasting",
        "changed the caller's tensor in place",
    ),
    "converts the copy to float": (
        {"copy_from_numpy": "def copy_from_numpy(array):\n    return torch.tensor(array, dtype=torch.float32)"},
        "numpy_bridge",
        "expected dtype int32, got float32: keep NumPy's dtype",
    ),
    "derives the gradient by hand": (
        {"mse_gradient": "def mse_gradient(w, x, y):\n    return 2 / x.shape[0] * x.T @ (x @ w - y)"},
        "autograd",
        "without autograd: the part asks for loss.backward()",
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


# Correct answers written otherwise than the reference, each stressing a check: a part must give them every point.
VARIANTS = {
    "as_tensor, flatten, div, sub and autograd.grad": {
        "tensor_from_list": "def tensor_from_list(values, dtype=torch.float32, device='cpu'):\n"
        "    return torch.as_tensor(values, dtype=dtype).to(device)",
        "flatten_images": "def flatten_images(images):\n    return torch.flatten(images, start_dim=1)",
        "scale_pixels": "def scale_pixels(images):\n    return images.float().div(255)",
        "normalize": "def normalize(x, mean=MNIST_MEAN, std=MNIST_STD):\n    return x.sub(mean).div(std)",
        "center_columns": "def center_columns(x):\n    return x - x.mean(0)",
        "outer_sum": "def outer_sum(a, b):\n    return a.unsqueeze(1) + b.unsqueeze(0)",
        "move_to": "def move_to(t, device):\n    return t.to(device=device)",
        "pick_device": "def pick_device():\n    return 'cuda' if torch.cuda.is_available() else 'cpu'",
        "mse_gradient": "def mse_gradient(w, x, y):\n    w = w.detach().requires_grad_()\n"
        "    (grad,) = torch.autograd.grad(((x @ w - y) ** 2).mean(), w)\n    return grad",
    },
    "as_tensor sharing, an explicit copy, contiguous views and mse_loss": {
        "share_from_numpy": "def share_from_numpy(array):\n    return torch.as_tensor(array)",
        "copy_from_numpy": "def copy_from_numpy(array):\n    return torch.from_numpy(array.copy())",
        "flatten_images": "def flatten_images(images):\n    return images.contiguous().view(len(images), -1)",
        "scale_pixels": "def scale_pixels(images):\n    return images / 255.0",
        "center_columns": "def center_columns(x):\n    return x - x.sum(dim=0) / x.shape[0]",
        "outer_sum": "def outer_sum(a, b):\n    return a.reshape(-1, 1) + b.reshape(1, -1)",
        "mse_gradient": "def mse_gradient(w, x, y):\n    w = w.clone().detach().requires_grad_(True)\n"
        "    torch.nn.functional.mse_loss(x @ w, y).backward()\n    return w.grad",
    },
    "devices by name, new tensors by expansion, backward by function": {
        "pick_device": "def pick_device():\n    name = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
        "    return torch.device(f'{name}')",
        "move_to": "def move_to(t, device):\n    moved = t.to(torch.device(device))\n    return moved",
        "outer_sum": "def outer_sum(a, b):\n    return a[:, None].expand(-1, len(b)) + b",
        "normalize": "def normalize(x, mean=MNIST_MEAN, std=MNIST_STD):\n    return (x - mean) * (1.0 / std)",
        "mse_gradient": "def mse_gradient(w, x, y):\n    w = torch.tensor(w.tolist(), requires_grad=True)\n"
        "    loss = torch.mean((torch.matmul(x, w) - y) ** 2)\n    torch.autograd.backward(loss)\n"
        "    return w.grad.to(x.dtype)",
    },
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


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_correct_variants_score_full_marks(tmp_path, variant):
    """Does correct code written differently from the reference get every point?"""
    assert_full_marks(grade(submission(tmp_path, WEEK, VARIANTS[variant])))
