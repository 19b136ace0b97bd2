#!/usr/bin/env bash
# Create .venv (if missing) and install the course package with its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
# From Debian's packages: bubblewrap, which confines the student's code while grading (dlgrade batch refuses to
# grade without it), and real Fashion-MNIST (the IDX files): week 4 trains and is graded on it, with no download.
packages=()
command -v bwrap >/dev/null || packages+=(bubblewrap)
# libseccomp builds the sandbox's system-call filter (autograder/sandbox/syscall_filter.py).
ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || packages+=(libseccomp2)
[ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || packages+=(dataset-fashion-mnist)
if [ "${#packages[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && apt-get install -y -qq "${packages[@]}"; } >/dev/null \
        || echo "warning: could not install ${packages[*]}; see README.md, 'Isolation' and 'Data'" >&2
elif ! command -v bwrap >/dev/null; then
    echo "warning: bubblewrap is not installed, so student code would run unconfined: run" \
        "scripts/enable-confinement.sh (it uses sudo)" >&2
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 \
    | grep -v -E "^WARNING: Location .* is ignored" || true
.venv/bin/python -c "import autograder, torch, nbgrader" \
    || { echo "setup failed: the course package did not install" >&2; exit 1; }
