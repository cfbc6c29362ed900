"""Thin rclpy nodes: they convert messages and call the ROS-free core.

``NODES`` maps each node executable (``ros2 run hoi_ros <name>``) to its ``module:function``;
pyproject.toml's ``[project.scripts]`` and CMakeLists.txt's ``HOI_ROS_NODES`` name the same set.
"""

from __future__ import annotations

import importlib

NODES: dict[str, str] = {
    "hoi_generator": "hoi_ros.nodes.generator_node:main",
    "hoi_viz": "hoi_ros.nodes.viz_node:main",
    "hoi_sim": "hoi_ros.nodes.sim_node:main",
    "hoi_retarget": "hoi_ros.nodes.retarget_node:main",
    "hoi_articulate": "hoi_ros.nodes.articulate_node:main",
    "hoi_pam": "hoi_ros.nodes.pam_node:main",
}


def run_node(name: str) -> int:
    """Run the node executable ``name`` (used by the wrappers CMake installs in lib/hoi_ros)."""
    module_name, func_name = NODES[name].split(":")
    main = getattr(importlib.import_module(module_name), func_name)
    return int(main() or 0)
