"""Importing the core loads no torch, ROS, MuJoCo or diffusion library (every node pays its imports)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "rclpy", "mujoco", "diffusers", "transformers", "accelerate")


def test_core_imports_without_torch_or_ros() -> None:
    code = (
        "import sys, pkgutil, importlib, hoi_ros.core\n"
        "for m in pkgutil.iter_modules(hoi_ros.core.__path__):\n"
        "    importlib.import_module('hoi_ros.core.' + m.name)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_check_sees_a_heavy_import() -> None:
    """The same probe reports torch once a module that needs it is imported (the test can fail)."""
    code = f"import hoi_ros.data.sim, sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch" in out.stdout
