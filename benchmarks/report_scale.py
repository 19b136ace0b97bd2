"""Time `dlgrade report` for a large course: N synthetic week-1 students (results.json and notebooks), the page
with its tables, then the similarity check over every pair.

Each student's results come from week 1's real part list with random scores and messages drawn from real
feedback shapes; each notebook is the stub with the reference answers, each answer cell given a few lines of
the student's own (random arithmetic, so that pairs differ as honest work does), and one student in 25 a copy
of another. Usage: ``PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/report_scale.py [--students 500]``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.course.weeks import get_week
from autograder.grading.report import GradeReport, TestResult, to_gradescope
from autograder.grading.runner import grader_tests

WEEK = "week1_tensors"
MESSAGES = [
    "expected shape ({a}, {b}), got ({b}, {a}): is W transposed?",
    "expected dtype float32, got int64",
    "{a} of {b} values differ from the reference (largest difference about {c})",
    "is not implemented yet (it raises NotImplementedError)",
]


def make_class(root: Path, students: int, rng: random.Random) -> tuple[Path, Path]:
    results, submissions = root / "results", root / "submitted"
    tests = grader_tests(get_week(WEEK).grader_file)
    solution = nbformat.read(get_week(WEEK).solution, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells if _answer(c)}
    written: dict[str, nbformat.NotebookNode] = {}
    for number in range(students):
        student = f"s{number:04d}"
        graded = []
        for test in tests:
            score = test.max_score if rng.random() < 0.8 else 0.0
            message = (
                "" if score else rng.choice(MESSAGES).format(a=rng.randint(1, 9), b=rng.randint(1, 9), c=rng.random())
            )
            graded.append(
                TestResult(name=test.name, part=test.part, max_score=test.max_score, score=score, output=message)
            )
        folder = results / student / WEEK
        folder.mkdir(parents=True)
        report = GradeReport(notebook=f"{WEEK}.ipynb", week=WEEK, tests=graded)
        (folder / "results.json").write_text(json.dumps(to_gradescope(report)))
        if number % 25 == 24:
            notebook = written[f"s{number - 1:04d}"]  # a copy of the classmate before
        else:
            notebook = nbformat.read(get_week(WEEK).stub, as_version=4)
            for cell in notebook.cells:
                if _answer(cell):
                    own = "\n".join(
                        f"note_{i} = {rng.randint(1, 99)} * {rng.randint(1, 99)} + {rng.randint(1, 99)} ** 2"
                        for i in range(rng.randint(2, 5))
                    )
                    cell.source = answers[cell.metadata["nbgrader"]["grade_id"]] + "\n" + own
        written[student] = notebook
        (submissions / student / WEEK).mkdir(parents=True)
        nbformat.write(notebook, submissions / student / WEEK / f"{WEEK}.ipynb")
    return results, submissions


def _answer(cell: nbformat.NotebookNode) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(run.stderr)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        results, submissions = make_class(root, args.students, random.Random(0))
        dlgrade = [sys.executable, "-m", "autograder", "report", str(results), "--no-progress"]
        page = timed([*dlgrade, "--out", str(root / "page.html")])
        table = timed([*dlgrade, "--format", "table"])
        similar = timed([*dlgrade, "--out", str(root / "similar.html"), "--submissions", str(submissions)])
        pairs = json.loads((root / "similar.json").read_text())["similar"]
        size = (root / "similar.html").stat().st_size
    print(f"{args.students} students, week 1, {args.students * (args.students - 1) // 2} pairs")
    print(f"report page and tables:        {page:6.1f} s")
    print(f"terminal table:                {table:6.1f} s")
    print(f"page with similarity check:    {similar:6.1f} s ({len(pairs)} pairs listed, page {size / 1e6:.1f} MB)")
    print(f"planted copies found:          {sum(int(p['second'][1:]) - int(p['first'][1:]) == 1 for p in pairs)}")


if __name__ == "__main__":
    main()
