"""The repository as an nbgrader course, driven through the real nbgrader CLI from generate to export.

A class of four: a correct student, a partial one, one who handed in the stub untouched, and one with the partial
answers who also rewrote the read-only self-check and hidden test cells to claim the points. Week 1 goes through
nbgrader's exchange (release, fetch, submit, collect); the other weeks are dropped into ``submitted/`` as an LMS
download would be. Then ``nbgrader autograde`` (which grades in dlgrade's sandbox: no kernel, no grader where the
student's code runs), ``generate_feedback`` and ``export``, and ``dlgrade batch`` on the same folder: both must
give the same points for every part of every notebook, and the same CSV. Beside them, week 1 has a catalogue of
hostile submissions (the stub, plus a cell that tries to get points another way) that must gain none, and week 2 a
late student whose points nbgrader's late penalty takes away.
"""

from __future__ import annotations

import csv
import html
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from helpers import answered_stub, rendered_dom, replace_function

from autograder.course.weeks import REPO_DIR, WEEKS, get_week
from autograder.grading.runner import grader_points

pytestmark = pytest.mark.slow

STUDENTS = {"ada": "correct", "bo": "partial", "cy": "empty", "dee": "tamperer"}
NAMES = {
    "ada": ("Ada", "Lovelace"),
    "bo": ("Bo", "Diddley"),
    "cy": ("Cy", "Young"),
    "dee": ("=HYPERLINK(1)", "+Dee, Dee"),
}
EVERYONE_ELSE = ("h_grader", "h_patch", "h_anything", "h_blank", "h_exit", "h_hang", "h_print", "h_html", "fay")
EXCHANGE_WEEK = "week1_tensors"

# The partial answers: which parts are attempted, and one realistic slip among them (weeks 2 and 3; week 1 uses
# the committed sample, whose slips are inside parts).
PARTIAL = {
    "week2_linear": (
        {"neuron", "linear", "activations"},
        {"sigmoid": "def sigmoid(x):\n    return 1 / (1 + torch.exp(x))"},
    ),
    "week3_conv": (
        {"output_size", "shapes", "naive_conv", "pooling"},
        {"max_pool2d": "def max_pool2d(x, k):\n    return x.unfold(2, k, k).unfold(3, k, k).mean(dim=(-2, -1))"},
    ),
    "week4_cnn": (
        {"data", "models", "train_one_epoch", "evaluate"},
        {
            "NetFF": "class NetFF(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.fc1, self.fc2 = nn.Linear(784, 500), nn.Linear(500, 300)\n"
            "        self.fc3, self.fc4 = nn.Linear(300, 100), nn.Linear(100, 10)\n"
            "    def forward(self, x):\n        x = torch.tanh(self.fc1(x.view(-1, 784)))\n"
            "        return self.fc4(torch.tanh(self.fc3(torch.tanh(self.fc2(x)))))"
        },
    ),
    "week5_checkpoints": (
        {"weights", "checkpoint", "cpu_loading"},
        {"load_to_cpu": "def load_to_cpu(path):\n    return torch.load(path, weights_only=True)"},
    ),
}
TAMPERED_TEST_CELL = "print('All tests passed!')\n2.0"

PWN = "document.documentElement.setAttribute('data-pwned', '1'); document.title = 'PWNED'"
# Week 1's stub with one cell added after the imports: whatever it does, every part must stay at 0 points.
HOSTILE = {
    "h_grader": (
        "replaces the grading function",
        "import sys, types\nfake = types.SimpleNamespace(grade_part=lambda week, part, *a, **k: 100)\n"
        "sys.modules['autograder.authoring.incell'] = fake\ngrade_part = fake.grade_part\n"
        "try:\n    import autograder.authoring.incell as real\n    real.grade_part = fake.grade_part\n"
        "except ImportError:\n    pass",
    ),
    "h_patch": (
        "patches torch, numpy and pytest comparisons",
        "import numpy, pytest, torch\ntorch.allclose = torch.equal = lambda *a, **k: True\n"
        "torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)\n"
        "numpy.allclose = lambda *a, **k: True\npytest.approx = lambda *a, **k: True",
    ),
    "h_anything": (
        "answers with an object equal to everything",
        "class Anything:\n    __eq__ = lambda self, other: True\n    __ne__ = lambda self, other: False\n"
        "    def __getattr__(self, name):\n        return self\n    def __call__(self, *a, **k):\n        return self\n"
        "def _anything(*a, **k):\n    return Anything()\n"
        "for _name in ('tensor_from_list', 'storage_facts', 'flatten_images', 'share_from_numpy', 'copy_from_numpy',\n"
        "              'scale_pixels', 'normalize', 'normalized_range', 'center_columns', 'outer_sum',\n"
        "              'pick_device', 'move_to', 'mse_gradient'):\n    globals()[_name] = _anything",
    ),
    "h_blank": (
        "blanks the cells after it, the hidden tests among them",
        "import json, pathlib\nfor path in pathlib.Path('.').resolve().glob('*.ipynb'):\n"
        "    book = json.loads(path.read_text())\n    for cell in book['cells'][3:]:\n        cell['source'] = ''\n"
        "    path.write_text(json.dumps(book))\nget_ipython().set_next_input('')",
    ),
    "h_exit": ("exits the process", "import os\nos._exit(0)"),
    "h_hang": ("hangs", "while True:\n    pass"),
    "h_html": (
        "writes HTML and script into Markdown, a raw cell and its output, for the feedback page and formgrader",
        "from IPython.display import HTML, display\n"
        + f"display(HTML({'<script>' + PWN + '</script><img src=x onerror=' + repr(PWN) + '>'!r}))\n"
        + "print('<script>document.title = 1</script>')",
    ),
    "h_print": (
        "prints fake results",
        "print('[passed] everything (25/25)')\nprint('tensor_from_list: 2 of 2 points')\n"
        "import sys\nprint('25', file=sys.stderr)\n!echo 25 of 25",
    ),
}
HOSTILE_MARKUP = [  # h_html's own cells, beside its code cell
    nbformat.v4.new_markdown_cell(
        f'# My answers\n<script>{PWN}</script>\n<img src=x onerror="{PWN}">\n'
        f'<a href="javascript:{PWN}">a link</a> [another](javascript:alert(1))\n<svg onload="{PWN}"></svg>'
        f'<iframe srcdoc="<script>parent.{PWN}</script>"></iframe><style>body {{ display: none }}</style>'
    ),
    nbformat.v4.new_raw_cell(f"<script>{PWN}</script>", metadata={"raw_mimetype": "text/html"}),
]
LATE = "fay"  # week 2's correct answers, after the due date: nbgrader's late penalty applies
DUE = "2026-11-20 23:59:00 UTC"


def nbgrader(course: Path, *args: str, cwd: Path | None = None) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd or course,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    return run.stdout + run.stderr


def released(course: Path, week: str) -> nbformat.NotebookNode:
    return nbformat.read(course / "assignments" / week / f"{week}.ipynb", as_version=4)


def student_notebook(course: Path, week: str, kind: str) -> nbformat.NotebookNode:
    stub = released(course, week)
    if kind == "correct":
        return answered_stub(week, stub=stub)
    if kind == "empty":
        return stub
    if week == "week1_tensors":
        notebook = nbformat.read(REPO_DIR / "samples" / week / "student_partial.ipynb", as_version=4)
    else:
        parts, slips = PARTIAL[week]
        notebook = answered_stub(week, parts, stub)
        for name, source in slips.items():
            replace_function(notebook, name, source)
    if kind == "tamperer":
        for cell in notebook.cells:
            meta = _meta(cell)
            if meta.get("locked") and cell.cell_type == "code" and meta["grade_id"] != "imports":
                cell.source = TAMPERED_TEST_CELL
                if meta.get("grade"):
                    meta["points"] = 100
    return notebook


def _meta(cell: nbformat.NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@pytest.fixture(scope="module")
def course(tmp_path_factory, week4_weights) -> Path:
    """A fresh course directory with this repository's config and solutions, taken through autograde."""
    course = tmp_path_factory.mktemp("course")
    exchange = course / "exchange"
    exchange.mkdir()
    config = (REPO_DIR / "nbgrader_config.py").read_text()
    config += '\nc.GradeInSandbox.limits = {"cell_seconds": 10}\nc.LateSubmissionPlugin.penalty_method = "zero"\n'
    (course / "nbgrader_config.py").write_text(config)
    shutil.copytree(REPO_DIR / "solutions", course / "solutions")
    roster = course / "students.csv"
    names = {**NAMES, **{student: (student, "X") for student in EVERYONE_ELSE}}
    with roster.open("w", newline="") as handle:
        csv.writer(handle).writerows([("id", "first_name", "last_name")] + [(s, *name) for s, name in names.items()])
    nbgrader(course, "db", "student", "import", str(roster))
    for week in WEEKS:
        nbgrader(course, "generate_assignment", week)
    nbgrader(course, "db", "assignment", "add", "week2_linear", f"--duedate={DUE}")
    # Trained weights left in the source folder after release: autograde copies the source folder over every
    # submission, and must not hand them to students who handed in none (exclude_overwriting in the config).
    for name in get_week("week4_cnn").handed_in:
        shutil.copy(week4_weights / name, course / "solutions" / "week4_cnn" / name)

    exchange_flag = f"--Exchange.root={exchange}"
    nbgrader(course, "release_assignment", EXCHANGE_WEEK, exchange_flag)
    for student, kind in STUDENTS.items():
        home = course / "home" / student
        home.mkdir(parents=True)
        nbgrader(course, "fetch_assignment", EXCHANGE_WEEK, "--course", "dl-course", exchange_flag, cwd=home)
        fetched = home / EXCHANGE_WEEK / f"{EXCHANGE_WEEK}.ipynb"
        nbformat.write(student_notebook(course, EXCHANGE_WEEK, kind), fetched)
        submit = ("submit", EXCHANGE_WEEK, "--course", "dl-course", "--student", student, exchange_flag)
        nbgrader(course, *submit, cwd=home)
    nbgrader(course, "collect", EXCHANGE_WEEK, exchange_flag)

    for week in WEEKS:
        if week == EXCHANGE_WEEK:
            continue
        for student, kind in STUDENTS.items():
            folder = course / "submitted" / student / week
            folder.mkdir(parents=True)
            nbformat.write(student_notebook(course, week, kind), folder / f"{week}.ipynb")
            if kind == "correct":  # hands in what the notebook trained, as the week asks
                for name in get_week(week).handed_in:
                    shutil.copy(week4_weights / name, folder / name)
    for student, (_, source) in HOSTILE.items():
        notebook = released(course, EXCHANGE_WEEK)
        notebook.cells.insert(2, nbformat.v4.new_code_cell(source))
        if student == "h_html":
            notebook.cells[3:3] = HOSTILE_MARKUP
        (course / "submitted" / student / EXCHANGE_WEEK).mkdir(parents=True)
        nbformat.write(notebook, course / "submitted" / student / EXCHANGE_WEEK / f"{EXCHANGE_WEEK}.ipynb")
    late = course / "submitted" / LATE / "week2_linear"
    late.mkdir(parents=True)
    nbformat.write(student_notebook(course, "week2_linear", "correct"), late / "week2_linear.ipynb")
    (late / "timestamp.txt").write_text("2026-11-22 10:00:00.000000 UTC")
    for week in WEEKS:
        nbgrader(course, "autograde", week)
        nbgrader(course, "generate_feedback", week)
    nbgrader(course, "export", "--to", str(course / "nbgrader_grades.csv"))
    return course


@pytest.fixture(scope="module")
def dlgrade_out(course: Path) -> Path:
    out = course / "dlgrade_results"
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "batch", str(course / "submitted"), "--out", str(out), "--jobs", "2"]
        + ["--gradebook", f"sqlite:///{course / 'gradebook.db'}"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def gradebook_parts(course: Path, week: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(week, week, student)
        return {grade.name.removeprefix("grade_"): float(grade.score) for grade in notebook.grades}


def dlgrade_parts(out: Path, week: str, student: str) -> dict[str, float]:
    results = json.loads((out / student / week / "results.json").read_text())
    parts: dict[str, float] = {}
    for test in results["tests"]:
        parts[test["tags"][0]] = parts.get(test["tags"][0], 0.0) + float(test["score"])
    return parts


@pytest.mark.parametrize("week", list(WEEKS))
@pytest.mark.parametrize("student", list(STUDENTS))
def test_nbgrader_and_dlgrade_agree_on_every_part(course, dlgrade_out, week, student):
    """Does nbgrader's gradebook hold exactly dlgrade's points for each part of this student's notebook?"""
    ours = dlgrade_parts(dlgrade_out, week, student)
    assert gradebook_parts(course, week, student) == ours
    total, maximum = sum(ours.values()), json.loads((dlgrade_out / student / week / "results.json").read_text())
    kind = STUDENTS[student]
    if kind == "correct":
        assert total == maximum["max_score"] > 0
    elif kind == "empty":
        assert total == 0
    else:
        assert 0 < total < maximum["max_score"]


@pytest.mark.parametrize("week", list(WEEKS))
def test_tampered_test_cells_earn_nothing_and_are_reported(course, dlgrade_out, week):
    """Does rewriting the test cells to claim points score exactly the honest partial answers, and get reported?"""
    assert gradebook_parts(course, week, "dee") == gradebook_parts(course, week, "bo")
    results = json.loads((dlgrade_out / "dee" / week / "results.json").read_text())
    assert "read-only cell `grade_" in results["output"] and "was edited" in results["output"]
    honest = json.loads((dlgrade_out / "bo" / week / "results.json").read_text())
    assert "was edited" not in honest["output"]


@pytest.mark.parametrize("student", list(HOSTILE))
def test_hostile_submission_gains_no_point(course, dlgrade_out, student):
    """Does the stub, with a cell that tries to get points another way, keep 0 in every part of the gradebook,
    in nbgrader's CSV and in dlgrade's?"""
    parts = gradebook_parts(course, EXCHANGE_WEEK, student)
    assert parts and set(parts.values()) == {0.0}, HOSTILE[student][0]
    assert dlgrade_parts(dlgrade_out, EXCHANGE_WEEK, student) == parts
    assert export_row(course, EXCHANGE_WEEK, student)["score"] == "0.0"


def test_notes_of_the_grading_reach_the_feedback(course):
    """Do the report's notes (a time limit hit, a skipped shell line, edited read-only cells) head the feedback?"""
    feedback = course / "feedback"
    hang = _text((feedback / "h_hang" / EXCHANGE_WEEK / f"{EXCHANGE_WEEK}.html").read_text())
    assert "Notes from grading" in hang and "ran longer than its limit (cell_seconds=10)" in hang
    printed = _text((feedback / "h_print" / EXCHANGE_WEEK / f"{EXCHANGE_WEEK}.html").read_text())
    assert "`!echo 25 of 25` was not run while grading" in printed
    tampered = _text((feedback / "dee" / EXCHANGE_WEEK / f"{EXCHANGE_WEEK}.html").read_text())
    assert "read-only cell `grade_storage_facts` was edited" in tampered


def test_feedback_shows_what_the_students_cells_printed(course):
    """Does a student see what their own cells printed while grading, and which cells did not run?"""
    page = _text((course / "feedback" / "h_print" / EXCHANGE_WEEK / f"{EXCHANGE_WEEK}.html").read_text())
    assert "[passed] everything (25/25)" in page and "PyTorch " in page
    assert "this self-check is not run while grading" in page


def test_autograde_runs_no_kernel(course):
    """Does no autograded notebook carry a kernel's execution counts (no cell ran in a kernel)?"""
    for path in (course / "autograded").glob("*/*/*.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        assert all(cell.get("execution_count") is None for cell in cells if cell.cell_type == "code"), path


def test_late_penalty_applies_as_nbgrader_configures_it(course):
    """Does a correct week-2 notebook submitted after the due date keep its points per part but score 0 after
    nbgrader's late penalty (penalty_method zero)?"""
    assert sum(gradebook_parts(course, "week2_linear", LATE).values()) == 26
    row = export_row(course, "week2_linear", LATE)
    assert (row["raw_score"], row["late_submission_penalty"], row["score"]) == ("26.0", "26.0", "0.0")


def export_row(course: Path, week: str, student: str) -> dict[str, str]:
    with (course / "nbgrader_grades.csv").open(newline="") as handle:
        return next(row for row in csv.DictReader(handle) if (row["assignment"], row["student_id"]) == (week, student))


def test_feedback_shows_scores_and_reveals_no_hidden_graders(course):
    """Is there an HTML feedback page per student and week, with the graders' messages but not their code?"""
    grader_sources = {week: get_week(week).grader_file.read_text() for week in WEEKS}
    for student in STUDENTS:
        for week in WEEKS:
            page = _text((course / "feedback" / student / week / f"{week}.html").read_text())
            assert "grade_part(" in page  # the hidden cell is only a call
            assert f"{next(iter(grader_points(get_week(week).grader_file)))}: " in page  # and its feedback
            for line in grader_sources[week].splitlines():
                if "torch.tensor(" in line and "expected" in line:
                    assert line.strip() not in page
            assert "def test_" not in page and "autograder.judging.checks" not in page
    partial = _text((course / "feedback" / "bo" / "week1_tensors" / "week1_tensors.html").read_text())
    assert "use the tensor's own element_size()" in partial


class _Dom(html.parser.HTMLParser):
    """What a page's scripts left in its DOM: attributes, handlers, script URLs, the title."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_title, self.title = False, ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_title = tag == "title"
        for name, value in attrs:
            student_wrote = re.search("pwned|alert", value or "", re.IGNORECASE)  # not nbgrader's own handlers
            if name == "data-pwned" or name.startswith("on") and student_wrote:
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "srcdoc", "action") and re.match(
                r"\s*(javascript|data|vbscript):|.*pwned", (value or "").lower()
            ):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag in ("iframe", "svg", "object", "embed"):
            self.problems.append(f"<{tag}> element")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def test_feedback_and_formgrader_pages_run_no_student_script(course):
    """Opened in headless Chromium, do the student's feedback page and formgrader's view of the submission run no
    script of the student's (no attribute it sets, no title it writes), keep no handler, script URL or frame it
    wrote, and still show its Markdown as text?"""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    autograded = course / "autograded" / "h_html" / EXCHANGE_WEEK / f"{EXCHANGE_WEEK}.ipynb"
    formgrade = HTMLExporter(template_name="formgrade", extra_template_basedirs=[handlers.template_path])
    resources = {"assignment_id": EXCHANGE_WEEK, "notebook_id": EXCHANGE_WEEK, "submission_id": "x", "index": 0}
    resources.update(total=1, base_url="", student="h_html", last_name="X", first_name="h_html", notebook_path="")
    formgrader_page = course / "formgrader_h_html.html"
    formgrader_page.write_text(formgrade.from_filename(str(autograded), resources=resources)[0])
    pages = [course / "feedback" / "h_html" / EXCHANGE_WEEK / f"{EXCHANGE_WEEK}.html", formgrader_page]
    for page in pages:
        rendered = rendered_dom(page)
        dom = _Dom()
        dom.feed(rendered)
        assert not dom.problems and "PWNED" not in dom.title, (page.name, dom.problems, dom.title)
        assert "My answers" in _text(rendered) and "onerror" in _text(rendered)  # shown, as text


# Run in the browser after the page has loaded: how many output areas are wider than the window lets them be.
_OVERFLOW_PROBE = """<script>
window.addEventListener("load", () => {
  const wide = [...document.querySelectorAll("div.output_area, div.output_area pre")]
    .filter((element) => element.scrollWidth > element.clientWidth + 1);
  document.title = "overflowing:" + wide.length;
});
</script>"""


def test_feedback_page_names_every_part_and_fits_a_laptop_window(course, tmp_path):
    """Does the feedback page name each part where nbgrader writes "Test cell", show no "Out[ ]: 2" (the points
    nbgrader reads) under a hidden-tests cell, and, opened in headless Chromium in a 900-pixel window, wrap
    every line of feedback instead of hiding it behind a horizontal scrollbar?"""
    page = (course / "feedback" / "bo" / EXCHANGE_WEEK / f"{EXCHANGE_WEEK}.html").read_text()
    contents = _text(page[page.index('<div id="toc">') : page.index("</ol>")])
    scores = gradebook_parts(course, EXCHANGE_WEEK, "bo")
    for part, points in grader_points(get_week(EXCHANGE_WEEK).grader_file).items():
        assert f"{part} (Score: {round(scores[part], 2)} / {round(points, 2)})" in contents
        assert f"Hidden tests: <code>{part}</code>" in page
    assert "Test cell" not in page and "Out[" not in page
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _OVERFLOW_PROBE + "</body>"))
    rendered = rendered_dom(probe, window="900,700")
    assert "<title>overflowing:0</title>" in rendered, re.findall("<title>.*?</title>", rendered)


def _text(page: str) -> str:
    """What a reader of the HTML sees: tags (syntax highlighting included) removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_nbgrader_export_and_dlgrade_batch_write_the_same_csv(course, dlgrade_out):
    """Do nbgrader's CSV export and dlgrade's batch CSV hold the same rows, names and scores included?"""

    def rows(path: Path) -> list[dict[str, str]]:
        with path.open(newline="") as handle:
            class_of_four = [row for row in csv.DictReader(handle) if row["student_id"] in STUDENTS]
            return sorted(class_of_four, key=lambda row: (row["assignment"], row["student_id"]))

    theirs, ours = rows(course / "nbgrader_grades.csv"), rows(dlgrade_out / "grades.csv")
    assert len(theirs) == len(WEEKS) * len(STUDENTS)
    assert ours == theirs
    dee = next(row for row in ours if row["student_id"] == "dee")
    assert (dee["first_name"], dee["last_name"]) == ("'=HYPERLINK(1)", "'+Dee, Dee")  # no formula, one cell each
    for path in (course / "nbgrader_grades.csv", dlgrade_out / "grades.csv"):
        data = path.read_bytes()
        assert b"\r\n" not in data  # one line ending, LF, in both
        cells = [cell for row in csv.reader(data.decode().splitlines()) for cell in row]
        assert not [cell for cell in cells if cell[:1] in "=+@\t\r" and cell[:1]], path.name
