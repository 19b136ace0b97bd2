"""Confinement's edges: what the sandbox is built from, what happens where it cannot be built, and the script that
enables it on GitHub's Ubuntu runners."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from autograder.course.weeks import PACKAGE_DIR, REPO_DIR, get_week
from autograder.grading.grade import student_view
from autograder.sandbox import confinement

WEEK = get_week("week1_tensors")
NO_BWRAP = {"DLGRADE_BWRAP": "/nonexistent/bwrap"}


def dlgrade(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def bound(argv: list[str]) -> list[str]:
    """The host paths a bwrap command line shows inside the sandbox."""
    return [argv[i + 1] for i, arg in enumerate(argv) if arg in ("--ro-bind", "--ro-bind-try", "--bind", "--dev-bind")]


def pairs(argv: list[str], option: str) -> list[str]:
    """The paths that follow ``option`` in a bwrap command line, in order."""
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == option]


def test_the_repository_is_never_shown_only_the_worker_and_the_runtime():
    """Is nothing of the checkout bound into the sandbox but its Python environment and the worker's own code?"""
    view, _ = student_view(WEEK.stub.parent, "cpu", required=False)
    if view is None:
        pytest.skip(f"no confinement here: {confinement.unavailable()}")
    with confinement.Sandbox(["/bin/true"], view, 1 << 20) as sandbox:
        shown = [Path(path) for path in bound(sandbox.argv)]
    worker = {PACKAGE_DIR / "__init__.py", PACKAGE_DIR / "sandbox"}
    for path in shown:
        if path == REPO_DIR or REPO_DIR in path.parents:
            assert path in worker or path == Path(sys.prefix) or Path(sys.prefix) in path.parents, path
    assert str(PACKAGE_DIR) in pairs(sandbox.argv, "--tmpfs") and sandbox.argv[-1] == "/bin/true"


def test_a_package_installed_beside_its_graders_is_covered():
    """Installed into site-packages (not editable), is autograder/ covered and only its worker shown again?"""
    package = Path(sysconfig.get_paths()["purelib"]) / "autograder"
    with confinement.Sandbox(["/bin/true"], confinement.View(package), 1 << 20) as sandbox:
        argv = sandbox.argv
    covered = argv.index(str(package), argv.index("--tmpfs", argv.index("--ro-bind")))
    assert argv[covered - 1] == "--tmpfs"
    assert argv.index(f"{package}/sandbox") > covered and argv.index(f"{package}/__init__.py") > covered
    assert str(package) not in bound(argv) and not [arg for arg in argv if "graders" in arg]
    assert str(package) in pairs(argv, "--remount-ro")


def test_without_bubblewrap_the_reason_is_one_line(monkeypatch):
    """Where bwrap is missing, does confinement say so in one line?"""
    monkeypatch.setenv("DLGRADE_BWRAP", "/nonexistent/bwrap")
    confinement.unavailable.cache_clear()
    try:
        assert confinement.unavailable() == "bubblewrap is not installed (apt-get install bubblewrap)"
    finally:
        confinement.unavailable.cache_clear()


def test_batch_refuses_to_grade_unconfined(tmp_path):
    """Does `dlgrade batch` without confinement refuse in one line naming --allow-unconfined, grading nothing?"""
    (tmp_path / "submitted").mkdir()
    (tmp_path / "submitted" / "ada.ipynb").write_bytes(WEEK.solution.read_bytes())
    run = dlgrade("batch", str(tmp_path / "submitted"), "--out", str(tmp_path / "results"), env=NO_BWRAP)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "--allow-unconfined" in lines[0] and "bubblewrap is not installed" in lines[0]
    assert not (tmp_path / "results").exists()


def test_batch_allowed_unconfined_says_so_in_every_report_and_the_csv(tmp_path):
    """With --allow-unconfined, do the results.json and the CSV say the notebook was graded without confinement?"""
    (tmp_path / "submitted").mkdir()
    (tmp_path / "submitted" / "ada.ipynb").write_bytes(WEEK.solution.read_bytes())
    out = tmp_path / "results"
    run = dlgrade("batch", str(tmp_path / "submitted"), "--out", str(out), "--allow-unconfined", env=NO_BWRAP)
    assert run.returncode == 0, run.stderr
    results = json.loads((out / "ada" / "ada" / "results.json").read_text())
    assert results["score"] == 25 and results["extra_data"]["confined"] is False
    assert results["output"].startswith("not confined: bubblewrap is not installed")
    with (out / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["graded_unconfined"] == "yes"


def test_grade_on_a_laptop_without_bubblewrap_grades_with_the_note_first():
    """Does `dlgrade grade` still grade without confinement, saying so at the top of the report?"""
    run = dlgrade("grade", str(WEEK.solution), "--format", "json", env=NO_BWRAP)
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert results["score"] == 25
    assert results["output"].splitlines()[0].startswith("not confined: bubblewrap is not installed")


def _enable(tmp_path: Path, restricted: bool) -> tuple[subprocess.CompletedProcess, Path]:
    """scripts/enable-confinement.sh with AppArmor's switch and profile folder in ``tmp_path``, and stand-ins for
    sudo and apparmor_parser that record their calls."""
    stubs, log = tmp_path / "bin", tmp_path / "calls"
    stubs.mkdir()
    for name in ("sudo", "apparmor_parser"):
        script = stubs / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n' + ('exec "$@"\n' if name == "sudo" else ""))
        script.chmod(0o755)
    switch = tmp_path / "apparmor_restrict_unprivileged_userns"
    switch.write_text("1\n" if restricted else "0\n")
    (tmp_path / "apparmor.d").mkdir()
    env = {
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "DLGRADE_USERNS_RESTRICT": str(switch),
        "DLGRADE_APPARMOR_DIR": str(tmp_path / "apparmor.d"),
    }
    run = subprocess.run(
        ["bash", str(REPO_DIR / "scripts" / "enable-confinement.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    return run, log


def test_enabling_step_gives_bwrap_alone_an_apparmor_profile_where_ubuntu_restricts(tmp_path):
    """On Ubuntu 24.04 (restricted user namespaces), is bwrap given a profile allowing them, and loaded?"""
    if confinement.unavailable():
        pytest.skip(f"no confinement here to prove the step with: {confinement.unavailable()}")
    run, log = _enable(tmp_path, restricted=True)
    assert run.returncode == 0, run.stderr
    profile = (tmp_path / "apparmor.d" / "dlgrade-bwrap").read_text()
    assert "userns," in profile and f"profile dlgrade-bwrap {confinement.bwrap()} flags=(unconfined)" in profile
    assert f"apparmor_parser --replace {tmp_path / 'apparmor.d' / 'dlgrade-bwrap'}" in log.read_text()
    assert run.stdout.strip().endswith("student code will be confined")


def test_enabling_step_changes_nothing_where_nothing_is_restricted(tmp_path):
    """Elsewhere, does the step leave AppArmor alone and only prove that a sandbox starts?"""
    if confinement.unavailable():
        pytest.skip(f"no confinement here to prove the step with: {confinement.unavailable()}")
    run, log = _enable(tmp_path, restricted=False)
    assert run.returncode == 0, run.stderr
    assert not log.exists() and not list((tmp_path / "apparmor.d").iterdir())
    assert "no AppArmor restriction" in run.stdout


def test_the_folder_grading_starts_in_stays_hidden(tmp_path):
    """Started from a folder of the grader's (Python puts it on sys.path), does grading keep it out of sight?"""
    (tmp_path / "grader").mkdir()
    secret = tmp_path / "grader" / "notes.txt"
    secret.write_text("answers")
    if confinement.unavailable():
        pytest.skip(f"no confinement here: {confinement.unavailable()}")
    from helpers import submission  # noqa: PLC0415

    seen = f"os.path.exists({str(secret)!r})"
    honest = "torch.device('cuda' if torch.cuda.is_available() else 'cpu')"
    looks = f"def pick_device():\n    import os\n    return 'seen' if {seen} else {honest}"
    (tmp_path / "handed-in").mkdir()
    path = submission(tmp_path / "handed-in", "week1_tensors", {"pick_device": looks})
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        cwd=secret.parent,
        env={**os.environ, "PYTHONPATH": str(REPO_DIR)},
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["score"] == 25
