"""Build a week's Gradescope autograder: the zip an instructor uploads, with ``setup.sh`` and ``run_autograder``
at its root.

It holds what grading that week needs and nothing else: the layers of dlgrade that grade (``sandbox`` up to
``grading``, and ``gradescope/run.py`` over them; no other front end and no authoring tool) with only this
week's graders, the
week's student stub (grading restores read-only cells from it), the data sets its graders read (week 4's
Fashion-MNIST with the held-out test labels, so nothing is downloaded while grading), and a small
configuration. Nothing of ``solutions/`` goes in. Members are stored with fixed dates, so the same sources
make the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from autograder import __version__
from autograder.course.data import idx_archives
from autograder.course.weeks import PACKAGE_DIR, REPO_DIR, Week
from autograder.frontends.gradescope.run import CONFIG_NAME, REFERENCE_VISIBILITIES, VISIBILITIES, one_of

TEMPLATES = PACKAGE_DIR / "templates" / "gradescope"
SCRIPTS = ("setup.sh", "run_autograder")
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
SHIPPED_LAYERS = ("sandbox", "running", "judging", "course", "grading")
"""The package's layers (autograder/__init__.py) a grading runs, whole; of ``frontends``, only what follows."""
SHIPPED_FRONTEND = ("frontends/__init__.py", "frontends/gradescope/__init__.py", "frontends/gradescope/run.py")

README = """# dlgrade's autograder for {week} ({title})

Built by `dlgrade gradescope` (dlgrade {version}). Upload the zip this folder came in as a Gradescope
programming assignment's autograder; see docs/gradescope.md in the course repository.
"""


def build(
    week: Week,
    out: Path,
    allow_unconfined: bool = False,
    visibility: str = "visible",
    data_root: Path | None = None,
    references: str = "hidden",
) -> Path:
    """Write the week's autograder zip to ``out`` (a ``.zip`` path, or a folder to put ``WEEK-gradescope.zip``
    in); returns its path. Raises ``DataMissing`` naming the files when the week's data sets are not here."""
    one_of("--visibility", visibility, VISIBILITIES)
    one_of("--references", references, REFERENCE_VISIBILITIES)
    if not week.stub.is_file():
        raise FileNotFoundError(
            f"{week.stub}: the week's student stub is missing (nbgrader generate_assignment {week.name} makes it)"
        )
    target = out if out.suffix == ".zip" else out / f"{week.name}-gradescope.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "week": week.name,
        "allow_unconfined": allow_unconfined,
        "visibility": visibility,
        "references": references,
        "dlgrade": __version__,
        "graders_sha256": hashlib.sha256(week.grader_file.read_bytes()).hexdigest(),
    }
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in SCRIPTS:
            _add(archive, name, (TEMPLATES / name).read_bytes(), executable=True)
        _add(archive, CONFIG_NAME, (json.dumps(config, indent=2) + "\n").encode())
        _add(archive, "dlgrade/README.md", readme(week).encode())  # pyproject.toml names a readme
        for name, path in members(week, data_root):
            _add(archive, name, path.read_bytes(), stored=path.suffix == ".gz")
    os.replace(partial, target)
    return target


def members(week: Week, data_root: Path | None = None) -> Iterator[tuple[str, Path]]:
    """(name in the zip, file here) for the package, the stub and the data: everything but the scripts."""
    yield "dlgrade/pyproject.toml", REPO_DIR / "pyproject.toml"
    for path in sorted(PACKAGE_DIR.rglob("*")):
        relative = path.relative_to(PACKAGE_DIR)
        if path.is_file() and path.suffix in (".py", ".ini") and _grades(relative, week):
            yield f"dlgrade/autograder/{relative.as_posix()}", path
    yield f"dlgrade/assignments/{week.name}/{week.stub.name}", week.stub
    for dataset in week.datasets:
        for archive in idx_archives(dataset, data_root):
            yield f"data/{dataset}/raw/{archive.name}", archive


def _grades(relative: Path, week: Week) -> bool:
    """Whether grading ``week`` runs this file of the package (``relative`` to it)."""
    if "__pycache__" in relative.parts:
        return False
    if relative.parts[:2] == ("course", "graders") and relative.suffix == ".py":
        return relative.name in ("__init__.py", week.grader_file.name)  # never another week's hidden graders
    top_package = relative.as_posix() == "__init__.py"
    return top_package or relative.parts[0] in SHIPPED_LAYERS or relative.as_posix() in SHIPPED_FRONTEND


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False, stored: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def readme(week: Week) -> str:
    return README.format(week=week.name, title=week.title, version=__version__)
