"""Which hand 21 keypoints belong to, from the palm's orientation, and mirroring between hands.

The palm frame of :func:`hoi_ros.retarget.human.palm_frame` takes ``z = x x (index MCP - little
MCP)`` (wrist, index and little-finger bases): out of the back of a *right* hand. A left hand is a
mirror image, and a reflection turns a cross product around, so for a left hand the same ``z``
points out of the palm. Fingers flex towards the palm, so their joints and tips (and the thumb's
tip) lie on the palm side of the wrist-MCP plane in any natural pose: below it (``z < 0``) for a
right hand, above it for a left one. :func:`detect_side` takes the median over frames of their mean
height relative to the palm length (wrist to middle MCP): about -0.3 on the real MediaPipe
trajectory, -0.48 on the synthetic reach-grasp-lift, +0.3 on the mirrored real trajectory; a flat
hand (fingers straight in the palm plane) gives about 0, which is reported as undecided.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hoi_ros.retarget.human import to_palm_frame

# Thumb IP and tip, and every finger's PIP, DIP and tip (MediaPipe/MANO order).
FLEXING = np.array([3, 4, 6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20])
THRESHOLD = 0.05  # |score| below this (5 % of the palm length) is undecided


@dataclass
class Handedness:
    """Result of :func:`detect_side`."""

    side: str | None  # "right", "left", or None when undecided
    score: float  # median palm-side height of the flexing joints / palm length (negative: right)
    frames_agreeing: float  # share of frames whose own score has the sign of ``side``

    def describe(self) -> str:
        if self.side is None:
            return (f"handedness undecided (palm-side score {self.score:+.3f}, |score| < {THRESHOLD}: "
                    "fingers straight in the palm plane)")
        return (f"the keypoints are a {self.side} hand (fingers flex to the {self.side} hand's palm side in "
                f"{100 * self.frames_agreeing:.0f}% of frames, score {self.score:+.3f})")


def side_scores(keypoints: np.ndarray) -> np.ndarray:
    """Per-frame palm-side score ``[T]`` of ``[T, 21, 3]`` keypoints (negative: right hand)."""
    local, _ = to_palm_frame(np.asarray(keypoints, np.float64), "right")
    size = np.sqrt((local[:, 9] ** 2).sum(-1))
    return local[:, FLEXING, 2].mean(axis=1) / np.maximum(size, 1e-9)


def detect_side(keypoints: np.ndarray) -> Handedness:
    """The hand ``[T, 21, 3]`` (or ``[21, 3]``) keypoints belong to (see the module docstring)."""
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim == 2:
        kp = kp[None]
    if kp.ndim != 3 or kp.shape[1:] != (21, 3):
        raise ValueError(f"keypoints: expected [T, 21, 3], got shape {kp.shape}")
    s = side_scores(kp)
    score = float(np.median(s))
    side = None if abs(score) < THRESHOLD else ("right" if score < 0 else "left")
    agree = float(np.mean(np.sign(s) == np.sign(score))) if side else 0.0
    return Handedness(side, score, agree)


def mirror_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """The mirror image (``x -> -x`` in the input frame): a left hand becomes a right hand and back."""
    out = np.array(keypoints, dtype=np.float64, copy=True)
    out[..., 0] *= -1.0
    return out


__all__ = ["FLEXING", "THRESHOLD", "Handedness", "detect_side", "mirror_keypoints", "side_scores"]
