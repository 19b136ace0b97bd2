"""Hidden graders for week 4, training a CNN on Fashion-MNIST.

Loops are graded by what they do to a model, not by how they are written: the grader builds a small model in
the student's process whose training and evaluation modes differ (batch normalisation), runs the student's
``train_one_epoch`` or ``evaluate`` on it with batches in a fixed order, and compares the weights, losses and
accuracies with its own runs of the right loop and of the usual wrong ones (no ``zero_grad``, no ``train()``, no
``eval()``), which name the mistake. A short seeded run on real images checks that the loop learns at all.

The trained weights the student hands in (``week4_cnn.pt``, ``week4_ff.pt``) are unpickled only in the student's
process, with ``weights_only=True``; their tensors are loaded here into the course's own architecture and
measured on the grader's copy of the Fashion-MNIST test set (``autograder.course.data``). Targets are Fashion-MNIST's
equivalents of the seeds' MNIST targets (98% for the CNN, 95% for the fully connected net), set two points below
the lowest of ten seeds of the reference (``benchmarks/training_thresholds.py``).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from autograder.course.data import fashion_mnist
from autograder.course.weeks import MAX_HANDED_IN_BYTES
from autograder.judging.checks import (
    expect_close,
    expect_equal,
    expect_float,
    expect_tensor,
    fail,
    hint_on_error,
    load_student_file,
    part,
    points,
)
from autograder.running.limits import StudentError
from autograder.sandbox import probes

FASHION_MEAN, FASHION_STD = 0.2860, 0.3530
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CNN_TARGET = 0.85  # reference NetCNN over 10 seeds: min 0.8765, mean 0.8812 (2 epochs, SGD 0.01, momentum 0.9)
CNN_FLOOR = 0.75  # partial credit: trained, but short of the target
FF_TARGET = 0.82  # reference NetFF over 10 seeds: min 0.8460, mean 0.8548
LEARNING_IMAGES, LEARNING_TEST_IMAGES = 4096, 1000
LEARNING_TARGET = 0.55  # the reference loop, model seeds 31-40: 0.656 to 0.697; without zero_grad: 0.08 to 0.20
FF_PARAMETERS, CNN_PARAMETERS = 573_910, 431_080


class NetFF(nn.Module):
    """The notebook's NetFF, for references and for measuring handed-in weights."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, 500), nn.Linear(500, 300)
        self.fc3, self.fc4 = nn.Linear(300, 100), nn.Linear(100, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ff_forward(self, x)


def _ff_forward(net: NetFF, x: torch.Tensor, activation=torch.tanh, log_probs: bool = True) -> torch.Tensor:
    """NetFF's forward pass, or a usual wrong one (other activation, no log_softmax) for hints."""
    x = activation(net.fc3(activation(net.fc2(activation(net.fc1(x.reshape(-1, 784)))))))
    return F.log_softmax(net.fc4(x), dim=1) if log_probs else net.fc4(x)


class NetCNN(nn.Module):
    """The notebook's NetCNN."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5, 1), nn.Conv2d(20, 50, 5, 1)
        self.fc1, self.fc2 = nn.Linear(800, 500), nn.Linear(500, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cnn_forward(self, x)


def _cnn_forward(net: NetCNN, x: torch.Tensor, conv_relu: bool = True, log_probs: bool = True) -> torch.Tensor:
    """NetCNN's forward pass, or a usual wrong one (no ReLU after the convolutions, no log_softmax) for hints."""
    after = F.relu if conv_relu else (lambda t: t)
    x = F.max_pool2d(after(net.conv1(x)), 2, 2)
    x = F.max_pool2d(after(net.conv2(x)), 2, 2)
    x = net.fc2(F.relu(net.fc1(x.reshape(-1, 800))))
    return F.log_softmax(x, dim=1) if log_probs else x


def _seeded(model_class: type, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return model_class()


def _random_batch(seed: int, count: int, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, 1, 28, 28, generator=generator), torch.randint(0, classes, (count,), generator=generator)


def _python_float(value: object, what: str) -> float:
    """A number the text asks for as a Python float: a tensor is ``loss`` where ``loss.item()`` was meant."""
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind == "f":
        value = float(value)  # a NumPy float (np.mean of the losses) is a float too
    if isinstance(value, torch.Tensor):
        fail(f"{what} returned a tensor, expected a Python float: add up loss.item(), not the loss tensors")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(f"{what} returned a {type(value).__name__}, expected a Python float")
    return float(value)


def _expect_runs_on_a_gpu(student, name: str, run) -> None:
    """``run(model, loader, device)`` calls the student's loop with device='meta' (where the probes put the model):
    it must give the model its batches on that device and never mix devices, as a GPU demands. The GPU branch of
    a loop, graded on any machine (DeviceRecording: tensors say where they are and stay on the CPU)."""
    images, labels = _random_batch(71, 48)
    model = student.tool("batchnorm_classifier").handle(72).named("<model with batch norm>")
    recording = student.tool("DeviceRecording").handle(model, images, labels, 16, "meta")
    what = f"{name}(<model on the device>, <3 batches>, ..., device='meta')"
    try:
        run(model, recording.attr("loader").named("<loader of 48 images in batches of 16>"), "meta")
    except StudentError:
        return  # the loop made a tensor of its own on the device, which this check cannot follow: nothing to tell
    problems = recording.attr("problems")
    if not problems:
        return
    problem = problems[0]
    if "cuda" in problem:
        fail(f"{what}: {problem}: use .to(device) with the device given, not .cuda()")
    if "was given inputs" in problem:
        fail(f"{what}: {problem}: move each batch with images.to(device), so the loop runs on a GPU where there is one")
    fail(f"{what}: {problem}, which a GPU refuses: move the labels too (labels.to(device)), as the images")


def _tolerance(device: str) -> float:
    return 1e-5 if device == "cpu" else 1e-3  # GPU kernels sum in other orders (and may use TF32)


# -- the grader's data ---------------------------------------------------------------------------------------------


@functools.cache
def _fashion(train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A Fashion-MNIST split as normalised (N, 1, 28, 28) floats and labels; DataMissing names the files."""
    dataset = fashion_mnist(train=train)
    images = dataset.data.unsqueeze(1).float().div(255).sub(FASHION_MEAN).div(FASHION_STD)
    return images, dataset.targets


def _learning_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed, seeded sample of training images and of test images for the short training run."""
    train_images, train_labels = _fashion(train=True)
    test_images, test_labels = _fashion(train=False)
    order = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(4))[:LEARNING_IMAGES]
    pick = torch.randperm(len(test_images), generator=torch.Generator().manual_seed(5))[:LEARNING_TEST_IMAGES]
    return train_images[order], train_labels[order], test_images[pick], test_labels[pick]


# -- 1. data -------------------------------------------------------------------------------------------------------


@part("data")
@points(2)
def test_transform_scales_and_normalises(student):
    """TRANSFORM turns 0-255 pixels into a (1, 28, 28) float tensor normalised with Fashion-MNIST's mean and std"""
    pixels = np.random.default_rng(7).integers(0, 256, (28, 28), dtype=np.uint8)
    what = "TRANSFORM(<28x28 array of uint8 pixels>)"
    try:
        got = student.TRANSFORM(pixels)
    except StudentError as exc:
        fail(f"{exc}: TRANSFORM should be transforms.Compose([transforms.ToTensor(), transforms.Normalize(...)])")
    pixels_as_floats = torch.tensor(pixels, dtype=torch.float32).unsqueeze(0)
    scaled, unscaled = pixels_as_floats / 255, (pixels_as_floats - FASHION_MEAN) / FASHION_STD
    hints = {
        "the pixels were scaled to [0, 1] but not normalised: add transforms.Normalize": scaled,
        "these are MNIST's mean and std; Fashion-MNIST's are 0.2860 and 0.3530": (scaled - MNIST_MEAN) / MNIST_STD,
        "normalised without scaling to [0, 1] first: ToTensor comes before Normalize": unscaled,
    }
    expect_tensor(got, what, shape=(1, 28, 28), shape_hints={(28, 28): "ToTensor adds the channel dimension"})
    expect_close(got, (scaled - FASHION_MEAN) / FASHION_STD, what, atol=1e-4, hints=hints)


@part("data")
@points(2)
def test_make_loaders_batches_and_shuffles(student):
    """make_loaders batches both sets, shuffles the training set only, and keeps the test set in order"""
    train = student.tool("tensor_dataset").handle(*_random_batch(1, 100)).named("<100 training images>")
    test_images, test_labels = _random_batch(2, 60)
    test = student.tool("tensor_dataset").handle(test_images, test_labels).named("<60 test images>")
    what = "make_loaders(<100 training images>, <60 test images>, batch_size=16, test_batch_size=50)"
    loaders = student.make_loaders(train, test, batch_size=16, test_batch_size=50)
    if not isinstance(loaders, (tuple, list)) or len(loaders) != 2:
        fail(f"{what} should return (train_loader, test_loader)")
    for loader, name in zip(loaders, ("train_loader", "test_loader"), strict=True):
        if getattr(loader, "type_name", "") != "DataLoader":
            fail(f"{what}: {name} is a {getattr(loader, 'type_name', type(loader).__name__)}, expected a DataLoader")
    train_loader, test_loader = loaders
    expect_equal(train_loader.attr("batch_size"), 16, f"{what}: train_loader's batch size", stated=True)
    expect_equal(test_loader.attr("batch_size"), 50, f"{what}: test_loader's batch size", stated=True)
    if train_loader.attr("sampler").type_name != "RandomSampler":
        fail(f"{what}: the training loader does not shuffle: pass shuffle=True")
    if test_loader.attr("sampler").type_name != "SequentialSampler":
        fail(f"{what}: the test loader shuffles; keep it in order (shuffle=False)")
    images, labels = test_loader.attr("__iter__").handle().attr("__next__")()
    expect_close(images, test_images[:50], f"{what}: the first test batch's images (from the test set?)")
    expect_equal(labels.tolist(), test_labels[:50].tolist(), f"{what}: the first test batch's labels")


# -- 2. models -----------------------------------------------------------------------------------------------------

_LOG_PROB_HINT = "the output should be log-probabilities: end with F.log_softmax(x, dim=1)"
_PROBABILITY_HINT = "these are probabilities (softmax); return their log: F.log_softmax"


FC1_INPUT = "fc1's input is 50 channels of 4x4 (28 -> 24 -> 12 -> 8 -> 4) = 800"


def _expect_parameter_count(student, name: str, expected: int, sizes: str) -> None:
    model = getattr(student, name).handle()
    for count in (4, 1):
        what = f"{name}()(<tensor of shape ({count}, 1, 28, 28)>)"
        with hint_on_error({"is invalid for input": FC1_INPUT}):
            out = model(torch.zeros(count, 1, 28, 28))
        hints = {(10,): "keep the batch dimension, even for a single image: no squeeze"}
        expect_tensor(out, what, shape=(count, 10), dtype=torch.float32, shape_hints=hints)
    state = model.state_dict()
    count = sum(tensor.numel() for tensor in state.values() if isinstance(tensor, torch.Tensor))
    if count != expected:
        fail(f"{name} has {count:,} parameters, expected {expected:,}: check the layer sizes ({sizes})")


def _expect_forward(student, name: str, reference: nn.Module, hints: dict[str, Callable]) -> None:
    """The student's class, holding the reference's weights, computes what the reference computes."""
    model = getattr(student, name).handle()
    try:
        model.load_state_dict.handle(reference.state_dict())
    except StudentError as exc:
        names = ", ".join(reference.state_dict())
        found = [line.strip() for line in str(exc).splitlines() if "mismatch" in line or "key(s)" in line]
        why = f" ({'; '.join(found)[:400]})" if found else ""
        fail(f"{name}'s layers cannot hold the course's weights{why}: use exactly the layers {names}, sized as asked")
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(9))
    what = f"{name} with given weights, on <tensor of shape (5, 1, 28, 28)>"
    with torch.no_grad():
        expected = reference(x)
        wrong = {hint: variant(x) for hint, variant in hints.items()}
    expect_close(model(x), expected, what, atol=1e-4, hints=wrong)


@part("models")
@points(1)
def test_netff_shape_and_parameters(student):
    """NetFF maps (B, 1, 28, 28) to (B, 10) float32, B = 1 included, with 784-500-300-100-10 layers"""
    _expect_parameter_count(student, "NetFF", FF_PARAMETERS, "784-500-300-100-10")


@part("models")
@points(2)
def test_netff_computes_the_reference(student):
    """NetFF flattens, applies tanh after fc1 to fc3, and returns log-probabilities"""
    reference = _seeded(NetFF, 3).eval()
    hints = {
        _LOG_PROB_HINT: lambda x: _ff_forward(reference, x, log_probs=False),
        _PROBABILITY_HINT: lambda x: reference(x).exp(),
        "the hidden layers use ReLU; this network uses torch.tanh": lambda x: _ff_forward(reference, x, F.relu),
    }
    _expect_forward(student, "NetFF", reference, hints)


@part("models")
@points(1)
def test_netcnn_shape_and_parameters(student):
    """NetCNN maps (B, 1, 28, 28) to (B, 10) float32, B = 1 included, with two 5x5 convolutions and 800-500-10"""
    _expect_parameter_count(student, "NetCNN", CNN_PARAMETERS, "conv 1->20 and 20->50 with 5x5 kernels, 800-500-10")


@part("models")
@points(2)
def test_netcnn_computes_the_reference(student):
    """NetCNN: convolution, ReLU, 2x2 max-pool (twice), flatten, fc1 with ReLU, fc2, log-probabilities"""
    reference = _seeded(NetCNN, 4).eval()
    hints = {
        _LOG_PROB_HINT: lambda x: _cnn_forward(reference, x, log_probs=False),
        _PROBABILITY_HINT: lambda x: reference(x).exp(),
        "the convolutions are not followed by F.relu": lambda x: _cnn_forward(reference, x, conv_relu=False),
    }
    _expect_forward(student, "NetCNN", reference, hints)


# -- 3. training ---------------------------------------------------------------------------------------------------


def _loader(student, images: torch.Tensor, labels: torch.Tensor, batch_size: int):
    """A DataLoader in the student's process, batches in a fixed order, named by its size in feedback."""
    loader = student.tool("tensor_loader").handle(images, labels, batch_size)
    return loader.named(f"<loader of {len(images)} images in batches of {batch_size}>")


def _student_sgd(student, model, lr: float, momentum: float):
    optimizer = student.torch.attr("optim").attr("SGD").handle(model.parameters.handle(), lr=lr, momentum=momentum)
    return optimizer.named(f"<SGD lr={lr:g} momentum={momentum:g}>")


def _reference_epoch(
    model: nn.Module, batches: list, lr: float, momentum: float, train_mode=True, zero_grad=True, step=True
) -> list[float]:
    """One epoch as the right loop runs it, or as one of the usual wrong ones does; the batch losses."""
    model.train(train_mode)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    optimizer.zero_grad()
    losses = []
    for images, labels in batches:
        if zero_grad:
            optimizer.zero_grad()
        loss = F.nll_loss(model(images), labels)
        loss.backward()
        if step:
            optimizer.step()
        losses.append(loss.item())
    return losses


def _batches(seed: int, count: int, size: int) -> tuple[torch.Tensor, torch.Tensor, list]:
    images, labels = _random_batch(seed, count)
    return images, labels, [(images[i : i + size], labels[i : i + size]) for i in range(0, count, size)]


@part("train_one_epoch")
@points(3)
def test_one_epoch_updates_the_weights_as_the_reference(student, device):
    """train_one_epoch switches to train(), clears gradients each step, steps once per batch, on the device given"""
    images, labels, batches = _batches(11, 80, 16)
    # in evaluation mode, as evaluate() leaves it: the loop must switch back to training mode
    model, loader = _probe_and_loader(student, 21, images, labels, device, train_mode=False, batch_size=16)
    student.train_one_epoch(model, loader, _student_sgd(student, model, 0.1, 0.9), device)
    got = model.state_dict()
    variants = {
        "right": {},
        "the weights did not change: call optimizer.step() after loss.backward()": {"step": False},
        "gradients add up from step to step: call optimizer.zero_grad() before each backward()": {"zero_grad": False},
        "the model was trained in evaluation mode: call model.train() at the start": {"train_mode": False},
    }
    outcomes = {}
    for hint, changes in variants.items():
        reference = probes.batchnorm_classifier(21)
        _reference_epoch(reference, batches, 0.1, 0.9, **changes)
        outcomes[hint] = reference.state_dict()
    if not isinstance(got, dict) or sorted(got) != sorted(outcomes["right"]):
        fail("train_one_epoch changed the model's layers: it should only train them")
    atol = _tolerance(device)
    for hint, state in outcomes.items():
        if hint != "right" and all(torch.allclose(got[n], t, rtol=0, atol=atol) for n, t in state.items()):
            fail(f"after train_one_epoch(<model>, <5 batches>, <SGD>), the weights are not the reference's: {hint}")
    for name, tensor in outcomes["right"].items():
        expect_close(got[name], tensor, f"after train_one_epoch, the model's {name}", rtol=0, atol=atol)
    _expect_runs_on_a_gpu(
        student,
        "train_one_epoch",
        lambda model, loader, on: student.train_one_epoch(model, loader, _student_sgd(student, model, 0.1, 0.9), on),
    )


@part("train_one_epoch")
@points(1)
def test_one_epoch_returns_the_mean_loss(student, device):
    """train_one_epoch returns the mean of its batches' losses, as a Python float"""
    images, labels, batches = _batches(12, 54, 16)  # uneven: 3 batches of 16 and one of 6
    model, loader = _probe_and_loader(student, 22, images, labels, device, train_mode=True, batch_size=16)
    what = "train_one_epoch(<model>, <54 images in batches of 16>, <SGD>)"
    got = _python_float(student.train_one_epoch(model, loader, _student_sgd(student, model, 0.0, 0.0), device), what)
    losses = _reference_epoch(probes.batchnorm_classifier(22), batches, 0.0, 0.0)
    by_batch = sum(losses) / len(losses)
    by_image = sum(loss * len(y) for loss, (_, y) in zip(losses, batches, strict=True)) / len(images)
    if isinstance(got, (int, float)) and math.isclose(got, sum(losses), rel_tol=1e-4):
        fail(f"{what} returned the sum of the batch losses: divide by the number of batches")
    if isinstance(got, (int, float)) and math.isclose(got, losses[-1], rel_tol=1e-4):
        fail(f"{what} returned the last batch's loss: return the mean over all batches")
    if isinstance(got, (int, float)) and math.isclose(got, by_image, rel_tol=1e-4):
        return  # a mean weighted by batch size is as good
    hint = None
    if isinstance(got, (int, float)) and got and not isinstance(got, bool):
        count = sum(losses) / got
        if abs(count - round(count)) < 1e-3 and round(count) != len(losses):
            hint = "divide the total by the number of batches the loader gave (len(loader)), not a fixed count"
    expect_float(got, by_batch, what, tol=1e-4, hint=hint)


@part("train_one_epoch")
@points(2)
def test_one_epoch_learns_real_images(student, device):
    """one epoch of train_one_epoch over 4,096 Fashion-MNIST images takes a CNN well above chance (10%)"""
    train_images, train_labels, test_images, test_labels = _learning_data()
    model = student.tool("lenet").handle(31).named("<CNN>")
    model.to.handle(device)
    loader = _loader(student, train_images, train_labels, 64)
    student.train_one_epoch(model, loader, _student_sgd(student, model, 0.01, 0.9), device)
    model.to.handle("cpu")
    model.eval.handle()
    with torch.no_grad():
        before = F.nll_loss(probes.lenet(31).eval()(test_images), test_labels).item()
    output = expect_tensor(model(test_images), "the trained CNN's output", shape=(len(test_labels), 10))
    after = F.nll_loss(output.float(), test_labels).item()
    accuracy = (output.argmax(dim=1) == test_labels).float().mean().item()
    if not after < before:
        fail(f"after one epoch of train_one_epoch the test loss went from {before:.3f} to {after:.3f}: it should fall")
    if accuracy < LEARNING_TARGET:
        fail(
            f"after one epoch of train_one_epoch on 4,096 images, a CNN reaches {accuracy:.1%} test accuracy; "
            f"the right loop reaches at least {LEARNING_TARGET:.0%} (chance is 10%)"
        )


# -- 4. evaluation -------------------------------------------------------------------------------------------------


def _reference_evaluate(model: nn.Module, batches: list, train_mode: bool = False) -> tuple[float, float, float]:
    """(loss per image, accuracy, loss per batch) as evaluate would compute them in the given mode."""
    model.train(train_mode)
    total, correct, count, batch_means = 0.0, 0, 0, []
    with torch.no_grad():
        for images, labels in batches:
            output = model(images)
            total += F.nll_loss(output, labels, reduction="sum").item()
            batch_means.append(F.nll_loss(output, labels).item())
            correct += (output.argmax(dim=1) == labels).sum().item()
            count += len(labels)
    return total / count, correct / count, sum(batch_means) / len(batch_means)


def _probe_and_loader(
    student, seed: int, images, labels, device: str, train_mode: bool, batch_size: int = 32, classes: int = 10
):
    """A batch-norm model in the student's process, on the device, in the given mode, and a loader of the batch."""
    name = "<model with batch norm>" if classes == 10 else f"<{classes}-class model>"
    model = student.tool("batchnorm_classifier").handle(seed, classes).named(name)
    model.to.handle(device)
    model.train.handle(train_mode)
    return model, _loader(student, images, labels, batch_size)


@part("evaluate")
@points(2)
def test_evaluate_matches_the_reference(student, device):
    """evaluate returns (summed loss / images, correct / images) as floats, in eval mode, on the device given"""
    images, labels, batches = _batches(41, 70, 32)
    model, loader = _probe_and_loader(student, 42, images, labels, device, train_mode=True)
    what = "evaluate(<model in training mode>, <70 images in batches of 32>)"
    got = student.evaluate(model, loader, device)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(f"{what} should return (mean_loss, accuracy), got a {type(got).__name__}")
    loss, accuracy = _python_float(got[0], f"{what}[0]"), _python_float(got[1], f"{what}[1]")
    right_loss, right_accuracy, per_batch = _reference_evaluate(probes.batchnorm_classifier(42), batches)
    train_loss, train_accuracy, _ = _reference_evaluate(probes.batchnorm_classifier(42), batches, train_mode=True)
    if isinstance(loss, (int, float)) and math.isclose(loss, train_loss, rel_tol=1e-4):
        fail(f"{what}: the loss is the training-mode one: call model.eval() first")
    if isinstance(loss, (int, float)) and math.isclose(loss, per_batch, rel_tol=1e-5):
        fail(f"{what}: the loss is a mean over batches: sum with reduction='sum' and divide by the number of images")
    expect_float(loss, right_loss, f"{what}: the mean loss", tol=1e-4)
    if isinstance(accuracy, (int, float)) and math.isclose(accuracy, 100 * right_accuracy, rel_tol=1e-6):
        fail(f"{what}: the accuracy is a percentage; return a fraction between 0 and 1")
    if isinstance(accuracy, (int, float)) and accuracy == round(right_accuracy * len(labels)) and accuracy > 1:
        fail(f"{what}: the accuracy is a count of right answers; divide by the number of images")
    expect_float(accuracy, right_accuracy, f"{what}: the accuracy", tol=1e-6)
    run = student.evaluate
    _expect_runs_on_a_gpu(student, "evaluate", lambda model, loader, on: run(model, loader, on))


@part("evaluate")
@points(2)
def test_evaluate_runs_without_autograd(student, device):
    """evaluate runs the model inside torch.no_grad(): no graph is recorded"""
    images, labels, _ = _batches(43, 64, 32)
    model, loader = _probe_and_loader(student, 44, images, labels, device, train_mode=False)
    log = student.tool("GradModeLog").handle()
    model.register_forward_pre_hook.handle(log)
    student.evaluate(model, loader, device)
    seen = log.attr("seen")
    if not seen:
        fail("evaluate(<model>, <loader>) never called the model")
    if any(seen):
        fail(
            f"evaluate ran the model with autograd recording ({sum(map(bool, seen))} of {len(seen)} batches): "
            "wrap the loop in `with torch.no_grad():`"
        )


@part("evaluate")
@points(1)
def test_evaluate_leaves_the_model_unchanged(student, device):
    """evaluate computes no gradients into the model and changes none of its weights"""
    images, labels, _ = _batches(45, 64, 32)
    model, loader = _probe_and_loader(student, 46, images, labels, device, train_mode=False)
    before = model.state_dict()
    got = student.evaluate(model, loader, device)
    if not isinstance(got, (tuple, list)) or len(got) != 2:  # a function that does nothing changes nothing either
        fail(f"evaluate(<model>, <loader>) should return (mean_loss, accuracy), got a {type(got).__name__}")
    with_gradients = student.tool("parameters_with_gradients")(model)
    if with_gradients:
        fail(f"after evaluate, {', '.join(with_gradients)} hold gradients: evaluation never calls backward()")
    after = model.state_dict()
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    if changed:
        fail(f"evaluate changed the model ({', '.join(changed)}): evaluation must not train or update statistics")


# -- 5. confusion matrix -------------------------------------------------------------------------------------------


def _reference_confusion(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    counts = torch.zeros(classes, classes, dtype=torch.int64)
    counts.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
    return counts


@part("confusion")
@points(2)
def test_confusion_matrix_counts_true_by_predicted(student, device):
    """confusion_matrix counts images by (true class, predicted class), in eval mode, without autograd, on the device"""
    images, labels = _random_batch(51, 90)
    model, loader = _probe_and_loader(student, 52, images, labels, device, train_mode=True)
    log = student.tool("GradModeLog").handle()
    model.register_forward_pre_hook.handle(log)
    what = "confusion_matrix(<model in training mode>, <90 images in batches of 32>)"
    got = expect_tensor(student.confusion_matrix(model, loader, device, 10), what, shape=(10, 10))
    expected = _reference_confusion(probes.batchnorm_classifier(52).eval(), images, labels, 10)
    in_train_mode = _reference_confusion(probes.batchnorm_classifier(52).train(), images, labels, 10)
    hints = {
        "rows should be the true class and columns the prediction: the matrix is transposed": expected.T,
        "these are training-mode predictions: call model.eval() first": in_train_mode,
    }
    expect_close(got.to(torch.float64), expected.to(torch.float64), what, rtol=0, atol=0, hints=hints)
    if got.is_floating_point() or got.dtype == torch.bool:
        fail(f"{what}: counts should be integers (dtype torch.int64)")
    if any(log.attr("seen")):
        fail(f"{what} ran the model with autograd recording: predict inside `with torch.no_grad():`")
    run = student.confusion_matrix
    _expect_runs_on_a_gpu(student, "confusion_matrix", lambda model, loader, on: run(model, loader, on, 10))


@part("confusion")
@points(1)
def test_confusion_matrix_follows_num_classes(student, device):
    """confusion_matrix's size follows num_classes, and every image is counted once"""
    images, labels = _random_batch(53, 50, classes=4)
    model, loader = _probe_and_loader(student, 54, images, labels, device, train_mode=False, classes=4)
    what = "confusion_matrix(<4-class model>, <50 images>, num_classes=4)"
    got = expect_tensor(student.confusion_matrix(model, loader, device, num_classes=4), what, shape=(4, 4))
    expected = _reference_confusion(probes.batchnorm_classifier(54, 4).eval(), images, labels, 4)
    expect_close(got.to(torch.float64), expected.to(torch.float64), what, rtol=0, atol=0)


# -- 6. the handed-in weights --------------------------------------------------------------------------------------


def _handed_in_bytes(folder: Path, name: str) -> bytes:
    """The handed-in file's content; refuses links, folders and huge files."""
    path = folder / name
    if path.is_symlink() or (path.exists() and not path.is_file()):
        fail(f"{name} is not a plain file: hand in the file torch.save wrote")
    if not path.is_file():
        fail(f"{name} was not handed in: run section 6, which saves it beside the notebook, and hand it in too")
    if path.stat().st_size > MAX_HANDED_IN_BYTES:
        fail(f"{name} is {path.stat().st_size:,} bytes; a state_dict of this network is under 3 MB")
    return path.read_bytes()


_MEASURED: dict[str, float] = {}  # by the file's content: one grading measures each file once


def _test_accuracy(student, folder: Path, name: str, model_class: type) -> float:
    """The handed-in weights' accuracy on the grader's test set, in the course's architecture (once per file).

    The file is unpickled in the student's process (``torch.load(..., weights_only=True)`` there, on a copy in its
    scratch space); only its tensors come back here."""
    data = _handed_in_bytes(folder, name)
    key = hashlib.sha256(data).hexdigest() + model_class.__name__
    if key in _MEASURED:
        return _MEASURED[key]
    with student.folder() as scratch:
        state = load_student_file(student, scratch.write(name, data), name, "save model.state_dict()")
    model = model_class()
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        fail(f"{name} holds a {type(state).__name__}, expected a state_dict: torch.save(model.state_dict(), path)")
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    found = {key: tuple(value.shape) for key, value in state.items()}
    if found != expected:
        fail(f"{name} holds {found}, expected the layers {expected}: save the state_dict of {model_class.__name__}")
    model.load_state_dict({key: value.float() for key, value in state.items()})
    images, labels = _fashion(train=False)
    with torch.no_grad():
        model.eval()
        predictions = torch.cat([model(images[i : i + 1000]).argmax(dim=1) for i in range(0, len(images), 1000)])
    _MEASURED[key] = (predictions == labels).float().mean().item()
    return _MEASURED[key]


def _expect_weights_reach(student, folder: Path, name: str, model_class: type, target: float) -> None:
    accuracy = _test_accuracy(student, folder, name, model_class)
    if accuracy < target:
        fail(
            f"{name} ({model_class.__name__}) reaches {accuracy:.2%} on the grader's 10,000 test images; the target is "
            f"{target:.0%}: train for EPOCHS epochs with the notebook's settings, and check the loops"
        )


@part("trained")
@points(3)
def test_cnn_weights_reach_the_target(student, submission_folder):
    """week4_cnn.pt, loaded into NetCNN, reaches 85% on the grader's Fashion-MNIST test set"""
    _expect_weights_reach(student, submission_folder, "week4_cnn.pt", NetCNN, CNN_TARGET)


@part("trained")
@points(1)
def test_cnn_weights_are_trained(student, submission_folder):
    """week4_cnn.pt reaches at least 75%: trained, if short of the target"""
    _expect_weights_reach(student, submission_folder, "week4_cnn.pt", NetCNN, CNN_FLOOR)


@part("trained")
@points(2)
def test_ff_weights_reach_the_target(student, submission_folder):
    """week4_ff.pt, loaded into NetFF, reaches 82% on the grader's Fashion-MNIST test set"""
    _expect_weights_reach(student, submission_folder, "week4_ff.pt", NetFF, FF_TARGET)
