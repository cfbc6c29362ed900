#!/usr/bin/env bash
# The whole test suite: sets the machine up when needed (scripts/setup.sh), then lint + pytest.
#   scripts/test.sh                 # everything
#   scripts/test.sh test/core -k x  # arguments go to pytest
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
HOI_SETUP_QUIET="${HOI_SETUP_QUIET:-1}" bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
ruff check .
exec python -m pytest -q -p no:cacheprovider "$@"
