"""Can a notebook's process stop, flood or break grading by what it sends back? Every reply in the catalogue
(tests/crafted_replies.py), and every odd value plain code returns, must give a complete report in every format:
the stub's 0 of 25, exit 0, no grader error, text that every format can hold, and a results.json under its ceiling,
whether the grader runs as root or as the checkout's unprivileged owner.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from crafted_replies import CELL_REPLIES, CYCLED, RESTARTING, crafting_cell, plain_cell, restarting_cell
from graders_as import KINDS, grader

from autograder.course.weeks import get_week
from autograder.grading.report import MAX_REPORT_BYTES
from autograder.grading.runner import grader_points

pytestmark = pytest.mark.slow

WEEK = "week1_tensors"
OTHER_WEEKS = ("week2_linear", "week3_conv", "week4_cnn", "week5_checkpoints")


def answer_names(week: str) -> list[str]:
    """Every function and class the stub's answer cells define: what the graders call."""
    notebook = nbformat.read(get_week(week).stub, as_version=4)
    names = set()
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            tree = ast.parse(cell.source)
            names |= {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    return sorted(names)


def hostile_stub(folder: Path, name: str, source: str, first: bool, week: str = WEEK) -> Path:
    """The week's stub with ``source`` as a cell of its own: right after the imports (``first``), so that it
    answers for every later cell too, or after every cell of the stub."""
    notebook = nbformat.read(get_week(week).stub, as_version=4)
    cell = nbformat.v4.new_code_cell(source)
    if first:
        notebook.cells.insert(2, cell)
    else:
        notebook.cells.append(cell)
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def notebooks(folder: Path) -> dict[str, Path]:
    """Every hostile week-1 notebook of the catalogue, by what it tries."""
    made = {
        "crafted replies in turn": hostile_stub(folder, "cycled", crafting_cell(CYCLED, CELL_REPLIES), first=True),
        "odd values from plain code": hostile_stub(folder, "plain", plain_cell(answer_names(WEEK)), first=False),
    }
    for number, (name, body) in enumerate(RESTARTING.items()):
        made[name] = hostile_stub(folder, f"restarting{number}", restarting_cell(body), first=True)
    return made


def grade_in_every_format(who, notebook: Path) -> dict:
    """``dlgrade grade`` of ``notebook`` as ``who``: the table on stdout, JSON, Markdown and JUnit in files."""
    out = notebook.with_suffix("")
    files = ["--json-file", str(out / "results.json"), "--markdown-file", str(out / "report.md")]
    files += ["--junit-file", str(out / "junit.xml")]
    command = [who.python, "-m", "autograder", "grade", str(notebook), "--device", "cpu", "--format", "table"]
    return {"run": who.run(command + files, timeout=600), "out": out}


@pytest.fixture(scope="module", params=KINDS)
def graded(request) -> dict[str, dict]:
    """Each hostile notebook graded by ``dlgrade grade`` as this kind of grader, in every format at once, two at a
    time (one grading is mostly one core's work)."""
    who = grader(request.param)
    scratch = who.scratch()
    try:
        made = notebooks(scratch)
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = dict(
                zip(made, pool.map(lambda path: grade_in_every_format(who, path), made.values()), strict=True)
            )
        if who.owner:
            shutil.chown(scratch, "root", "root")
        yield outcomes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


CASES = ["crafted replies in turn", "odd values from plain code", *RESTARTING]


def assert_complete(run, out: Path, max_score: int) -> None:
    """Grading ended normally with 0 of ``max_score``, every test reported with a reason, no grader error, every
    format readable and under the ceiling."""
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    results_file = out / "results.json"
    assert results_file.stat().st_size <= MAX_REPORT_BYTES
    results = json.loads(results_file.read_text(encoding="utf-8"))
    assert (results["score"], results["max_score"]) == (0, max_score)
    assert all(test["output"] for test in results["tests"]), "every failed test says why"
    everything = run.stdout + (out / "report.md").read_text(encoding="utf-8") + results_file.read_text()
    assert "internal grader error" not in everything
    assert f"Total: 0 / {max_score}" in run.stdout
    ET.parse(out / "junit.xml")  # well-formed, whatever the notebook's text held
    for text in (run.stdout, (out / "report.md").read_text(encoding="utf-8")):
        assert len(text.encode("utf-8")) <= MAX_REPORT_BYTES


@pytest.mark.parametrize("case", CASES)
def test_report_complete_in_every_format(graded: dict, case: str) -> None:
    """Does grading end normally (exit 0) with the stub's 0 of 25, every test reported, and no grader error?"""
    assert_complete(graded[case]["run"], graded[case]["out"], 25)


def test_other_weeks_take_odd_values_as_answers(tmp_path: Path) -> None:
    """Do weeks 2 to 5 take every odd value plain code returns as a wrong answer: 0 points (none earned by a
    function that does nothing), no grader error, a complete report?"""
    who = grader("root" if os.geteuid() == 0 else "unprivileged")
    made = [hostile_stub(tmp_path, week, plain_cell(answer_names(week)), False, week) for week in OTHER_WEEKS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda path: grade_in_every_format(who, path), made))
    for week, outcome in zip(OTHER_WEEKS, outcomes, strict=True):
        maximum = int(sum(grader_points(get_week(week).grader_file).values()))
        assert_complete(outcome["run"], outcome["out"], maximum)


def test_crafted_replies_are_wrong_answers_not_restarts(graded: dict) -> None:
    """Do replies that keep the frames readable cost their own question only, with a reason, and no restart?"""
    results = json.loads((graded["crafted replies in turn"]["out"] / "results.json").read_text())
    feedback = "\n".join(test["output"] for test in results["tests"])
    assert "sent a reply that is not an answer" in feedback
    assert "restarted" not in results["output"]


@pytest.mark.parametrize("case", list(RESTARTING))
def test_broken_channel_costs_a_restart(graded: dict, case: str) -> None:
    """Does a reply that breaks the channel restart the notebook's process, saying so, rather than end grading?"""
    results = json.loads((graded[case]["out"] / "results.json").read_text())
    assert "restarted" in results["output"]
    feedback = "\n".join(test["output"] for test in results["tests"])
    assert "the notebook's process" in feedback
