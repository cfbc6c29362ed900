"""Retargeting parameters (``config/ros/retarget.yaml``, section ``retarget``), one dataclass."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hoi_ros.core.config import dataclass_from_dict


@dataclass
class RetargetConfig:
    """Weights and solver settings of :class:`hoi_ros.retarget.solver.SequenceRetargeter`.

    Distances are metres in the robot's size (the human keypoints times ``scale``) unless the
    name says ``human``; weights multiply squared metres (keypoints, pinch, collision) or squared
    radians per frame (smoothness, rest).
    """

    robot: str = "allegro"
    hand: str = "right"  # the human hand: which one of a two-hand motion, and its side for the palm frame
    # What to do when the keypoints' own handedness (hoi_ros.retarget.handedness, from the palm's
    # orientation) or the robot's side differ from ``hand``: "check" refuses with a message,
    # "mirror" mirrors the keypoints to the robot's side, "off" trusts ``hand`` without checking.
    handedness: str = "check"
    scale: float | None = None  # robot/human size ratio; None = calibrate from the sequence
    tip_weight: float = 1.0
    keypoint_weight: float = 0.0  # the other mapped keypoints (knuckles, finger joints)
    vector_weight: float = 0.01  # robot bones pointing like the human bones (posture)
    huber_delta: float = 0.02  # keypoint errors above this count linearly (robust to unreachable targets); 0 = off
    pinch_weight: float = 0.0
    pinch_near: float = 0.015  # human metres: thumb-finger tip distance of full pinch weight
    pinch_far: float = 0.035  # human metres: no pinch term beyond this distance
    pinch_gap: float = 0.0  # target robot thumb-to-finger tip distance while pinching
    collision_weight: float = 100.0
    collision_margin: float = 0.0015
    collision_softness: float = 0.0005  # width of the softplus that replaces the hinge at the margin
    acc_weight: float = 5e-4
    vel_weight: float = 1e-5
    rest_weight: float = 1e-7
    max_iters: int = 6  # iterations on all frames (the finest level)
    seeds: tuple[float, ...] = (0.25, 0.5, 0.75)  # initial poses: these fractions of every joint's range
    seed_iters: int = 6  # per-frame iterations from each seed (the best per frame is kept)
    # Coarse-to-fine warm start: (stride, iterations) per level, coarsest first; a level needs at
    # least 4 frames (T >= 4 stride); the first level used gets the seeds. [] = seeds on every frame.
    levels: tuple[tuple[int, int], ...] = ((8, 30), (2, 8))
    tolerance: float = 1e-3  # stop when the relative cost decrease of an iteration falls below this
    settle_step: float = 1e-4  # radians: a frame whose joints moved less is settled (not re-linearised)
    collision_tolerance: float = 5e-4  # penetration (metres) that counts as a collision in the report
    progress: bool = False

    def __post_init__(self) -> None:
        if self.scale is not None:
            if isinstance(self.scale, bool) or not isinstance(self.scale, int | float) \
                    or not np.isfinite(self.scale) or self.scale <= 0:
                raise ValueError(f"scale: must be a positive number or null (calibrate), got {self.scale!r}")
            self.scale = float(self.scale)
        for f in fields(self):
            if f.name.endswith(("_weight", "_near", "_far", "_gap", "_margin", "_delta", "tolerance", "_step")):
                v = getattr(self, f.name)
                if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
                    raise ValueError(f"{f.name}: must be a non-negative number, got {v!r}")
                setattr(self, f.name, float(v))
        if not isinstance(self.collision_softness, int | float) or not self.collision_softness > 0:
            raise ValueError(f"collision_softness: must be a positive number, got {self.collision_softness!r}")
        self.collision_softness = float(self.collision_softness)
        if self.pinch_far <= self.pinch_near:
            raise ValueError(f"pinch_far: must exceed pinch_near ({self.pinch_near}), got {self.pinch_far}")
        seeds = self.seeds if isinstance(self.seeds, list | tuple) else [self.seeds]
        if not seeds or any(isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1 for v in seeds):
            raise ValueError(f"seeds: must be a non-empty list of fractions in [0, 1], got {self.seeds!r}")
        self.seeds = tuple(float(v) for v in seeds)
        levels = []
        for level in self.levels if isinstance(self.levels, list | tuple) else [None]:
            if not isinstance(level, list | tuple) or len(level) != 2 or any(
                    isinstance(v, bool) or not isinstance(v, int) for v in level) or level[0] < 2 or level[1] < 1:
                raise ValueError(f"levels: must be a list of [stride >= 2, iterations >= 1] pairs, got {self.levels!r}")
            levels.append((int(level[0]), int(level[1])))
        if [s for s, _ in levels] != sorted({s for s, _ in levels}, reverse=True):
            raise ValueError(f"levels: strides must decrease from level to level, got {self.levels!r}")
        self.levels = tuple(levels)
        for name in ("max_iters", "seed_iters"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: must be a positive integer, got {v!r}")
        if self.hand not in ("right", "left"):
            raise ValueError(f"hand: must be 'right' or 'left', got {self.hand!r}")
        if self.handedness not in ("check", "mirror", "off"):
            raise ValueError(f"handedness: must be 'check', 'mirror' or 'off', got {self.handedness!r}")
        if not isinstance(self.robot, str) or not self.robot:
            raise ValueError(f"robot: must be a non-empty string, got {self.robot!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetargetConfig:
        return dataclass_from_dict(cls, data, "retarget config")

    @classmethod
    def from_yaml(cls, path: str | Path, section: str = "retarget") -> RetargetConfig:
        """Read ``section`` of a YAML file (or the whole file when it has no such section)."""
        data = yaml.safe_load(Path(path).read_text()) or {}
        if isinstance(data, dict) and section in data:
            data = data[section]
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["RetargetConfig"]
