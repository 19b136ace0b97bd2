"""Run each week's notebook and report which of its visible self-checks pass.

These are the checks printed in the notebooks themselves, nothing more: the hidden tests that decide the score
are not in this repository. Usage: ``python .github/self_check.py [--summary FILE]`` (FILE gets a Markdown table;
the workflow passes ``$GITHUB_STEP_SUMMARY``). The exit status is 0 unless a notebook cannot be read or run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent


def check_notebook(path: Path) -> list[tuple[str, str, str]]:
    """(part, status, message) for each self-check cell of the notebook, after running it top to bottom."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, allow_errors=True, kernel_name="python3")
    client.resources = {"metadata": {"path": str(path.parent)}}
    try:
        client.execute()
    except (CellTimeoutError, DeadKernelError) as exc:
        return [("(notebook)", "did not finish", str(exc).strip().splitlines()[0][:200])]
    rows = []
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if cell.cell_type != "code" or not grade_id.startswith("check_"):
            continue
        errors = [output for output in cell.get("outputs", []) if output.get("output_type") == "error"]
        part = grade_id.removeprefix("check_")
        if not errors:
            rows.append((part, "passed", ""))
        elif errors[0].get("ename") == "NotImplementedError":
            rows.append((part, "not started", "the function still raises NotImplementedError"))
        else:
            message = f"{errors[0].get('ename')}: {errors[0].get('evalue', '')}".strip().splitlines()[0][:200]
            rows.append((part, "failed", message))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", type=Path, help="append a Markdown report to this file")
    args = parser.parse_args()
    lines, broken = ["## Self-checks", "", "| week | part | self-check | message |", "|---|---|---|---|"], 0
    for path in sorted(ROOT.glob("*/*.ipynb")):
        if path.parent.name.startswith(".") or ".ipynb_checkpoints" in path.parts:
            continue
        try:
            rows = check_notebook(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable notebook is reported, the others still run
            rows, broken = [("(notebook)", "could not run", f"{type(exc).__name__}: {exc}"[:200])], broken + 1
        for part, status, message in rows:
            lines.append(f"| {path.parent.name} | {part} | {status} | {message.replace('|', '/')} |")
    lines += ["", "Self-checks show you are on track; your score comes from the hidden tests after the deadline."]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.summary:
        with args.summary.open("a", encoding="utf-8") as handle:
            handle.write(report)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
