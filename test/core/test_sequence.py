import os
from pathlib import Path

import numpy as np
import pytest

from hoi_ros.core import Camera, HOISequence
from hoi_ros.core.synthetic import reach_grasp_lift


def make(t=5, j=21, k=8, h=24, w=36, with_video=True, **kw):
    rng = np.random.default_rng(1)
    args = dict(
        hand_joints=rng.normal(size=(t, j, 3)).astype(np.float32),
        object_points=rng.normal(size=(t, k, 3)).astype(np.float32),
        camera=Camera.from_fov(w, h, 60.0),
        fps=8.0,
        prompt="push the red box",
        video=rng.integers(0, 255, (t, h, w, 3), dtype=np.uint8) if with_video else None,
        metadata={"seed": 3},
    )
    args.update(kw)
    return HOISequence(**args)


def test_valid_sequence_properties():
    s = make(j=42)
    assert (s.num_frames, s.num_joints, s.num_hands, s.num_object_points) == (5, 42, 2, 8)
    assert s.joint_names[21] == "left_wrist"
    np.testing.assert_allclose(s.timestamps, np.arange(5) / 8.0)
    assert s.object_point_labels.dtype == np.uint8 and not s.object_point_labels.any()


@pytest.mark.parametrize(
    "override, field",
    [
        ({"hand_joints": np.zeros((5, 20, 3))}, "hand_joints"),
        ({"hand_joints": np.zeros((5, 21, 2))}, "hand_joints"),
        ({"hand_joints": np.zeros((0, 21, 3))}, "hand_joints"),
        ({"hand_joints": np.full((5, 21, 3), np.nan)}, "hand_joints"),
        ({"hand_joints": np.zeros((5, 21, 3), dtype=bool)}, "hand_joints"),
        ({"object_points": np.zeros((4, 8, 3))}, "object_points"),
        ({"object_points": np.full((5, 8, 3), np.inf)}, "object_points"),
        ({"object_point_labels": np.zeros(7)}, "object_point_labels"),
        ({"object_point_labels": np.full(8, 2)}, "object_point_labels"),
        ({"fps": 0.0}, "fps"),
        ({"fps": float("nan")}, "fps"),
        ({"fps": "fast"}, "fps"),
        ({"prompt": 3}, "prompt"),
        ({"video": np.zeros((5, 24, 36, 3), dtype=np.float32)}, "video"),
        ({"video": np.zeros((4, 24, 36, 3), dtype=np.uint8)}, "video"),
        ({"video": np.zeros((5, 24, 35, 3), dtype=np.uint8)}, "video"),
        ({"camera": "cam"}, "camera"),
        ({"metadata": {"x": object()}}, "metadata"),
    ],
)
def test_invalid_fields_name_themselves(override, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        make(**override)


def test_save_load_round_trip_is_lossless_for_arrays(tmp_path):
    s = make(h=25, w=37)  # odd sizes exercise the encoder padding
    s.object_point_labels[4:] = 1
    npz = s.save(tmp_path / "ep")
    assert npz == tmp_path / "ep.npz" and (tmp_path / "ep.mp4").exists()
    r = HOISequence.load(tmp_path / "ep")
    for name in ("hand_joints", "object_points", "object_point_labels"):
        assert np.array_equal(getattr(r, name), getattr(s, name)), name
        assert getattr(r, name).dtype == getattr(s, name).dtype
    assert np.array_equal(r.camera.intrinsics, s.camera.intrinsics)
    assert np.array_equal(r.camera.extrinsics, s.camera.extrinsics)
    assert (r.fps, r.prompt, r.metadata) == (s.fps, s.prompt, s.metadata)
    assert r.video.shape == s.video.shape
    # The video is H.264 (lossy); smooth content comes back close.
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir()), "temporary files left behind"
    assert oct(os.stat(npz).st_mode & 0o777) != "0o600"


def test_video_round_trip_quality(tmp_path):
    s = reach_grasp_lift(num_frames=6, image_size=(48, 72))
    s = s.with_video(s.render_motion(radius=2))
    r = HOISequence.load(s.save(tmp_path / "x"))
    err = np.abs(r.video.astype(float) - s.video.astype(float)).mean()
    assert err < 6.0, err


def test_save_without_video_and_load_without_video(tmp_path):
    s = make(with_video=False)
    s.save(tmp_path / "a")
    assert not (tmp_path / "a.mp4").exists()
    assert HOISequence.load(tmp_path / "a.npz").video is None
    v = make()
    v.save(tmp_path / "b")
    assert HOISequence.load(tmp_path / "b", load_video=False).video is None


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    s = make(with_video=False)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", boom)
    with pytest.raises(OSError):
        s.save(tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


def test_load_rejects_a_truncated_video(tmp_path):
    s = make()
    s.save(tmp_path / "d")
    short = make(t=3)
    short.save(tmp_path / "e")
    os.replace(tmp_path / "e.mp4", tmp_path / "d.mp4")
    with pytest.raises(ValueError, match="frames"):
        HOISequence.load(tmp_path / "d")


def test_saved_files_depend_on_the_sequence_alone(tmp_path):
    """Same sequence → same npz bytes (fixed zip timestamps), and with one x264 thread, same mp4."""
    import time

    seq = reach_grasp_lift(num_frames=5, image_size=(32, 48))
    seq = seq.with_video(seq.render_motion())
    first = seq.save(tmp_path / "a" / "seq", video_threads=1)
    time.sleep(2.1)  # zip timestamps have 2 s resolution
    second = seq.save(tmp_path / "b" / "seq", video_threads=1)
    assert first.read_bytes() == second.read_bytes()
    assert first.with_suffix(".mp4").read_bytes() == second.with_suffix(".mp4").read_bytes()
    changed = HOISequence(seq.hand_joints + 0.001, seq.object_points, seq.camera, seq.fps, seq.prompt)
    assert changed.save(tmp_path / "c" / "seq").read_bytes() != first.read_bytes()
