"""Where the course's data sets live: one data root, and Debian's Fashion-MNIST package.

Apart from ``data`` (which imports torch) so that grading knows what to hide from the student's process before
it has paid for torch: the student's process starts first, and imports torch while the grader does.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "DLGRADE_DATA"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: the argument, else $DLGRADE_DATA, else ~/.cache/dlgrade."""
    chosen = root or os.environ.get(DATA_ENV) or Path.home() / ".cache" / "dlgrade"
    return Path(chosen).expanduser()


def private_locations() -> list[Path]:
    """Where the data sets live: the graders' alone (week 4's held-out test labels), never the student's process's;
    week 4's probes send it the images they need."""
    return [DEBIAN_FASHION_MNIST.parent, data_root().resolve()]
