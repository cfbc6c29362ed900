#!/usr/bin/env bash
# The main job, end to end on the embedded default (sets the machine up first when needed).
# Output goes to out/demo/ (override with --out DIR); arguments go to `python -m hoi_ros.demo`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
exec python -m hoi_ros.demo "$@"
