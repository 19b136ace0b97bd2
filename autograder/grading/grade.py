"""Grade one notebook: read, run, ask, judge, report.

Each stage is its own module (``notebook``, ``sandbox``, ``student``, ``runner``, ``report``); this one only
wires them together and turns what happened to the notebook as a whole into notes for the report.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import nbformat

from autograder.course.data_locations import private_locations
from autograder.course.weeks import PACKAGE_DIR, REPO_DIR, Week, detect_week, get_week
from autograder.grading.locked_cells import restore_locked_cells
from autograder.grading.report import GradeReport, bounded
from autograder.running.cells import CellOutcome
from autograder.running.limits import Limits
from autograder.running.notebook import code_cells, declared_week, read_notebook
from autograder.running.spare_process import ProcessPlan, Spare
from autograder.running.student_process import StudentProcess
from autograder.sandbox import confinement


class Unconfined(Exception):
    """Confinement was required and this machine cannot provide it; the message says why, in one line."""


def device_for(week: Week, device: str) -> str:
    """Where ``week``'s student code runs: ``auto`` keeps a GPU only for weeks that do GPU work (``gpu_work``)."""
    return "cpu" if device == "auto" and not week.gpu_work else device


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
    require_confinement: bool = False,
    hidden: tuple[Path, ...] = (),
    data: bytes | None = None,
    spare: Spare | None = None,
    following: ProcessPlan | None = None,
) -> GradeReport:
    """The full report for one notebook; raises NotebookError or UnknownWeek only if it cannot grade at all.

    ``data``: the notebook's bytes, already read (a batch grades exactly what it fingerprinted). ``spare`` and
    ``following``: see ``grade_loaded``.

    Student code runs confined where bubblewrap works here; elsewhere it runs unconfined with a note at the top of
    the report, or, with ``require_confinement``, not at all (``Unconfined``). ``hidden`` adds folders its process
    must not see (a batch's other submissions).
    """
    started = time.monotonic()
    notebook = read_notebook(path, data)
    chosen: Week = get_week(week) if week else detect_week(path, declared_week(notebook))
    options = dict(device=device, limits=limits, overrides=overrides, require_confinement=require_confinement)
    options.update(hidden=hidden, spare=spare, following=following)
    report, _ = grade_loaded(notebook, chosen, path.resolve().parent, str(path), **options)
    report.seconds = time.monotonic() - started
    return report


def grade_loaded(
    notebook: nbformat.NotebookNode,
    week: Week,
    folder: Path,
    label: str,
    device: str = "auto",
    limits: Limits | None = None,
    overrides: dict[str, float | int | None] | None = None,
    require_confinement: bool = False,
    hidden: tuple[Path, ...] = (),
    parts: set[str] | None = None,
    spare: Spare | None = None,
    following: ProcessPlan | None = None,
) -> tuple[GradeReport, list[CellOutcome]]:
    """Grade a notebook already read (``notebook``, changed in place: read-only cells are restored), handed in
    in ``folder`` (by the graders of ``parts`` only, if given); the report, and what each cell did (what it printed
    and drew, its error) for views of it.

    With ``spare``, the notebook takes the process it holds if that was started for exactly this notebook's plan,
    and, once its own is running, ``spare`` starts the process of ``following`` (the next notebook's plan)."""
    started = time.monotonic()
    report = GradeReport(notebook=label, week=week.name)
    edits = restore_locked_cells(notebook, read_notebook(week.stub)) if week.stub.is_file() else []
    plan = process_plan(week, folder, device, limits, overrides, require_confinement, hidden)
    process = spare.take(plan) if spare is not None else None
    if process is None:
        process = plan.start()
    with process:
        process.adopt(code_cells(notebook))
        if spare is not None and following is not None:
            spare.prepare(following)
        from autograder.grading.runner import run_graders  # noqa: PLC0415 - torch and pytest load while it boots
        from autograder.judging.student import Student  # noqa: PLC0415

        device = resolve_device(plan.device)
        process.device = device
        process.run_cells()
        report.tests = run_graders(week.grader_file, Student(process), device, parts=parts, folder=folder)
    report.confined = plan.view is not None
    first = [f"not confined: {plan.unconfined}; the notebook's code could read and change what this user can"]
    report.notes = (first if plan.unconfined else []) + edits + _cell_notes(process.outcomes) + _process_notes(process)
    report.printed = process.printed
    report.seconds = time.monotonic() - started
    return bounded(report), process.outcomes


def process_plan(
    week: Week,
    folder: Path,
    device: str = "auto",
    limits: Limits | None = None,
    overrides: dict[str, float | int | None] | None = None,
    require_confinement: bool = False,
    hidden: tuple[Path, ...] = (),
) -> ProcessPlan:
    """What the student's process of ``week``'s notebook handed in in ``folder`` is started with: its limits, its
    device (before ``auto`` is resolved) and its view. Raises ``Unconfined``, or ValueError for --device cuda
    without a GPU, before anything starts."""
    limits = limits_with(limits or week.limits, **(overrides or {}))
    device = device_for(week, device)
    if device == "cuda":
        resolve_device(device)  # fail before starting anything when there is no GPU
    view, unconfined = student_view(folder, device, require_confinement, hidden)
    return ProcessPlan(limits, device, view, unconfined)


def student_view(
    folder: Path, device: str, required: bool, hidden: tuple[Path, ...] = ()
) -> tuple[confinement.View | None, str | None]:
    """What the student's process will see, or (None, why) where it cannot be confined here; ``folder`` (where the
    notebook was handed in) is never in sight."""
    reason = confinement.unavailable()
    if reason is not None:
        if required:
            raise Unconfined(reason)
        return None, reason
    secret = [REPO_DIR] if (REPO_DIR / "solutions").is_dir() else []  # a checkout: the whole repository
    secret += [folder.resolve(), *private_locations(), *(p.resolve() for p in hidden)]
    gpu = device != "cpu" and any(Path("/dev").glob("nvidia[0-9]*"))
    return confinement.View(PACKAGE_DIR, tuple(secret), gpu=gpu), None


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
    if process.disk_limit_hit or any(o.fatal and "scratch space" in o.fatal for o in process.outcomes):
        notes.append(f"the notebook filled its scratch space (limit disk_mb={process.limits.disk_mb})")
    if process.memory_limit_hit:
        notes.append(
            f"the notebook ran out of memory (limit memory_mb={process.limits.memory_mb}: all its processes, shared "
            "memory and scratch space together); its process was restarted"
        )
    if process.process_limit_hit:
        notes.append(f"the notebook tried to run more than {process.limits.processes} processes (limit processes)")
    if process.restarts:
        notes.append(f"the notebook's process was restarted {process.restarts} time(s) after a crash or time-out")
    if process.printed_total > process.limits.output_bytes:
        notes.append(
            f"the notebook printed {process.printed_total} bytes; only the first "
            f"{process.limits.output_bytes} were kept (limit output_bytes)"
        )
    return notes
