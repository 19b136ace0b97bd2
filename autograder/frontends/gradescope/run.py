"""Grade one Gradescope submission: find the notebook in ``ROOT/submission``, grade it confined with the week's
hidden graders, and write ``ROOT/results/results.json``.

Runs inside Gradescope's container (``run_autograder`` calls it); ``--check`` is the last step of ``setup.sh``,
so that a broken image fails while the instructor uploads it, not in a student's results. Whatever the
submission holds (nothing, two notebooks, another week's, an empty or corrupt file), the student gets a
results.json at 0 out of the week's points, part by part, whose ``output`` says what to upload instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.course.data_locations import DATA_ENV
from autograder.course.weeks import MAX_HANDED_IN_BYTES, WEEKS, Week, get_week

if TYPE_CHECKING:
    from autograder.grading.report import GradeReport

CONFIG_NAME = "dlgrade-gradescope.json"
"""Written into the zip by ``gradescope_zip``: the week, and how the instructor chose to grade it."""
ROOT_ENV = "DLGRADE_AUTOGRADER_ROOT"
"""Where Gradescope's ``/autograder`` is (tests lay one out in a temporary folder)."""
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
REFERENCE_VISIBILITIES = ("hidden", "after_due_date", "after_published")
IGNORED_PARTS = ("__MACOSX", ".ipynb_checkpoints")


@dataclass(frozen=True)
class Config:
    week: Week
    allow_unconfined: bool = False
    visibility: str = "visible"
    references: str = "hidden"
    """When students see failed tests' reference values: never (``hidden``), or as Gradescope's ``after_due_date``
    or ``after_published`` visibility lets them (an extra 0-point entry per failed test)."""

    @classmethod
    def read(cls, path: Path) -> Config:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            visibility = one_of("visibility", data.get("visibility", "visible"), VISIBILITIES)
            references = one_of("references", data.get("references", "hidden"), REFERENCE_VISIBILITIES)
            return cls(get_week(data["week"]), bool(data.get("allow_unconfined", False)), visibility, references)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SystemExit(f"dlgrade: error: {path}: not a dlgrade Gradescope configuration ({exc})") from None


def one_of(setting: str, value: object, allowed: tuple[str, ...]) -> str:
    """``value``, if it is one of ``allowed``; else a ValueError naming the setting and the choices."""
    if value not in allowed:
        raise ValueError(f"{setting} {value!r}: expected one of {', '.join(allowed)}")
    return str(value)


class NotGraded(Exception):
    """The submission cannot be graded; the message tells the student what to upload instead."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.frontends.gradescope.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_ENV, "/autograder")))
    parser.add_argument("--check", action="store_true", help="check the installed autograder instead of grading")
    args = parser.parse_args(argv)
    config = Config.read(args.root / "source" / CONFIG_NAME)
    data = args.root / "source" / "data"
    if data.is_dir():
        os.environ[DATA_ENV] = str(data)  # the week's data came in the zip: the graders read it, never a download
    if args.check:
        return check(config)
    results = grade_submission(args.root / "submission", config)
    target = args.root / "results" / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name("results.json.partial")
    partial.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, target)
    print(f"{config.week.name}: {results['score']} / {results['extra_data']['max_score']} ({target})")
    return 0


def grade_submission(submission: Path, config: Config) -> dict:
    """Gradescope's results for the submission folder: graded, or 0 out of the week's points with the reason."""
    from autograder.grading.grade import Unconfined, grade_notebook  # noqa: PLC0415 - torch loads while nothing waits
    from autograder.grading.report import to_gradescope, to_table, with_feedback  # noqa: PLC0415
    from autograder.running.notebook import NotebookError  # noqa: PLC0415

    week = config.week
    name = "(none)"
    with tempfile.TemporaryDirectory(prefix="dlgrade-submission-") as scratch:
        try:
            notebook, name, notes = gather(submission, week, Path(scratch))
            report = grade_notebook(
                notebook,
                week=week.name,
                device="auto",
                require_confinement=not config.allow_unconfined,
                hidden=(submission,),
            )
            report.notebook, report.notes = name, notes + report.notes
        except NotGraded as exc:
            report = _zero(week, name, str(exc))
        except NotebookError as exc:
            problem = str(exc).replace(f"{scratch}/{week.name}.ipynb", name)
            report = _zero(week, name, f"Not graded: {problem}. Upload {week.name}.ipynb as Jupyter saved it.")
        except Unconfined as exc:
            report = _zero(
                week,
                name,
                f"Not graded: student code cannot be confined in this container ({exc}), and this autograder was "
                "built to refuse that. Nothing of yours was run. Instructor: see docs/gradescope.md, 'Confinement'.",
            )
    sys.stdout.write(to_table(report))  # Gradescope's stdout: the instructor's log (hidden from students)
    results = to_gradescope(with_feedback(report, "hidden"))
    for test in results["tests"]:
        test["visibility"] = config.visibility
    if config.references != "hidden":
        results["tests"] += reference_entries(report, config.references)
    results.update(stdout_visibility="hidden", visibility=config.visibility, output_format="text")
    results["test_output_format"] = "text"
    results["extra_data"]["max_score"] = results.pop("max_score")  # not a field of Gradescope's: its total is set there
    return results


def reference_entries(report: GradeReport, visibility: str) -> list[dict]:
    """A 0-point entry per failed test that knows its reference, which Gradescope shows at ``visibility``."""
    from autograder.grading.report import bounded  # noqa: PLC0415

    return [
        {
            "name": f"{test.name}: the reference",
            "score": 0,
            "max_score": 0,
            "status": "failed",
            "output": test.reference,
            "tags": [test.part, "reference"],
            "visibility": visibility,
        }
        for test in bounded(report).tests
        if test.reference and test.status == "failed"
    ]


def gather(submission: Path, week: Week, folder: Path) -> tuple[Path, str, list[str]]:
    """Copy the submission's notebook, whatever its name, and the week's handed-in files, wherever they are in
    the submission, into ``folder``, as the graders expect them (beside each other). Returns the copy, the
    notebook's name in the submission, and notes saying what was chosen."""
    notebook, notes = find_notebook(submission, week)
    target = folder / f"{week.name}.ipynb"
    shutil.copyfile(notebook, target)
    for name in week.handed_in:
        found = [path for path in _files(submission) if path.name == name]
        if not found:
            continue  # the graders say which file is missing and how the notebook makes it
        if len(found) > 1:
            notes.append(f"several files named {name}: {', '.join(_names(submission, found))}; graded the first")
        if found[0].stat().st_size > MAX_HANDED_IN_BYTES:
            notes.append(f"{_names(submission, found[:1])[0]} is larger than {MAX_HANDED_IN_BYTES} bytes: not graded")
            continue
        shutil.copyfile(found[0], folder / name)
    return target, _names(submission, [notebook])[0], notes


def find_notebook(submission: Path, week: Week) -> tuple[Path, list[str]]:
    """The one notebook to grade: the only .ipynb file; else the one for this week (by its metadata, then its
    name); else, with no .ipynb file at all, the only file that is a notebook under another name."""
    if not submission.is_dir():
        raise NotGraded(f"Not graded: the submission is empty. Upload your notebook, {week.name}.ipynb.")
    files = _files(submission)
    notebooks = [path for path in files if path.suffix.lower() == ".ipynb"]
    notes: list[str] = []
    if not notebooks:
        notebooks = [path for path in files if _looks_like_notebook(path)]
        if len(notebooks) != 1:
            listed = f" (found {', '.join(_names(submission, files)[:10])})" if files else ""
            raise NotGraded(f"Not graded: no notebook in the submission{listed}. Upload {week.name}.ipynb.")
        notes.append(f"graded {_names(submission, notebooks)[0]} as the notebook (it is not named .ipynb)")
    if len(notebooks) > 1:
        declared = {path: _declared(path) for path in notebooks}
        mine = [path for path in notebooks if declared[path] == week.name] or [
            path for path in notebooks if week.name in path.name.lower()
        ]
        if len(mine) != 1:
            names = ", ".join(_names(submission, notebooks))
            raise NotGraded(f"Not graded: several notebooks ({names}). Upload only {week.name}.ipynb.")
        notes.append(f"graded {_names(submission, mine)[0]} of the {len(notebooks)} notebooks in the submission")
        notebooks = mine
    chosen = notebooks[0]
    other = _declared(chosen)
    if other is not None and other != week.name and other in WEEKS:
        raise NotGraded(
            f"Not graded: {_names(submission, [chosen])[0]} is the notebook of {other} ({WEEKS[other].title}), "
            f"and this assignment is {week.name} ({week.title}). Upload {week.name}.ipynb."
        )
    return chosen, notes


def check(config: Config) -> int:
    """Everything grading will need, present and working; the confinement probe's verdict, printed."""
    import autograder  # noqa: PLC0415
    from autograder.grading.runner import grader_points  # noqa: PLC0415
    from autograder.sandbox.confinement import unavailable  # noqa: PLC0415

    week = config.week
    points = grader_points(week.grader_file)
    print(f"dlgrade {autograder.__version__} from {Path(autograder.__file__).parent}")
    print(f"{week.name}: {sum(points.values()):g} points in {len(points)} parts ({', '.join(points)})")
    if week.handed_in:
        from autograder.course.data import fashion_mnist  # noqa: PLC0415 - torch

        for train in (True, False):
            print(f"Fashion-MNIST {'training' if train else 'test'} images: {len(fashion_mnist(train=train))}")
    reason = unavailable()
    if reason is None:
        print("confinement: bubblewrap works here; student code will run confined")
    elif config.allow_unconfined:
        print(
            f"confinement: WARNING: not available ({reason}); built with --allow-unconfined, so student code "
            "will run unconfined and every result will say so"
        )
    else:
        print(
            f"confinement: WARNING: not available ({reason}); every submission will be refused with that reason. "
            "Rebuild the zip with --allow-unconfined to grade anyway (see docs/gradescope.md)"
        )
    return 0


def _zero(week: Week, notebook: str, reason: str):
    """0 out of the week's points, part by part, with the reason on every test and at the top."""
    from autograder.grading.report import GradeReport  # noqa: PLC0415
    from autograder.grading.runner import grader_tests  # noqa: PLC0415

    report = GradeReport(notebook=notebook, week=week.name, notes=[reason])
    report.tests = [replace(test, output=reason) for test in grader_tests(week.grader_file)]
    return report


def _files(submission: Path) -> list[Path]:
    """Every regular file of the submission, in a stable order, without macOS's and Jupyter's leftovers."""
    return sorted(
        path
        for path in submission.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and not any(part in IGNORED_PARTS or part.startswith("._") for part in path.relative_to(submission).parts)
    )


def _names(submission: Path, paths: list[Path]) -> list[str]:
    return [str(path.relative_to(submission)) for path in paths]


def _looks_like_notebook(path: Path) -> bool:
    from autograder.running.notebook import MAX_NOTEBOOK_BYTES  # noqa: PLC0415

    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return False
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "cells" in data and "nbformat" in data


def _declared(path: Path) -> str | None:
    """The week a notebook declares, or None (also for one that cannot be read: grading will say why)."""
    from autograder.running.notebook import NotebookError, declared_week, read_notebook  # noqa: PLC0415

    try:
        return declared_week(read_notebook(path))
    except NotebookError:
        return None


if __name__ == "__main__":
    sys.exit(main())
