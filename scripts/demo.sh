#!/usr/bin/env bash
# The main job, end to end on the embedded default (sets the machine up first when needed):
# starts hoi_generator (config/ros/generator.yaml), sends an image + prompt through the /hoi/generate
# action with a progress bar, and writes the generated video, 3D motion and a contact sheet to
# out/demo/ (override with --out DIR). Arguments go to `python -m hoi_ros.nodes.demo_stack`
# (--prompt, --image PNG, --seed, --steps, ...).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
exec python -m hoi_ros.nodes.demo_stack "$@"
