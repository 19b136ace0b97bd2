"""Grade one notebook: read, run, ask, judge, report.

Each stage is its own module (``notebook``, ``sandbox``, ``student``, ``runner``, ``report``); this one only
wires them together and turns what happened to the notebook as a whole into notes for the report.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from autograder.locked_cells import restore_locked_cells
from autograder.notebook import code_cells, declared_week, read_notebook
from autograder.report import GradeReport
from autograder.student_process import CellOutcome, Limits, StudentProcess
from autograder.weeks import Week, detect_week, get_week


def resolve_device(device: str) -> str:
    """``auto`` means CUDA where this machine has it, else the CPU."""
    import torch  # noqa: PLC0415 - imported late so the student's process boots meanwhile

    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device {device}: expected auto, cpu or cuda")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available on this machine")
    return device


def grade_notebook(
    path: Path,
    week: str | None = None,
    device: str = "auto",
    limits: Limits | None = None,
    overrides: dict[str, float | int | None] | None = None,
) -> GradeReport:
    """The full report for one notebook; raises NotebookError or UnknownWeek only if it cannot grade at all."""
    started = time.monotonic()
    notebook = read_notebook(path)
    chosen: Week = get_week(week) if week else detect_week(path, declared_week(notebook))
    report = GradeReport(notebook=str(path), week=chosen.name)
    edits = restore_locked_cells(notebook, read_notebook(chosen.stub)) if chosen.stub.is_file() else []
    limits = limits_with(limits or chosen.limits, **(overrides or {}))
    if device == "cuda":
        resolve_device(device)  # fail before starting anything when there is no GPU
    with StudentProcess(code_cells(notebook), limits, device, hidden=hidden_paths(chosen)) as process:
        process.spawn()
        from autograder.runner import run_graders  # noqa: PLC0415 - torch and pytest load while it boots
        from autograder.student import Student  # noqa: PLC0415

        device = resolve_device(device)
        process.device = device
        process.run_cells()
        report.tests = run_graders(chosen.grader_file, Student(process), device, folder=path.resolve().parent)
    report.notes = edits + _cell_notes(process.outcomes) + _process_notes(process)
    report.printed = process.printed
    report.seconds = time.monotonic() - started
    return report


def hidden_paths(week: Week) -> list[Path]:
    """What the student's process must not read: the graders, the solutions, the data the graders own."""
    return [week.grader_file.parent, week.solution.parent.parent, *week.private_data]


def limits_with(base: Limits, **overrides: float | int | None) -> Limits:
    """``base`` with the limits given on the command line (None keeps the week's default)."""
    return replace(base, **{name: value for name, value in overrides.items() if value is not None})


def _cell_notes(outcomes: list[CellOutcome]) -> list[str]:
    notes = []
    for outcome in outcomes:
        label = outcome.cell.label
        if outcome.fatal:
            notes.append(f"{outcome.fatal}; it was skipped and the rest of the notebook graded without it")
        elif outcome.error and outcome.error["type"] != "NotImplementedError":
            where = f" (at {outcome.error['where'][-1]})" if outcome.error["where"] else ""
            notes.append(f"{label} raised {outcome.error['type']}: {outcome.error['message']}{where}")
        for line in outcome.skipped_lines:
            notes.append(f"{label}: `{line}` was not run while grading (shell commands and magics are skipped)")
    return notes


def _process_notes(process: StudentProcess) -> list[str]:
    notes = list(process.isolation_notes)
    if process.process_limit_hit:
        notes.append(f"the notebook tried to run more than {process.limits.processes} processes (limit processes)")
    if process.restarts:
        notes.append(f"the notebook's process was restarted {process.restarts} time(s) after a crash or time-out")
    if process.output_total > process.limits.output_bytes:
        notes.append(
            f"the notebook printed {process.output_total} bytes; only the first "
            f"{process.limits.output_bytes} were kept (limit output_bytes)"
        )
    return notes
