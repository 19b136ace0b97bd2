"""Rewriting one answer of a notebook, as a student's mistake would: how the catalogue of mistakes is applied."""

from __future__ import annotations

import ast
import textwrap

import nbformat


def replace_function(notebook: nbformat.NotebookNode, name: str, source: str) -> None:
    """Swap the top-level ``def``, ``class`` or assignment of ``name`` in whichever cell defines it for ``source``."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            assigned = isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets)
            if assigned or isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
                lines = cell.source.splitlines()
                start = node.lineno - 1 - len(getattr(node, "decorator_list", []))
                lines[start : node.end_lineno] = textwrap.dedent(source).strip("\n").splitlines()
                cell.source = "\n".join(lines)
                return
    raise LookupError(f"no cell defines {name}")
