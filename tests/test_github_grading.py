"""Grading on GitHub without GitHub Classroom: the student template, and the trusted grading workflow run for real.

The workflow's own ``run:`` steps (``.github/workflows/grade-students.yml``) are executed as written, job by job,
shard by shard, on a roster of local git repositories made from the exported template: a correct student, a
partial one, one who pushed nothing, one who rewrote their workflow and committed fake results to claim full
marks, and one who finished after the deadline. A local stand-in for GitHub's API receives the check runs.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
from guides import TEMPLATE_README, code_blocks, run_block
from helpers import answered_stub, is_answer
from workflow_runner import WorkflowRun

from autograder.course.weeks import REPO_DIR, WEEKS, get_week

pytestmark = pytest.mark.slow

WORKFLOW = REPO_DIR / ".github" / "workflows" / "grade-students.yml"
DEADLINE = "2026-11-20 23:59 UTC"
FULL = {"week1_tensors": 25, "week2_linear": 26, "week3_conv": 22, "week4_cnn": 30, "week5_checkpoints": 15}
SAMPLE = REPO_DIR / "samples" / "week1_tensors" / "student_partial.ipynb"


def dlgrade(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def git(repo: Path, *args: str, date: str = "2026-11-10T12:00:00+00:00") -> str:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="Student",
        GIT_AUTHOR_EMAIL="student@example.org",
        GIT_COMMITTER_NAME="Student",
        GIT_COMMITTER_EMAIL="student@example.org",
        GIT_AUTHOR_DATE=date,
        GIT_COMMITTER_DATE=date,
    )
    run = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)
    return run.stdout.strip()


def student_repository(root: Path, student: str, weights: Path) -> dict[str, str]:
    """A student's repository, made from the exported template; returns the commit each scenario should grade.

    ``weights`` holds the files week 4 hands in (trained by the solution), which the correct student commits.
    """
    repo = root / "course" / student
    assert dlgrade("export-student-repo", str(repo)).returncode == 0
    git(repo, "init", "--quiet", "--initial-branch=main")
    if student == "ada":
        for week in WEEKS:
            nbformat.write(answered_stub(week), repo / week / f"{week}.ipynb")
            for name in get_week(week).handed_in:
                shutil.copy(weights / name, repo / week / name)
    elif student == "bo":
        shutil.copy(SAMPLE, repo / "week1_tensors" / "week1_tensors.ipynb")
    elif student == "dee":
        workflow = repo / ".github" / "workflows" / "self-check.yml"
        workflow.write_text(
            "on: push\njobs:\n  score:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo 25/25\n"
        )
        fake = {"score": 25, "max_score": 25, "tests": []}
        (repo / "results.json").write_text(json.dumps(fake))
        (repo / "week1_tensors" / "results.json").write_text(json.dumps(fake))
        (repo / "grades.csv").write_text("assignment,student_id,score,max_score\nweek1_tensors,dee,25,25\n")
        notebook = repo / "week2_linear" / "week2_linear.ipynb"
        notebook.unlink()
        notebook.symlink_to("../../ada/week2_linear/week2_linear.ipynb")  # someone else's work, by link
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "work")
    graded = git(repo, "rev-parse", "HEAD")
    if student == "eve":  # finishes after the deadline: the commit before it is graded
        for week in WEEKS:
            nbformat.write(answered_stub(week), repo / week / f"{week}.ipynb")
        git(repo, "commit", "--quiet", "-am", "late", date="2026-11-25T12:00:00+00:00")
    return {"commit": graded}


EXPECTED = {  # the score each student must get per week, from what was in their repository before the deadline
    "ada": FULL,
    "bo": {"week1_tensors": 15, "week2_linear": 0, "week3_conv": 0, "week4_cnn": 0, "week5_checkpoints": 0},
    "cy": dict.fromkeys(WEEKS, 0),
    "dee": dict.fromkeys(WEEKS, 0),
    "eve": dict.fromkeys(WEEKS, 0),
}


class _FakeGitHub(BaseHTTPRequestHandler):
    received: list[tuple[str, dict, str]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, body, self.headers.get("Authorization", "")))
        self.send_response(201)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def graded(tmp_path_factory, week4_weights) -> dict:
    """Run fetch, every grading shard, and publish, as the workflow defines them."""
    root = tmp_path_factory.mktemp("github")
    commits = {student: student_repository(root / "remote", student, week4_weights)["commit"] for student in EXPECTED}

    checkout = root / "checkout"
    listing = ["git", "-C", str(REPO_DIR), "ls-files", "--cached", "--others", "--exclude-standard"]
    tracked = subprocess.run(listing, capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        if (REPO_DIR / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_DIR / name, checkout / name)
    (checkout / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (checkout / "roster.csv").write_text(
        "student,repository\n" + "".join(f"{student},course/{student}\n" for student in EXPECTED)
    )

    _FakeGitHub.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeGitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    run = WorkflowRun(
        WORKFLOW,
        checkout,
        root / "runner",
        context={
            "inputs": {"before": DEADLINE, "gpu": False},
            "vars": {"GRADER_APP_ID": "12345", "STUDENTS_PER_RUNNER": "2"},
            "secrets": {"GRADER_APP_KEY": "fake-private-key"},
            "github": {"repository_owner": "course", "event_name": "workflow_dispatch"},
        },
        env={
            "GITHUB_API_URL": f"http://127.0.0.1:{server.server_port}",
            "DLGRADE_GIT_BASE": str(root / "remote"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
    )
    try:
        run.run_job("fetch")
        shards = run.matrix_values("grade", "shard")
        for shard in shards:
            run.run_job("grade", matrix={"shard": shard})
        run.run_job("publish")
    finally:
        server.shutdown()
    return {"run": run, "shards": shards, "commits": commits, "posts": list(_FakeGitHub.received)}


def test_every_reported_score_is_what_the_notebooks_earn(graded):
    """Do the merged CSV and the per-student results.json hold each student's real score for every week?"""
    grades = graded["run"].artifacts / "grades"
    with (grades / "grades.csv").open(newline="") as handle:
        rows = {(row["student_id"], row["assignment"]): float(row["score"]) for row in csv.DictReader(handle)}
    expected = {(student, week): float(score) for student, weeks in EXPECTED.items() for week, score in weeks.items()}
    assert rows == expected
    for (student, week), score in expected.items():
        results = json.loads((grades / "results" / student / week / "results.json").read_text())
        assert results["score"] == score


def test_every_shard_enables_confinement_before_grading_and_grades_confined(graded):
    """Does each grading job run the step that lets bubblewrap create its namespaces, before grading, and does
    every notebook come out graded confined?"""
    steps = [entry.splitlines()[0] for entry in graded["run"].log]
    enabling = [i for i, step in enumerate(steps) if step.startswith("$ Let bubblewrap create its namespaces")]
    grading = [i for i, step in enumerate(steps) if step == "$ Grade"]
    assert len(enabling) == len(grading) == len(graded["shards"])
    assert all(enable == grade - 1 for enable, grade in zip(enabling, grading, strict=True))
    for index in enabling:
        assert "student code will be confined" in graded["run"].log[index]
    results = (graded["run"].artifacts / "grades" / "results").glob("*/*/results.json")
    assert {json.loads(path.read_text())["extra_data"]["confined"] for path in results} == {True}


def test_the_roster_is_sharded_across_runners_without_overlap(graded):
    """Did the matrix split five students over three runners, each graded exactly once?"""
    assert graded["shards"] == [1, 2, 3]
    seen = []
    for shard in graded["shards"]:
        seen += [path.name for path in (graded["run"].artifacts / f"results-{shard}").iterdir() if path.is_dir()]
    assert sorted(seen) == sorted(EXPECTED)


def test_check_runs_carry_score_and_feedback_on_the_graded_commit(graded):
    """Is there one check run per student and week, on the commit before the deadline, with score and messages?"""
    posts = graded["posts"]
    assert len(posts) == len(EXPECTED) * len(WEEKS)
    for path, body, authorization in posts:
        student = path.split("/")[3]
        week = body["name"].removeprefix("dlgrade: ")
        assert path == f"/repos/course/{student}/check-runs"
        assert body["head_sha"] == graded["commits"][student]
        assert body["output"]["title"] == f"{EXPECTED[student][week]:g} / {FULL[week]:g} points"
        assert authorization == "Bearer fake-token-2"  # the publish job's token, not the fetch job's
    bo = next(body for path, body, _ in posts if "/bo/" in path and body["name"].endswith("week1_tensors"))
    assert "use the tensor's own element\\_size()" in bo["output"]["summary"]  # Markdown-escaped, as it renders
    dee = next(body for path, body, _ in posts if "/dee/" in path and body["name"].endswith("week2_linear"))
    assert "not graded" in dee["output"]["summary"] and "invalid JSON" in dee["output"]["summary"]


def test_feedback_reveals_no_grader_code_or_reference_values(graded):
    """Does no posted summary contain a line of a hidden grader or a tensor of reference values?"""
    grader_lines = {line for week in WEEKS for line in _grader_lines(week)}
    for _, body, _ in graded["posts"]:
        summary = body["output"]["summary"]
        assert not [line for line in grader_lines if line in summary]
        assert "tensor(" not in summary and "BEGIN HIDDEN TESTS" not in summary


def test_tokens_are_scoped_to_the_roster_and_student_code_runs_without_one(graded):
    """Is each App token limited to the roster's repositories and one permission, and the grading job token-free?"""
    tokens = graded["run"].tokens
    roster = ",".join(sorted(EXPECTED))
    assert [(t["owner"], t["repositories"]) for t in tokens] == [("course", roster)] * 2
    assert [{k for k in t if k.startswith("permission-")} for t in tokens] == [
        {"permission-contents"},
        {"permission-checks"},
    ]
    assert tokens[0]["permission-contents"] == "read" and tokens[1]["permission-checks"] == "write"
    grading = WORKFLOW.read_text().split("\n  grade:\n")[1].split("\n  publish:\n")[0]
    assert "secrets." not in grading and "token" not in grading.lower().replace("no token", "")
    assert '"self-hosted", "gpu"' in grading and "device=auto" in grading and "torch.cuda.is_available()" in grading


def test_workflows_are_valid_and_least_privilege():
    """Do all workflows (this repository's and the student template's) pass GitHub's schema and zizmor?"""
    template = REPO_DIR / "autograder" / "templates" / "student_repo" / ".github" / "workflows"
    files = sorted((REPO_DIR / ".github" / "workflows").glob("*.yml")) + sorted(template.glob("*.yml"))
    bin_dir = Path(sys.executable).parent
    schema = subprocess.run(
        [bin_dir / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr
    audit = subprocess.run(
        [bin_dir / "zizmor", "--offline", "--min-severity", "medium", "--format", "plain", *files],
        capture_output=True,
        text=True,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_exported_template_holds_stubs_and_self_checks_and_nothing_hidden(tmp_path):
    """Does the student template contain the stubs, README, workflow and self-check script, and no hidden line?"""
    target = tmp_path / "template"
    run = dlgrade("export-student-repo", str(target))
    assert run.returncode == 0, run.stderr
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == sorted(
        [".github/self_check.py", ".github/workflows/self-check.yml", ".gitignore", "README.md", "requirements.txt"]
        + [f"{week}/{week}.ipynb" for week in WEEKS]
    )
    exported = "\n".join((target / name).read_text() for name in files)
    assert "BEGIN SOLUTION" not in exported and "BEGIN HIDDEN TESTS" not in exported
    assert "autograder" not in exported.replace("autograded", "")
    public = "\n".join(get_week(week).stub.read_text() for week in WEEKS)  # what the stubs teach is not hidden
    for week in WEEKS:
        for line in _grader_lines(week):
            assert line in public or line not in exported, f"grader line leaked: {line}"
        solution = nbformat.read(get_week(week).solution, as_version=4)
        for cell in solution.cells:
            if is_answer(cell):
                body = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
                for line in body.splitlines():
                    if len(line.strip()) > 12:
                        assert line not in exported.splitlines(), f"solution line leaked: {line.strip()}"


def _grader_lines(week: str) -> list[str]:
    """The lines of a hidden grader that hold its inputs, references or checks (not imports or blank lines)."""
    lines = [line.strip() for line in get_week(week).grader_file.read_text().splitlines()]
    checks = [line for line in lines if len(line) > 20 and not line.startswith(("import ", "from "))]
    return [line for line in checks if any(key in line for key in ("student.", "torch.", "expect"))]


def test_exported_self_check_reports_each_part(tmp_path):
    """Does the template's self-check script run the notebooks and tell passed from failed and not started, the
    parts after a failing one included?"""
    target = tmp_path / "template"
    assert dlgrade("export-student-repo", str(target)).returncode == 0
    nbformat.write(answered_stub("week2_linear"), target / "week2_linear" / "week2_linear.ipynb")
    shutil.copyfile(SAMPLE, target / "week1_tensors" / "week1_tensors.ipynb")  # right, wrong and unstarted parts
    summary = tmp_path / "summary.md"
    run = subprocess.run(
        [sys.executable, str(target / ".github" / "self_check.py"), "--summary", str(summary)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    table = summary.read_text()
    assert "| week1_tensors | storage_facts | passed |" in table
    assert "| week1_tensors | flatten_images | failed | RuntimeError: view size is not compatible" in table
    assert "| week1_tensors | numpy_bridge | passed |" in table  # after the failing part
    assert "| week1_tensors | broadcasting | failed | AssertionError: expected [[-2, -10]" in table
    assert "| week1_tensors | autograd | not started |" in table
    assert "| week2_linear | linear | passed |" in table and "| week3_conv | shapes | not started |" in table


def test_template_set_up_and_its_readme_run_as_written(tmp_path):
    """Does docs/github.md's first set-up step write and commit the template as written (the push to GitHub left
    out), and the template README's "Working locally" block then run in it (week 1 only, to be quick), its
    self-check printing each part's state?"""
    course = tmp_path / "course"
    course.mkdir()
    (course / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.update(GIT_AUTHOR_NAME="TA", GIT_AUTHOR_EMAIL="ta@example.org", GIT_COMMITTER_NAME="TA")
    env.update(GIT_COMMITTER_EMAIL="ta@example.org")
    (set_up,) = [b for b in code_blocks(REPO_DIR / "docs" / "github.md") if "export-student-repo" in b.text]
    run_block(set_up, course, env, leave_out={"git remote add": "pushes to GitHub"})
    target = tmp_path / "dl-course-template"
    assert git(target, "log", "--format=%s") == "Course template" and not git(target, "status", "--porcelain")
    for week in [w for w in WEEKS if w != "week1_tensors"]:
        shutil.rmtree(target / week)
    (block,) = code_blocks(TEMPLATE_README)
    leave_out = {  # installs from PyPI; test_notebooks checks requirements.txt covers every import of the stubs
        "python -m venv": "no PyPI here",
        "pip install": "no PyPI here",
    }
    printed = run_block(block, target, env, leave_out)
    assert "| week1_tensors | tensor_from_list | not started |" in printed
    assert "| week1_tensors | autograd | not started |" in printed


def test_github_guide_reruns_the_steps_by_hand_as_written(tmp_path):
    """Do docs/github.md's by-hand steps (fetch, batch one week, copy the fetch record, merge, a dry run, publish)
    run as written, against local repositories and a fake GitHub, posting for that week only, on each student's
    fetched commit, the score the notebook earns?"""
    (block,) = [b for b in code_blocks(REPO_DIR / "docs" / "github.md") if "dlgrade fetch" in b.text]
    remote = tmp_path / "remote"
    commits = {student: student_repository(remote, student, tmp_path)["commit"] for student in ("bo", "cy")}
    (tmp_path / "roster.csv").write_text("student,repository\nbo,course/bo\ncy,course/cy\n")
    _FakeGitHub.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeGitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        DLGRADE_GIT_BASE=str(remote),
        GITHUB_API_URL=f"http://127.0.0.1:{server.server_port}",
        GH_TOKEN="fake-token",
    )
    try:
        printed = run_block(block, tmp_path, env)
    finally:
        server.shutdown()
    assert f"would post course/bo@{commits['bo'][:12]} dlgrade: week1_tensors: 15 / 25 points" in printed
    assert "got (24, 32, 96), not the right value" in printed  # the dry run shows the text students read
    posts = {path: body for path, body, _ in _FakeGitHub.received}
    assert set(posts) == {"/repos/course/bo/check-runs", "/repos/course/cy/check-runs"}
    for student, score in (("bo", 15), ("cy", 0)):
        body = posts[f"/repos/course/{student}/check-runs"]
        assert body["head_sha"] == commits[student] and body["output"]["title"].startswith(f"{score} / 25")
    with (tmp_path / "results" / "grades.csv").open(newline="") as handle:
        rows = {(row["student_id"], row["assignment"]): row["score"] for row in csv.DictReader(handle)}
    assert rows == {("bo", "week1_tensors"): "15.0", ("cy", "week1_tensors"): "0.0"}


def test_export_refuses_a_folder_that_is_not_empty(tmp_path):
    """Does exporting over existing files stop with a one-line reason, leaving them alone?"""
    (tmp_path / "notes.txt").write_text("mine")
    run = dlgrade("export-student-repo", str(tmp_path))
    assert run.returncode == 2 and "not an empty folder" in run.stderr and "Traceback" not in run.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_bad_roster_is_named_with_its_line(tmp_path):
    """Does a roster row with an unsafe student id stop fetching with the file, line and problem?"""
    roster = tmp_path / "roster.csv"
    roster.write_text("student,repository\nada,course/ada\n../evil,course/evil\n")
    run = dlgrade("fetch", str(roster), "--dest", str(tmp_path / "out"))
    assert run.returncode == 2
    assert f"{roster}, line 3: student id '../evil'" in run.stderr and "Traceback" not in run.stderr
