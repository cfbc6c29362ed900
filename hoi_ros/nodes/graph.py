"""Checks of the ROS graph a node makes at start-up."""

from __future__ import annotations

import time

from rclpy.node import Node

from hoi_ros.nodes.runtime import StartupError


def same_name_count(node: Node) -> int:
    """How many nodes on the graph (this one included) have this node's name and namespace."""
    me = (node.get_name(), node.get_namespace())
    return sum(1 for entry in node.get_node_names_and_namespaces() if tuple(entry) == me)


def refuse_duplicate_name(node: Node, seconds: float) -> None:
    """Raise :class:`StartupError` when another node with this node's full name is on the graph.

    Discovery takes a moment (0.1 to 2.3 s measured on the 2-core machine), so the graph is
    watched for up to ``seconds`` (0 = look once). Two nodes of one name would share parameters'
    services and split the requests between them.
    """
    deadline = time.monotonic() + float(seconds)
    while True:
        if same_name_count(node) > 1:
            raise StartupError(
                "__node", f"another node named {node.get_fully_qualified_name()} is already running; "
                "start this one under another name (-r __node:=...) or namespace (-r __ns:=...)")
        if time.monotonic() >= deadline:
            return
        time.sleep(0.1)
