#!/usr/bin/env bash
# Prints the path of this checkout's virtualenv: $HOI_VENV if set, else one folder per checkout
# under ~/.cache/hoi_ros/ (outside the source tree, which CMake requires; see scripts/setup.sh).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${HOI_VENV:-}" ]; then
  echo "$HOI_VENV"
else
  echo "${XDG_CACHE_HOME:-$HOME/.cache}/hoi_ros/venv-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
fi
