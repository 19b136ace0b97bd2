"""A Gradescope autograder container laid out in a temporary folder: ``ROOT/source`` (the unpacked zip),
``ROOT/submission``, ``ROOT/results``, and ``ROOT/run_autograder`` copied there as Gradescope copies it.

``setup.sh`` runs as written, except what needs the network: ``apt-get`` only records what it was asked for, and
``python3 -m venv`` makes a virtual environment of this machine's Python that sees this test environment's
packages, whose ``pip`` records each install and, for ``pip install -e DIR``, puts DIR on the path as an
editable install would. So the package imported while grading is the zip's copy, never this checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REAL_PYTHON = getattr(sys, "_base_executable", sys.executable)

FAKE_APT = """#!/bin/sh
echo "apt-get $*" >>"$DLGRADE_FAKE_LOG"
"""
FAKE_PYTHON3 = """#!/bin/sh
# Gradescope's python3, for `python3 -m venv DIR`: see tests/gradescope_container.py.
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
    exec {python} {helper} venv "$3" {packages}
fi
exec {python} "$@"
"""
VENV_PYTHON = """#!/bin/sh
# The venv's python, except `python -m pip`, which goes to the recording pip.
here="$(dirname "$0")"
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
    shift 2
    exec "$here/python3" {helper} pip "$@"
fi
exec "$here/python3" "$@"
"""


@dataclass
class Container:
    root: Path
    log: Path
    setup: subprocess.CompletedProcess

    @property
    def results(self) -> Path:
        return self.root / "results" / "results.json"

    def installs(self) -> list[str]:
        """Every apt-get and pip command setup.sh ran, in order."""
        return self.log.read_text().splitlines() if self.log.is_file() else []

    def grade(self, files: dict[str, bytes | Path], env: dict[str, str] | None = None) -> dict:
        """Put ``files`` (name in the submission: content or a file to copy) in a fresh submission folder, run
        run_autograder, and return its results.json (with what it printed in ``_stdout``, ``_status``)."""
        submission = self.root / "submission"
        shutil.rmtree(submission, ignore_errors=True)
        shutil.rmtree(self.root / "results", ignore_errors=True)
        submission.mkdir()
        (self.root / "results").mkdir()
        for name, content in files.items():
            (submission / name).parent.mkdir(parents=True, exist_ok=True)
            data = content.read_bytes() if isinstance(content, Path) else content
            (submission / name).write_bytes(data)
        run = subprocess.run(
            [str(self.root / "run_autograder")],
            cwd=self.root,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert self.results.is_file(), f"no results.json: {run.stdout[-2000:]}\n{run.stderr[-2000:]}"
        results = json.loads(self.results.read_text())
        results["_stdout"], results["_status"] = run.stdout + run.stderr, run.returncode
        return results

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        path = f"{self.root.parent / 'fake-bin'}:/usr/local/bin:/usr/bin:/bin"
        base = {"PATH": path, "HOME": str(self.root), "LANG": "C.UTF-8", "DLGRADE_FAKE_LOG": str(self.log)}
        return {**base, "DLGRADE_AUTOGRADER_ROOT": str(self.root), **(extra or {})}


def unpack(zip_path: Path, folder: Path) -> Container:
    """Lay out Gradescope's /autograder under ``folder`` from the zip and run its setup.sh there."""
    root = folder / "autograder"
    source = root / "source"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(source)
        for info in archive.infolist():  # zipfile drops the modes; Gradescope's unzip keeps them
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                (source / info.filename).chmod(mode)
    shutil.copy2(source / "run_autograder", root / "run_autograder")
    fakes = folder / "fake-bin"
    fakes.mkdir()
    helper = Path(__file__).resolve()
    (fakes / "apt-get").write_text(FAKE_APT)
    packages = next(Path(p) for p in site.getsitepackages() if Path(p).name == "site-packages")
    (fakes / "python3").write_text(FAKE_PYTHON3.format(python=REAL_PYTHON, helper=helper, packages=packages))
    for script in fakes.iterdir():
        script.chmod(0o755)
    container = Container(root, folder / "installs.log", None)  # type: ignore[arg-type]
    container.setup = subprocess.run(
        ["bash", str(source / "setup.sh")], cwd=source, env=container.env(), capture_output=True, text=True
    )
    return container


def _venv(target: str, packages: str) -> None:
    """``python3 -m venv TARGET``: this machine's Python, the test environment's ``packages``, a recording pip."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", target], check=True)
    lib = next((Path(target) / "lib").glob("python*/site-packages"))
    (lib / "zz-test-environment.pth").write_text(f"import site; site.addsitedir({packages!r})\n")
    bin_dir = Path(target) / "bin"
    real = os.path.realpath(bin_dir / "python")
    for link in bin_dir.glob("python*"):
        link.unlink()
    (bin_dir / "python3").symlink_to(real)  # the venv's interpreter, as venv makes it
    python = bin_dir / "python"
    python.write_text(VENV_PYTHON.format(helper=Path(__file__).resolve()))
    python.chmod(0o755)


def _pip(args: list[str]) -> None:
    """``python -m pip ARGS``: recorded; ``install -e DIR`` puts DIR on the path, first."""
    with open(os.environ["DLGRADE_FAKE_LOG"], "a") as log:
        log.write("pip " + " ".join(args) + "\n")
    if "-e" in args:
        folder = Path(args[args.index("-e") + 1]).resolve()
        lib = next((Path(sys.prefix) / "lib").glob("python*/site-packages"))
        (lib / "aa-editable-dlgrade.pth").write_text(f"{folder}\n")


if __name__ == "__main__":
    {"venv": lambda: _venv(sys.argv[2], sys.argv[3]), "pip": lambda: _pip(sys.argv[2:])}[sys.argv[1]]()
