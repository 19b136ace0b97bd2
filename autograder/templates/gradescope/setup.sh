#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, to build the image each submission is graded in.
# It installs what grading needs and nothing it would have to download later: bubblewrap and util-linux (the
# walls around the student's code), Python with PyTorch's CPU build (Gradescope's containers have no GPU), and
# dlgrade with this week's hidden graders. The week's data, if any, came in the zip (source/data).
set -euo pipefail
SOURCE="$(cd "$(dirname "$0")" && pwd)"
ROOT="${DLGRADE_AUTOGRADER_ROOT:-/autograder}"
VENV="$ROOT/dlgrade-venv"
TORCH_INDEX="${DLGRADE_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip bubblewrap util-linux libseccomp2
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# The CPU build first: installed from PyPI as a dependency, torch would bring CUDA's libraries (gigabytes).
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --index-url "$TORCH_INDEX" \
    "torch>=2.1" "torchvision>=0.16"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$SOURCE/dlgrade"
# Checked now, so that a broken image fails here, where the instructor sees it, not in a student's results.
"$VENV/bin/python" -m autograder.frontends.gradescope.run --check --root "$ROOT"
