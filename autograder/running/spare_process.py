"""The next notebook's student process, started while the current one is judged.

A batch graded one notebook at a time leaves a core idle while the grader asks its questions and writes the
report, and every notebook then waits about two seconds for its own process to import torch. A ``Spare`` starts
the next notebook's process (a fresh sandbox, its own scratch space and cgroup) during that time. No student code
has run in it when it is handed over, and it is handed over only to a notebook whose plan (limits, device, and the
view: what its sandbox shows and hides) is exactly the one it was started with; anything else gets a fresh start
and the spare is killed. So each notebook's walls are what they would have been, and no two notebooks ever share
a process. Its time budget starts when it is handed over, as a fresh process's starts at its spawn.
"""

from __future__ import annotations

from dataclasses import dataclass

from autograder.running.limits import Limits, StudentError
from autograder.running.student_process import StudentProcess
from autograder.sandbox.confinement import View


@dataclass(frozen=True)
class ProcessPlan:
    """Everything a notebook's student process is started with, before any of the notebook's code is known."""

    limits: Limits
    device: str
    view: View | None  # None: unconfined (``unconfined`` says why)
    unconfined: str | None = None

    def start(self) -> StudentProcess:
        """A fresh process for this plan, started (booting), with no cells yet: ``StudentProcess.adopt`` gives them."""
        process = StudentProcess([], self.limits, self.device, view=self.view)
        try:
            process.spawn()
        except BaseException:
            process.close()  # its scratch folder and cgroup
            raise
        return process


class Spare:
    """At most one started process for the plan given to ``prepare``; a context manager that kills what is left."""

    def __init__(self) -> None:
        self._plan: ProcessPlan | None = None
        self._process: StudentProcess | None = None
        self.handed_over = 0  # how many notebooks got a spare (the tests read it)

    def prepare(self, plan: ProcessPlan) -> None:
        """Start a process for ``plan`` (the next notebook's), replacing any spare not yet taken."""
        self.close()
        try:
            self._process = plan.start()
        except StudentError:
            return  # the next notebook starts its own, and reports why that failed
        self._plan = plan

    def take(self, plan: ProcessPlan) -> StudentProcess | None:
        """The spare, if it was started for exactly ``plan`` and is still running; None (and the spare killed)
        otherwise."""
        process, prepared = self._process, self._plan
        self._process, self._plan = None, None
        if process is None:
            return None
        if prepared != plan or not process.running:
            process.close()
            return None
        self.handed_over += 1
        return process

    def close(self) -> None:
        if self._process is not None:
            self._process.close()
        self._process, self._plan = None, None

    def __enter__(self) -> Spare:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
