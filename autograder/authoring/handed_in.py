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
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets.config import Config

from autograder.course.data import DATA_ENV, data_root, fashion_mnist
from autograder.course.weeks import REPO_DIR, SOLUTION_CELL_SECONDS, Week

SOLUTION_FILES = Path(os.environ.get("DLGRADE_SOLUTION_FILES", REPO_DIR / "build" / "solution-files"))
"""Where the demo and the benchmarks keep what solutions made (DLGRADE_SOLUTION_FILES moves it)."""


def missing(week: Week, folder: Path) -> list[str]:
    """The week's handed-in files that ``folder`` lacks."""
    return [name for name in week.handed_in if not (folder / name).is_file()]


class _ProgressClient(NotebookClient):
    """nbclient's client, passing what the notebook prints (its tqdm bars, its epochs' results) on to ``progress``
    as it comes.

    The kernel's tqdm.auto is pointed at tqdm's text bars before the notebook runs: the widget bars it would draw
    in Jupyter reach nothing but a browser."""

    def __init__(self, notebook: nbformat.NotebookNode, progress: TextIO, **options: Any) -> None:
        text_bars = "import tqdm.auto, tqdm.std; tqdm.auto.tqdm, tqdm.auto.trange = tqdm.std.tqdm, tqdm.std.trange"
        super().__init__(notebook, extra_arguments=[f"--IPKernelApp.exec_lines={[text_bars]!r}"], **options)
        self.progress = progress

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
        content = msg.get("content", {})
        if msg.get("msg_type") == "stream":
            self.progress.write(content.get("text", ""))
            self.progress.flush()
        return super().output(outs, msg, display_id, cell_index)


def make_handed_in(
    week: Week, folder: Path, timeout: int = SOLUTION_CELL_SECONDS, progress: TextIO | None = None
) -> list[Path]:
    """Run the week's solution notebook in ``folder`` (a copy goes there) so that it writes its handed-in files;
    with ``progress``, its progress bars (epochs and batches) are written there as it trains.

    Raises ``DataMissing`` when the training data cannot be found, and nbclient's ``CellExecutionError`` (with the
    cell and its error) or ``CellTimeoutError`` when the notebook fails or a cell outruns ``timeout`` seconds.
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
        execute(notebook, folder, timeout, progress)
    finally:
        if previous is None:
            os.environ.pop(DATA_ENV, None)
        else:
            os.environ[DATA_ENV] = previous
    return [folder / name for name in week.handed_in]


def execute(notebook: nbformat.NotebookNode, folder: Path, timeout: int, progress: TextIO | None = None) -> None:
    """Run ``notebook`` top to bottom in a fresh kernel started in ``folder``, as Jupyter's Run All would; raise
    nbclient's ``CellExecutionError`` for a cell that failed, a self-check included (those let Run All go on).

    The kernel talks to nbclient over IPC sockets in a private folder, not TCP on localhost: nothing else on the
    machine can connect to it, and ipykernel has no unencrypted-TCP warning to print."""
    with tempfile.TemporaryDirectory(prefix="dlgrade-kernel-") as sockets:  # absolute: the kernel runs in folder
        ipc = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}})
        # killed at the end, not asked to stop: a kernel still inside a cell that timed out would log a ZMQError
        # when it answers on the sockets a graceful shutdown closed
        options = dict(
            timeout=timeout, resources={"metadata": {"path": str(folder)}}, config=ipc, shutdown_kernel="immediate"
        )
        client = (
            NotebookClient(notebook, **options) if progress is None else _ProgressClient(notebook, progress, **options)
        )
        client.execute()
    for cell in notebook.cells:  # a self-check shows its failure and lets Run All go on: here it is an error
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise CellExecutionError.from_cell_and_msg(cell, output)


def code_digest(notebook: Path) -> str:
    """A digest of what the handed-in files depend on: the notebook's code cells, not its prose."""
    cells = nbformat.read(notebook, as_version=4).cells
    return hashlib.sha256("\0".join(c.source for c in cells if c.cell_type == "code").encode()).hexdigest()


def solution_with_files(
    week: Week,
    log: Callable[[str], object] = lambda line: None,
    root: Path | None = None,
    timeout: int = SOLUTION_CELL_SECONDS,
    progress: TextIO | None = None,
) -> Path:
    """The solution notebook to grade: a copy beside the files it hands in, made by running it once, and again
    whenever its code changes (a stamp records the code they were made from).

    Those files live under build/, never beside the solution: nbgrader copies whatever sits in a source folder
    into the release and over every submission.
    """
    if not week.handed_in:
        return week.solution
    folder = (root or SOLUTION_FILES) / week.name
    stamp = folder / "made-from.sha256"
    digest = code_digest(week.solution)
    lacking = missing(week, folder)
    if lacking or not stamp.is_file() or stamp.read_text() != digest:
        why = f"to make {', '.join(lacking)}" if lacking else "again: its code changed since it made its files"
        log(f"{week.name:<20} running the solution {why}")
        started = time.monotonic()
        stamp.unlink(missing_ok=True)
        make_handed_in(week, folder, timeout, progress)
        stamp.write_text(digest)
        log(f"{week.name:<20} made {', '.join(week.handed_in)} in {time.monotonic() - started:.0f}s (kept in {folder})")
    shutil.copyfile(week.solution, folder / week.solution.name)  # grade the solution as it is now
    return folder / week.solution.name
