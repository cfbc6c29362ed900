"""The URDF/MJCF files in urdf/ (installed to share/hoi_ros/urdf) are the descriptions' exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from hoi_ros.retarget import get_robot
from hoi_ros.retarget.export import DEFAULT_FOLDER, main
from hoi_ros.retarget.robots import BUILTIN


@pytest.mark.parametrize("robot", sorted(BUILTIN))
def test_committed_files_match_the_descriptions(robot: str) -> None:
    desc = get_robot(robot)
    assert (DEFAULT_FOLDER / f"{robot}.urdf").read_text() == desc.to_urdf(), "run python -m hoi_ros.retarget.export"
    assert (DEFAULT_FOLDER / f"{robot}.xml").read_text() == desc.to_mjcf(), "run python -m hoi_ros.retarget.export"


def test_export_writes_every_builtin(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{name}.{ext}" for name in BUILTIN for ext in ("urdf", "xml"))
