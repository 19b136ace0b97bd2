"""Hostile and broken submissions: none earns more than it should, none stops the grading of the other parts,
and none leaves a process running once grading returns.

Each entry names what the submission tries. It is the week-1 stub (which must stay at 0 points whatever it does)
or the week-1 solution with one part sabotaged (which must keep every other point).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import nbformat
import pytest
from helpers import grade, submission

from autograder.course.weeks import REPO_DIR, get_week

WEEK = "week1_tensors"
FULL = 25
GRADER_FILE = get_week(WEEK).grader_file
SOLUTION = get_week(WEEK).solution

# Top-level cells added to the *stub*: whatever they do, the score must stay 0.
STUB_ATTACKS = {
    "sys.exit in a cell": "import sys\nsys.exit(0)",
    "raise SystemExit in a cell": "raise SystemExit(0)",
    "os._exit in a cell": "import os\nos._exit(0)",
    "kills its own process": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    "kills its parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
    "kills its process group": "import os, signal\nos.killpg(os.getpgid(0), signal.SIGKILL)",
    "prints a fake results.json": "print(json.dumps({'score': 25, 'max_score': 25, 'tests': []}))",
    "prints a fake pytest summary to stderr": "import sys\nprint('=== 21 passed in 0.10s ===', file=sys.stderr)",
    "writes fake results files": (
        "import pathlib\nfor d in (pathlib.Path.cwd(), pathlib.Path.home(), pathlib.Path('/tmp')):\n"
        "    (d / 'results.json').write_text(json.dumps({'score': 25}))"
    ),
    "patches torch comparisons": (
        "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
        "torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)"
    ),
    "patches numpy": "np.allclose = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None",
    "patches builtins": "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.len = lambda *a: 0",
    "patches pytest and unittest": (
        "import pytest, unittest\npytest.approx = lambda *a, **k: True\n"
        "unittest.TestCase.assertEqual = lambda *a, **k: None"
    ),
    "patches the grader's own modules": (
        "import autograder.sandbox.wire as w, autograder.sandbox.answering as a\n"
        "w.encode = lambda *args, **kwargs: {'t': 'tensor', 'dtype': 'float32', 'shape': [], 'data': 'AACAPw=='}\n"
        "a.describe_error = lambda exc: {'type': 'OK', 'message': 'passed', 'where': []}"
    ),
    "registers atexit and signal handlers": (
        "import atexit, signal\natexit.register(lambda: print('{\"score\": 25}'))\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nsignal.signal(signal.SIGINT, signal.SIG_IGN)"
    ),
    "leaves a thread running": (
        "import threading, time\n"
        "threading.Thread(target=lambda: [time.sleep(0.01) for _ in iter(int, 1)], daemon=False).start()"
    ),
    "leaves detached child processes": (
        "import subprocess\nsubprocess.Popen(['sleep', '4243'], start_new_session=True)\n"
        "subprocess.Popen(['sh', '-c', '(setsid sleep 4244 &) ; sleep 4245'])"
    ),
    "reads the hidden graders": f"SOURCE = open({str(GRADER_FILE)!r}).read()",
    "execs the instructor's solution": (
        f"import json\ncells = json.load(open({str(SOLUTION)!r}))['cells']\n"
        "exec('\\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'code'))"
    ),
    "imports the hidden graders": (
        "import importlib\nimportlib.import_module('autograder.course.graders.week1_tensors')"
    ),
    "segfaults": "import ctypes\nctypes.string_at(0)",
    "reads stdin": "input('your answer: ')",
}

# One function of the *solution* sabotaged: that part fails, every other part keeps its points.
PART_ATTACKS = {
    "endless loop": ("storage_facts", "def storage_facts(t):\n    while True:\n        pass", "call_seconds"),
    "sleeps forever": (
        "storage_facts",
        "def storage_facts(t):\n    import time\n    time.sleep(10**6)",
        "call_seconds",
    ),
    "waits for input": ("storage_facts", "def storage_facts(t):\n    return input()", "EOFError"),
    "exits the process": ("storage_facts", "def storage_facts(t):\n    import os\n    os._exit(3)", "exited"),
    "infinite recursion": ("storage_facts", "def storage_facts(t):\n    return storage_facts(t)", "RecursionError"),
    "fork bomb": (
        "storage_facts",
        "def storage_facts(t):\n    import os\n    while True:\n        os.fork()",
        "Resource temporarily unavailable",
    ),
    "allocates until memory runs out": (
        "storage_facts",
        "def storage_facts(t):\n    hoard = []\n    while True:\n        hoard.append(bytearray(64 * 1024**2))",
        "memory",
    ),
    "returns a 1 GB tensor": (
        "storage_facts",
        "def storage_facts(t):\n    return torch.zeros(256 * 1024**2)",
        "",
    ),
    "returns an object that pickles to code": (
        "storage_facts",
        "class Evil:\n    def __reduce__(self):\n        import os\n"
        "        return (os.system, ('touch /tmp/pwned',))\n\n\n"
        "def storage_facts(t):\n    return Evil()",
        "got (<Evil>,)",
    ),
    "returns a tensor subclass that lies about equality": (
        "storage_facts",
        "class Liar(torch.Tensor):\n    def __eq__(self, other):\n        return True\n\n\n"
        "def storage_facts(t):\n    return torch.tensor([0, 0, 0]).as_subclass(Liar)",
        "expected (15, 32, 60)",
    ),
    "floods its output": ("storage_facts", "def storage_facts(t):\n    while True:\n        print('x' * 10000)", ""),
    "writes until the disk is full": (
        "storage_facts",
        "def storage_facts(t):\n    with open('fill', 'wb') as handle:\n        while True:\n"
        "            handle.write(b'x' * 2**20)",
        "(the notebook filled its scratch space: limit disk_mb)",
    ),
}


def leftover_processes() -> list[int]:
    """Processes this test process started for grading (their environment names it in DLGRADE_WORKER) still alive."""
    alive, marker = [], f"DLGRADE_WORKER={os.getpid()}\0".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes():
                    alive.append(int(entry.name))
            except OSError:
                continue
    return alive


@pytest.fixture(autouse=True)
def no_process_survives():
    yield
    assert leftover_processes() == []


@pytest.mark.parametrize("attack", list(STUB_ATTACKS))
def test_stub_attack_earns_nothing(tmp_path, attack):
    """Does the stub with this attack still score 0 of 25, with grading completing?"""
    cell = "import json, numpy as np, torch\n" + STUB_ATTACKS[attack]
    report = grade(submission(tmp_path, WEEK, stub=True, extra_cells=[cell]), cell_seconds=5, call_seconds=5)
    assert report.max_score == FULL
    assert report.score == 0
    assert len(report.tests) == 21
    assert not (tmp_path / "results.json").exists()
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize("attack", list(PART_ATTACKS))
def test_part_attack_costs_only_that_part(tmp_path, attack):
    """Does the sabotaged part lose its 2 points, every other part keep its own, and the feedback say why?"""
    function, source, words = PART_ATTACKS[attack]
    path = submission(tmp_path, WEEK, {function: source})
    report = grade(path, call_seconds=4, memory_mb=2048)
    assert report.score == FULL - 2
    failed = [t for t in report.tests if t.status == "failed"]
    assert {t.part for t in failed} == {"storage_facts"}
    assert words in "\n".join(t.output for t in failed) + "\n".join(report.notes)
    assert not any(t.grader_error for t in report.tests)
    assert not Path("/tmp/pwned").exists()


def test_fork_bomb_is_reported_by_its_limit(tmp_path):
    """Is a fork bomb stopped by the process limit and named in the notes (where a pids cgroup exists)?"""
    function, source, _ = PART_ATTACKS["fork bomb"]
    report = grade(submission(tmp_path, WEEK, {function: source}), call_seconds=4)
    if any("no process limit" in note for note in report.notes):
        pytest.skip("this machine lets no pids cgroup be created: " + report.notes[0])
    assert any("(limit processes)" in note for note in report.notes)


def test_fork_bomb_is_bounded_where_no_cgroup_can_be_made(tmp_path, monkeypatch):
    """Where no pids cgroup can be made (a GPU runner's container, say), does RLIMIT_NPROC in the sandbox still stop
    a fork bomb, cost only its own part, and leave no "no process limit" note?"""
    from autograder.running import cgroups
    from autograder.sandbox import confinement

    if confinement.unavailable() is not None:
        pytest.skip(f"the sandbox is what bounds processes without a cgroup: {confinement.unavailable()}")
    refused = (cgroups.SandboxCgroups({}), dict.fromkeys(("pids", "memory", "cpu"), "refused by this test"))
    monkeypatch.setattr(cgroups.SandboxCgroups, "create", classmethod(lambda cls, budget: refused))
    function, source, words = PART_ATTACKS["fork bomb"]
    report = grade(submission(tmp_path, WEEK, {function: source}), call_seconds=6)
    assert report.score == FULL - 2
    assert not any("no process limit" in note for note in report.notes), report.notes
    assert any("(limit processes)" in note for note in report.notes), report.notes
    failed = [t for t in report.tests if t.status == "failed"]
    assert {t.part for t in failed} == {"storage_facts"}
    assert words in "\n".join(t.output for t in failed)


def test_network_is_unreachable_from_student_code(tmp_path):
    """Can student code reach a server on this machine's loopback? (It must not, where namespaces exist.)"""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(15)
    port = server.getsockname()[1]
    received = []

    def accept() -> None:
        try:
            connection, _ = server.accept()
            received.append(connection.recv(100))
        except OSError:
            pass

    listener = threading.Thread(target=accept)
    listener.start()
    connect = f"socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'leak')"
    cell = f"import socket\ntry:\n    {connect}\nexcept OSError:\n    pass"
    report = grade(submission(tmp_path, WEEK, extra_cells=[cell]))
    server.close()
    listener.join()
    if any("namespaces refused" in note for note in report.notes):
        pytest.skip("this system refuses new namespaces; the report says so: " + report.notes[0])
    assert received == []
    assert report.score == FULL


def test_grader_environment_is_unreadable(tmp_path, monkeypatch):
    """Can student code find the grader's secrets in any process's environment under /proc? (It must not.)"""
    monkeypatch.setenv("COURSE_SECRET", "s3cr3t-token")
    hunt = (
        "def pick_device():\n    import os\n    for pid in os.listdir('/proc'):\n"
        "        try:\n"
        "            if b's3cr3t-token' in open(f'/proc/{pid}/environ', 'rb').read():\n"
        "                return 'leaked'\n"
        "        except OSError:\n            pass\n"
        "    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')"
    )
    report = grade(submission(tmp_path, WEEK, {"pick_device": hunt}))
    assert report.score == FULL


def test_edited_self_check_cell_changes_nothing(tmp_path):
    """Does a stub whose self-check cells were rewritten to print 'passed' still score 0?"""
    notebook = nbformat.read(get_week(WEEK).stub, as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "print('all tests passed'); assert True"
            cell.metadata.nbgrader["points"] = 100
    path = tmp_path / "week1_tensors.ipynb"
    nbformat.write(notebook, path)
    report = grade(path)
    assert report.score == 0 and report.max_score == FULL


# -- bad notebooks: one clear line, and every part that can still be graded is graded -----------------------------


def test_nbformat3_notebook_is_upgraded_and_graded(tmp_path):
    """Is an nbformat 3 notebook read (upgraded to 4) and graded in full?"""
    path = tmp_path / "week1_tensors.ipynb"
    old = nbformat.convert(nbformat.read(SOLUTION, as_version=4), 3)
    path.write_text(json.dumps(old))
    assert json.loads(path.read_text())["nbformat"] == 3
    assert grade(path).score == FULL


def test_renamed_function_is_named_and_the_rest_graded(tmp_path):
    """Does a renamed function cost its own tests, with a message naming it, and nothing else?"""
    renamed = "def flatten(images):\n    return images.reshape(images.shape[0], -1)"
    report = grade(submission(tmp_path, WEEK, {"flatten_images": renamed}))
    assert report.score == FULL - 3
    assert "the notebook defines no `flatten_images`" in report.tests[4].output


def test_syntax_error_cell_is_named_and_the_rest_graded(tmp_path):
    """Does a cell with a syntax error get a note naming its cell and line, the other cells still graded?"""
    broken = "def storage_facts(t):\n    return (t.numel(), 32,"
    report = grade(submission(tmp_path, WEEK, {"storage_facts": broken}))
    assert report.score == FULL - 2
    assert any("raised SyntaxError" in note and "line" in note for note in report.notes)


def test_shell_lines_and_magics_are_skipped_with_a_note(tmp_path):
    """Are `!pip install` and `%matplotlib inline` skipped (not run), noted, and everything else graded?"""
    cell = "%matplotlib inline\n!pip install torch\nx = 1"
    report = grade(submission(tmp_path, WEEK, extra_cells=[cell]))
    assert report.score == FULL
    assert any("`!pip install torch` was not run" in note for note in report.notes)
    assert any("`%matplotlib inline` was not run" in note for note in report.notes)


def test_renamed_notebook_is_matched_by_its_metadata(tmp_path):
    """Is a notebook renamed by the student still graded as its week (nbgrader keeps the metadata)?"""
    path = tmp_path / "my homework (final) v2.ipynb"
    path.write_bytes(SOLUTION.read_bytes())
    report = grade(path)
    assert report.week == WEEK and report.score == FULL


def test_same_submission_same_grade(tmp_path):
    """Does grading the same partly wrong submission twice give the same score and the same feedback?"""
    path = REPO_DIR / "samples" / WEEK / "student_partial.ipynb"
    first, second = grade(path), grade(path)
    assert [(t.name, t.score, t.output) for t in first.tests] == [(t.name, t.score, t.output) for t in second.tests]
    assert first.notes == second.notes
