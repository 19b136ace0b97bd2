#!/usr/bin/env bash
# Create .venv (if missing) and install the course package with its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
# Real Fashion-MNIST (the IDX files, from Debian's package): week 4 trains and is graded on it, with no download.
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] && [ "$(id -u)" = 0 ] \
    && command -v apt-get >/dev/null; then
    { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; } >/dev/null \
        || echo "warning: could not install dataset-fashion-mnist; set DLGRADE_DATA to a folder with Fashion-MNIST" >&2
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 \
    | grep -v -E "^WARNING: Location .* is ignored" || true
.venv/bin/python -c "import autograder, torch, nbgrader" \
    || { echo "setup failed: the course package did not install" >&2; exit 1; }
