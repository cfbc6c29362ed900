"""Shared pytest setup: an isolated ROS 2 domain on loopback for this test session."""

from __future__ import annotations

import os
import random

# Every DDS participant of this run (this process and the node processes it starts) talks on a
# domain of its own and on loopback only, so parallel runs never see each other and no traffic
# leaves the machine.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
