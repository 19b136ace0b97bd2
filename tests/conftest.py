import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

from autograder.data import DataMissing  # noqa: E402
from autograder.handed_in import make_handed_in  # noqa: E402
from autograder.weeks import get_week  # noqa: E402


@pytest.fixture(scope="session")
def week4_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with week4_cnn.pt and week4_ff.pt, trained by running the week 4 solution notebook (once)."""
    folder = tmp_path_factory.mktemp("week4-trained")
    try:
        make_handed_in(get_week("week4_cnn"), folder)
    except DataMissing as exc:
        pytest.skip(f"week 4 trains on Fashion-MNIST, which is not here ({exc}); apt-get install dataset-fashion-mnist")
    return folder
