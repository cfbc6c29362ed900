"""launch/generate.launch.py cannot run here (no launch / launch_ros wheels exist): check its text instead.

Every node executable it names must be an installed entry point (pyproject [project.scripts] and
hoi_ros.nodes.NODES), every parameter file it names must exist under config/, and config/ros/hoi.rviz
must show every topic hoi_viz publishes.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch" / "generate.launch.py"


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def _kw(call: ast.Call, key: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == key), None)


def test_launch_nodes_are_entry_points() -> None:
    from hoi_ros.nodes import NODES

    tree = ast.parse(LAUNCH.read_text())
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    nodes = _calls(tree, "Node")
    executables = {}
    for call in nodes:
        package, executable = _kw(call, "package"), _kw(call, "executable")
        assert isinstance(package, ast.Constant) and isinstance(executable, ast.Constant)
        executables[executable.value] = package.value
    ours = {e for e, p in executables.items() if p == "hoi_ros"}
    assert ours == {"hoi_generator", "hoi_viz", "hoi_sim", "hoi_retarget", "hoi_pam", "hoi_articulate"}
    for exe in ours:
        assert exe in NODES, f"{exe}: not in hoi_ros.nodes.NODES"
        assert scripts.get(exe) == NODES[exe], f"{exe}: pyproject [project.scripts] differs from NODES"
    assert executables == {**dict.fromkeys(ours, "hoi_ros"), "rviz2": "rviz2",
                           "robot_state_publisher": "robot_state_publisher"}
    # rviz2 only with rviz:=true, and the argument is declared.
    rviz = next(c for c in nodes if _kw(c, "executable").value == "rviz2")
    assert "IfCondition" in ast.dump(_kw(rviz, "condition")) and "'rviz'" in ast.dump(_kw(rviz, "condition"))
    declared = {c.args[0].value: c for c in _calls(tree, "DeclareLaunchArgument")}
    assert {"rviz", "generator_params", "viz_params", "sim_params", "retarget_params", "pam_params", "namespace",
            "log_level", "mujoco_gl", "robot", "articulate_params"} <= set(declared)
    defaults = {name: _kw(call, "default_value") for name, call in declared.items()}
    assert defaults["namespace"].value == "hoi" and defaults["mujoco_gl"].value == "egl"
    # The whole stack sits under the namespace argument, MUJOCO_GL comes from mujoco_gl, and
    # robot_state_publisher follows hoi_retarget's joint states.
    push = _calls(tree, "PushRosNamespace")
    assert len(push) == 1 and "'namespace'" in ast.dump(push[0])
    env = _calls(tree, "SetEnvironmentVariable")
    assert len(env) == 1 and env[0].args[0].value == "MUJOCO_GL" and "'mujoco_gl'" in ast.dump(env[0])
    rsp = next(c for c in nodes if _kw(c, "executable").value == "robot_state_publisher")
    assert "('joint_states', 'retarget/joint_states')" in ast.unparse(_kw(rsp, "remappings"))
    for call in nodes:
        if _kw(call, "package").value != "rviz2":
            assert "log_args" in ast.unparse(_kw(call, "ros_arguments")), ast.unparse(call)


def test_launch_parameter_files_exist() -> None:
    text = LAUNCH.read_text()
    tree = ast.parse(text)
    named = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
             and " " not in n.value and n.value.endswith((".yaml", ".rviz"))}
    assert {"generator.yaml", "viz.yaml", "sim.yaml", "retarget.yaml", "pam.yaml", "articulate.yaml",
            "hoi.rviz"} <= named
    missing = [name for name in sorted(named) if not (REPO / "config" / "ros" / name).is_file()]
    assert not missing, f"launch/generate.launch.py names parameter files missing from config/ros/: {missing}"
    for name in sorted(named):
        if name.endswith(".yaml"):
            data = yaml.safe_load((REPO / "config" / "ros" / name).read_text())
            node = name.removesuffix(".yaml")
            key = f"/**/hoi_{node}"  # in any namespace: the launch file's or the nodes' default /hoi
            assert list(data) == [key] and "ros__parameters" in data[key], f"config/ros/{name}: no {key}"


def test_rviz_config_shows_every_viz_topic() -> None:
    rviz = yaml.safe_load((REPO / "config" / "ros" / "hoi.rviz").read_text())
    displays = rviz["Visualization Manager"]["Displays"]
    topics = {d["Class"].split("/")[-1]: [] for d in displays}
    for d in displays:
        if "Topic" in d:
            topics[d["Class"].split("/")[-1]].append(d["Topic"]["Value"])
    assert topics["MarkerArray"] == ["/hoi/viz/markers", "/hoi/articulate/markers"]
    assert topics["PointCloud2"] == ["/hoi/viz/object_cloud"]
    assert sorted(topics["Image"]) == ["/hoi/pam/video", "/hoi/sim/image/rgb", "/hoi/viz/motion_video",
                                       "/hoi/viz/video"]
    viz = yaml.safe_load((REPO / "config" / "ros" / "viz.yaml").read_text())["/**/hoi_viz"]["ros__parameters"]
    assert rviz["Visualization Manager"]["Global Options"]["Fixed Frame"] == viz["frame_id"]
    # The node publishes on exactly these topics (relative names in its default namespace /hoi).
    source = (REPO / "hoi_ros" / "nodes" / "viz_node.py").read_text()
    for topic in ("viz/markers", "viz/object_cloud", "viz/video", "viz/motion_video"):
        assert f'"{topic}"' in source
    assert '"pam/video"' in (REPO / "hoi_ros" / "nodes" / "pam_node.py").read_text()
    assert '"articulate/markers"' in (REPO / "hoi_ros" / "nodes" / "articulate_node.py").read_text()


def test_pam_config_declares_every_node_parameter() -> None:
    """config/ros/pam.yaml sets exactly the parameters hoi_pam declares (no typo goes unnoticed)."""
    import re

    params = yaml.safe_load((REPO / "config" / "ros" / "pam.yaml").read_text())["/**/hoi_pam"]["ros__parameters"]
    source = (REPO / "hoi_ros" / "nodes" / "pam_node.py").read_text()
    declared = set(re.findall(r'declare(?:_strings)?\(\s*self, "(\w+)"', source))
    assert set(params) == declared
    assert params["model"] == "models/pam_small"


def test_articulate_config_declares_every_node_parameter() -> None:
    """config/ros/articulate.yaml sets exactly the parameters hoi_articulate declares, and its
    default ArtHOI config exists."""
    import re

    params = yaml.safe_load((REPO / "config" / "ros" / "articulate.yaml").read_text())
    params = params["/**/hoi_articulate"]["ros__parameters"]
    source = (REPO / "hoi_ros" / "nodes" / "articulate_node.py").read_text()
    declared = set(re.findall(r'declare(?:_strings)?\(\s*self, "(\w+)"', source))
    assert set(params) == declared
    assert (REPO / params["config"]).is_file()
