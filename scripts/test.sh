#!/usr/bin/env bash
# The tests: install, then run this project's own test suite (GPU tests skip, saying why, without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"  # nbgrader runs its helpers (alembic) by name
exec .venv/bin/python -m pytest "$@"
