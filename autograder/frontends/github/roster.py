"""The class on GitHub: a roster CSV of students and their repositories, fetched read-only for grading.

The roster replaces GitHub Classroom: ``student,repository`` per line (``repository`` as ``owner/name``). Grading
reads only each week's notebook from a student's repository, at its newest commit or the last one before a
deadline; workflows, results files or anything else a student commits are never run or read.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder.course.weeks import MAX_HANDED_IN_BYTES, WEEKS, Week
from autograder.frontends.batch.run import in_shard

_STUDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
RECORD_NAME = "fetched.json"


class RosterError(ValueError):
    """The roster cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Student:
    student: str
    repository: str


def read_roster(path: Path) -> list[Student]:
    """Every row of the roster, checked: known columns, safe student ids, owner/name repositories, no repeats."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(f"{path}: cannot read the roster ({exc.__class__.__name__})") from None
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or not {"student", "repository"} <= set(rows[0]):
        raise RosterError(f"{path}: expected a header line `student,repository` and one row per student")
    students, seen = [], set()
    for line, row in enumerate(rows, start=2):
        student, repository = (row.get("student") or "").strip(), (row.get("repository") or "").strip()
        if not _STUDENT.match(student):
            raise RosterError(f"{path}, line {line}: student id {student!r} must be letters, digits, . _ or -")
        if not _REPOSITORY.match(repository):
            raise RosterError(f"{path}, line {line}: repository {repository!r} must be owner/name")
        if student in seen:
            raise RosterError(f"{path}, line {line}: student {student!r} appears twice")
        seen.add(student)
        students.append(Student(student, repository))
    return students


def token_scope(students: list[Student]) -> tuple[str, list[str]]:
    """The one owner and the repository names a GitHub App token must cover, and nothing more."""
    owners = sorted({entry.repository.split("/")[0] for entry in students})
    if len(owners) != 1:
        raise RosterError(f"the roster's repositories must share one owner (an App installation); found {owners}")
    return owners[0], sorted(entry.repository.split("/")[1] for entry in students)


def plan_shards(count: int, per_shard: int = 25, most: int = 20) -> list[int]:
    """Shard numbers 1..n for a job matrix: about ``per_shard`` students each, at most ``most`` runners."""
    shards = max(1, min(most, -(-count // per_shard)))
    return list(range(1, shards + 1))


def fetch(
    students: list[Student],
    dest: Path,
    shard: tuple[int, int] = (1, 1),
    base_url: str = "https://github.com/",
    token: str | None = None,
    before: str | None = None,
) -> dict[str, dict]:
    """Each student's notebooks of this shard into ``dest/<student>/<week>/<week>.ipynb``; returns the record.

    The record (also written to ``dest/fetched.json``) holds, per student, the repository, the commit graded
    and any error: what the publishing step needs to post feedback on that very commit.
    """
    record = {}
    for entry in students:
        if not in_shard(entry.student, *shard):
            continue
        try:
            commit = _fetch_one(entry, dest / entry.student, base_url, token, before)
            record[entry.student] = {"repository": entry.repository, "commit": commit}
        except RosterError as exc:
            record[entry.student] = {"repository": entry.repository, "error": str(exc)}
    dest.mkdir(parents=True, exist_ok=True)
    (dest / RECORD_NAME).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return record


def _fetch_one(entry: Student, folder: Path, base_url: str, token: str | None, before: str | None) -> str:
    with tempfile.TemporaryDirectory(prefix="dlgrade-clone-") as scratch:
        clone = Path(scratch) / "repo"
        url = base_url.rstrip("/") + "/" + entry.repository + ("" if base_url.startswith(("/", "file:")) else ".git")
        _git(["clone", "--quiet", "--no-checkout", url, str(clone)], token, entry)
        commit = "HEAD"
        if before:
            commit = _git(["-C", str(clone), "rev-list", "-1", f"--before={before}", "HEAD"], token, entry).strip()
            if not commit:
                raise RosterError(f"{entry.repository}: no commit before {before}")
        _git(["-C", str(clone), "checkout", "--quiet", commit, "--", "."], token, entry)
        sha = _git(["-C", str(clone), "rev-parse", commit], token, entry).strip()
        shutil.rmtree(folder, ignore_errors=True)
        for week in WEEKS.values():
            notebook = clone / week.name / f"{week.name}.ipynb"
            if notebook.is_file() and not notebook.is_symlink():
                (folder / week.name).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(notebook, folder / week.name / notebook.name)
                _copy_handed_in(week, clone / week.name, folder / week.name)
        return sha


def _copy_handed_in(week: Week, source: Path, dest: Path) -> None:
    """The files the week's notebook hands in (trained weights): plain files of sane size only."""
    for name in week.handed_in:
        path = source / name
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_HANDED_IN_BYTES:
            shutil.copyfile(path, dest / name)


def _git(args: list[str], token: str | None, entry: Student) -> str:
    """git with the token as an HTTP header (never in a URL or .git/config), symlinks checked out as files."""
    options = ["-c", "core.symlinks=false", "-c", "core.hooksPath=/dev/null", "-c", "protocol.file.allow=always"]
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        options += ["-c", f"http.extraHeader=Authorization: Basic {basic}"]
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_LFS_SKIP_SMUDGE="1")
    run = subprocess.run(["git", *options, *args], capture_output=True, text=True, env=env, timeout=300)
    if run.returncode != 0:
        reason = (run.stderr.strip().splitlines() or ["git failed"])[-1][:300]
        raise RosterError(f"{entry.repository}: {reason}")
    return run.stdout
