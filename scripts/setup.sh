#!/usr/bin/env bash
# Create .venv (if missing) and install the course package with its test tools. Safe to run again.
# One line per stage; a stage that fails prints its own output, then what failed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

stage() {  # stage NAME COMMAND...: run COMMAND quietly; on failure show its output and stop
    local name="$1" started="$SECONDS"
    shift
    if "$@" >"$log" 2>&1; then
        echo "setup: $name ($((SECONDS - started)) s)"
    else
        cat "$log" >&2
        echo "setup failed: $name (its output is above)" >&2
        exit 1
    fi
}

# From Debian's packages: bubblewrap, which confines the student's code while grading (dlgrade batch refuses to
# grade without it), libseccomp, which builds the sandbox's system-call filter (autograder/sandbox/syscall_filter.py),
# and real Fashion-MNIST (the IDX files): week 4 trains and is graded on it, with no download.
packages=()
command -v bwrap >/dev/null || packages+=(bubblewrap)
ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || packages+=(libseccomp2)
[ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || packages+=(dataset-fashion-mnist)
install_packages() { apt-get update -qq && apt-get install -y -qq "${packages[@]}"; }
if [ "${#packages[@]}" -eq 0 ]; then
    echo "setup: system packages (bubblewrap, libseccomp2, dataset-fashion-mnist already installed)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if install_packages >"$log" 2>&1; then
        echo "setup: system packages (${packages[*]})"
    else
        cat "$log" >&2
        echo "setup: could not install ${packages[*]}; see README.md, 'Isolation' and 'Data'" >&2
    fi
else
    echo "setup: system packages: ${packages[*]} missing; student code would run unconfined without bubblewrap:" \
        "run scripts/enable-confinement.sh (it uses sudo)" >&2
fi

new_venv() {
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip || true
}
if [ -x .venv/bin/python ]; then
    echo "setup: the venv (.venv, kept)"
else
    stage "the venv (.venv)" new_venv
fi
pip_install() { .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@"; }
# PyTorch first, alone: the largest download, with the ranges pyproject.toml declares.
IFS=$'\n' read -r -d '' -a torch_requirements < <(grep -oE '"torch(vision)?[<>=~!][^";]*"' pyproject.toml | tr -d '"') \
    || true
stage "PyTorch (${torch_requirements[*]})" pip_install "${torch_requirements[@]}"
course_package() {
    pip_install -e '.[test]' && .venv/bin/python -c "import autograder, torch, nbgrader"
}
stage "the course package (editable, with its test tools)" course_package
