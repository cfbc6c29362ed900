"""From a real hand video to the robot: gap filling and rigid alignment always; MediaPipe where installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from shared_data import REAL_HAND_DIR as REAL

from hoi_ros.retarget.from_video import fill_gaps, rigid_align_error


def test_fill_gaps_interpolates_and_holds_the_ends() -> None:
    kp = np.arange(5, dtype=np.float64)[:, None, None] * np.ones((5, 21, 3))
    detected = np.array([False, True, False, True, False])
    out = fill_gaps(np.where(detected[:, None, None], kp, np.nan), detected)
    np.testing.assert_allclose(out[:, 0, 0], [1.0, 1.0, 2.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="no hand detected"):
        fill_gaps(kp, np.zeros(5, dtype=bool))


def test_rigid_alignment_removes_rotation_and_translation_only() -> None:
    ref = np.load(REAL / "human_joint_right.npz")["keypoints"][:10].astype(np.float64)
    rot = Rotation.random(10, random_state=0).as_matrix()
    moved = np.einsum("tij,tkj->tki", rot, ref) + np.array([0.1, -0.3, 0.2])
    np.testing.assert_allclose(rigid_align_error(moved, ref), 0.0, atol=1e-12)
    # A mirror image is not a rigid motion: it stays far.
    assert rigid_align_error(moved * np.array([-1.0, 1.0, 1.0]), ref).min() > 0.005


def test_video_command_names_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hoi_ros.retarget.from_video import main

    assert main([str(tmp_path / "none.mp4"), "--out", str(tmp_path)]) == 2
    assert "video: " in capsys.readouterr().out


def test_video_command_on_the_real_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Six frames of the shared real video: every frame detected, keypoints within 2 mm of the shared
    MediaPipe trajectory after rigid alignment, and the side-by-side video and trajectory written."""
    pytest.importorskip("mediapipe", reason="optional extra: pip install --no-deps -r requirements/video.txt")
    from hoi_ros.core.io import read_video
    from hoi_ros.retarget.from_video import main

    assert main([str(REAL / "human_hand_video.mp4"), "--robot", "allegro", "--out", str(tmp_path),
                 "--max-frames", "6", "--size", "96", "--reference", str(REAL / "human_joint_right.npz")]) == 0
    out = capsys.readouterr().out
    assert "detected 6 of 6 frames" in out and "0 collision frames" in out
    mean_mm = float(out.split("after rigid alignment per frame: mean ")[1].split(" mm")[0])
    assert mean_mm < 2.0
    video = read_video(tmp_path / "human_hand_video_allegro.mp4")
    assert video.shape[0] == 6 and video.shape[1] == 96 and video.shape[2] >= 3 * 96
    data = np.load(tmp_path / "human_hand_video_allegro.npz")
    assert data["qpos"].shape == (6, 16) and data["detected"].all()
    assert list(data["joint_names"]) == [f"joint_{i}" for i in range(16)]


def test_image_stream_retargeter_on_real_frames() -> None:
    pytest.importorskip("mediapipe", reason="optional extra: pip install --no-deps -r requirements/video.txt")
    from hoi_ros.retarget.from_video import ImageStreamRetargeter, read_frames

    frames, _ = read_frames(REAL / "human_hand_video.mp4", max_frames=4)
    rt = ImageStreamRetargeter("inspire")
    try:
        outs = [rt.step(f) for f in frames]
        assert rt.step(np.zeros((120, 160, 3), np.uint8)) is None  # no hand: no output, state kept
    finally:
        rt.close()
    assert all(o is not None for o in outs)
    assert outs[-1].full_qpos.shape == (12,) and not outs[-1].collision
