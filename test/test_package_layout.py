"""The repository root is the ROS 2 package hoi_ros, and its three lists of nodes agree."""

import re
import tomllib
from pathlib import Path

from hoi_ros.nodes import NODES

ROOT = Path(__file__).resolve().parents[1]


def test_package_xml_is_valid_for_catkin_pkg():
    from catkin_pkg.package import parse_package

    pkg = parse_package(ROOT / "package.xml")
    assert pkg.name == "hoi_ros"
    assert pkg.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in [g.name for g in pkg.member_of_groups]


def test_node_executables_agree_between_nodes_pyproject_and_cmake():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    node_scripts = {k: v for k, v in scripts.items() if v.startswith("hoi_ros.nodes.")}
    assert node_scripts == NODES
    cmake = (ROOT / "CMakeLists.txt").read_text()
    listed = re.search(r"set\(HOI_ROS_NODES ([^)]*)\)", cmake).group(1).split()
    assert sorted(listed) == sorted(NODES)


def test_every_interface_file_is_generated_by_cmake():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    block = re.search(r"rosidl_generate_interfaces\((.*?)\)", cmake, re.S).group(1)
    listed = set(re.findall(r'"((?:msg|srv|action)/[^"]+)"', block))
    on_disk = {p.relative_to(ROOT).as_posix() for d in ("msg", "srv", "action") for p in (ROOT / d).glob("*.*")}
    assert listed == on_disk


def test_ci_runs_the_readme_test_command():
    ci = [ln.strip() for ln in (ROOT / ".ci/run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test.sh" in ci
    assert "bash scripts/test.sh" in readme
