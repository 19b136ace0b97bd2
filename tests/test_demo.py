"""README's first command, `bash scripts/demo.sh`, as a newcomer sees it: one line per setup stage, scores, no
warnings to learn to ignore; week 4's training shows its progress when asked; a week whose training fails costs
that week only."""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path

import nbformat
import pytest
from helpers import prepared_solution_files

from autograder.authoring.handed_in import execute
from autograder.course.weeks import WEEKS

REPO = Path(__file__).resolve().parents[1]
NOISE = re.compile(r"WARNING|Warning:|!!|Traceback")
"""What a newcomer would have to learn to ignore: a logger's or the warnings module's warning, setuptools' banner."""


@pytest.mark.slow
def test_demo_script_prints_setup_stages_and_scores_without_warnings(tmp_path, week4_weights):
    """Does `bash scripts/demo.sh` (setup, then the demo) print one line per setup stage, a score line for every
    week's solution, stub and sample, and not one warning, traceback or banner?"""
    env = dict(os.environ, DLGRADE_SOLUTION_FILES=str(prepared_solution_files(tmp_path / "made", week4_weights)))
    env.pop("PYTHONWARNINGS", None)
    run = subprocess.run(
        ["bash", "scripts/demo.sh", "--no-progress"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800
    )
    lines = (run.stdout + run.stderr).splitlines()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert [line for line in lines if NOISE.search(line)] == []
    stages = [line for line in run.stdout.splitlines() if line.startswith("setup: ")]
    assert [line.split(" (")[0] for line in stages] == [
        "setup: system packages",
        "setup: the venv",
        "setup: PyTorch",
        "setup: the course package",
    ], stages
    for name in WEEKS:
        graded = [line for line in run.stdout.splitlines() if line.startswith(name)]
        kinds = [line.split()[1] for line in graded]
        assert kinds[:2] == ["solution", "stub"] and "sample" in kinds, graded
    assert "every solution has full marks and every stub 0" in run.stdout
    assert run.stderr == ""


def test_training_reports_epochs_and_batches_when_asked(week4_training):
    """Did week 4's solution, run with a progress stream (as `dlgrade demo --progress` runs it), report its epochs
    and its batches there as it trained, for both nets?"""
    _, progress = week4_training
    for net in ("NetFF", "NetCNN"):
        assert re.search(rf"{net}: +100%\|.*\| 2/2 ", progress), progress[-2000:]
    assert re.search(r"epoch 1: +\d+%\|.*\| \d+/938 \[.*batch/s\]", progress), progress[-2000:]
    assert re.search(r"epoch 2: test loss \d\.\d+, accuracy \d+\.\d+%", progress)


def test_notebook_runs_in_a_kernel_over_ipc_without_warnings(tmp_path, capfd):
    """Does a notebook run for its files start its kernel without a warning (ipykernel's unencrypted-TCP line among
    them), pass its tqdm bars on as text when asked, and keep them out when not?"""
    source = "from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='steps'):\n    pass\nprint('ran')"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    progress = io.StringIO()
    execute(notebook, tmp_path, timeout=120, progress=progress)
    quiet = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    execute(quiet, tmp_path, timeout=120)
    captured = capfd.readouterr()
    assert NOISE.search(captured.out + captured.err) is None, captured.err
    assert "steps: 100%|" in progress.getvalue() and "\r" in progress.getvalue()
    assert {"name": "stdout", "text": "ran\n"}.items() <= quiet.cells[0].outputs[-1].items()


@pytest.mark.slow
def test_demo_grades_every_other_week_when_week4_cannot_train(tmp_path, monkeypatch, capsys):
    """When week 4's solution cannot make its files (here: its training outruns --training-timeout), does the demo
    say so in one line with what to do, still grade every other week, and exit 1 without a traceback?"""
    from autograder.frontends import cli

    monkeypatch.setattr(cli, "WEEKS", {name: WEEKS[name] for name in ("week4_cnn", "week1_tensors")})
    monkeypatch.setattr("autograder.authoring.handed_in.SOLUTION_FILES", tmp_path / "made")
    code = cli.main(["demo", "--no-progress", "--training-timeout", "1"])
    out, err = capsys.readouterr()
    assert code == 1
    assert re.search(r"^week4_cnn +the solution could not make its files: ", out, re.MULTILINE), out
    assert re.search(r"^week1_tensors +solution +(\d+) / \1 ", out, re.MULTILINE), out
    assert re.search(r"^week4_cnn +stub +0 / \d+", out, re.MULTILINE), out
    assert "--training-timeout 2" in err and "Traceback" not in out + err
