# Source this file (bash) to use hoi_ros with ROS 2 from this checkout:
#   source scripts/env.sh
# It activates the venv (scripts/venv_path.sh) and the colcon install overlay, and puts the source tree first on
# PYTHONPATH so edits to hoi_ros/ take effect without a rebuild.
_HOI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$(bash "$_HOI_ROOT/scripts/venv_path.sh")/bin/activate"
if [ -f "$_HOI_ROOT/install/setup.bash" ]; then
  # The overlay's setup scripts read unset variables; relax nounset while sourcing them.
  _hoi_u=$([[ $- == *u* ]] && echo 1 || echo 0); set +u
  export AMENT_PREFIX_PATH="${AMENT_PREFIX_PATH:-$VIRTUAL_ENV}"
  # shellcheck disable=SC1091
  source "$_HOI_ROOT/install/setup.bash"
  [ "$_hoi_u" = 1 ] && set -u
fi
export PYTHONPATH="$_HOI_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export MUJOCO_GL="${MUJOCO_GL:-osmesa}"
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-osmesa}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# OpenMP threads sleep instead of spinning when idle: a shared or busy CPU then slows torch in
# proportion, not many times over (docs/benchmarks.md, "Generation under CPU contention").
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
unset _HOI_ROOT _hoi_u
