"""`dlgrade report` on a class graded by `dlgrade batch`: week 1 written by 34 students from the catalogue's mistakes
and correct variants, some of them copies (renamed, reformatted, functions reordered) and two with hostile names
and code. The report's numbers must be the CSV's, its failure groups the mistakes planted, the copies must rank
above every honest pair, and the page must render in a real browser with nothing of a student's running."""

from __future__ import annotations

import ast
import base64
import csv
import hashlib
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from helpers import headless_chromium, rendered_dom, replace_function
from test_week1_tensors import MISTAKES, VARIANTS

from autograder.course.weeks import get_week
from autograder.frontends.class_report.similarity import all_shares, read_answers

pytestmark = pytest.mark.slow

WEEK = "week1_tensors"
HOSTILE = ("<img src=x onerror=alert(1)>", "<script>alert(2)<")  # student ids: folder names, so no slash
HOSTILE_CODE = 'NOTE = "</pre><script>alert(3)</script>"\n'
COPIES = {"c0": "h03", "c1": "h10", "c2": "h17"}  # copier: whom they copied


def _reference_functions() -> dict[str, str]:
    functions = {}
    for cell in nbformat.read(get_week(WEEK).solution, as_version=4).cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            tree = ast.parse(cell.source)
            for node in tree.body:
                if isinstance(node, ast.FunctionDef):
                    functions[node.name] = ast.get_source_segment(cell.source, node)
    return functions


def _honest(index: int, reference: dict[str, str]) -> tuple[dict[str, str], set[str], str | None]:
    """A student's functions (each the reference or a correct variant, chosen at random), one planted mistake,
    and for the last three a shared mistake and autograd not started: (functions, parts broken, mistake)."""
    rng = random.Random(index)
    functions = {}
    for name, source in reference.items():
        options = [source] + [variant[name] for variant in VARIANTS.values() if name in variant]
        functions[name] = rng.choice(options)
    mistake = list(MISTAKES)[index % len(MISTAKES)] if index < 26 else "hard-codes 784 features"
    planted, part, _ = MISTAKES[mistake]
    functions.update(planted)
    broken = {part}
    if index >= 26:
        del functions["mse_gradient"]  # the stub's raise NotImplementedError stays
        broken.add("autograd")
    return functions, broken, mistake


def _disguised(source: str) -> str:
    """``source`` as a copier hands it in: locals and the parameters without defaults (which callers pass by
    position) renamed, reformatted, functions reordered."""
    tree = ast.parse(source)
    for function in [node for node in tree.body if isinstance(node, ast.FunctionDef)]:
        positional = function.args.args[: len(function.args.args) - len(function.args.defaults)]
        names = {a.arg for a in positional} | {
            n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }
        renamed = {name: f"my_{name}_{len(name)}" for name in names}
        for node in ast.walk(function):
            if isinstance(node, ast.arg) and node.arg in renamed:
                node.arg = renamed[node.arg]
            elif isinstance(node, ast.Name) and node.id in renamed:
                node.id = renamed[node.id]
    others = [node for node in tree.body if not isinstance(node, ast.FunctionDef)]
    tree.body = others + [node for node in tree.body if isinstance(node, ast.FunctionDef)][::-1]
    return ast.unparse(tree)


def _notebook(functions: dict[str, str], disguise: bool = False, extra: str = "") -> nbformat.NotebookNode:
    notebook = nbformat.read(get_week(WEEK).stub, as_version=4)
    for name, source in functions.items():
        replace_function(notebook, name, source)
    answers = [c for c in notebook.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    if extra:
        answers[1].source = extra + answers[1].source
    if disguise:
        for cell in answers:
            cell.source = _disguised(cell.source)
    return notebook


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("class")
    submissions, reference, broken, mistakes = root / "submitted", _reference_functions(), {}, {}
    written = {}
    for index in range(29):
        student = f"h{index:02d}"
        functions, broken[student], mistakes[student] = _honest(index, reference)
        written[student] = functions
    for copier, original in COPIES.items():
        written[copier], broken[copier], mistakes[copier] = written[original], broken[original], mistakes[original]
    for student in written:
        notebook = _notebook(written[student], disguise=student in COPIES)
        (submissions / student / WEEK).mkdir(parents=True)
        nbformat.write(notebook, submissions / student / WEEK / f"{WEEK}.ipynb")
    for student in HOSTILE:  # a pair with the same hostile code (a copy), and hostile names
        (submissions / student / WEEK).mkdir(parents=True)
        nbformat.write(_notebook(reference, extra=HOSTILE_CODE), submissions / student / WEEK / f"{WEEK}.ipynb")
        broken[student], mistakes[student] = set(), None
    results = root / "results"
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "batch", str(submissions), "--out", str(results), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    page = root / "report" / "class.html"
    made = subprocess.run(
        [sys.executable, "-m", "autograder", "report", str(results), "--submissions", str(submissions)]
        + ["--out", str(page), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0 and made.stderr == "", made.stderr[-3000:]
    data = json.loads(page.with_name("class.json").read_text())
    return {"root": root, "page": page, "data": data, "broken": broken, "mistakes": mistakes, "made": made.stdout}


def test_the_report_holds_the_csvs_scores_and_each_parts_truth(graded_class):
    """Are the report's scores those of batch's grades.csv, and does each part's share of full points count exactly
    the students who planted no mistake in it?"""
    with (graded_class["root"] / "results" / "grades.csv").open(newline="") as handle:
        csv_scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}
    report_scores = {row["student"]: row["score"] for row in graded_class["data"]["scores"]}
    assert report_scores == csv_scores and len(report_scores) == 34
    broken = graded_class["broken"]
    for row in graded_class["data"]["parts"]:
        intact = sum(row["part"] not in parts for parts in broken.values())
        assert row["students"] == 34 and round(row["full_points_rate"] * 34) == intact, row
    with page_csv(graded_class, "scores").open(newline="") as handle:
        assert {row["student"]: float(row["score"]) for row in csv.DictReader(handle)} == csv_scores


def page_csv(graded_class: dict, table: str) -> Path:
    return graded_class["page"].with_name(f"class-{table}.csv")


def test_failure_groups_are_the_mistakes_planted(graded_class):
    """For each mistake planted, is there one group in its part, carrying the catalogue's feedback, holding every
    student who made it (copiers of them included) and only students with a mistake in that part, and is 'not
    started' one group of three?"""
    groups = graded_class["data"]["failures"]
    planted: dict[str, set[str]] = {}
    for student, mistake in graded_class["mistakes"].items():
        if mistake is not None:
            planted.setdefault(mistake, set()).add(student)
    for mistake, students in planted.items():
        _, part, words = MISTAKES[mistake]
        found = [g for g in groups if g["part"] == part and words in g["example"] and set(g["who"]) >= students]
        assert found, (mistake, students, [(g["hint"], g["who"]) for g in groups if g["part"] == part])
        for member in found[0]["who"]:  # and no one whose part is right: a group holds only that part's mistakes
            assert MISTAKES[graded_class["mistakes"][member]][1] == part, (mistake, member)
    shared = next(g for g in groups if g["part"] == "flatten_images" and "h26" in g["who"])
    assert {"h05", "h26", "h27", "h28"} <= set(shared["who"])  # one group, whatever shape each test used
    unstarted = [g for g in groups if g["part"] == "autograd" and "not implemented yet" in g["hint"]]
    assert [set(g["who"]) for g in unstarted] == [{"h26", "h27", "h28"}]


def test_copied_pairs_rank_above_every_honest_pair(graded_class):
    """Renamed, reformatted and reordered, does every copy share more with its original than any two honest
    students share with each other, and are the copies the pairs the report lists?"""
    problems: list[str] = []
    answers = read_answers(graded_class["root"] / "submitted", WEEK, problems)
    copied = {frozenset(pair) for pair in COPIES.items()} | {frozenset(HOSTILE)}
    shares = {frozenset((a, b)): share for a, b, share in all_shares(answers)}
    honest = max(share for pair, share in shares.items() if pair not in copied)
    assert problems == [] and min(shares[pair] for pair in copied) > honest
    listed = {frozenset((row["first"], row["second"])) for row in graded_class["data"]["similar"]}
    assert listed == copied, (listed, honest)


# Loaded first in the page's head: records console errors, CSP refusals and any alert(), then checks that every
# plot has ink, sorts the failures table by its "students" column both ways, and writes what it found in the title.
PROBE = """
const seen = {errors: [], refused: [], alerts: []};
const originalError = console.error;
console.error = (...args) => { seen.errors.push(args.join(" ")); originalError(...args); };
window.alert = (message) => seen.alerts.push(String(message));
window.addEventListener("error", (event) => seen.errors.push(String(event.message)));
document.addEventListener("securitypolicyviolation", (event) => seen.refused.push(event.violatedDirective));
window.addEventListener("load", () => {
  seen.plots = [...document.querySelectorAll("img.plot")].map((image) => {
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let ink = 0;
    for (let i = 0; i < pixels.length; i += 4) if (pixels[i] + pixels[i + 1] + pixels[i + 2] < 600) ink++;
    return ink / (canvas.width * canvas.height);
  });
  const table = document.querySelector("table.failures");
  const heading = [...table.querySelectorAll("th")].find((th) => th.textContent.trim() === "students");
  const column = () => [...table.tBodies[0].rows].map((row) => Number(row.cells[heading.cellIndex].textContent));
  heading.click(); seen.ascending = column();
  heading.click(); seen.descending = column();
  document.title = "PROBE" + JSON.stringify(seen);
});
"""


def test_the_page_renders_in_a_browser_with_plots_sorting_and_no_student_script(graded_class, tmp_path):
    """Opened in headless Chromium, does the page log no error and refuse nothing of its own, show every plot with
    ink on it, sort a table both ways on a click, and run no script a student wrote (names and code escaped)?"""
    page = graded_class["page"].read_text()
    digest = base64.b64encode(hashlib.sha256(PROBE.encode()).digest()).decode()
    probed = page.replace("script-src '", f"script-src 'sha256-{digest}' '", 1)
    probed = probed.replace("<style>", f"<script>{PROBE}</script><style>", 1)
    copy = graded_class["page"].with_name("probed.html")
    copy.write_text(probed)
    dom = rendered_dom(copy, budget_ms=10000)
    found = json.loads(re.search(r"<title>PROBE(.*?)</title>", dom, re.DOTALL).group(1).replace("&amp;", "&"))
    assert found["errors"] == [] and found["refused"] == [] and found["alerts"] == [], found
    assert len(found["plots"]) == 2 and all(ink > 0.02 for ink in found["plots"]), found["plots"]
    assert found["ascending"] == sorted(found["ascending"]) and found["descending"] == sorted(found["ascending"])[::-1]
    assert len(found["ascending"]) > 20
    for name in HOSTILE:
        assert name not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;/pre&gt;&lt;script&gt;alert(3)" in page
    shot = tmp_path / "report.png"
    subprocess.run(
        [headless_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000"]
        + [f"--screenshot={shot}", graded_class["page"].as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 20_000


def test_the_terminal_summary_names_each_part(graded_class):
    """Does `--format table` print a row per part with its most frequent failure, within the terminal's width?"""
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "report", str(graded_class["root"] / "results"), "--format", "table"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert run.returncode == 0, run.stderr
    assert "week1_tensors: 34 graded" in run.stdout
    for part in ("tensor_from_list", "storage_facts", "flatten_images", "autograd"):
        assert re.search(rf"^  {part} +\d", run.stdout, re.MULTILINE), run.stdout
    assert max(len(line) for line in run.stdout.splitlines()) <= 100


def test_a_broken_results_file_is_named_and_the_rest_reported(tmp_path):
    """Does a results.json that is not one cost one warning naming it, while the others make the report (a student
    missing a week listed as such, a late one from grades.csv), and a folder with no results one error line?"""
    from autograder.grading.report import GradeReport, TestResult, to_gradescope

    results = tmp_path / "results"
    for student, week, score in (("ada", "week1_tensors", 2), ("ada", "week2_linear", 1), ("bo", "week1_tensors", 0)):
        test = TestResult(name="t", part="p", max_score=2, score=score, output="" if score == 2 else "got (3, 2)")
        (results / student / week).mkdir(parents=True)
        report = to_gradescope(GradeReport(notebook="n.ipynb", week=week, tests=[test]))
        (results / student / week / "results.json").write_text(json.dumps(report))
    (results / "cy" / "week1_tensors").mkdir(parents=True)
    (results / "cy" / "week1_tensors" / "results.json").write_text("{not json")
    (results / "grades.csv").write_text(
        "assignment,duedate,timestamp,student_id,score\n"
        "week1_tensors,2026-11-20 23:59:00,2026-11-21 10:00:00 UTC,bo,0\n"
    )
    page = tmp_path / "r.html"
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "report", str(results), "--out", str(page), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    broken = results / "cy" / "week1_tensors" / "results.json"
    assert (
        run.stderr.startswith(f"dlgrade: warning: {broken}: not a results.json") and len(run.stderr.splitlines()) == 1
    )
    data = json.loads(page.with_name("r.json").read_text())
    assert {(r["student"], r["week"]) for r in data["scores"]} == {
        ("ada", "week1_tensors"),
        ("ada", "week2_linear"),
    } | {("bo", "week1_tensors")}
    assert {(r["student"], r["week"], r["why"].split(":")[0]) for r in data["missing"]} == {
        ("bo", "week2_linear", "missing"),
        ("bo", "week1_tensors", "late"),
    }
    assert str(broken) in page.read_text()
    empty = subprocess.run(
        [sys.executable, "-m", "autograder", "report", str(results / "ada" / "nothing")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert empty.returncode == 2 and empty.stderr.startswith("dlgrade: error: ") and "no results.json" in empty.stderr
