"""What students and instructors read is safe: feedback that hands out no hidden input and no reference value,
and no text of the student's that acts in any format the report is written in.

One week-1 submission tries every way in at once (answers that raise their hidden inputs, Markdown and HTML,
ANSI escapes and control characters in messages and in what it prints, constants guessed from feedback); it is
graded once, and every format is checked. ``helpers.grade`` holds every grading in the tests to the policy too.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from helpers import grade, submission
from markdown_it import MarkdownIt

from autograder.grading.report import FORMATS, to_markdown, to_table, with_feedback
from autograder.judging import disclosure

WEEK = "week1_tensors"
MARKUP = (
    "<img src=x onerror=alert(1)> <h2>Total 25/25</h2> [click](http://evil.example) ![i](http://evil.example/i.png)"
    " `code` **bold** _it_ ~~del~~ <!-- hides the rest"
)
ANSI = "\x1b[2J\x1b[32mTotal: 25 / 25\x1b[0m \x1b]52;c;ZXZpbA==\x07 \x1b[8mconcealed \x9b31m"
CONTROL = "nul\x00 bell\x07 vt\x0b ff\x0c noncharacter\ufffe bidi\u202eoverride"
HOSTILE = {
    "flatten_images": "def flatten_images(images):\n    raise ValueError(repr(images))",
    "normalize": "def normalize(x, mean=MNIST_MEAN, std=MNIST_STD):\n    raise ValueError(str(x.tolist()))",
    "center_columns": "def center_columns(x):\n    raise RuntimeError(f'sum {x.sum().item()} first {x[0, 0].item()}')",
    "outer_sum": "def outer_sum(a, b):\n    raise RuntimeError(repr(a.numpy()) + str(b.tolist()))",
    "tensor_from_list": "def tensor_from_list(values, dtype=torch.float32, device='cpu'):\n"
    f"    raise ValueError({MARKUP!r})",
    "storage_facts": f"def storage_facts(t):\n    raise ValueError({ANSI!r})",
    "scale_pixels": f"def scale_pixels(images):\n    raise ValueError({CONTROL!r})",
    # the stub states where MNIST's black and white land: one guess that fits only those
    "normalized_range": "def normalized_range(mean=MNIST_MEAN, std=MNIST_STD):\n    return (-0.4242, 2.8215)",
}
PRINTS = f"print({MARKUP!r})\nprint({ANSI!r})\nprint({CONTROL!r})"
OURS = {"h2", "p", "table", "thead", "tbody", "tr", "th", "td", "br", "strong", "ul", "li", "blockquote"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = submission(tmp_path_factory.mktemp("hostile"), WEEK, HOSTILE, extra_cells=[PRINTS])
    return grade(path, WEEK)  # helpers.grade: no withheld value in any feedback


def feedback(report, function: str) -> str:
    """The feedback lines about calls of ``function`` on the graders' tensors."""
    lines = "\n".join(test.output for test in report.tests).splitlines()
    return "\n".join(line for line in lines if line.startswith(f"{function}(<tensor"))


def test_an_answer_that_raises_its_inputs_learns_nothing_of_them(report):
    """Do answers that raise their hidden inputs (repr, tolist, numpy, item) get their call named and their error's
    words, but not one value of the inputs, and is the message short?"""
    for function in ("flatten_images", "normalize", "center_columns", "outer_sum"):
        text = feedback(report, function)
        assert f"{function}(<tensor of shape" in text and "raised" in text, text
        assert not re.search(r"\d\.\d", "".join(line.partition(" raised ")[2] for line in text.splitlines())), text
        assert len(text) < 3000
    assert "tensor(<values not shown>)" in feedback(report, "flatten_images")


def test_a_constant_that_fits_the_stated_example_earns_no_hint_of_the_other(report):
    """Does the feedback of a normalized_range that returns the stub's stated numbers for every mean and std name
    what came back, but not the reference for mean=0.5, std=0.5, except at the open level?"""
    [test] = [t for t in report.tests if t.name.startswith("normalized_range")]
    assert test.score == 0 and "normalized_range(mean=0.5, std=0.5)[0]: got -0.4242" in test.output
    assert "expected" not in test.output and "-1" not in test.output.replace("-0.4242", "")
    assert test.reference == "-1"
    [opened] = [t for t in with_feedback(report, "open").tests if t.name == test.name]
    assert opened.output.endswith("(the reference: -1)")
    hidden = with_feedback(report, "hidden")
    assert all(not t.reference for t in hidden.tests)
    assert "(the reference:" not in to_markdown(hidden) + to_table(hidden)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [attr for attr in attrs if attr != ("style", "text-align:left")]

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def test_markdown_renders_no_element_of_the_students(report):
    """Rendered as GitHub renders a step summary (CommonMark with tables), does the Markdown hold only the
    report's own elements, one heading, no link, image, code, emphasis, comment or attribute, and still show the
    student's text as text?"""
    html = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(to_markdown(report))
    elements = _Elements()
    elements.feed(html)
    assert set(elements.tags) <= OURS, set(elements.tags) - OURS
    assert elements.tags.count("h2") == 1 and not elements.attributes and not elements.comments
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "[click](http://evil.example)" in html
    assert "**bold**" in html and "\x1b" not in html


def test_terminal_table_sends_no_escape_of_the_students(report):
    """In colour and without, does the terminal table hold no escape sequence or control character but the
    grader's own colours, with the student's shown as text, and no line a student wrote as the total?"""
    for colour in (False, True):
        table = to_table(report, colour=colour)
        ours = re.sub(r"\x1b\[(?:3[12]|0)m", "", table)
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e\ufffe]", ours), repr(ours[:400])
        assert "\\x1b[32mTotal: 25 / 25" in table and "\\u202e" in table
        totals = [line for line in ours.splitlines() if line.startswith("Total:")]
        assert totals == [f"Total: {report.score:g} / {report.max_score:g}"]
    assert "\x1b" not in to_table(report)


def test_every_format_parses_and_holds_no_control_character(report):
    """Does every format parse as what it is (JUnit as XML, JSON as JSON), with no character XML cannot hold?"""
    junit = FORMATS["junit"](report)
    ET.fromstring(junit.encode())
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", junit)
    results = json.loads(FORMATS["json"](report))
    assert results["score"] == report.score and len(results["tests"]) == len(report.tests)


@pytest.mark.parametrize(
    ("message", "kept", "gone"),
    [
        ("tensor([[0.1234, 0.5], [1.0, 2.0]])", "tensor(<values not shown>)", "0.1234"),
        ("bad: [[0.123, -1.5], [2.25, 3.0]]", "bad: [...]", "2.25"),
        ("Parameter containing:\ntensor([1., 2.], requires_grad=True) oops", "oops", "requires_grad"),
        ("array([3, 1, 4, 1, 5])", "array(<values not shown>)", "4"),
        ("labels [3, 1, 4, 1, 5]", "labels [...]", "4"),
        ("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)", "(2x3 and 4x5)", None),
        ("Expected size torch.Size([2, 3, 4])", "torch.Size([2, 3, 4])", None),
        ("index 5 is out of bounds for dimension 0 with size 3", "index 5", None),
        ("view size is not compatible with input tensor's size and stride", "input tensor's size", "<values"),
        ("x" * 5000, "(message cut)", None),
    ],
)
def test_student_messages_keep_their_words_not_their_values(message, kept, gone):
    """Does a message the student's code raised keep shapes, sizes and words, and lose tensors, floats and lists
    of numbers, cut to its limit?"""
    shown = disclosure.student_message(message)
    assert kept in shown and len(shown) <= disclosure.MESSAGE_CHARS
    assert gone is None or gone not in shown


def test_the_ledger_finds_a_withheld_value_and_lets_a_returned_one_be():
    """Does the ledger find a hidden value written to 4 digits, and let a value the student's code returned be?"""
    import torch

    with disclosure.watching() as ledger:
        disclosure.withhold(torch.tensor([0.73418, -1.25, 3.0]))
        disclosure.allow([0.5521])
    assert ledger.leaks("got 0.7342 at index (0,)") == ["0.7342"]
    assert ledger.leaks("largest difference about 7e-01, yours is 0.5521, shape (64, 784)") == []
    assert ledger.leaks("-1.25") == ["-1.25"] and ledger.leaks("3.0 and 1.2") == []


def test_references_stay_with_the_instructor_until_released(report, tmp_path):
    """Does a batch's results.json keep the references for the instructor, while the check run a student reads
    shows none unless published with --feedback open, and does Gradescope get them only as 0-point entries at
    the visibility asked for?"""
    from autograder.frontends.github.publish import check_runs
    from autograder.frontends.gradescope.run import reference_entries
    from autograder.grading.report import to_gradescope

    results = to_gradescope(report)
    assert results["extra_data"]["references"]
    (tmp_path / "ada" / WEEK).mkdir(parents=True)
    (tmp_path / "ada" / WEEK / "results.json").write_text(json.dumps(results))
    (tmp_path / "fetched.json").write_text(json.dumps({"ada": {"repository": "o/ada", "commit": "c" * 40}}))
    [(_, hidden)], [(_, opened)] = check_runs(tmp_path), check_runs(tmp_path, "open")
    assert "the reference" not in hidden["output"]["summary"]
    assert "(the reference\\: -1)" in opened["output"]["summary"]
    entries = reference_entries(report, "after_due_date")
    assert entries and all(e["visibility"] == "after_due_date" and e["max_score"] == 0 for e in entries)
    assert {e["tags"][0] for e in entries} <= {t.part for t in report.tests if t.status == "failed"}


class _Stream:
    def __init__(self, tty: bool) -> None:
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(("tty", "no_color", "colour"), [(True, None, True), (True, "1", False), (False, None, False)])
def test_colour_only_on_a_terminal_without_no_color(monkeypatch, tty, no_color, colour):
    """Is the table coloured on a terminal, and never where NO_COLOR is set or the output is not a terminal?"""
    from autograder.grading.report import use_colour

    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    assert use_colour(_Stream(tty)) is colour


@pytest.mark.parametrize("week", ["week1_tensors", "week3_conv"])
def test_stub_feedback_names_the_students_calls_not_the_graders_helpers(week):
    """Graded as released (every part raising NotImplementedError or undefined), does every test say which of the
    student's functions or names is missing, including those that reach it through one of the grader's probes
    (``helpers.grade`` also refuses any feedback naming a probe)?"""
    from autograder.course.weeks import get_week

    report = grade(get_week(week).stub, week=week)
    outputs = [test.output for test in report.tests]
    said = ("is not implemented yet", "the notebook defines no")  # a stub leaves some names for the student to write
    assert all(any(words in output for words in said) for output in outputs), outputs
    if week == "week1_tensors":
        scale = next(test.output for test in report.tests if test.part == "normalize")
        assert scale.startswith("scale_pixels(<uint8 tensor on the meta device>) is not implemented yet"), scale
