"""The sample submissions the main job grades: each scores what its mistakes cost, says why, and is a stub a
student filled in (the released read-only cells untouched), so the demo shows real feedback on real work."""

from __future__ import annotations

import nbformat
import pytest
from helpers import grade, is_answer

from autograder.course.weeks import REPO_DIR, WEEKS

# Per week: the parts the sample loses points in, as (score, out of), and a line of feedback from each.
LOSSES = {
    "week1_tensors": {
        "storage_facts": (1, 2, "use the tensor's own element_size(), not a fixed 4 bytes"),
        "flatten_images": (2, 3, "view() needs contiguous memory; reshape() or flatten() handle any layout"),
        "normalize": (4, 5, "normalized_range() is not implemented yet"),
        "broadcasting": (2, 4, "that subtracts the mean of everything, not of each column"),
        "devices": (1, 2, "returned None, expected a tensor: does the function `return` its result"),
        "autograd": (0, 4, "is not implemented yet"),
    },
    "week2_linear": {
        "linear": (2, 7, "is W transposed? x @ W needs W as (in, out)"),
        "activations": (8, 9, "e^1000 overflows: subtract each row's maximum before exponentiating"),
        "mlp": (0, 3, "MLP() is not implemented yet"),
    },
    "week3_conv": {
        "shapes": (3, 4, "padding=1 keeps the size through each 3x3 convolution"),
        "conv2d": (0, 5, "is not implemented yet"),
        "pooling": (1, 2, "that is each window's sum"),
        "filters": (1, 2, "apply_filter(<tensor of shape (20, 15), float32>"),
    },
    "week4_cnn": {
        "evaluate": (3, 5, "the loss is the training-mode one: call model.eval() first"),
        "confusion": (0, 3, "the matrix is transposed"),
        "trained": (0, 6, "week4_cnn.pt was not handed in: run section 6"),
    },
    "week5_checkpoints": {
        "weights": (2, 4, "returned a model in training mode: call model.eval()"),
        "checkpoint": (3, 5, "the optimizer's state (momentum) was not restored"),
        "predict_folder": (0, 4, "is not implemented yet"),
    },
}


def _sample(week: str):
    return REPO_DIR / "samples" / week / "student_partial.ipynb"


def test_every_week_has_a_sample():
    """Does the main job grade a realistic student submission for every week?"""
    assert sorted(LOSSES) == sorted(WEEKS)
    assert all(_sample(week).is_file() for week in WEEKS)


@pytest.mark.parametrize("week", list(WEEKS))
def test_sample_loses_exactly_what_its_mistakes_cost(week):
    """Does each sample keep every point of its working parts, lose the stated points elsewhere, and say why?"""
    report = grade(_sample(week), week)
    by_part = report.by_part()
    for part, (score, maximum, feedback) in LOSSES[week].items():
        assert by_part.pop(part) == (score, maximum), part
        outputs = "\n".join(t.output for t in report.tests if t.part == part)
        assert feedback in outputs, (part, outputs)
    assert all(got == most for got, most in by_part.values()), f"points lost in working parts: {by_part}"
    lost = sum(maximum - score for score, maximum, _ in LOSSES[week].values())
    assert report.score == report.max_score - lost


@pytest.mark.parametrize("week", list(WEEKS))
def test_sample_is_the_released_stub_filled_in(week):
    """Does each sample hold the stub's cells, in order, with only the answer cells changed?"""
    stub = nbformat.read(WEEKS[week].stub, as_version=4)
    sample = nbformat.read(_sample(week), as_version=4)
    assert [c.get("id") for c in sample.cells] == [c.get("id") for c in stub.cells]
    for mine, released in zip(sample.cells, stub.cells, strict=True):
        assert mine.metadata.get("nbgrader") == released.metadata.get("nbgrader")
        if not is_answer(released):
            assert mine.source == released.source, mine.get("id")
    assert any(m.source != r.source for m, r in zip(sample.cells, stub.cells, strict=True) if is_answer(r))
