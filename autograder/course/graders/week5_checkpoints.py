"""Hidden graders for week 5, saving and loading models.

Files the student's code writes are read back only in the student's own process, with
``torch.load(..., weights_only=True)``, and only their tensors come back here: nothing the student wrote is ever
unpickled in the grader's process. Files the grader makes (weights, checkpoints, a "GPU" file, PNG images) are made
here in memory and written into a folder of the student's scratch space (``student.folder()``), the only place its
process can read or write. References are computed here with the notebook's architecture, rebuilt below.
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image
from torch import nn

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
    student_device,
)
from autograder.running.limits import StudentError

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CHECKPOINT_KEYS = {"epoch", "model_state_dict", "optimizer_state_dict", "loss"}


class SmallNet(nn.Module):
    """The notebook's SmallNet, for references."""

    def __init__(self, dropout: float = 0.5):
        super().__init__()
        self.fc1 = nn.Linear(784, 64)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(F.relu(self.fc1(x.flatten(1)))))


def _reference_model(state: dict, dropout: float = 0.5) -> SmallNet:
    """The notebook's architecture holding ``state``, in evaluation mode."""
    model = SmallNet(dropout)
    model.load_state_dict(state)
    return model.eval()


def _weights(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return SmallNet().state_dict()


def _batches(seed: int, count: int = 6) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.rand(8, 1, 28, 28, generator=generator), torch.randint(0, 10, (8,), generator=generator))
        for _ in range(count)
    ]


def _saved(value: object) -> bytes:
    """What torch.save writes for ``value``."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


class _Trap:
    """Unpickled, it writes a file: proof that torch.load ran code from the file, as it does without
    weights_only=True. Pickling it (here, in the grader's process) runs nothing."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def _expect_no_code_run(student, loader: str, saved: object, *extra: object) -> None:
    """``loader(path, *extra)`` on a file that holds, beside its tensors, an object whose unpickling runs code:
    with weights_only=True it is refused (any error is fine); without, the code runs, and that is what fails."""
    with student.folder() as folder:
        trap = dict(saved) if isinstance(saved, dict) else {"value": saved}
        trap["extra"] = _Trap(folder / "code-ran")
        path = folder.write("from-someone-else.pt", _saved(trap))
        try:
            getattr(student, loader)(path, *extra)
        except StudentError:
            pass  # refused: what weights_only=True does with such a file
        if folder.exists("code-ran"):
            fail(
                f"{loader}(path) ran code hidden in the file it loaded: load with torch.load(..., weights_only=True), "
                "which refuses anything but tensors and plain containers"
            )


def _student_model(student, state: dict, dropout: float = 0.5):
    """A SmallNet built by the notebook's own class, in the student's process, holding ``state``."""
    model = student.SmallNet.handle(dropout=dropout)
    model.load_state_dict.handle(state)
    return model


def _student_sgd(student, model):
    return student.torch.attr("optim").attr("SGD").handle(model.parameters.handle(), lr=0.1, momentum=0.9)


_NOT_THE_OBJECT = "save plain tensors and containers (a state_dict), not the model object"


def _expect_small_net(model, what: str) -> None:
    if model.type_name != "SmallNet":
        fail(f"{what} returned a {model.type_name or 'value'}, expected a SmallNet: build one, then load_state_dict")


def _expect_state(saved, reference: dict, what: str, atol: float = 0.0) -> None:
    """A state_dict with the reference's names and tensors (exactly, unless ``atol`` allows training's rounding)."""
    if not isinstance(saved, dict):
        fail(f"{what} holds a {type(saved).__name__}, expected a state_dict (a dictionary of tensors)")
    expect_equal(sorted(saved), sorted(reference), f"{what}: the parameter names", stated=True)
    for name, tensor in reference.items():
        expect_close(saved[name], tensor, f"{what}[{name!r}]", rtol=0, atol=atol)


# -- 1. weights in, weights out ---------------------------------------------------------------------------------


@part("weights")
@points(2)
def test_save_weights_writes_the_state_dict(student):
    """save_weights writes exactly the model's state_dict, loadable with weights_only=True"""
    state = _weights(11)
    model = _student_model(student, state)
    with student.folder() as folder:
        path = folder / "weights.pt"
        with hint_on_error({"ickl": "save model.state_dict(), not the model object"}):
            student.save_weights(model, path)
        if not folder.exists("weights.pt"):
            fail("save_weights(model, path) wrote no file at path")
        saved = load_student_file(student, path, "the file save_weights wrote", _NOT_THE_OBJECT)
    _expect_state(saved, state, "the file save_weights wrote")


@part("weights")
@points(2)
def test_load_weights_predicts_like_the_saved_model(student):
    """load_weights returns a SmallNet in eval mode that predicts exactly as the saved one"""
    state = _weights(12)
    reference = _reference_model(state)
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    with student.folder() as folder:
        model = student.load_weights.handle(folder.write("weights.pt", _saved(state)))
        _expect_small_net(model, "load_weights(path)")
        if model.attr("training") is not False:
            fail("load_weights(path) returned a model in training mode: call model.eval(), or dropout stays on")
        out = expect_tensor(model(x), "load_weights(path)(<tensor of shape (6, 1, 28, 28)>)", shape=(6, 10))
    with torch.no_grad():
        expect_close(out, reference(x), "load_weights(path)(<tensor of shape (6, 1, 28, 28)>)")
    _expect_no_code_run(student, "load_weights", state)


# -- 2. checkpoints ----------------------------------------------------------------------------------------------


@part("checkpoint")
@points(2)
def test_checkpoint_holds_epoch_model_optimizer_and_loss(student):
    """save_checkpoint writes epoch, model_state_dict, optimizer_state_dict and loss"""
    model = _student_model(student, _weights(21), dropout=0.0)
    optimizer = _student_sgd(student, model)
    student.train_steps(model, optimizer, _batches(5, 2))
    with student.folder() as folder:
        path = folder / "checkpoint.pt"
        student.save_checkpoint(path, model, optimizer, 7, 0.25)
        if not folder.exists("checkpoint.pt"):
            fail("save_checkpoint(path, ...) wrote no file at path")
        saved = load_student_file(student, path, "the checkpoint", _NOT_THE_OBJECT)
    if not isinstance(saved, dict):
        fail(f"the checkpoint holds a {type(saved).__name__}, expected a dictionary")
    missing, extra = CHECKPOINT_KEYS - set(saved), set(saved) - CHECKPOINT_KEYS
    if missing:
        hint = " (without the optimizer's state, resumed training loses its momentum)" * (
            "optimizer_state_dict" in missing
        )
        fail(f"the checkpoint lacks {sorted(missing)}{hint}; it has {sorted(map(str, saved))}")
    if extra:
        fail(f"the checkpoint has unexpected keys {sorted(map(str, extra))}: use exactly {sorted(CHECKPOINT_KEYS)}")
    expect_equal(saved["epoch"], 7, "the checkpoint's epoch", stated=True)
    expect_float(saved["loss"], 0.25, "the checkpoint's loss", stated=True)
    _expect_state(saved["model_state_dict"], model.state_dict(), "the checkpoint's model_state_dict")
    buffers = saved["optimizer_state_dict"].get("state", {}) if isinstance(saved["optimizer_state_dict"], dict) else {}
    if not buffers:
        fail("the checkpoint's optimizer_state_dict has no state: save optimizer.state_dict() after training steps")


@part("checkpoint")
@points(2)
def test_resumed_training_matches_uninterrupted_training(student):
    """three steps, save, load into a fresh model and optimizer, three more: same as six steps straight"""
    start, batches = _weights(31), _batches(6)
    straight_losses, straight_state = _train_reference(start, batches, resume_optimizer=True)
    forgetful_losses, _ = _train_reference(start, batches, resume_optimizer=False)

    first = _student_model(student, start, dropout=0.0)
    first_optimizer = _student_sgd(student, first)
    losses = list(student.train_steps(first, first_optimizer, batches[:3]))
    second = _student_model(student, _weights(32), dropout=0.0)
    second_optimizer = _student_sgd(student, second)
    with student.folder() as folder:
        student.save_checkpoint(folder / "checkpoint.pt", first, first_optimizer, 3, losses[-1])
        student.load_checkpoint(folder / "checkpoint.pt", second, second_optimizer)
    losses += list(student.train_steps(second, second_optimizer, batches[3:]))
    got = torch.tensor(losses, dtype=torch.float64)
    if torch.allclose(got, torch.tensor(forgetful_losses, dtype=torch.float64), rtol=0, atol=1e-5):
        fail(
            "resumed training went differently from uninterrupted training after the load: the optimizer's state "
            "(momentum) was not restored; save and load optimizer.state_dict()"
        )
    expect_close(
        got, torch.tensor(straight_losses, dtype=torch.float64), "the losses of the resumed run", rtol=0, atol=1e-5
    )
    _expect_state(second.state_dict(), straight_state, "the weights after the resumed run", atol=1e-5)


def _train_reference(start: dict, batches: list, resume_optimizer: bool) -> tuple[list[float], dict]:
    model = _reference_model(start, dropout=0.0).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for number, (x, y) in enumerate(batches):
        if number == 3 and not resume_optimizer:
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, model.state_dict()


@part("checkpoint")
@points(1)
def test_load_checkpoint_restores_in_place_and_returns_epoch_and_loss(student):
    """load_checkpoint fills the given model and optimizer and returns (epoch, loss)"""
    state = _weights(41)
    optimizer = torch.optim.SGD(_reference_model(state, dropout=0.0).parameters(), lr=0.1, momentum=0.9)
    checkpoint = {"epoch": 11, "model_state_dict": state, "optimizer_state_dict": optimizer.state_dict(), "loss": 0.5}
    model = _student_model(student, _weights(42), dropout=0.0)
    with student.folder() as folder:
        path = folder.write("checkpoint.pt", _saved(checkpoint))
        got = student.load_checkpoint(path, model, _student_sgd(student, model))
    expect_equal(got, (11, 0.5), "load_checkpoint(path, model, optimizer)", stated=True)
    _expect_state(model.state_dict(), state, "the model after load_checkpoint")
    fresh = _student_model(student, _weights(43), dropout=0.0)
    _expect_no_code_run(student, "load_checkpoint", checkpoint, fresh, _student_sgd(student, fresh))


# -- 3. a GPU's file on a CPU -------------------------------------------------------------------------------------

_SAVING_AS_CUDA: list[str | None] = [None]


def _cuda_tag(storage: object) -> str | None:
    return _SAVING_AS_CUDA[0]


if not getattr(torch.serialization, "_dlgrade_cuda_tag", False):  # the graders may be imported more than once
    torch.serialization.register_package(0, _cuda_tag, lambda obj, location: None)
    torch.serialization._dlgrade_cuda_tag = True


def _saved_as_if_on_gpu(value: object, device: str = "cuda:0") -> bytes:
    """``value`` as a GPU machine saves it: every tensor tagged ``device`` (no GPU needed here). Graders tag
    devices no runner has (``cuda:7``), so that a file loads onto the GPU on no machine: the same verdict on a GPU
    runner as on a CPU one."""
    _SAVING_AS_CUDA[0] = device
    try:
        return _saved(value)
    finally:
        _SAVING_AS_CUDA[0] = None


MAP_LOCATION = "pass map_location='cpu' to torch.load: the file asks for a GPU this machine need not have"


@part("cpu_loading")
@points(2)
def test_load_to_cpu_reads_a_file_saved_on_a_gpu(student):
    """load_to_cpu loads state_dicts saved on any GPU, cuda:7 or cuda:3, with every tensor on the CPU, safely"""
    state = _weights(51)
    for device in ("cuda:7", "cuda:3"):
        what = f"load_to_cpu(<a state_dict saved on {device}>)"
        with student.folder() as folder:
            path = folder.write("gpu_weights.pt", _saved_as_if_on_gpu(state, device))
            with hint_on_error({"CUDA": f"{what}: {MAP_LOCATION}", "cuda": f"{what}: {MAP_LOCATION}"}, replace=True):
                loaded = student.load_to_cpu(path)
        if not isinstance(loaded, dict):
            fail(f"{what} returned a {type(loaded).__name__}, expected the saved state_dict")
        for name, tensor in loaded.items():
            if isinstance(tensor, torch.Tensor) and student_device(tensor) != "cpu":
                fail(f"{what}[{name!r}] is on {student_device(tensor)}, expected the CPU: {MAP_LOCATION}")
        _expect_state(loaded, state, what)
    _expect_no_code_run(student, "load_to_cpu", state)


# -- 4. labelling a folder of images ------------------------------------------------------------------------------


def _reference_labels(state: dict, images: dict[str, bytes], normalise: bool = True) -> dict:
    """{name: label} as the notebook's pipeline gives them, for the PNG files ``images`` (name: content)."""
    model = _reference_model(state)
    with torch.no_grad():
        return {name: int(model(_pixels(data, normalise)).argmax(dim=1).item()) for name, data in images.items()}


def _pixels(png: bytes, normalise: bool = True) -> torch.Tensor:
    image = Image.open(io.BytesIO(png)).convert("L").resize((28, 28))
    pixels = torch.tensor(np.asarray(image), dtype=torch.float32) / 255
    return ((pixels - MNIST_MEAN) / MNIST_STD if normalise else pixels).reshape(1, 1, 28, 28)


def _digit_images(
    count: int, seed: int, size: int = 28, mode: str = "L", brightest: int = 255, kind: str = "PNG"
) -> dict[str, bytes]:
    """``count`` drawings of random strokes (no pixel brighter than ``brightest``), as ``kind`` files, by name."""
    rng = np.random.default_rng(seed)
    images = {}
    for number in range(count):
        shape = (size, size, 3) if mode == "RGB" else (size, size)
        strokes = (rng.random(shape) > 0.7) * rng.integers(brightest // 2, brightest + 1, shape)
        buffer = io.BytesIO()
        Image.fromarray(strokes.astype(np.uint8), mode=mode).save(buffer, format=kind)
        images[f"digit{seed}_{number}.{kind.lower().replace('jpeg', 'jpg')}"] = buffer.getvalue()
    return images


def _knife_edge_images(state: dict, count: int = 2, seed: int = 8) -> dict[str, bytes]:
    """Drawings this model labels one way when scaled by 255 and another when scaled by 254 or 256: a pipeline that
    is off by a step (a divisor, a missing normalisation) shows on them, where labels of most drawings survive it."""
    rng = np.random.default_rng(seed)
    strokes = ((rng.random((2000, 28, 28)) > 0.7) * rng.integers(128, 256, (2000, 28, 28))).astype(np.uint8)
    pixels = torch.tensor(strokes, dtype=torch.float32).unsqueeze(1)
    model = _reference_model(state)
    with torch.no_grad():
        labels = [model((pixels / divisor - MNIST_MEAN) / MNIST_STD).argmax(dim=1) for divisor in (255, 254, 256)]
    edges = {index for other in labels[1:] for index in (labels[0] != other).nonzero().flatten()[:count].tolist()}
    images = {}
    for index in sorted(edges):
        buffer = io.BytesIO()
        Image.fromarray(strokes[index], mode="L").save(buffer, format="PNG")
        images[f"edge{index}.png"] = buffer.getvalue()
    return images


def _predictions(student, folder, images: dict[str, bytes], state: dict, what: str) -> tuple[dict, object]:
    """predict_folder's labels for a folder holding ``images`` (and whatever else the caller put there), and a
    record (a hook on the model) of whether autograd was recording while it predicted."""
    for name, data in images.items():
        folder.write(name, data)
    model = _student_model(student, state)
    model.train.handle()  # as a model is after training: the function must switch it to eval()
    log = student.tool("GradModeLog").handle()
    model.register_forward_pre_hook.handle(log)
    labels = student.predict_folder(model, folder.path)
    if not isinstance(labels, dict):
        fail(f"{what} returned a {type(labels).__name__}, expected a dict of file name to label")
    return labels, log


def _expect_without_autograd(log, what: str) -> None:
    if any(log.attr("seen")):
        fail(f"{what} ran the model with autograd recording: predict inside `with torch.no_grad():`")


def _expect_labels(got: dict, images: dict[str, bytes], state: dict, what: str) -> None:
    expected = _reference_labels(state, images)
    expect_equal(sorted(map(str, got)), sorted(expected), f"{what}: the file names", stated=True)
    wrong = [name for name, label in expected.items() if got[name] != label]
    if not wrong:
        return
    unnormalised = _reference_labels(state, images, normalise=False)
    if all(got[name] == unnormalised[name] for name in expected):
        hint = ": the images were not normalised with MNIST's mean 0.1307 and std 0.3081"
    else:
        hint = ": check the steps (grey, 28x28, /255, normalise) and that the model is in eval() mode"
    fail(f"{what}: {len(wrong)} of {len(expected)} labels differ from the reference{hint}")


@part("predict_folder")
@points(2)
def test_predict_folder_labels_every_png(student):
    """predict_folder labels 28x28 grey PNGs exactly as the reference pipeline does, faint drawings too, under
    no_grad"""
    state = _weights(61)
    sets = (
        (_digit_images(8, seed=1), "PNG files"),
        (_digit_images(4, seed=7, brightest=150), "faint"),
        (_knife_edge_images(state), "borderline"),
    )
    for images, kind in sets:
        what = f"predict_folder(model, <folder of {len(images)} {kind} PNG files>)".replace("PNG files PNG", "PNG")
        with student.folder() as folder:
            labels, log = _predictions(student, folder, images, state, what)
        _expect_labels(labels, images, state, what)
        _expect_without_autograd(log, what)


@part("predict_folder")
@points(1)
def test_predict_folder_converts_colour_and_size(student):
    """predict_folder makes colour and larger drawings grey and 28x28 first"""
    state, images = _weights(62), {**_digit_images(3, seed=2, mode="RGB"), **_digit_images(3, seed=3, size=40)}
    what = "predict_folder(model, <folder of RGB and 40x40 PNG files>)"
    with student.folder() as folder:
        labels, _ = _predictions(student, folder, images, state, what)
    _expect_labels(labels, images, state, what)


@part("predict_folder")
@points(1)
def test_predict_folder_ignores_other_files(student):
    """predict_folder labels only the PNG files directly in the folder, not other files or images"""
    state = _weights(63)
    with student.folder() as folder:
        folder.write("notes.txt", b"not an image")
        folder.write("digits.csv", b"1,2,3\n")
        for name, data in _digit_images(1, seed=6, kind="JPEG").items():
            folder.write(name, data)
        for name, data in _digit_images(1, seed=5).items():
            folder.write(f"drafts/{name}", data)
        what = "predict_folder(model, <folder with other files>)"
        labels, _ = _predictions(student, folder, _digit_images(2, seed=4), state, what)
    expect_equal(
        sorted(map(str, labels)), ["digit4_0.png", "digit4_1.png"], "predict_folder: the file names", stated=True
    )
    if not all(isinstance(label, int) and not isinstance(label, bool) for label in labels.values()):
        fail("predict_folder: each label should be an int (use .item() on the arg-max)")
