"""Hand skeleton conventions shared by every part of hoi_ros.

21 joints per hand in the MANO/OpenPose (MediaPipe) order: wrist, then thumb, index, middle,
ring and little finger, four joints each, from the palm outwards. Two-hand sequences (J = 42, as
in SViMo's TACO setup) put the right hand first, then the left.
"""

from __future__ import annotations

import numpy as np

FINGER_NAMES: tuple[str, ...] = ("thumb", "index", "middle", "ring", "little")
_THUMB_JOINTS = ("cmc", "mcp", "ip", "tip")
_FINGER_JOINTS = ("mcp", "pip", "dip", "tip")

HAND_JOINT_NAMES: tuple[str, ...] = ("wrist",) + tuple(
    f"{finger}_{joint}"
    for finger in FINGER_NAMES
    for joint in (_THUMB_JOINTS if finger == "thumb" else _FINGER_JOINTS)
)
JOINTS_PER_HAND = len(HAND_JOINT_NAMES)  # 21
HAND_SIDES: tuple[str, ...] = ("right", "left")

# Index of each finger's tip joint (4, 8, 12, 16, 20).
FINGERTIPS: tuple[int, ...] = tuple(4 * (f + 1) for f in range(5))

# (parent, child) joint pairs: 20 bones, four per finger, each finger chain starting at the wrist.
BONES: tuple[tuple[int, int], ...] = tuple(
    (0 if k == 0 else 1 + 4 * f + k - 1, 1 + 4 * f + k) for f in range(5) for k in range(4)
)
# Finger index (0 thumb .. 4 little) of each bone, and of each joint (-1 for the wrist).
BONE_FINGER: np.ndarray = np.repeat(np.arange(5), 4)
JOINT_FINGER: np.ndarray = np.concatenate([[-1], np.repeat(np.arange(5), 4)])

# RGB colour per finger (thumb red, index orange, middle green, ring blue, little magenta) and
# for the wrist; used by the rendered motion video and the RViz markers.
FINGER_COLORS: np.ndarray = np.array(
    [[230, 40, 40], [245, 160, 30], [40, 200, 60], [40, 120, 240], [200, 60, 220]], dtype=np.uint8
)
WRIST_COLOR: np.ndarray = np.array([255, 255, 255], dtype=np.uint8)


def num_hands_for(num_joints: int) -> int:
    """Number of hands for a joint count (21 -> 1, 42 -> 2); ValueError otherwise."""
    if num_joints not in (JOINTS_PER_HAND, 2 * JOINTS_PER_HAND):
        raise ValueError(f"hand_joints: expected 21 or 42 joints (one or two hands), got {num_joints}")
    return num_joints // JOINTS_PER_HAND


def joint_names(num_hands: int = 1, sides: tuple[str, ...] = HAND_SIDES) -> list[str]:
    """Joint names with the hand side as prefix, e.g. ``right_index_tip``; right hand first."""
    if num_hands not in (1, 2):
        raise ValueError(f"num_hands must be 1 or 2, got {num_hands}")
    return [f"{side}_{name}" for side in sides[:num_hands] for name in HAND_JOINT_NAMES]


def bones_for(num_joints: int) -> np.ndarray:
    """Bone index pairs ``[B, 2]`` for 21 or 42 joints (the second hand's offset by 21)."""
    hands = num_hands_for(num_joints)
    base = np.asarray(BONES, dtype=np.int64)
    return np.concatenate([base + JOINTS_PER_HAND * h for h in range(hands)], axis=0)
