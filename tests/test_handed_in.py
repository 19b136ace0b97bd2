"""The solution's handed-in files (week 4's weights) for the demo and benchmarks: made by running the solution,
kept under build/, and made again when, and only when, the solution's code changes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.authoring.handed_in import solution_with_files
from autograder.course.data import DataMissing
from autograder.course.weeks import Week

WRITES_ONE_MORE_X = "with open('made.txt', 'a') as f:\n    f.write('x')"


@dataclass(frozen=True)
class ScratchWeek(Week):
    """A week whose solution is a tiny notebook that appends to the file it hands in: each run shows."""

    source: Path = Path()

    @property
    def solution(self) -> Path:
        return self.source


def _write(path: Path, prose: str, code: str) -> None:
    cells = [nbformat.v4.new_markdown_cell(prose), nbformat.v4.new_code_cell(code)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)


def test_solution_files_are_remade_only_when_the_solution_code_changes(tmp_path):
    """Made once, kept while only prose changes, made again after a code edit; never beside the solution."""
    source = tmp_path / "solutions" / "scratch_week.ipynb"
    source.parent.mkdir()
    _write(source, "# Scratch week", WRITES_ONE_MORE_X)
    week = ScratchWeek("scratch_week", "Scratch", handed_in=("made.txt",), source=source)
    build, log = tmp_path / "build", []
    try:
        graded = solution_with_files(week, log.append, build)
    except DataMissing as exc:
        pytest.skip(f"making handed-in files prepares Fashion-MNIST, which is not here ({exc})")
    made = build / "scratch_week" / "made.txt"
    assert graded == build / "scratch_week" / "scratch_week.ipynb" and made.read_text() == "x"
    assert not (source.parent / "made.txt").exists()

    solution_with_files(week, log.append, build)
    _write(source, "# Scratch week, reworded", WRITES_ONE_MORE_X)
    solution_with_files(week, log.append, build)
    assert made.read_text() == "x" and len(log) == 2
    assert nbformat.read(graded, as_version=4).cells[0].source == "# Scratch week, reworded"

    _write(source, "# Scratch week", "# a changed cell\n" + WRITES_ONE_MORE_X)
    solution_with_files(week, log.append, build)
    assert made.read_text() == "xx" and "its code changed" in log[2]

    made.unlink()
    solution_with_files(week, log.append, build)
    assert made.read_text() == "x" and "to make made.txt" in log[4]
