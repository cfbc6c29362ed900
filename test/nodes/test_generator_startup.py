"""hoi_generator's start-up: every refusal names its parameter and ends the process with status 1,
before the model loads; a second node of the same name on the graph refuses to start."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from generate_client import GenerateClient
from ros_support import NodeProcess, ros_available

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "config" / "models" / "svimo" / "tiny_for_tests.yaml"

pytestmark = [pytest.mark.ros, pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built")]


def _refusal(params: dict, name: str = "hoi_generator_refuses") -> str:
    with NodeProcess("hoi_ros.nodes.generator_node", name, params) as node:
        try:
            code = node.wait_exit(120)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the node did not end:\n{node.log()}") from None
        log = node.log()
        assert code == 1, log
    assert "Traceback" not in log and "AttributeError" not in log, log
    assert "loaded" not in log, log  # refused before the model loads
    return log


def test_unwritable_output_root_is_named_before_the_model_loads(tmp_path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    log = _refusal({"generator_config": str(TINY), "output_root": str(blocker / "out")})
    assert "cannot start: output_root: cannot create" in log, log


def test_bad_parameters_are_named(tmp_path) -> None:
    log = _refusal({"generator_config": str(TINY), "output_root": str(tmp_path), "queue_size": -1})
    assert "cannot start: queue_size: -1 is outside 0..64" in log, log
    log = _refusal({"generator_config": str(tmp_path / "missing.yaml"), "output_root": str(tmp_path)})
    assert "cannot start: generator_config:" in log and "missing.yaml" in log, log
    log = _refusal({"generator_config": str(TINY), "output_root": str(tmp_path), "vae_tiling": "maybe"})
    assert "cannot start: vae_tiling: expected 'true', 'false'" in log, log
    log = _refusal({"generator_config": str(TINY), "output_root": str(tmp_path), "object_follows_hand": "yes"})
    assert "cannot start: object_follows_hand: expected 'true', 'false'" in log, log
    log = _refusal({"generator_config": str(TINY), "output_root": str(tmp_path), "omp_wait_policy": "spin"})
    assert "cannot start: omp_wait_policy: expected 'passive', 'active' or ''" in log, log
    log = _refusal({"generator_config": str(TINY), "output_root": str(tmp_path),
                    "input_coverage": str(tmp_path / "missing.json")})
    assert "cannot start: input_coverage: " in log and "missing.json" in log, log


def test_a_second_node_of_the_same_name_refuses_to_start(tmp_path) -> None:
    client = GenerateClient("startup_client")
    try:
        with NodeProcess("hoi_ros.nodes.generator_node", "hoi_generator_twice", {"generator_config": ""}) as first:
            client.wait_ready(node=first)
            # A long look at the graph: discovery took up to 2.3 s on the busy 2-core machine.
            log = _refusal({"generator_config": "", "name_check_s": 10.0}, "hoi_generator_twice")
            assert "cannot start: __node: another node named /hoi/hoi_generator_twice is already running" in log
            first.assert_alive()
    finally:
        client.close()
