"""The HTML in a submission's own cells made inert before nbgrader shows it to anyone.

nbgrader's feedback page (``generate_feedback``) and formgrader's view of a submission both render the autograded
notebook with Markdown passed through as HTML, and their templates do not honour nbconvert's ``sanitize_html``. So
autograde itself runs nbconvert's ``SanitizeHTML`` (bleach) over every Markdown and raw cell whose text is not the
released stub's: a Markdown cell is rendered to HTML with nbconvert's own renderer first and kept as that HTML, so
a ``[link](javascript:...)`` is caught as well as ``<script>`` and ``onerror=``; unsafe tags become text, and
only harmless tags, attributes and http(s)/mailto URLs stay. The
instructor's own cells are left exactly as written. Code cells' outputs are the grader's (``GradeInSandbox``
writes them), and are sanitized too, as a second line.
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.filters.markdown import markdown2html
from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbformat.notebooknode import NotebookNode
from traitlets import Bool

from autograder.course.weeks import UnknownWeek, get_week
from autograder.running.notebook import NotebookError, declared_week, read_notebook

MARKDOWN_TAGS = ["a", "abbr", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i"]
MARKDOWN_TAGS += ["img", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "td", "th", "tr", "ul"]
"""What a student's Markdown may still hold as HTML; bleach drops every attribute but those below, and any URL
that is not http(s) or mailto (no ``javascript:``)."""
MARKDOWN_ATTRIBUTES = {"a": ["href", "title"], "img": ["src", "alt", "title"], "abbr": ["title"]}


class SanitizeStudentHTML(SanitizeHTML):
    """nbconvert's ``SanitizeHTML``, on the cells whose text came from the student."""

    enabled = Bool(True, help="sanitize (nbconvert's preprocessors are off unless enabled)").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        self.tags, self.attributes = MARKDOWN_TAGS, MARKDOWN_ATTRIBUTES
        self._released = _released_texts(nb, resources)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict, index: int) -> tuple[NotebookNode, dict]:
        if cell.cell_type in ("markdown", "raw") and cell.source in self._released:
            return cell, resources
        if cell.cell_type == "markdown":  # rendered first: Markdown's own links can say javascript: too
            cell.source = as_one_html_block(self.sanitize_html_tags(markdown2html(cell.source)))
            return cell, resources
        return super().preprocess_cell(cell, resources, index)


def as_one_html_block(html: str) -> str:
    """``html`` as Markdown that renders to exactly it: one ``<div>`` block with no blank line in it, which a
    Markdown renderer passes through whole, so no text left in it (``[a](javascript:...)``) is read as Markdown
    again. A blank line becomes one holding ``&#32;``, a space."""
    lines = [line if line.strip() else "&#32;" for line in html.strip().splitlines()]
    return "<div>\n" + "\n".join(lines) + "\n</div>"


def _released_texts(nb: NotebookNode, resources: ResourcesDict) -> set[str]:
    """The Markdown and raw cells of the week's released stub: the instructor's, shown as written."""
    try:
        week = get_week(declared_week(nb) or resources.get("nbgrader", {}).get("assignment", ""))
        stub = read_notebook(week.stub)
    except (UnknownWeek, NotebookError, OSError):
        return set()
    return {cell.source for cell in stub.cells if cell.cell_type in ("markdown", "raw")}
