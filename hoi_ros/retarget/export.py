"""``python -m hoi_ros.retarget.export [folder]``: write every built-in hand's URDF and MJCF.

The default folder is the source tree's ``urdf/`` (CMake installs it to ``share/hoi_ros/urdf``);
``test/retarget/test_export.py`` checks that the committed files are what this writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hoi_ros.retarget.robots import BUILTIN, get_robot, write_robot_files

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "urdf"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    args = ap.parse_args(argv)
    for name in sorted(BUILTIN):
        for path in write_robot_files(get_robot(name), args.folder):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
