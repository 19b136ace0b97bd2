"""Assertions for graders whose failure messages a student can act on.

Each check says what was expected, what came, and, where a grader knows the usual mistake behind a wrong
answer, what it suggests. Values are compared with ``torch.testing.assert_close``'s default tolerances for
the student's dtype (float32: rtol 1.3e-6, atol 1e-5), widened only where a grader says so. The comparison
itself is ``torch.isclose``: assert_close imports torch.distributed on first use, 1.7 s per grading.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import torch

from autograder.judging import disclosure
from autograder.running.limits import StudentError
from autograder.sandbox.wire import tensor_info

DEFAULT_TOLERANCES = {  # (rtol, atol), as torch.testing.assert_close uses them
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
    torch.complex64: (1.3e-6, 1e-5),
    torch.complex128: (1e-7, 1e-7),
}


class Mismatch(AssertionError):
    """A student's answer is wrong; the message is the feedback. ``reference`` says what the right answer is, for
    the ``open`` feedback level only (``autograder.judging.disclosure``)."""

    def __init__(self, message: str, reference: str = ""):
        super().__init__(message)
        self.reference = reference


def points(value: float) -> pytest.MarkDecorator:
    """How many points a grader test is worth."""
    return pytest.mark.points(value)


def part(name: str) -> pytest.MarkDecorator:
    """Which part of the notebook (its nbgrader ``grade_id``) a grader test belongs to."""
    return pytest.mark.part(name)


def fail(message: str, reference: str = "") -> None:
    """The test fails with ``message`` as its feedback; ``reference``: the right answer, shown at the open level."""
    raise Mismatch(message, reference)


@contextmanager
def hint_on_error(hints: Mapping[str, str], replace: bool = False) -> Iterator[None]:
    """Where the student's code raises an error whose message holds a clue, add the fix that clue points to:
    PyTorch's "mat1 and mat2 shapes cannot be multiplied" says what failed, not which tensor to turn round.
    ``replace``: the hint is the whole message (one message for one mistake, whatever the machine says)."""
    try:
        yield
    except StudentError as exc:
        for clue, hint in hints.items():
            if clue in str(exc):
                fail(hint if replace else f"{exc}: {hint}")
        raise


def load_student_file(student, path: str, what: str, fix: str) -> Any:
    """A file the student wrote, unpickled in the student's own process with ``weights_only=True``: never in the
    grader's, whose memory holds the references. Only plain data and tensors come back; a refusal is feedback."""
    try:
        return student.torch.attr("load")(path, map_location="cpu", weights_only=True)
    except StudentError as exc:
        fail(f"{what}: torch.load(..., weights_only=True) refused the file ({str(exc)[-160:]}): {fix}")


def expect_tensor(
    value: Any,
    what: str,
    shape: tuple[int, ...] | None = None,
    dtype: torch.dtype | None = None,
    shape_hints: Mapping[tuple[int, ...], str] | None = None,
    dtype_hint: str | None = None,
    on_meta: bool = False,
) -> torch.Tensor:
    """``value`` is a tensor, of ``shape`` and ``dtype`` if given; returns it for further checks.

    ``on_meta``: the question asked for a tensor on the meta device; elsewhere one is refused, having no values."""
    if value is None:
        fail(f"{what} returned None, expected a tensor: does the function `return` its result (not print it)?")
    if not isinstance(value, torch.Tensor):
        fail(f"{what} returned a {_type_name(value)}, expected a torch.Tensor")
    if not on_meta and student_device(value) == "meta":
        fail(f"{what} returned a tensor on the meta device, which has a shape but no values: compute on the input")
    if shape is not None and tuple(value.shape) != tuple(shape):
        hint = (shape_hints or {}).get(tuple(value.shape))
        if hint is None and sorted(value.shape) == sorted(shape) and value.dim() >= 2:
            hint = "are two dimensions swapped (a transpose, or the wrong order in view/reshape)?"
        fail(f"{what}: expected shape {tuple(shape)}, got {tuple(value.shape)}" + (f": {hint}" if hint else ""))
    if dtype is not None and value.dtype != dtype:
        hint = f": {dtype_hint}" if dtype_hint else ""
        fail(f"{what}: expected dtype {_dtype(dtype)}, got {_dtype(value.dtype)}{hint}")
    return value


def expect_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    what: str,
    rtol: float | None = None,
    atol: float | None = None,
    hints: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Values agree within tolerance; on failure, name the largest difference and any matching known mistake."""
    expect_tensor(actual, what)
    if tuple(actual.shape) != tuple(expected.shape):
        hint = diagnose(actual.detach().cpu(), hints or {})
        if hint is not None:
            fail(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}: {hint}")
        expect_tensor(actual, what, shape=tuple(expected.shape))
    default_rtol, default_atol = DEFAULT_TOLERANCES.get(actual.dtype, (0.0, 0.0))
    got = actual.detach().to("cpu", torch.float64)
    want = expected.detach().to("cpu", torch.float64)
    disclosure.withhold(want)
    if bool(torch.isfinite(want).all()) and not bool(torch.isfinite(got).all()):
        index = tuple(int(i) for i in (~torch.isfinite(got)).nonzero()[0])
        hint = diagnose(got, hints or {})
        message = f"{what}: got {got[index].item()} at index {index} where a finite number was expected"
        fail(message + (f": {hint}" if hint else ""))
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    close = torch.isclose(got, want, rtol=rtol, atol=atol)
    if bool(close.all()):
        return
    # Feedback names the student's own value and how far off it is, never the reference: inputs are hidden.
    message, reference = f"{what}: {int((~close).sum())} of {close.numel()} values differ from the reference", ""
    if got.numel() and got.is_floating_point():
        diff = (got - want).abs().nan_to_num(nan=float("inf"))
        index = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
        largest, yours = diff.max().item(), got[index].item()
        message += f" (largest difference about {largest:.0e}, at index {index}, where yours is {yours:.6g})"
        reference = f"{want[index].item():.6g} at index {index}"
    hint = diagnose(got, hints or {})
    fail(message + (f": {hint}" if hint else ""), reference)


def diagnose(actual: torch.Tensor, hints: Mapping[str, torch.Tensor]) -> str | None:
    """The first hint whose tell-tale wrong answer matches ``actual``."""
    for hint, wrong in hints.items():
        if tuple(wrong.shape) == tuple(actual.shape) and torch.allclose(
            actual.to(torch.float64), wrong.to(torch.float64), rtol=1e-4, atol=1e-5, equal_nan=True
        ):
            return hint
    return None


def call_keeping_inputs(function: Any, what: str, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` in the student's process, failing if it changed a tensor the caller passed:
    its values (an in-place ``sub_``, ``-=`` or ``relu_``) or its ``requires_grad`` (autograd switched on the caller's
    tensor). Tensors travel as the caller's own objects there, so the change is seen."""
    student = function._student
    sent = [student.put(arg) if isinstance(arg, torch.Tensor) else arg for arg in args]
    result = function(*sent, **kwargs)
    for original, remote in zip(args, sent, strict=True):
        if not isinstance(original, torch.Tensor):
            continue
        after = remote.fetch()
        if isinstance(after, torch.Tensor) and after.shape == original.shape and not torch.equal(after, original):
            changed = int((after != original).sum())
            fail(
                f"{what} changed the caller's tensor in place ({changed} of {original.numel()} values): compute a new "
                "tensor (x - m), not x.sub_(m) or x -= m, which overwrite the caller's data"
            )
        info = tensor_info(after) if isinstance(after, torch.Tensor) else None
        if info is not None and info.requires_grad != original.requires_grad:
            fail(f"{what} switched requires_grad on the caller's tensor: work on a copy (x.detach().clone())")
    return result


def expect_equal(actual: Any, expected: Any, what: str, hint: str | None = None, stated: bool = False) -> None:
    """Plain Python values (ints, tuples, strings) are equal. ``stated``: the stub's text gives ``expected`` (one
    of its examples), so the feedback may name it; otherwise it is the reference, shown only at the open level."""
    disclosure.expected(expected, stated)
    wanted = f", expected {disclosure.summary(expected)}" if stated else ""
    if actual is None and expected is not None:
        fail(
            f"{what} returned None{wanted or ', expected a value'}: does the function `return` its result (not "
            "print it)?",
            disclosure.summary(expected),
        )
    if isinstance(actual, torch.Tensor) and actual.numel() == 1 and not isinstance(expected, torch.Tensor):
        actual = actual.item()
    if type(expected) is tuple and isinstance(actual, list):
        actual = tuple(actual)
    if isinstance(actual, (torch.Tensor, np.ndarray)) and not isinstance(expected, (torch.Tensor, np.ndarray)):
        shape = tuple(actual.shape)
        fail(f"{what} returned a {_type_name(actual)} of shape {shape}, expected a {_type_name(expected)}")
    if not same(actual, expected):
        got = f"got {disclosure.summary(actual)}"
        message = (
            f"{what}: expected {disclosure.summary(expected)}, {got}"
            if stated
            else f"{what}: {got}, not the right value"
        )
        fail(message + (f": {hint}" if hint else ""), "" if stated else disclosure.summary(expected))


def expect_float(
    actual: Any, expected: float, what: str, tol: float = 1e-4, hint: str | None = None, stated: bool = False
) -> None:
    """A number within ``tol`` (absolute) of ``expected``; ``stated`` as for ``expect_equal``."""
    disclosure.expected(expected, stated)
    if isinstance(actual, torch.Tensor) and actual.numel() == 1:
        actual = actual.item()
    if actual is None:
        fail(f"{what} returned None, expected a number: does the function `return` its result (not print it)?")
    if isinstance(actual, bool) or not isinstance(actual, (int, float)):
        fail(f"{what} returned a {_type_name(actual)}, expected a number")
    if not abs(actual - expected) <= tol:
        if stated:
            message = f"{what}: expected about {expected:.6g}, got {actual:.6g}"
        else:
            message = f"{what}: got {actual:.6g}, which is not within {tol:g} of the right value"
        fail(message + (f": {hint}" if hint else ""), "" if stated else f"{expected:.6g}")


def same(actual: Any, expected: Any) -> bool:
    """``actual == expected`` as a plain truth; a comparison that fails or is no truth (a student's object with an
    odd ``__eq__``, a tuple holding tensors) is inequality."""
    try:
        return bool(actual == expected)
    except Exception:  # noqa: BLE001 - whatever the student's value makes of ==, it is not the expected value
        return False


def student_device(value: torch.Tensor) -> str:
    """The device a tensor was on in the student's process."""
    info = tensor_info(value)
    return info.device if info else str(value.device)


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _type_name(value: Any) -> str:
    from autograder.judging.student import Remote

    return (value.type_name or "object") if isinstance(value, Remote) else type(value).__name__
