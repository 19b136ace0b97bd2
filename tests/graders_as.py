"""Who runs the grader: root (CI containers, self-hosted runners), or an unprivileged user who owns the checkout
(GitHub's hosted runners). Tests of the walls run as both; as root the unprivileged one is made here: a system
user, a copy of this checkout it owns (.git included), and a Python it owns that imports this environment's
packages.
"""

from __future__ import annotations

import os
import pwd
import shutil
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
USER = "dlgrade-ci"
KINDS = ("root", "unprivileged")


@dataclass
class Grader:
    """A grader's identity: how to run a command as it, its checkout, and its Python."""

    kind: str
    repo: Path
    python: str
    prefix: list[str] = field(default_factory=list)
    owner: str | None = None

    def run(self, args: list[str], env: dict[str, str] | None = None, timeout: float = 900):
        base = {"PATH": f"{Path(self.python).parent}:/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": str(self.repo)}
        base.update(LANG="C.UTF-8", HOME=str(self.repo.parent), **(env or {}))
        command = [*self.prefix, "env", "-i", *(f"{k}={v}" for k, v in base.items()), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.repo)

    def scratch(self) -> Path:
        """A folder this grader owns, outside pytest's (root-only) temporary folders."""
        folder = Path(tempfile.mkdtemp(prefix=f"dlgrade-{self.kind}-"))
        folder.chmod(0o755)
        if self.owner:
            shutil.chown(folder, self.owner, self.owner)
        return folder


def grader(kind: str) -> Grader:
    """The grader of this kind on this machine, or a skip saying why there is none."""
    if kind == "root":
        if os.geteuid() != 0:
            pytest.skip(f"the root half needs root, and these tests run as uid {os.geteuid()} (CI runs as root)")
        return Grader("root", REPO, sys.executable)
    if os.geteuid() != 0:
        return Grader("unprivileged", REPO, sys.executable)  # already one, in a checkout of its own
    return _unprivileged_copy()


_MADE: dict[str, Grader] = {}


def _unprivileged_copy() -> Grader:
    if "unprivileged" in _MADE:
        return _MADE["unprivileged"]
    if not shutil.which("runuser") or not shutil.which("useradd"):
        pytest.skip("runuser and useradd (util-linux, passwd) are needed to drop to an unprivileged user")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        no_home = ["--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"]
        subprocess.run(["useradd", "--system", *no_home, USER], check=True)
    prefix = ["runuser", "-u", USER, "--"]
    home = Path(tempfile.mkdtemp(prefix="dlgrade-unprivileged-"))
    home.chmod(0o755)
    checkout = home / "checkout"
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        if (REPO / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, checkout / name)
    shutil.copytree(REPO / ".git", checkout / ".git")
    subprocess.run(["chown", "-R", f"{USER}:{USER}", str(home)], check=True)
    python = _python_for(prefix, home)
    _MADE["unprivileged"] = Grader("unprivileged", checkout, python, prefix, USER)
    return _MADE["unprivileged"]


def _python_for(prefix: list[str], home: Path) -> str:
    """A Python the user may run, with this environment's packages: this one where the user can reach it, else a
    venv of the system's Python of the same version that imports them (pyenv's lives in root's 0700 home)."""
    if subprocess.run([*prefix, sys.executable, "-c", "pass"], capture_output=True).returncode == 0:
        return sys.executable
    system = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/local/bin:/usr/bin")
    if system is None:
        pytest.skip(f"no Python {sys.version_info.major}.{sys.version_info.minor} that {USER} may run")
    venv = home / "venv"
    subprocess.run([*prefix, system, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    packages = next(Path(p) for p in site.getsitepackages() if Path(p).name == "site-packages")
    target = next((venv / "lib").glob("python*/site-packages"))
    pth = target / "dlgrade-environment.pth"
    pth.write_text(f"import site; site.addsitedir({str(packages)!r})\n")
    shutil.chown(pth, USER, USER)
    return str(venv / "bin" / "python")
