import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hoi_ros.core import Camera, HOISequence
from hoi_ros.core.articulation import Articulation, Joint
from hoi_ros.core.io import npz_bytes
from hoi_ros.core.sequence import FORMAT_VERSION
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


# ----------------------------------------------------------------- hand sides
def test_hand_sides_is_a_field_with_the_old_default() -> None:
    import dataclasses

    assert "hand_sides" in {f.name for f in dataclasses.fields(HOISequence)}
    assert make(j=21).hand_sides == ("right",)
    assert make(j=42).hand_sides == ("right", "left")
    s = make(j=42, hand_sides=("left", "right"))
    assert s.hand_sides == ("left", "right") and s.joint_names[0] == "left_wrist"
    assert "hand_sides" not in s.metadata
    # replace keeps given sides; unset sides follow the number of hands.
    assert dataclasses.replace(s).hand_sides == ("left", "right")
    one = make(j=21)
    two = dataclasses.replace(one, hand_joints=np.zeros((5, 42, 3)))
    assert two.hand_sides == ("right", "left")
    with pytest.raises(ValueError, match=r"^hand_sides"):
        dataclasses.replace(make(j=21, hand_sides=["left"]), hand_joints=np.zeros((5, 42, 3)))


@pytest.mark.parametrize(
    ("j", "sides"),
    [(21, ("up",)), (21, ("right", "left")), (42, ("right",)), (21, ()), (21, "right"), (42, ("left", "left")),
     (21, (1,))],
)
def test_invalid_hand_sides_name_the_field(j, sides) -> None:
    with pytest.raises(ValueError, match=r"^hand_sides"):
        make(j=j, hand_sides=sides)
    s = make(j=j)
    with pytest.raises(ValueError, match=r"^hand_sides"):
        s.hand_sides = sides


def test_metadata_hand_sides_still_works_with_a_deprecation_warning() -> None:
    legacy = {"hand_sides": ["left"], "seed": 3}
    with pytest.warns(DeprecationWarning, match="hand_sides"):
        s = make(metadata=legacy)
    assert s.hand_sides == ("left",) and s.metadata == {"seed": 3}
    assert legacy == {"hand_sides": ["left"], "seed": 3}, "the caller's dict was changed"
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match=r"^metadata\.hand_sides"):
        make(metadata={"hand_sides": ["up"]})
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match=r"^hand_sides: .* differs"):
        make(hand_sides=("right",), metadata={"hand_sides": ["left"]})
    # Written into metadata after construction (as code did when the sides lived there): still read.
    later = make()
    later.metadata["hand_sides"] = ["left"]
    with pytest.warns(DeprecationWarning):
        assert later.hand_sides == ("left",) and later.joint_names[0] == "left_wrist"


# ----------------------------------------------------------------- named objects
def test_objects_are_named_by_label() -> None:
    s = make()
    assert s.object_names == ("tool", "target")
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    named = make(object_point_labels=labels, object_names=("drawer", "mug", "spoon", "lid"))
    assert named.object_point_labels.dtype == np.uint8
    assert named.object_label("spoon") == 2
    np.testing.assert_array_equal(named.object_mask("lid"), labels == 3)
    with pytest.raises(ValueError, match=r"^object_names: no object 'cup'"):
        named.object_label("cup")
    assert make(object_point_labels=np.ones(8, dtype=bool)).object_point_labels.tolist() == [1] * 8


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"object_point_labels": np.full(8, 2)}, "object_point_labels"),  # default names: tool, target
        ({"object_point_labels": np.full(8, 1), "object_names": ("mug",)}, "object_point_labels"),
        ({"object_point_labels": np.full(8, -1)}, "object_point_labels"),
        ({"object_point_labels": np.full(8, 0.5)}, "object_point_labels"),
        ({"object_names": ()}, "object_names"),
        ({"object_names": ("mug", "mug")}, "object_names"),
        ({"object_names": ("mug", "")}, r"object_names\[1\]"),
        ({"object_names": "mug"}, "object_names"),
        ({"object_names": tuple(f"o{i}" for i in range(257))}, "object_names"),
    ],
)
def test_invalid_objects_name_the_field(override, field) -> None:
    with pytest.raises(ValueError, match=f"^{field}"):
        make(**override)


# ----------------------------------------------------------------- articulations
def _lid(t: int = 5, point_parts=None, name: str = "box") -> Articulation:
    """A box whose lid (part 1) opens about a hinge along y at the box's back edge."""
    hinge = Joint("lid_hinge", "revolute", 0, 1, (0.0, 1.0, 0.0), (-0.1, 0.0, 0.2))
    roots = np.broadcast_to(np.eye(4), (t, 4, 4)).copy()
    roots[:, 0, 3] = np.linspace(0.0, 0.4, t)
    pp = np.array([0, 0, 1, 1, -1, -1, -1, -1]) if point_parts is None else point_parts
    return Articulation.from_root_poses(name, ("body", "lid"), (hinge,), roots,
                                        np.linspace(0.0, -1.2, t)[:, None], pp)


def articulated(**kw) -> HOISequence:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    return make(object_point_labels=labels, object_names=("box", "spoon"), articulations=(_lid(),),
                hand_sides=("left",), **kw)


def test_a_sequence_holds_articulated_objects() -> None:
    s = articulated()
    assert s.articulation("box") is s.articulations[0] and s.articulation("spoon") is None
    np.testing.assert_allclose(s.articulation("box").joint_state("lid_hinge")[-1], -1.2)
    s2 = make(articulations=[_lid(point_parts=np.zeros(0, dtype=np.int16), name="tool")])
    assert isinstance(s2.articulations, tuple)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"articulations": (_lid(name="cup"),)}, r"articulations\[0\]\.object_name"),
        ({"articulations": (_lid(), _lid())}, r"articulations\[1\]\.object_name"),
        ({"articulations": (_lid(t=4),)}, r"articulations\[0\]\.joint_states"),
        ({"articulations": (_lid(point_parts=np.zeros(7, dtype=int)),)}, r"articulations\[0\]\.point_parts"),
        ({"articulations": (_lid(point_parts=np.array([0, 0, 1, -1, -1, -1, -1, -1])),)},
         r"articulations\[0\]\.point_parts"),
        ({"articulations": (_lid(point_parts=np.array([0, 0, 1, 1, 0, -1, -1, -1])),)},
         r"articulations\[0\]\.point_parts"),
        ({"articulations": ("box",)}, r"articulations\[0\]"),
        ({"articulations": _lid()}, "articulations"),
    ],
)
def test_invalid_articulations_name_the_field(override, field) -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    args = dict(object_point_labels=labels, object_names=("box", "spoon"))
    args.update(override)
    with pytest.raises(ValueError, match=f"^{field}"):
        make(**args)


# ----------------------------------------------------------------- file format
def test_version_2_round_trip_is_exact_for_the_new_fields(tmp_path) -> None:
    s = articulated(with_video=False)
    r = HOISequence.load(s.save(tmp_path / "art"))
    assert (r.hand_sides, r.object_names) == (("left",), ("box", "spoon"))
    a, b = s.articulations[0], r.articulations[0]
    assert (b.object_name, b.parts, b.joints) == (a.object_name, a.parts, a.joints)
    for name in ("joint_states", "part_poses", "point_parts"):
        assert np.array_equal(getattr(b, name), getattr(a, name)) and getattr(b, name).dtype == getattr(a, name).dtype
    np.testing.assert_array_equal(r.object_point_labels, s.object_point_labels)
    assert r.metadata == s.metadata == {"seed": 3}
    with np.load(tmp_path / "art.npz") as data:
        assert json.loads(bytes(data["header"]))["format_version"] == FORMAT_VERSION == 2


def test_saving_an_articulated_sequence_twice_gives_the_same_bytes(tmp_path) -> None:
    s = articulated(with_video=False)
    first = s.save(tmp_path / "a" / "seq").read_bytes()
    assert HOISequence.load(tmp_path / "a" / "seq").save(tmp_path / "b" / "seq").read_bytes() == first
    moved = articulated(with_video=False)
    poses = moved.articulations[0].joint_states.copy()
    poses[2, 0] += 1e-9
    art = moved.articulations[0]
    changed = replace(moved, articulations=(Articulation(art.object_name, art.parts, art.joints, poses,
                                                         art.part_poses, art.point_parts),))
    assert changed.save(tmp_path / "c" / "seq").read_bytes() != first


def _save_version_1(seq: HOISequence, path: Path, metadata: dict) -> Path:
    """Write ``seq`` (without video) exactly as format version 1's ``save`` did."""
    header = {
        "format_version": 1,
        "fps": seq.fps,
        "prompt": seq.prompt,
        "image_size": [seq.camera.height, seq.camera.width],
        "video_file": "",
        "video_frames": 0,
        "metadata": metadata,
    }
    data = npz_bytes({
        "hand_joints": seq.hand_joints,
        "object_points": seq.object_points,
        "object_point_labels": seq.object_point_labels,
        "intrinsics": seq.camera.intrinsics,
        "extrinsics": seq.camera.extrinsics,
        "header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
    })
    path.write_bytes(data)
    return path


def test_version_1_files_still_load(tmp_path, recwarn) -> None:
    s = make(j=42, with_video=False)
    s.object_point_labels[5:] = 1
    old = _save_version_1(s, tmp_path / "v1.npz", {"source": "hoi_ros.sim", "hand_sides": ["left", "right"]})
    r = HOISequence.load(old)
    assert r.hand_sides == ("left", "right") and r.metadata == {"source": "hoi_ros.sim"}
    assert r.object_names == ("tool", "target") and r.articulations == ()
    for name in ("hand_joints", "object_points", "object_point_labels"):
        assert np.array_equal(getattr(r, name), getattr(s, name)), name
    assert np.array_equal(r.camera.extrinsics, s.camera.extrinsics) and (r.fps, r.prompt) == (s.fps, s.prompt)
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]
    # Without sides in its metadata: the default.
    assert HOISequence.load(_save_version_1(s, tmp_path / "plain.npz", {})).hand_sides == ("right", "left")


def test_unknown_format_versions_are_refused(tmp_path) -> None:
    s = make(with_video=False)
    path = _save_version_1(s, tmp_path / "v9.npz", {})
    with np.load(path) as data:
        arrays = dict(data)
    header = json.loads(bytes(arrays["header"]))
    header["format_version"] = 9
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path.write_bytes(npz_bytes(arrays))
    with pytest.raises(ValueError, match="unsupported format_version 9"):
        HOISequence.load(path)
