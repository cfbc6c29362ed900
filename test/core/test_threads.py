"""CPU thread policy of a model process: the thread count follows the cores this process may use,
the wait policy reaches OpenMP only when it is set before torch loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hoi_ros.core.threads import apply_thread_policy, available_cores, cgroup_cpu_limit

ROOT = Path(__file__).resolve().parents[2]


def test_available_cores_follow_the_affinity() -> None:
    cores = available_cores()
    assert 1 <= cores <= len(os.sched_getaffinity(0))


def test_cgroup_quota_is_read_in_cores(tmp_path: Path) -> None:
    f = tmp_path / "cpu.max"
    f.write_text("150000 100000\n")
    assert cgroup_cpu_limit(f) == pytest.approx(1.5)
    f.write_text("max 100000\n")
    assert cgroup_cpu_limit(f) is None
    assert cgroup_cpu_limit(tmp_path / "missing") is None


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match=r"^num_threads:"):
        apply_thread_policy(-1)
    with pytest.raises(ValueError, match=r"^wait_policy:"):
        apply_thread_policy(0, "spin")


def _child(code: str, env: dict[str, str]) -> tuple[dict, str]:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_policy_before_torch_reaches_torch_and_openmp() -> None:
    """Set before ``import torch`` (what the generator node does before it loads its model): torch
    starts with that many threads and OpenMP with the passive wait policy; set afterwards, the count
    still changes and the result says the wait policy did not."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["OMP_DISPLAY_ENV"] = "TRUE"  # the OpenMP runtime prints the settings it started with
    code = (
        "import json, os\n"
        "from hoi_ros.core.threads import apply_thread_policy\n"
        "before = apply_thread_policy(1, 'passive')\n"
        "import torch\n"
        "torch.ones(3).sum()\n"
        "after = apply_thread_policy(1, 'passive')\n"
        "late = apply_thread_policy(1, 'active')\n"
        "print(json.dumps({'threads': torch.get_num_threads(), 'policy': os.environ['OMP_WAIT_POLICY'],\n"
        "                  'effective': [before.wait_policy_effective, after.wait_policy_effective,\n"
        "                                late.wait_policy_effective], 'described': after.describe()}))\n"
    )
    got, stderr = _child(code, env)
    assert "OMP_WAIT_POLICY = 'PASSIVE'" in stderr, stderr
    assert got["threads"] == 1 and got["policy"] == "PASSIVE"
    assert got["effective"] == [True, True, False]
    assert "1 CPU threads, OpenMP wait policy passive" in got["described"]
