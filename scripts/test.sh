#!/usr/bin/env bash
# The tests: install, then run this project's own test suite (GPU tests skip, saying why, without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Headless Chromium opens nbgrader's feedback pages in the tests, to see that no student script runs there.
if ! command -v chromium-headless-shell >/dev/null && ! command -v chromium >/dev/null \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get install -y -qq --no-install-recommends chromium-headless-shell \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium-headless-shell; }; } \
        >/dev/null 2>&1 || echo "warning: could not install chromium-headless-shell; its test will skip" >&2
fi
export PATH="$PWD/.venv/bin:$PATH"  # nbgrader runs its helpers (alembic) by name
exec .venv/bin/python -m pytest "$@"
