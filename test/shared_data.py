"""Where the shared real data lies: ``shared/`` beside the checkout (as CI lays it), else ``/work/shared``."""

from __future__ import annotations

from pathlib import Path

_BESIDE = Path(__file__).resolve().parents[1].parent / "shared"
SHARED = _BESIDE if _BESIDE.is_dir() else Path("/work/shared")
REAL_HAND_DIR = SHARED / "data" / "real_hand"
REAL_HAND = REAL_HAND_DIR / "human_joint_right.npz"
REAL_HAND_VIDEO = REAL_HAND_DIR / "human_hand_video.mp4"
