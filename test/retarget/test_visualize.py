"""The side-by-side visual check renders both panels, a video and a contact sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from hoi_ros.core.hand import FINGER_COLORS
from hoi_ros.core.io import read_video
from hoi_ros.retarget.visualize import main


def _has_hue(image: np.ndarray, rgb: np.ndarray) -> bool:
    """Some pixels whose strongest channel is the colour's strongest one by a clear margin (shading varies)."""
    img = image.astype(int)
    main = int(np.argmax(rgb))
    others = [c for c in range(3) if c != main]
    return int((img[..., main] > img[..., others].max(axis=-1) + 50).sum()) >= 10


def test_cli_writes_video_and_contact_sheet(tmp_path: Path) -> None:
    assert main(["synthetic", "--robot", "inspire", "--out", str(tmp_path), "--size", "96", "--stride", "12",
                 "--columns", "3", "--name", "check"]) == 0
    video = read_video(tmp_path / "check.mp4", size=(96, 192))
    assert video.shape == (5, 96, 192, 3)  # 60 frames, every 12th
    sheet = np.asarray(Image.open(tmp_path / "check.png").convert("RGB"))
    assert sheet.shape[0] == 2 * 96 + 2  # a human row and a robot row
    human, robot = video[2, :, :96], video[2, :, 96:]
    # Both panels show the hand in finger colours (the middle's green, the ring's blue).
    for finger in (2, 3):
        assert _has_hue(human, FINGER_COLORS[finger]) and _has_hue(robot, FINGER_COLORS[finger])
    assert np.abs(human.astype(int) - robot.astype(int)).mean() > 1.0


def test_npz_keypoints_input(tmp_path: Path) -> None:
    from hoi_ros.core.synthetic import reach_grasp_lift

    seq = reach_grasp_lift(num_frames=6, fps=8.0)
    np.savez(tmp_path / "kp.npz", keypoints=seq.hand_joints[:, :21], fps=8.0)
    assert main([str(tmp_path / "kp.npz"), "--out", str(tmp_path), "--size", "64"]) == 0
    assert (tmp_path / "kp_allegro.mp4").exists() and (tmp_path / "kp_allegro.png").exists()
