"""Small instruments the graders build inside the student's process (``student.tool(name)``).

Some questions cannot be asked from outside: whether autograd was recording while the student's ``evaluate``
ran, or what a loop does to a model whose train and eval modes differ. These are the course's own objects,
built where the student's code runs and then handed to it; the graders build the same ones in their own process
for references. Only the names in ``TOOLS`` can be asked for.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class GradModeLog:
    """A forward pre-hook that records whether autograd was recording at each forward pass."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def __call__(self, module: nn.Module, args: tuple) -> None:
        self.seen.append(torch.is_grad_enabled())


def batchnorm_classifier(seed: int, classes: int = 10) -> nn.Sequential:
    """784-32-classes with batch norm, seeded: its train and eval modes differ, deterministically."""
    with torch.random.fork_rng(devices=[]):  # the student's random stream is theirs: leave it as it was
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 32),
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.Linear(32, classes),
            nn.LogSoftmax(dim=1),
        )


def lenet(seed: int) -> nn.Sequential:
    """The course's NetCNN as one Sequential (same layers, same order), seeded; independent of the student's."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(1, 20, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(800, 500),
            nn.ReLU(),
            nn.Linear(500, 10),
            nn.LogSoftmax(dim=1),
        )


def tensor_loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> DataLoader:
    """Batches in a fixed order, so that the grader can replay them exactly."""
    return DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=False)


def parameters_with_gradients(model: nn.Module) -> list[str]:
    """Names of the parameters that hold a gradient."""
    return [name for name, parameter in model.named_parameters() if parameter.grad is not None]


def parameter_names(model: nn.Module) -> list[str]:
    """What the model trains: its parameters' names (not its buffers, not plain tensor attributes)."""
    return [name for name, _ in model.named_parameters()]


def tensor_dataset(images: torch.Tensor, labels: torch.Tensor) -> TensorDataset:
    return TensorDataset(images, labels)


# -- how the student's code did a thing, where the text says how it must be done -----------------------------------


def with_cuda_available(available: bool, function: Callable, *args: Any, **kwargs: Any) -> Any:
    """``function(*args)`` as it runs where ``torch.cuda.is_available()`` answers ``available``: both branches of
    device code graded on every runner, with no GPU needed for the one and none hidden for the other."""
    original = torch.cuda.is_available
    torch.cuda.is_available = lambda: available
    try:
        return function(*args, **kwargs)
    finally:
        torch.cuda.is_available = original


def calls_during(watched: list[str], function: Callable, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, int]]:
    """``function(*args)``'s result, and how often it called each of ``watched`` meanwhile: dotted names such as
    ``torch.relu``, ``torch.Tensor.backward``, ``torch.nn.functional.conv2d`` or ``__main__.perceptron`` (the
    notebook's own function)."""
    counts = dict.fromkeys(watched, 0)
    undo: list[Callable[[], None]] = []
    for name in watched:
        owner_name, attribute = name.rsplit(".", 1)
        owner = _resolve(owner_name)
        if owner is None or not hasattr(owner, attribute):
            continue
        original = getattr(owner, attribute)

        def counting(*call_args: Any, _name: str = name, _original: Callable = original, **call_kwargs: Any) -> Any:
            counts[_name] += 1
            return _original(*call_args, **call_kwargs)

        undo.append(_restorer(owner, attribute))
        setattr(owner, attribute, counting)
    try:
        result = function(*args, **kwargs)
    finally:
        for restore in reversed(undo):
            restore()
    return result, counts


def lines_run(function: Callable, *args: Any, **kwargs: Any) -> tuple[Any, int, bool]:
    """``function(*args)``'s result, how many lines of the notebook's own code ran meanwhile (a Python loop over
    pixels runs thousands), and whether tracing was still on at the end (code that turns it off is not trusted)."""
    count = [0]

    def local(frame: Any, event: str, arg: Any) -> Callable:
        if event == "line":
            count[0] += 1
        return local

    def tracer(frame: Any, event: str, arg: Any) -> Callable | None:
        name = frame.f_code.co_filename
        return local if name.startswith("<") and not name.startswith("<frozen") else None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = function(*args, **kwargs)
        intact = sys.gettrace() is tracer
    finally:
        sys.settrace(previous)
    return result, count[0], intact


def placed_type(problems: list[str]) -> type[torch.Tensor]:
    """A tensor type whose tensors say where they are (``where``) and stay on the CPU, computing as usual:
    ``.to(device)``, ``.cuda()`` and ``.cpu()`` change only what they say, results say where their inputs were, and
    an operation on tensors of two places, which a GPU refuses, is recorded in ``problems``. The GPU branch of the
    student's code runs this way on any machine, without the meta device's slow first operation."""

    class Placed(torch.Tensor):
        where = "cpu"

        @classmethod
        def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            kwargs = kwargs or {}
            with torch._C.DisableTorchFunctionSubclass():  # looking at the tensors must not come back here
                if func in (torch.Tensor.to, torch.Tensor.cuda, torch.Tensor.cpu):
                    where = _device_asked(func, args, kwargs) or args[0].where
                    return place(_moved(func, args, kwargs), where, cls)
                places = {t.where for t in _tensors(args, kwargs) if isinstance(t, Placed) and t.dim() > 0}
                if len(places) > 1:
                    operation = getattr(func, "__name__", "an operation")
                    problems.append(f"{operation} of tensors on {' and '.join(sorted(places))}")
                result = func(*args, **kwargs)
            return place_all(result, places.pop() if len(places) == 1 else None, cls)

    return Placed


def place(tensor: torch.Tensor, where: str, kind: type[torch.Tensor]) -> torch.Tensor:
    """``tensor`` as a ``kind`` (a ``placed_type``) that says it is on ``where``."""
    placed = tensor.as_subclass(kind)
    placed.where = where
    return placed


def place_all(result: Any, where: str | None, kind: type[torch.Tensor]) -> Any:
    if where is None:
        return result
    if isinstance(result, torch.Tensor) and not isinstance(result, nn.Parameter):
        return place(result, where, kind)
    if type(result) in (tuple, list):
        return type(result)(place_all(item, where, kind) for item in result)
    return result


def where_result_goes(function: Callable[[torch.Tensor], Any], tensor: torch.Tensor, device: str) -> tuple[str, Any]:
    """``function(tensor)`` with ``tensor`` saying it is on ``device``: where its result says it is (``not a
    tensor`` otherwise), and the result itself, as a plain tensor."""
    out = function(place(tensor, device, placed_type([])))
    if not isinstance(out, torch.Tensor):
        return "not a tensor", out
    return getattr(out, "where", "cpu"), out.as_subclass(torch.Tensor)


class DeviceRecording:
    """The GPU branch of a loop, graded on any machine: the model and a loader's batches act as if on ``device``
    (say ``meta``) while they stay on the CPU and compute as usual (``placed_type``).

    Each batch starts where a loader makes it, on the CPU; ``.to(device)``, ``.cuda()`` and ``.cpu()`` change only
    where it says it is. The model is on ``device`` (its ``.to()`` too only changes that), and its outputs are
    there. ``problems`` records what a real GPU would refuse: the model given inputs from elsewhere, or an operation
    on tensors of two devices (the loss of outputs on the GPU and labels on the CPU)."""

    def __init__(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int, device: str):
        self.problems: list[str] = []
        self.model_device = device
        problems = self.problems
        Placed = placed_type(problems)  # noqa: N806 - a class

        def check_inputs(module: nn.Module, args: tuple) -> None:
            for tensor in _tensors(args, {}):
                if isinstance(tensor, Placed) and tensor.where != self.model_device:
                    problems.append(f"the model (on {self.model_device}) was given inputs on {tensor.where}")
                elif not isinstance(tensor, Placed) and self.model_device != "cpu":
                    problems.append(f"the model (on {self.model_device}) was given inputs on cpu")

        def place_outputs(module: nn.Module, args: tuple, output: Any) -> Any:
            return place_all(output, self.model_device, Placed)

        def moved_to(*args: Any, **kwargs: Any) -> nn.Module:
            self.model_device = _device_asked(torch.Tensor.to, (None, *args), kwargs) or self.model_device
            return model

        model.register_forward_pre_hook(check_inputs)
        model.register_forward_hook(place_outputs)
        model.to = moved_to
        model.cuda = lambda *args, **kwargs: moved_to("cuda")

        class PlacedLoader(DataLoader):
            def __iter__(self) -> Any:
                for batch_images, batch_labels in super().__iter__():
                    yield place(batch_images, "cpu", Placed), place(batch_labels, "cpu", Placed)

        self.loader = PlacedLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=False)


def _moved(func: Any, args: tuple, kwargs: dict) -> torch.Tensor:
    """What ``.to()`` makes of a tensor here, its dtype changed if asked, its memory where it was."""
    plain = args[0].as_subclass(torch.Tensor)
    if func is torch.Tensor.to:
        dtype = torch._C._nn._parse_to(*args[1:], **kwargs)[1]
        return plain.to(dtype) if dtype is not None else plain
    return plain


def _device_asked(func: Any, args: tuple, kwargs: dict) -> str | None:
    if func is torch.Tensor.cuda:
        return "cuda"
    if func is torch.Tensor.cpu:
        return "cpu"
    device = torch._C._nn._parse_to(*args[1:], **kwargs)[0]
    return None if device is None else device.type


def _tensors(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found += _tensors(tuple(value), {})
    return found


def _resolve(dotted: str) -> Any:
    """The module, class or object named ``dotted`` (``__main__`` is the notebook's namespace), or None."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        try:
            found: Any = sys.modules["__main__"] if module_name == "__main__" else importlib.import_module(module_name)
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute, None)
        return found
    return None


def _restorer(owner: Any, attribute: str) -> Callable[[], None]:
    """How to put ``owner.attribute`` back as it was: its own value, or inherited (then the override is deleted)."""
    own = vars(owner).get(attribute, _MISSING) if hasattr(owner, "__dict__") else _MISSING
    if own is _MISSING:
        return lambda: delattr(owner, attribute)
    return lambda: setattr(owner, attribute, own)


_MISSING = object()


# -- files: the grader's files reach the student's code only through its own scratch space ------------------------


def make_folder() -> str:
    """A new, empty folder in the student's scratch space (the only place its process can write)."""
    return tempfile.mkdtemp(prefix="files-")


def write_file(path: str, data: bytes) -> None:
    """Write a file the grader made (weights, a checkpoint, images) where the student's code will read it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def is_file(path: str) -> bool:
    return Path(path).is_file()


def remove_folder(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


TOOLS = {
    tool.__name__: tool
    for tool in (
        GradModeLog,
        batchnorm_classifier,
        lenet,
        parameters_with_gradients,
        parameter_names,
        tensor_loader,
        tensor_dataset,
        make_folder,
        write_file,
        is_file,
        remove_folder,
        with_cuda_available,
        calls_during,
        lines_run,
        where_result_goes,
        DeviceRecording,
    )
}
