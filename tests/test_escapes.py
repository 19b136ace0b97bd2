"""Can the student's code get past its walls? Every attempt in the catalogue (tests/escapes.py) is made from inside a
confined student process and must fail with exactly the outcome written there, whether the grader runs as root
or as an unprivileged user who owns the checkout; a second sandbox must find nothing the first left, the grader's
loopback server must hear nothing, and the checkout must be as it was.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import site
import socket
import threading
from pathlib import Path

import nbformat
import pytest
from escapes import ATTEMPTS, ByGrader
from graders_as import KINDS, grader

pytestmark = pytest.mark.slow


def expected(value: object, kind: str) -> object:
    if isinstance(value, ByGrader):
        return value(kind)
    if isinstance(value, dict):
        return {key: expected(item, kind) for key, item in value.items()}
    return value


class Listener:
    """A server on the grader's loopback that records whatever reaches it."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(1)
        self.port = self.socket.getsockname()[1]
        self.heard: list[str] = []
        self.open = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.open:
            try:
                connection, address = self.socket.accept()
                self.heard.append(str(address))
                connection.close()
            except OSError:
                continue

    def close(self) -> None:
        self.open = False
        self.thread.join()
        self.socket.close()


def _fingerprint(repo: Path) -> dict[str, str]:
    files = [*repo.glob("autograder/**/*.py"), *repo.glob("solutions/**/*.ipynb")]
    return {str(path.relative_to(repo)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


@pytest.fixture(scope="module", params=KINDS)
def escapes(request):
    """The catalogue run once by this kind of grader: (kind, outcomes, what the server heard, the checkout)."""
    who = grader(request.param)
    scratch, mark = who.scratch(), f"planted{secrets.token_hex(4)}"
    ours = scratch / "submitted" / "ada" / "week1_tensors"
    theirs = scratch / "submitted" / "bo" / "week1_tensors"
    for folder in (ours, theirs, scratch / "data" / "FashionMNIST" / "raw"):
        folder.mkdir(parents=True)
    shutil.copy(who.repo / "assignments/week1_tensors/week1_tensors.ipynb", ours / "week1_tensors.ipynb")
    shutil.copy(who.repo / "solutions/week1_tensors/week1_tensors.ipynb", theirs / f"classmate-{mark}.ipynb")
    (scratch / "data" / "FashionMNIST" / "raw" / f"t10k-labels-idx1-ubyte-{mark}").write_bytes(b"\0" * 16)
    elsewhere = Path("/tmp") / f"classmate-{mark}.ipynb"
    shutil.copy(theirs / f"classmate-{mark}.ipynb", elsewhere)
    if who.owner:
        shutil.chown(elsewhere, who.owner)
        for path in scratch.rglob("*"):
            shutil.chown(path, who.owner, who.owner)
    before = _fingerprint(who.repo)
    listener = Listener()
    try:
        driver = [who.python, str(who.repo / "tests" / "escape_driver.py"), str(scratch), str(listener.port), mark]
        run = who.run(driver, env={"DLGRADE_TEST_SECRET": "s3cr3t", "DLGRADE_DATA": str(scratch / "data")})
    finally:
        listener.close()
    assert run.returncode == 0, run.stderr[-3000:]
    yield who.kind, json.loads(run.stdout.strip().splitlines()[-1]), listener.heard, who.repo, before, mark
    shutil.rmtree(scratch, ignore_errors=True)
    elsewhere.unlink(missing_ok=True)


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_attempt_fails_exactly_as_catalogued(escapes, attempt):
    """Does this way out fail, with the catalogued outcome, for this kind of grader?"""
    kind, outcomes, *_ = escapes
    assert outcomes[attempt] == expected(ATTEMPTS[attempt][1], kind)


def test_every_attempt_ran(escapes):
    """Did every attempt's cell run to its end (a crash would hide an outcome)?"""
    _, outcomes, *_ = escapes
    assert outcomes["cells that failed"] == []
    assert set(ATTEMPTS) <= set(outcomes)


def test_the_next_submission_finds_nothing_left(escapes):
    """Does a later sandbox, and the machine itself, hold none of the files the last one left in /tmp, home and
    its working folder?"""
    _, outcomes, _, repo, _, mark = escapes
    assert outcomes["left for the next submission"] == []
    assert not list(Path("/tmp").glob(f"**/left-{mark}")) and not list(repo.glob(f"**/left-{mark}"))


def test_the_grader_keyrings_hold_no_key_the_sandbox_left(escapes):
    """Do the grader's session and user keyrings, searched after grading, hold no key the notebook tried to leave
    (the credential in its session keyring is found by the same search, so the search works), and can the grader's
    user still add a key and make an inotify instance (the notebook filled no quota and held no count)?"""
    _, outcomes, *_ = escapes
    assert outcomes["keys left for the next submission"] == ["ENOKEY", "ENOKEY", "found"]
    assert outcomes["the grader still can add a key and watch files"] == ["done", "done"]


def test_the_grader_loopback_heard_nothing(escapes):
    """Did nothing reach the server on the grader's loopback?"""
    _, _, heard, *_ = escapes
    assert heard == []


def test_the_checkout_and_packages_are_unchanged(escapes):
    """Are the grader's code, the solutions and the installed packages exactly as they were?"""
    _, _, _, repo, before, _ = escapes
    assert _fingerprint(repo) == before
    assert not [p for folder in site.getsitepackages() for p in Path(folder).glob("zz-owned.pth")]


GET_OUT = r'''
import json, os, subprocess
def _everywhere(name):
    for top in sorted(set(os.listdir("/")) - {"proc", "sys", "dev"}):
        for folder, _, names in os.walk("/" + top):
            yield from (os.path.join(folder, n) for n in names if n == name)
def _escape():
    """The hidden graders' answers, by any way out: the solution on disk, in git, or found anywhere."""
    for found in [REPO + "/solutions/week1_tensors/week1_tensors.ipynb", *_everywhere("week1_tensors.ipynb")]:
        try:
            cells = json.load(open(found))["cells"]
            if any("BEGIN SOLUTION" in "".join(c["source"]) for c in cells):
                return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        except (OSError, ValueError, KeyError):
            pass
    shown = subprocess.run(["git", "-C", REPO, "show", "HEAD:solutions/week1_tensors/week1_tensors.ipynb"],
                           capture_output=True, text=True)
    if shown.returncode == 0:
        return "\n".join("".join(c["source"]) for c in json.loads(shown.stdout)["cells"] if c["cell_type"] == "code")
    return ""
exec(_escape().replace("grade_part(", "print("))
'''


@pytest.mark.parametrize("kind", KINDS)
def test_a_stub_that_tries_to_get_out_scores_nothing(kind):
    """Graded with `dlgrade grade` as a new user would, does a stub whose first cell looks for the solution on
    disk, anywhere on the machine and in git, and runs its answers, still get 0 of 25, confined?"""
    who = grader(kind)
    scratch = who.scratch()
    try:
        notebook = nbformat.read(who.repo / "assignments" / "week1_tensors" / "week1_tensors.ipynb", as_version=4)
        source = f"REPO = {str(who.repo)!r}\n" + GET_OUT
        notebook.cells.insert(2, nbformat.v4.new_code_cell(source))
        path = scratch / "week1_tensors.ipynb"
        nbformat.write(notebook, path)
        if who.owner:
            shutil.chown(path, who.owner, who.owner)
        run = who.run([who.python, "-m", "autograder", "grade", str(path), "--format", "json"])
        assert run.returncode == 0, run.stderr[-3000:]
        results = json.loads(run.stdout)
        assert results["score"] == 0 and results["max_score"] == 25
        assert results["extra_data"]["confined"] is True and "not confined" not in results["output"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
