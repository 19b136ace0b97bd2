"""Can a notebook's process stop, flood or break grading by what it sends back? Every reply in the catalogue
(tests/crafted_replies.py), and every odd value plain code returns, must give a complete report in every format:
the stub's 0 of 25, exit 0, no grader error, text that every format can hold, and a results.json under its ceiling,
whether the grader runs as root or as the checkout's unprivileged owner.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest
from crafted_replies import CELL_REPLIES, CYCLED, RESTARTING, crafting_cell, plain_cell, restarting_cell
from graders_as import KINDS, grader

from autograder.report import MAX_REPORT_BYTES
from autograder.weeks import get_week

pytestmark = pytest.mark.slow

WEEK = "week1_tensors"
FUNCTIONS = [
    "tensor_from_list",
    "storage_facts",
    "flatten_images",
    "share_from_numpy",
    "copy_from_numpy",
    "scale_pixels",
    "normalize",
    "normalized_range",
    "center_columns",
    "outer_sum",
    "pick_device",
    "move_to",
    "mse_gradient",
]


def hostile_stub(folder: Path, name: str, source: str, first: bool) -> Path:
    """The week-1 stub with ``source`` as a cell of its own: right after the imports (``first``), so that it
    answers for every later cell too, or after every cell of the stub."""
    notebook = nbformat.read(get_week(WEEK).stub, as_version=4)
    cell = nbformat.v4.new_code_cell(source)
    if first:
        notebook.cells.insert(2, cell)
    else:
        notebook.cells.append(cell)
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def notebooks(folder: Path) -> dict[str, Path]:
    """Every hostile notebook of the catalogue, by what it tries."""
    made = {
        "crafted replies in turn": hostile_stub(folder, "cycled", crafting_cell(CYCLED, CELL_REPLIES), first=True),
        "odd values from plain code": hostile_stub(folder, "plain", plain_cell(FUNCTIONS), first=False),
    }
    for number, (name, body) in enumerate(RESTARTING.items()):
        made[name] = hostile_stub(folder, f"restarting{number}", restarting_cell(body), first=True)
    return made


@pytest.fixture(scope="module", params=KINDS)
def graded(request) -> dict[str, dict]:
    """Each hostile notebook graded by ``dlgrade grade`` as this kind of grader, in every format at once."""
    who = grader(request.param)
    scratch = who.scratch()
    try:
        outcomes = {}
        for name, notebook in notebooks(scratch).items():
            out = notebook.with_suffix("")
            run = who.run(
                [
                    who.python,
                    "-m",
                    "autograder",
                    "grade",
                    str(notebook),
                    "--device",
                    "cpu",
                    "--format",
                    "table",
                    "--json-file",
                    str(out / "results.json"),
                    "--markdown-file",
                    str(out / "report.md"),
                    "--junit-file",
                    str(out / "junit.xml"),
                ],
                timeout=600,
            )
            outcomes[name] = {"run": run, "out": out}
        if who.owner:
            shutil.chown(scratch, "root", "root")
        yield outcomes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


CASES = ["crafted replies in turn", "odd values from plain code", *RESTARTING]


@pytest.mark.parametrize("case", CASES)
def test_report_complete_in_every_format(graded: dict, case: str) -> None:
    """Does grading end normally (exit 0) with the stub's 0 of 25, every test reported, and no grader error?"""
    run, out = graded[case]["run"], graded[case]["out"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    results_file = out / "results.json"
    assert results_file.stat().st_size <= MAX_REPORT_BYTES
    results = json.loads(results_file.read_text(encoding="utf-8"))
    assert (results["score"], results["max_score"]) == (0, 25)
    assert len(results["tests"]) >= 20
    assert all(test["output"] for test in results["tests"]), "every failed test says why"
    everything = run.stdout + (out / "report.md").read_text(encoding="utf-8") + results_file.read_text()
    assert "internal grader error" not in everything
    assert "Total: 0 / 25" in run.stdout
    ET.parse(out / "junit.xml")  # well-formed, whatever the notebook's text held
    for text in (run.stdout, (out / "report.md").read_text(encoding="utf-8")):
        assert len(text.encode("utf-8")) <= MAX_REPORT_BYTES


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
