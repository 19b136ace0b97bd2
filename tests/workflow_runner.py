"""Run a GitHub Actions workflow's own steps on this machine, as far as a test can: the ``run:`` scripts exactly as
written, with the ``env:`` they declare; the few actions the course's workflows use are stood in for locally.

Stand-ins: checkout and setup-python do nothing (the job runs in a fresh copy of this repository, with this test's
Python); create-github-app-token records what it was asked for and returns a fake token; upload-artifact and
download-artifact copy to and from a folder. The step named ``Install`` is skipped: the test's environment is the
installed one. Expressions are limited to what these workflows need (dotted names and ``fromJSON(name)``), and any
other form fails the test, so the workflow cannot quietly drift beyond what is tested.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


@dataclass
class WorkflowRun:
    workflow: Path
    checkout: Path  # a clean copy of the repository, copied again for every job
    scratch: Path
    context: dict[str, Any]  # inputs, vars, secrets, github
    env: dict[str, str] = field(default_factory=dict)  # what the runner's environment adds (e.g. the API URL)
    tokens: list[dict[str, str]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.spec = yaml.safe_load(self.workflow.read_text())
        self.artifacts = self.scratch / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.needs: dict[str, dict] = {}

    def job(self, name: str) -> dict:
        return self.spec["jobs"][name]

    def matrix_values(self, name: str, key: str) -> list[Any]:
        expression = self.job(name)["strategy"]["matrix"][key]
        match = re.fullmatch(r"\$\{\{\s*fromJSON\((.*)\)\s*\}\}", expression)
        assert match, f"matrix {key} must be fromJSON(name)"
        return json.loads(self._lookup(match.group(1), self._context()))

    def run_job(self, name: str, matrix: dict[str, Any] | None = None) -> dict[str, str]:
        """Run one job (one matrix combination) in a fresh copy of the repository; returns its outputs."""
        job = self.job(name)
        workdir = self.scratch / f"{name}-{len(self.log)}"
        shutil.copytree(self.checkout, workdir, symlinks=True)
        steps: dict[str, dict] = {}
        context = self._context(matrix=matrix or {}, steps=steps)
        env = {
            **self._evaluate_map(self.spec.get("env", {}), context),
            **self._evaluate_map(job.get("env", {}), context),
        }
        for number, step in enumerate(job["steps"]):
            context = self._context(matrix=matrix or {}, steps=steps)
            outputs = self._step(step, workdir, env, context, f"{name}-{number}")
            if "id" in step:
                steps[step["id"]] = {"outputs": outputs}
        outputs = self._evaluate_map(job.get("outputs", {}), self._context(matrix=matrix or {}, steps=steps))
        self.needs[name] = {"outputs": outputs}
        return outputs

    # -- steps ---------------------------------------------------------------------------------------------------
    def _step(self, step: dict, workdir: Path, env: dict, context: dict, label: str) -> dict[str, str]:
        uses = step.get("uses", "")
        given = self._evaluate_map(step.get("with", {}), context)
        if uses.startswith(("actions/checkout@", "actions/setup-python@")):
            return {}
        if uses.startswith("actions/create-github-app-token@"):
            self.tokens.append(given)
            return {"token": f"fake-token-{len(self.tokens)}"}
        if uses.startswith("actions/upload-artifact@"):
            self._upload(workdir, given)
            return {}
        if uses.startswith("actions/download-artifact@"):
            self._download(workdir, given)
            return {}
        assert not uses, f"no stand-in for {uses}"
        if step.get("name") == "Install":
            return {}
        assert "${{" not in step["run"], "run: scripts take expressions through env:, never inline"
        output, summary = self.scratch / f"{label}.output", self.scratch / f"{label}.summary"
        output.write_text("")
        step_env = {**os.environ, **self.env, **env, **self._evaluate_map(step.get("env", {}), context)}
        step_env.update(GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary))
        script = self.scratch / f"{label}.sh"
        script.write_text(step["run"])
        run = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workdir,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        self.log.append(f"$ {step.get('name', step['run'][:60])}\n{run.stdout}{run.stderr}")
        assert run.returncode == 0, f"step {step.get('name')!r} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        return dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)

    def _upload(self, workdir: Path, given: dict) -> None:
        """As upload-artifact stores them: one folder's contents at the root, several paths under their parent."""
        target, paths = self.artifacts / given["name"], given["path"].split()
        for path in paths:
            source = workdir / path
            assert source.exists() or given.get("if-no-files-found") != "error", f"nothing to upload at {path}"
            if not source.exists():
                continue
            destination = target if len(paths) == 1 and source.is_dir() else target / path.rstrip("/")
            if source.is_dir():
                shutil.copytree(source, destination, dirs_exist_ok=True)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, destination)

    def _download(self, workdir: Path, given: dict) -> None:
        names = (
            [given["name"]]
            if "name" in given
            else sorted(
                folder.name for folder in self.artifacts.iterdir() if fnmatch.fnmatch(folder.name, given["pattern"])
            )
        )
        assert names, "no artifact matched"
        together = "name" in given or given.get("merge-multiple")  # else each artifact in a folder of its name
        for name in names:
            destination = workdir / given["path"] if together else workdir / given["path"] / name
            shutil.copytree(self.artifacts / name, destination, dirs_exist_ok=True)

    # -- expressions -------------------------------------------------------------------------------------------------
    def _context(self, **extra: Any) -> dict[str, Any]:
        return {**self.context, "needs": self.needs, **extra}

    def _evaluate_map(self, values: dict, context: dict) -> dict[str, str]:
        return {key: self._evaluate(str(value), context) for key, value in values.items()}

    def _evaluate(self, text: str, context: dict) -> str:
        return _EXPRESSION.sub(lambda match: _string(self._lookup(match.group(1), context)), text)

    def _lookup(self, name: str, context: dict) -> Any:
        assert _NAME.match(name), f"expression {name!r} is beyond this runner; keep workflow expressions simple"
        value: Any = context
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return "" if value is None else value


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)
