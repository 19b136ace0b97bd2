"""The dlgrade command line: exit statuses, one-line errors, and the report formats."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from autograder.course.weeks import get_week

WEEK = get_week("week1_tensors")


def dlgrade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, timeout=300)


def test_solution_json_is_gradescope_results():
    """Does `grade --format json` print a results.json whose score equals max_score > 0?"""
    run = dlgrade("grade", str(WEEK.solution), "--format", "json")
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert results["score"] == results["max_score"] > 0
    assert sum(test["max_score"] for test in results["tests"]) == results["max_score"]
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "status"}
        assert test["status"] == "passed"


def test_stub_scores_zero_with_exit_status_zero(tmp_path):
    """Does the stub get score 0 and exit status 0, and are the Markdown and JUnit files written too?"""
    run = dlgrade(
        "grade",
        str(WEEK.stub),
        "--format",
        "json",
        "--markdown-file",
        str(tmp_path / "summary.md"),
        "--junit-file",
        str(tmp_path / "junit.xml"),
    )
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert results["score"] == 0 and results["max_score"] == 25
    markdown = (tmp_path / "summary.md").read_text()
    assert markdown.startswith("## week1_tensors: 0 / 25")
    assert markdown.count("| ❌ |") == len(results["tests"])
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("tests") == str(len(results["tests"])) == suite.get("failures")


def test_table_lists_every_test_and_the_total():
    """Does the default table show each test's points and the total?"""
    run = dlgrade("grade", str(WEEK.solution))
    assert run.returncode == 0
    assert run.stdout.count("PASS") == 21
    assert run.stdout.rstrip().endswith("Total: 25 / 25")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"{not json", "invalid JSON at line 1"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "binary data, not a notebook"),
        (b'{"hello": "world"}', "not a notebook (no cells)"),
        (b'{"cells": "nope", "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "not a valid notebook"),
    ],
)
def test_unreadable_files_get_one_line_reasons(tmp_path, content, reason):
    """Does every file that cannot be graded get exit status 2 and one line naming it, never a traceback?"""
    path = tmp_path / "week1_tensors.ipynb"
    if content is not None:
        path.write_bytes(content)
    run = dlgrade("grade", str(path))
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dlgrade: error: {path}: ")
    assert reason in lines[0]


def test_week_that_cannot_be_told_is_a_clear_error(tmp_path):
    """Does a notebook with no week in its metadata or name ask for --week?"""
    path = tmp_path / "homework.ipynb"
    path.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    run = dlgrade("grade", str(path))
    assert run.returncode == 2
    assert "cannot tell which week this notebook is for: pass --week" in run.stderr


def test_week_flag_overrides_the_name(tmp_path):
    """Does --week grade a notebook whatever its name?"""
    path = tmp_path / "homework.ipynb"
    path.write_bytes(WEEK.solution.read_bytes())
    run = dlgrade("grade", str(path), "--week", "week1_tensors", "--format", "json")
    assert run.returncode == 0 and json.loads(run.stdout)["score"] == 25


def test_cuda_request_without_gpu_is_refused():
    """Does --device cuda on a machine without a GPU refuse in one line (grade, demo, batch) before anything runs?"""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the refusal only happens without one")
    for command in (["grade", str(WEEK.solution)], ["demo"], ["batch", str(WEEK.solution.parent)]):
        run = dlgrade(*command, "--device", "cuda")
        assert run.returncode == 2, command
        assert run.stderr.strip() == "dlgrade: error: --device cuda: no CUDA device is available on this machine"


def test_auto_keeps_a_gpu_only_for_the_weeks_that_train():
    """Does --device auto grade week 4 (training) on a GPU where there is one and every other week on the CPU,
    while an explicit --device is honoured for every week?"""
    from autograder.course.weeks import WEEKS
    from autograder.grading.grade import device_for

    auto = {name: device_for(week, "auto") for name, week in WEEKS.items()}
    assert auto == {name: "auto" if name == "week4_cnn" else "cpu" for name in WEEKS}
    assert {device_for(week, chosen) for week in WEEKS.values() for chosen in ("cpu", "cuda")} == {"cpu", "cuda"}
    assert all(device_for(week, "cuda") == "cuda" for week in WEEKS.values())


def test_version_is_the_installed_package_version():
    """Does `dlgrade --version` print the package's version, as pip knows it?"""
    from importlib.metadata import version

    run = dlgrade("--version")
    assert run.returncode == 0 and run.stdout.strip() == f"dlgrade {version('dlgrade')}"


@pytest.mark.parametrize("command", ["grade", "batch", "demo", "gradescope"])
def test_data_root_is_an_option_of_every_command_that_reads_data(command):
    """Is --data-root (named by README's "Data" and by data.py's errors) accepted by every command that reads
    datasets, and does it become the data root the graders and the student's process read ($DLGRADE_DATA)?"""
    from autograder.frontends import cli

    given = {"grade": ["nb.ipynb"], "batch": ["submitted"], "demo": [], "gradescope": ["week4_cnn", "--out", "x"]}
    args = cli._parser().parse_args([command, *given[command], "--data-root", "~/course-data"])
    assert str(args.data_root) == "~/course-data"
    run = dlgrade("grade", "/nonexistent/nb.ipynb", "--data-root", "data-here")
    assert run.returncode == 2 and run.stderr.strip() == "dlgrade: error: /nonexistent/nb.ipynb: no such file"


def test_data_root_sets_the_data_environment(monkeypatch, tmp_path):
    """Does `--data-root FOLDER` put FOLDER, absolute, where every data loader looks ($DLGRADE_DATA)?"""
    from autograder.course.data_locations import DATA_ENV, data_root
    from autograder.frontends import cli

    monkeypatch.setenv(DATA_ENV, "elsewhere")  # recorded, so the variable main() sets is undone after the test
    monkeypatch.chdir(tmp_path)
    assert cli.main(["grade", "missing.ipynb", "--data-root", "data"]) == 2
    assert data_root() == tmp_path / "data"


@pytest.mark.parametrize("columns", [80, 100])
def test_table_fits_the_terminals_width(columns, tmp_path):
    """With a terminal of 80 or 100 columns ($COLUMNS, as a shell sets it), does every line of the table fit, with
    every test still on its own row and no word of a name or of the feedback lost?"""
    sample = WEEK.solution.parents[2] / "samples" / WEEK.name / "student_partial.ipynb"
    command = [sys.executable, "-m", "autograder", "grade", str(sample), "--device", "cpu"]
    command += ["--json-file", str(tmp_path / "results.json")]
    env = dict(os.environ, COLUMNS=str(columns))
    table = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env).stdout
    tests = json.loads((tmp_path / "results.json").read_text())["tests"]
    assert max(len(line) for line in table.splitlines()) <= columns
    assert len(re.findall(r"^  (?:PASS|FAIL)  ", table, re.MULTILINE)) == len(tests)
    words = table.split()
    for test in tests:
        for word in (test["name"] + " " + (test["output"] if test["status"] == "failed" else "")).split():
            assert word in words, word


def test_help_describes_every_command_and_weeks_lists_points():
    """Does every command's --help open with a description and document its positional arguments, and does
    `dlgrade weeks` give each week's total and points per part, as the graders count them?"""
    from autograder.course.weeks import WEEKS
    from autograder.frontends import cli
    from autograder.grading.runner import grader_points

    parser = cli._parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, command in commands.items():
        assert command.description and command.description.endswith("."), name
        for action in command._actions:
            if not action.option_strings:
                assert action.help, f"dlgrade {name}: argument {action.dest} has no help"
    listed = dlgrade("weeks").stdout
    for name, week in WEEKS.items():
        points = grader_points(week.grader_file)
        assert re.search(rf"^{name} +{sum(points.values()):g} points  ", listed, re.MULTILINE), listed
        assert ", ".join(f"{part} {value:g}" for part, value in points.items()) in listed
