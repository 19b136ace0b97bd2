"""README.md and the guides, as a new user follows them: every command they show names options that exist, and
their command blocks run as written on a scratch course (docs/github.md's and the student template's in
tests/test_github_grading.py, beside the fake GitHub they need)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from guides import GUIDES, TEMPLATE_README, code_blocks, run_block
from helpers import answered_stub
from traitlets.utils.importstring import import_item

from autograder.course.weeks import REPO_DIR, get_week
from autograder.frontends import cli
from autograder.frontends.nbgrader.autograde import GradeInSandbox

pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent
SAMPLE = REPO_DIR / "samples" / "week1_tensors" / "student_partial.ipynb"
WEEK = "week1_tensors"
_SHELL_ENDS = {">", ">>", "|", "&&", "||", ";", "2>&1"}
# repository paths a guide names in backticks: they must exist (a `<placeholder>` in one means any such path)
_PATH = re.compile(r"(?<![\w/.$])((?:autograder|tests|scripts|benchmarks|docs|samples|solutions|\.github)/[\w./<>-]+)")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli._parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def _documented(pattern: str) -> list[tuple[str, str]]:
    """(where, command) for every command a guide shows: its code blocks' lines, and inline code that starts
    with the program (which may be a fragment: `dlgrade grade --feedback open`)."""
    found = []
    for doc in GUIDES:
        for block in code_blocks(doc):
            found += [(block.where, line.strip()) for line in block.commands() if re.match(pattern, line.strip())]
        for number, line in enumerate(doc.read_text().splitlines(), start=1):
            for span in re.findall(r"`([^`]+)`", line):
                if re.match(pattern, span):
                    found.append((f"{doc.relative_to(REPO_DIR)}:{number}", span))
    return found


def _words(command: str) -> list[str]:
    """The program's own arguments: up to the first redirection, pipe or chained command."""
    words = shlex.split(command, comments=True)
    ends = [i for i, word in enumerate(words) if word in _SHELL_ENDS]
    return words[1 : ends[0]] if ends else words[1:]


def test_every_dlgrade_command_in_the_guides_exists_with_its_options():
    """Does every `dlgrade ...` a guide shows (code blocks and inline code) name a real subcommand, and every option
    it passes exist for that subcommand, so that a renamed option fails here and not in a user's shell?"""
    subcommands, checked, problems = _subcommands(), 0, []
    for where, command in _documented(r"(\.venv/bin/)?dlgrade\s"):
        words = _words(command)
        if not words or words[0].startswith("-"):
            continue
        parser = subcommands.get(words[0])
        if parser is None:
            problems.append(f"{where}: no subcommand {words[0]!r} in: {command}")
            continue
        checked += 1
        for word in words[1:]:
            option = word.split("=", 1)[0]
            if option.startswith("--") and option not in parser._option_string_actions:
                problems.append(f"{where}: dlgrade {words[0]} has no option {option}: {command}")
    assert problems == [] and checked >= 30, problems


def test_every_full_dlgrade_command_in_a_code_block_parses():
    """Does each `dlgrade` line of a code block parse as it stands, placeholders (NOTEBOOK, WEEK) taken as values?"""
    subcommands, parsed = _subcommands(), 0
    for doc in GUIDES:
        for block in code_blocks(doc):
            for line in block.commands():
                words = _words(line.strip()) if re.match(r"(\.venv/bin/)?dlgrade\s", line.strip()) else []
                if words:
                    try:
                        cli._parser().parse_args(words)
                    except SystemExit:
                        pytest.fail(f"{block.where}: does not parse: {line.strip()}")
                    assert words[0] in subcommands
                    parsed += 1
    assert parsed >= 12


def test_every_nbgrader_command_in_the_guides_exists_with_its_options():
    """Does every `nbgrader ...` shown name one of nbgrader's subcommands, with flags that subcommand takes and
    settings (`--GradeInSandbox.feedback=open`) that this course's classes have?"""
    from nbgrader.apps import NbGraderApp

    problems, checked = [], 0
    for where, command in _documented(r"nbgrader\s+\w"):
        words = _words(command)
        if words[0] == "db":  # `nbgrader db student import FILE`: no options in the guides
            continue
        if words[0] not in NbGraderApp.subcommands:
            problems.append(f"{where}: no nbgrader subcommand {words[0]!r}: {command}")
            continue
        checked += 1
        app = NbGraderApp.subcommands[words[0]][0]
        app = import_item(app) if isinstance(app, str) else app
        known = set(app.flags) | set(app.aliases)
        for word in words[1:]:
            option = word.removeprefix("--").split("=", 1)[0]
            if word.startswith("--") and "." not in option and option not in known:
                problems.append(f"{where}: nbgrader {words[0]} has no option --{option}: {command}")
    settings = GradeInSandbox.class_traits(config=True)
    for doc in [*GUIDES, REPO_DIR / "nbgrader_config.py"]:
        for number, line in enumerate(doc.read_text().splitlines(), start=1):
            for name in re.findall(r"GradeInSandbox\.(\w+)", line):
                if name not in settings:
                    problems.append(f"{doc.relative_to(REPO_DIR)}:{number}: GradeInSandbox has no setting {name!r}")
    assert problems == [] and checked >= 8, problems


def test_every_file_the_guides_name_exists():
    """Does every repository path a guide names in backticks (scripts, benchmarks, tests, modules) exist?"""
    missing, named = [], 0
    for doc in GUIDES:
        base = doc.parent if doc == TEMPLATE_README else REPO_DIR
        for number, line in enumerate(doc.read_text().splitlines(), start=1):
            for path in (p.rstrip(".") for span in re.findall(r"`([^`]+)`", line) for p in _PATH.findall(span)):
                named += 1
                pattern = re.sub(r"<\w+>", "*", path)  # autograder/course/graders/<week>.py: one such file at least
                if not next(base.glob(pattern), None) if "*" in pattern else not (base / path).exists():
                    missing.append(f"{doc.relative_to(REPO_DIR)}:{number}: {path}")
    assert missing == [] and named >= 40, missing


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **extra)


def test_readme_grading_commands_run_as_written(tmp_path):
    """Do README's "Grading one notebook" lines run as written (NOTEBOOK: the week-1 sample), each writing what its
    comment promises: a table, results.json, Markdown appended to the step summary, JUnit, the weeks' points?"""
    (block,) = [b for b in code_blocks(REPO_DIR / "README.md") if "dlgrade grade" in b.text]
    (tmp_path / ".venv").symlink_to(VENV_BIN.parent)
    shutil.copy(SAMPLE, tmp_path / "NOTEBOOK")
    (tmp_path / "path" / "to").mkdir(parents=True)
    shutil.copy(SAMPLE, tmp_path / "path" / "to" / "week1_tensors.ipynb")
    summary = tmp_path / "summary.md"
    printed = run_block(block, tmp_path, _env(GITHUB_STEP_SUMMARY=str(summary)))
    assert json.loads((tmp_path / "results.json").read_text())["score"] == 15
    assert json.loads((tmp_path / "out" / "results.json").read_text())["score"] == 15
    assert "<testsuite" in (tmp_path / "out" / "junit.xml").read_text()
    assert "15 / 25" in summary.read_text()
    assert "storage_facts" in printed and "week5_checkpoints" in printed  # the table, then `weeks`


def test_gradescope_guide_builds_its_zips_as_written(tmp_path):
    """Does docs/gradescope.md's block write the zips it names, each with Gradescope's two entry files?"""
    (block,) = [b for b in code_blocks(REPO_DIR / "docs" / "gradescope.md") if "dlgrade gradescope" in b.text]
    (tmp_path / ".venv").symlink_to(VENV_BIN.parent)
    run_block(block, tmp_path, _env())
    for made in (tmp_path / "build" / "gradescope" / "week1_tensors-gradescope.zip", tmp_path / "week4.zip"):
        assert {"setup.sh", "run_autograder"} <= set(zipfile.ZipFile(made).namelist()), made


def _nbgrader(*args: str, cwd: Path, env: dict[str, str]) -> None:
    run = subprocess.run(["nbgrader", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]


def test_nbgrader_guide_runs_as_written(tmp_path):
    """Does docs/nbgrader.md's term run as written, block by block, on a scratch course of two students (the
    exchange in a scratch folder; the students fetch and submit between release and collect), ending with both
    graders' points in agreement, a feedback page each and the export holding both rows?"""
    doc = REPO_DIR / "docs" / "nbgrader.md"
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(REPO_DIR / "nbgrader_config.py", course)
    shutil.copytree(REPO_DIR / "solutions", course / "solutions")
    (course / ".venv").symlink_to(VENV_BIN.parent)
    with (course / "students.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([("id", "first_name", "last_name", "email"), ("ada", "Ada", "L", "a@x.org")])
        csv.writer(handle).writerow(("bo", "Bo", "D", "b@x.org"))
    config = tmp_path / "jupyter"  # where nbgrader reads settings beyond the course's: here the exchange
    config.mkdir()
    (config / "nbgrader_config.py").write_text(f"c.Exchange.root = {str(tmp_path / 'exchange')!r}\n")
    (tmp_path / "exchange").mkdir()
    env = _env(JUPYTER_CONFIG_DIR=str(config))
    blocks = code_blocks(doc)
    assert blocks[0].text.split()[:2] == ["bash", "scripts/setup.sh"]  # once per machine: scripts/test.sh ran it
    setup = [line for line in blocks[0].commands() if line.startswith("export ")]
    for block in blocks[1:]:
        run_block(block, course, env, before=setup)
        if "release_assignment" in block.text:
            for student, notebook in (("ada", answered_stub(WEEK)), ("bo", nbformat.read(SAMPLE, as_version=4))):
                home = tmp_path / "home" / student
                home.mkdir(parents=True)
                _nbgrader("fetch_assignment", WEEK, "--course", "dl-course", cwd=home, env=env)
                nbformat.write(notebook, home / WEEK / f"{WEEK}.ipynb")
                _nbgrader("submit", WEEK, "--course", "dl-course", "--student", student, cwd=home, env=env)
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["ada", "bo"]
    for student, score in (("ada", 25), ("bo", 15)):
        assert json.loads((course / "results" / student / WEEK / "results.json").read_text())["score"] == score
        page = (course / "feedback" / student / WEEK / f"{WEEK}.html").read_text()
        assert f"(Score: {float(score)} / 25.0)" in page
    with (course / "grades.csv").open(newline="") as handle:
        exported = {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}
    with (course / "results" / "grades.csv").open(newline="") as handle:
        batch = {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}
    assert exported == batch == {"ada": 25.0, "bo": 15.0}
    released = tmp_path / "exchange" / "dl-course" / "outbound" / WEEK / f"{WEEK}.ipynb"
    assert nbformat.read(released, 4).cells == nbformat.read(get_week(WEEK).stub, 4).cells
