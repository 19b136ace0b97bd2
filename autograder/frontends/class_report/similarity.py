"""Which submissions of a week look copied: a lead for a person to review, never a verdict.

Only the answer cells are compared (the cells students write), with copydetect's winnowing (the MOSS method):
names are replaced by placeholders, so renamed variables do not hide a copy, and what the stub gives and the
instructor's solution holds is subtracted as boilerplate, so the reference answer shared by many is not a match.
Each answer's top-level statements are put in one canonical order first (sorted by their text with names taken
out), so reordered functions do not hide a copy either, and formatting and comments are Python's own (each answer
is written back from its syntax tree). A pair's similarity is the lower of two shares: how much of each one's code
(beyond the boilerplate) matches the other's. Tiny answers make a high share cheap for one side alone: a student
who wrote little beyond the reference shares most of it with many classmates by chance; the lower share is high
only where both hold the same code.
"""

from __future__ import annotations

import ast
import html
import io
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import nbformat
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import filter_code, highlight_overlap
from tqdm import tqdm

from autograder.course.weeks import WEEKS
from autograder.frontends.batch.run import find_submissions
from autograder.running.notebook import NotebookError, read_notebook

NOISE = 15  # copydetect's k: matches shorter than this many characters of name-free code are ignored
GUARANTEE = 20  # matches this long are always found (winnowing window: GUARANTEE - NOISE + 1)


@dataclass
class Answers:
    student: str
    code: str  # the answer cells, each in canonical order
    fingerprint: CodeFingerprint


@dataclass
class Pair:
    week: str
    first: str
    second: str
    shares: tuple[float, float]  # of the first's code that matches the second's, and the other way round
    first_html: str  # each side's code, escaped, matching stretches in <mark>
    second_html: str

    overlap: int  # characters of name-free code the two share

    @property
    def similarity(self) -> float:
        return min(self.shares)


def answer_code(notebook: nbformat.NotebookNode) -> str:
    """The notebook's answer cells (nbgrader's solution cells), each one's statements in canonical order."""
    cells = [c for c in notebook.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    return "\n\n".join(canonical(cell.source) for cell in cells if cell.cell_type == "code")


def canonical(source: str) -> str:
    """``source`` as Python writes it back from its syntax tree (one layout, no comments), its top-level statements
    sorted by their name-free text: the same code however formatted, commented or ordered reads alike. Source that
    does not parse is kept as it is."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source
    pieces = [ast.unparse(node) for node in tree.body]
    return "\n".join(sorted(pieces, key=lambda piece: filter_code(piece, "answer.py")[0]))


def _fingerprint(code: str, boilerplate: object = None) -> CodeFingerprint:
    return CodeFingerprint(
        "answer.py", NOISE, GUARANTEE - NOISE + 1, boilerplate=boilerplate, language="python", fp=io.StringIO(code)
    )


def read_answers(submissions: Path, week: str, problems: list[str], progress: bool = False) -> list[Answers]:
    """Every student's answers to ``week`` under ``submissions`` (``dlgrade batch``'s layouts)."""
    template = WEEKS[week]
    given = "\n\n".join(answer_code(read_notebook(path)) for path in (template.stub, template.solution))
    boilerplate = list(_fingerprint(given).hashes)
    found = []
    for submission in tqdm(find_submissions(submissions, week), desc=f"{week} answers", disable=not progress):
        if submission.label != week or submission.refused:
            continue
        try:
            code = answer_code(read_notebook(submission.path))
        except NotebookError as exc:
            problems.append(f"{exc}; not compared")
            continue
        found.append(Answers(submission.student, code, _fingerprint(code, boilerplate)))
    return found


def similar_pairs(answers: list[Answers], week: str, threshold: float) -> list[Pair]:
    """The pairs of ``answers`` whose similarity reaches ``threshold``: most similar first, then most shared."""
    hashes = [frozenset(a.fingerprint.hashes) for a in answers]
    pairs = []
    for i, j in combinations(range(len(answers)), 2):
        shared = len(hashes[i] & hashes[j])  # a cheap bound first: most pairs share almost nothing
        if not shared or shared < threshold * max(len(hashes[i]), len(hashes[j])) / 2:
            continue
        overlap, shares, slices = compare_files(answers[i].fingerprint, answers[j].fingerprint)
        if min(shares) >= threshold:
            first, second = answers[i], answers[j]
            pairs.append(
                Pair(
                    week,
                    first.student,
                    second.student,
                    (float(shares[0]), float(shares[1])),
                    _marked(first.code, slices[0]),
                    _marked(second.code, slices[1]),
                    int(overlap),
                )
            )
    return sorted(pairs, key=lambda pair: (-pair.similarity, -pair.overlap, pair.first, pair.second))


def all_shares(answers: list[Answers]) -> list[tuple[str, str, float]]:
    """Every pair's similarity (for measuring how copies rank among honest pairs)."""
    shares = []
    for first, second in combinations(answers, 2):
        _, (a, b), _ = compare_files(first.fingerprint, second.fingerprint)
        shares.append((first.student, second.student, float(min(a, b))))
    return sorted(shares, key=lambda row: -row[2])


def _marked(code: str, slices: object) -> str:
    """``code`` escaped for HTML, its matching stretches in <mark>."""
    if getattr(slices, "size", 0) == 0:
        return html.escape(code)
    return str(highlight_overlap(code, slices, "<mark>", "</mark>", escape_html=True)[0])
