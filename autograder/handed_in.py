"""The files a notebook writes and hands in beside itself (week 4's trained weights), made by running it.

The solution's own files are not committed (binary, and they would drift from the code): they are made by
executing the solution notebook with nbclient, as a student runs it, with the data root prepared offline first.
The demo and the benchmarks keep them under build/solution-files/ and make them again only when the solution's
code changes; the tests make them once per session in a scratch folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.data import DATA_ENV, data_root, fashion_mnist
from autograder.weeks import REPO_DIR, Week

SOLUTION_FILES = REPO_DIR / "build" / "solution-files"


def missing(week: Week, folder: Path) -> list[str]:
    """The week's handed-in files that ``folder`` lacks."""
    return [name for name in week.handed_in if not (folder / name).is_file()]


def make_handed_in(week: Week, folder: Path, timeout: int = 1800) -> list[Path]:
    """Run the week's solution notebook in ``folder`` (a copy goes there) so that it writes its handed-in files.

    Raises ``DataMissing`` when the training data cannot be found, and nbclient's ``CellExecutionError`` (with the
    cell and its error) when the notebook fails.
    """
    folder.mkdir(parents=True, exist_ok=True)
    root = data_root()
    fashion_mnist(root, train=True)  # unpacks the IDX files torchvision expects, from Debian's package if need be
    notebook_path = folder / week.solution.name
    if notebook_path.resolve() != week.solution.resolve():
        shutil.copyfile(week.solution, notebook_path)
    notebook = nbformat.read(notebook_path, as_version=4)
    previous = os.environ.get(DATA_ENV)
    os.environ[DATA_ENV] = str(root)  # the kernel inherits it: the notebook reads its data root from there
    try:
        NotebookClient(notebook, timeout=timeout, resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        if previous is None:
            os.environ.pop(DATA_ENV, None)
        else:
            os.environ[DATA_ENV] = previous
    return [folder / name for name in week.handed_in]


def code_digest(notebook: Path) -> str:
    """A digest of what the handed-in files depend on: the notebook's code cells, not its prose."""
    cells = nbformat.read(notebook, as_version=4).cells
    return hashlib.sha256("\0".join(c.source for c in cells if c.cell_type == "code").encode()).hexdigest()


def solution_with_files(
    week: Week, log: Callable[[str], object] = lambda line: None, root: Path = SOLUTION_FILES
) -> Path:
    """The solution notebook to grade: a copy beside the files it hands in, made by running it once, and again
    whenever its code changes (a stamp records the code they were made from).

    Those files live under build/, never beside the solution: nbgrader copies whatever sits in a source folder
    into the release and over every submission.
    """
    if not week.handed_in:
        return week.solution
    folder = root / week.name
    stamp = folder / "made-from.sha256"
    digest = code_digest(week.solution)
    lacking = missing(week, folder)
    if lacking or not stamp.is_file() or stamp.read_text() != digest:
        why = f"to make {', '.join(lacking)}" if lacking else "again: its code changed since it made its files"
        log(f"{week.name:<20} running the solution {why}")
        started = time.monotonic()
        stamp.unlink(missing_ok=True)
        make_handed_in(week, folder)
        stamp.write_text(digest)
        log(f"{week.name:<20} made {', '.join(week.handed_in)} in {time.monotonic() - started:.0f}s (kept in {folder})")
    shutil.copyfile(week.solution, folder / week.solution.name)  # grade the solution as it is now
    return folder / week.solution.name
