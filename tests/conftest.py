import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402
from helpers import GRADING_DEVICE  # noqa: E402

from autograder.authoring.handed_in import make_handed_in  # noqa: E402
from autograder.course.data import DataMissing  # noqa: E402
from autograder.course.weeks import get_week  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--grading-device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where the grading tests run the student's code (default cpu; cuda needs a GPU, and proves the suite's "
        "verdicts hold on a GPU runner)",
    )


def pytest_configure(config: pytest.Config) -> None:
    device = config.getoption("--grading-device")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError("--grading-device cuda: no CUDA device here (torch.cuda.is_available())")
    GRADING_DEVICE["device"] = device


def pytest_report_header(config: pytest.Config) -> str:
    return f"grading device: {GRADING_DEVICE['device']}"


@pytest.fixture(scope="session")
def week4_training(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder with week4_cnn.pt and week4_ff.pt, trained by running the week 4 solution notebook (once), and the
    progress it reported while it trained."""
    folder = tmp_path_factory.mktemp("week4-trained")
    progress = io.StringIO()
    try:
        make_handed_in(get_week("week4_cnn"), folder, progress=progress)
    except DataMissing as exc:
        pytest.skip(f"week 4 trains on Fashion-MNIST, which is not here ({exc}); apt-get install dataset-fashion-mnist")
    return folder, progress.getvalue()


@pytest.fixture(scope="session")
def week4_weights(week4_training: tuple[Path, str]) -> Path:
    """A folder with week4_cnn.pt and week4_ff.pt, made by the week 4 solution (``week4_training``)."""
    return week4_training[0]
