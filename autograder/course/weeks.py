"""The course's weeks: where each one's notebooks and graders live, and how a notebook is matched to one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.running.limits import Limits

PACKAGE_DIR = Path(__file__).resolve().parents[1]
MAX_HANDED_IN_BYTES = 20_000_000  # a handed-in file larger than this is refused (week 4's weights are under 3 MB)
REPO_DIR = PACKAGE_DIR.parent
GRADERS_DIR = PACKAGE_DIR / "course" / "graders"
SOLUTION_CELL_SECONDS = 3600
"""Longest one cell of a solution may run while it makes its handed-in files (the demo, the tests): week 4's
training takes about 2 minutes on two idle cores, and many more on a busy or throttled machine."""


@dataclass(frozen=True)
class Week:
    """One assignment: its folder name (also nbgrader's assignment id), title and grading limits.

    ``handed_in`` names the files the notebook writes that are handed in beside it (trained weights): fetching
    copies them and graders find them in the notebook's folder. ``datasets`` names the data sets its graders read
    (torchvision's names, from the data root): a Gradescope zip carries them. ``gpu_work`` marks a week whose
    notebook does work a GPU speeds up (training): ``--device auto`` grades it on a GPU where there is one, and
    every other week on the CPU, where it grades as fast and no CUDA start-up is paid (their graders test both
    device branches on any machine, so the verdicts are the same).
    """

    name: str
    title: str
    limits: Limits = field(default_factory=Limits)
    handed_in: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    gpu_work: bool = False

    @property
    def grader_file(self) -> Path:
        return GRADERS_DIR / f"{self.name}.py"

    @property
    def solution(self) -> Path:
        return REPO_DIR / "solutions" / self.name / f"{self.name}.ipynb"

    @property
    def stub(self) -> Path:
        return REPO_DIR / "assignments" / self.name / f"{self.name}.ipynb"


WEEKS: dict[str, Week] = {
    week.name: week
    for week in [
        Week("week1_tensors", "Tensor operations", Limits(call_seconds=10, cell_seconds=60, total_seconds=300)),
        Week(
            "week2_linear",
            "Neurons and layers as matrix multiplication",
            Limits(call_seconds=10, cell_seconds=60, total_seconds=300),
        ),
        Week(
            "week3_conv",
            "Convolution and pooling arithmetic",
            Limits(call_seconds=20, cell_seconds=60, total_seconds=300),
        ),
        Week(
            "week4_cnn",
            "Training a CNN",
            Limits(call_seconds=60, cell_seconds=120, total_seconds=600),
            handed_in=("week4_cnn.pt", "week4_ff.pt"),
            datasets=("FashionMNIST",),
            gpu_work=True,
        ),
        Week(
            "week5_checkpoints",
            "Saving and loading models",
            Limits(call_seconds=20, cell_seconds=60, total_seconds=300),
        ),
    ]
}


class UnknownWeek(Exception):
    """The week cannot be determined or does not exist."""


def get_week(name: str) -> Week:
    if name not in WEEKS:
        raise UnknownWeek(f"unknown week {name!r}: expected one of {', '.join(WEEKS)}")
    return WEEKS[name]


def detect_week(path: Path, declared: str | None) -> Week:
    """The notebook's own declaration (metadata.dlgrade.week) first, then its file or folder name."""
    if declared is not None:
        return get_week(declared)
    for text in (path.stem, path.parent.name):
        for name in WEEKS:
            if name in text.lower():
                return WEEKS[name]
        number = re.search(r"week[_\- ]?(\d+)", text.lower())
        matches = [week for name, week in WEEKS.items() if number and name.startswith(f"week{number.group(1)}_")]
        if len(matches) == 1:
            return matches[0]
    raise UnknownWeek(f"{path}: cannot tell which week this notebook is for: pass --week ({', '.join(WEEKS)})")
