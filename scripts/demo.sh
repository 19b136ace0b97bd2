#!/usr/bin/env bash
# The main job: install, then grade every week's reference solution, stub and sample submissions.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/dlgrade demo "$@"
