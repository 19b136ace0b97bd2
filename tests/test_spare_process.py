"""A batch graded one notebook at a time starts the next notebook's process while the current one is judged: each
notebook still gets a process of its own, with exactly its own walls."""

from __future__ import annotations

import csv

import pytest
from helpers import submission

from autograder.course.weeks import get_week
from autograder.frontends.batch import run as batch
from autograder.grading.grade import process_plan
from autograder.running.spare_process import Spare
from autograder.sandbox.confinement import unavailable

MARK = """
import builtins, os
places = ["/tmp", os.path.expanduser("~"), os.getcwd()]
seen = [os.path.exists(os.path.join(place, "dlgrade-mark")) for place in places]
for place in places:
    try:
        open(os.path.join(place, "dlgrade-mark"), "w").close()
    except OSError:
        pass
if any(seen) or getattr(builtins, "dlgrade_mark", False):  # another notebook ran here before this one
    def tensor_from_list(*args, **kwargs):
        raise RuntimeError("this process or its scratch space was used by another notebook")
builtins.dlgrade_mark = True
"""
"""A cell that breaks the notebook if any notebook ran in its process or wrote to its scratch space before it."""

CONFINED = unavailable() is None


class RecordingSpare(Spare):
    made: list[RecordingSpare] = []

    def __init__(self) -> None:
        super().__init__()
        RecordingSpare.made.append(self)


@pytest.mark.slow
@pytest.mark.skipif(not CONFINED, reason=f"unconfined notebooks share this machine's /tmp: {unavailable()}")
def test_batch_in_turn_hands_each_notebook_a_fresh_process_of_its_own(tmp_path, monkeypatch):
    """Graded with --jobs 1 where a second core is free, do the second and third of three week-1 notebooks get the
    process started for them while the one before was judged, and does each still find no trace of another
    notebook (its process's memory, /tmp, home and working folder), so all three keep full marks?"""
    root = tmp_path / "submitted"
    for student in ("ada", "bo", "cy"):
        folder = root / student / "week1_tensors"
        folder.mkdir(parents=True)
        submission(folder, "week1_tensors", extra_cells=[MARK], name="week1_tensors")
    monkeypatch.setattr(batch, "Spare", RecordingSpare)
    monkeypatch.setattr(batch, "_cpus", lambda: 2)
    RecordingSpare.made.clear()
    _, graded = batch.run_batch(root, tmp_path / "results", jobs=1)
    with (tmp_path / "results" / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(graded) == 3 and len(rows) == 3
    assert all(row["score"] == row["max_score"] for row in rows), rows
    assert [spare.handed_over for spare in RecordingSpare.made] == [2]


def test_spare_goes_only_to_the_plan_it_was_started_for(tmp_path):
    """Is a spare started for one notebook's folder refused to another's (and killed, its scratch folder removed),
    and handed to its own, still running, exactly once?"""
    week = get_week("week1_tensors")
    ada, bo = tmp_path / "ada", tmp_path / "bo"
    ada.mkdir(), bo.mkdir()
    plan_ada, plan_bo = (process_plan(week, folder, "cpu", hidden=(tmp_path,)) for folder in (ada, bo))
    assert plan_ada != plan_bo if CONFINED else plan_ada == plan_bo  # unconfined, nothing is hidden
    with Spare() as spare:
        spare.prepare(plan_ada)
        started = spare._process
        if CONFINED:
            assert spare.take(plan_bo) is None
            assert not started.running and not started.workdir.exists()
            spare.prepare(plan_ada)
            started = spare._process
        process = spare.take(plan_ada)
        assert process is started and process.running and spare.take(plan_ada) is None
        process.close()
    assert spare.handed_over == 1
