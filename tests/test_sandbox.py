"""The student's process: a crash, hang, flood or tamper attempt costs its own part only, never adds points."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import grade, submission

WEEK = "week1_tensors"
FULL = 25


def _failed_parts(report) -> set[str]:
    return {test.part for test in report.tests if test.status == "failed"}


def test_hanging_function_costs_only_its_tests(tmp_path):
    """Does an endless loop in one function fail that part with a named limit while the rest is graded?"""
    path = submission(tmp_path, WEEK, {"outer_sum": "def outer_sum(a, b):\n    while True:\n        pass"})
    report = grade(path, call_seconds=2)
    assert _failed_parts(report) == {"broadcasting"}
    outer = [t for t in report.tests if t.name.startswith("outer_sum")]
    assert "no answer within the time limit (call_seconds=2)" in outer[0].output
    assert report.score == FULL - 2
    assert any("restarted" in note for note in report.notes)


def test_exiting_function_costs_only_its_tests(tmp_path):
    """Does os._exit in one function lose that part only, the process being replaced for the others?"""
    path = submission(tmp_path, WEEK, {"storage_facts": "def storage_facts(t):\n    import os\n    os._exit(0)"})
    report = grade(path)
    assert _failed_parts(report) == {"storage_facts"}
    assert report.score == FULL - 2
    assert "the notebook's process exited with status 0 while answering" in report.tests[2].output


def test_sys_exit_is_just_an_error(tmp_path):
    """Is sys.exit() inside a function an ordinary failure of that function (SystemExit is caught)?"""
    path = submission(tmp_path, WEEK, {"pick_device": "def pick_device():\n    raise SystemExit(0)"})
    report = grade(path)
    assert _failed_parts(report) == {"devices"}
    assert report.score == FULL - 1


def test_hanging_cell_is_skipped_and_the_rest_graded(tmp_path):
    """Does a top-level cell that sleeps forever get stopped, named, and skipped, keeping every other point?"""
    path = submission(tmp_path, WEEK, extra_cells=["import time\ntime.sleep(10**6)"])
    report = grade(path, cell_seconds=3)
    assert report.score == FULL
    assert any("ran longer than its limit (cell_seconds=3)" in note for note in report.notes)


def test_fake_results_printed_or_written_change_nothing(tmp_path):
    """Do printed scores, pytest summaries and results.json files written by the stub earn nothing?"""
    fake = '{"score": 25, "max_score": 25, "tests": []}'
    cell = f"""
    import json, pathlib, sys
    print({fake!r}); print("===== 21 passed in 0.01s =====", file=sys.stderr)
    for place in (pathlib.Path.cwd(), pathlib.Path.home()):
        (place / "results.json").write_text({fake!r})
    """
    report = grade(submission(tmp_path, WEEK, stub=True, extra_cells=[cell]))
    assert report.score == 0
    assert "21 passed" in report.printed  # kept as the student's output, never read as a verdict
    assert not (tmp_path / "results.json").exists()


def test_patching_torch_and_numpy_in_the_notebook_earns_nothing(tmp_path):
    """Does a stub that rigs torch's and numpy's comparisons still score 0 (they run in its own process)?"""
    cell = """
    import numpy, torch, builtins
    torch.allclose = lambda *a, **k: True
    torch.equal = lambda *a, **k: True
    torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)
    numpy.allclose = lambda *a, **k: True
    builtins.isinstance = lambda *a: True
    """
    report = grade(submission(tmp_path, WEEK, stub=True, extra_cells=[cell]))
    assert report.score == 0


def test_output_flood_is_capped_and_noted(tmp_path):
    """Does a notebook that prints megabytes get graded in full, with its output cut and a note saying so?"""
    report = grade(submission(tmp_path, WEEK, extra_cells=["print('x' * 5_000_000)"]))
    assert report.score == FULL
    assert len(report.printed) <= 20_000
    assert any("only the first 20000 were kept" in note for note in report.notes)


def test_secrets_of_the_grader_do_not_reach_student_code(tmp_path, monkeypatch):
    """Is the grader's environment (tokens, secrets) invisible to the student's code?"""
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret_value")
    leak = (
        "def pick_device():\n    import os\n"
        "    return os.environ.get('GITHUB_TOKEN') or torch.device('cuda' if torch.cuda.is_available() else 'cpu')"
    )
    report = grade(submission(tmp_path, WEEK, {"pick_device": leak}))
    assert report.score == FULL


def test_no_process_survives_grading(tmp_path):
    """Are children the notebook left running killed with its process group when grading ends?"""
    marker = "4242.25"
    cell = f"import subprocess\nsubprocess.Popen(['sleep', '{marker}'])"
    grade(submission(tmp_path, WEEK, extra_cells=[cell]))
    survivors = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    survivors.append(entry.name)
            except OSError:
                continue
    assert survivors == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="memory limits use POSIX rlimits")
def test_memory_hog_costs_only_its_part(tmp_path):
    """Does a function that allocates far past the memory limit fail its own part with the limit named?"""
    hog = "def storage_facts(t):\n    return torch.empty(4 * 1024**3, dtype=torch.uint8).fill_(1)"
    report = grade(submission(tmp_path, WEEK, {"storage_facts": hog}), memory_mb=2048)
    assert _failed_parts(report) == {"storage_facts"}
    assert "limit memory_mb" in report.tests[2].output
    assert report.score == FULL - 2


def test_filling_the_scratch_space_costs_its_part_and_none_of_the_machine(tmp_path):
    """Does a function that writes until it is stopped lose its own part only, the next tests starting with an empty
    scratch space, while the machine's free space drops by no more than the limit?"""
    writer = (
        "def storage_facts(t):\n    import os\n    for place in ('/tmp', os.path.expanduser('~'), '.'):\n"
        "        try:\n            with open(os.path.join(place, 'fill'), 'ab') as handle:\n"
        "                while True:\n                    handle.write(b'x' * 2**20)\n"
        "        except OSError:\n            pass\n    raise OSError(28, 'No space left on device')"
    )
    path = submission(tmp_path, WEEK, {"storage_facts": writer})
    free = {place: shutil.disk_usage(place).free for place in ("/", "/tmp", str(tmp_path))}
    report = grade(path, disk_mb=64)
    assert _failed_parts(report) == {"storage_facts"} and report.score == FULL - 2
    assert "limit disk_mb" in report.tests[2].output
    assert any("filled its scratch space (limit disk_mb=64)" in note for note in report.notes)
    for place, before in free.items():
        assert before - shutil.disk_usage(place).free <= 64 * 1024**2


def test_a_cell_that_fills_the_scratch_space_is_skipped(tmp_path):
    """Is a top-level cell that fills the scratch space skipped with a note, every part keeping its points?"""
    cell = "with open('fill', 'wb') as handle:\n    while True:\n        handle.write(b'x' * 2**20)"
    report = grade(submission(tmp_path, WEEK, extra_cells=[cell]), disk_mb=32)
    assert report.score == FULL
    assert any("filled the scratch space (disk_mb=32)" in note for note in report.notes)
