"""SViMoGenerator's request camera (it renders the closed loop's guidance, Proj of Eq. 7, and is the
output's camera) and its input warnings, on the tiny config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_data import REAL_HAND_VIDEO

from hoi_ros.core.camera import Camera, look_at
from hoi_ros.core.generation import GenerationRequest, RequestError
from hoi_ros.diffusion.image import prepare_image
from hoi_ros.svimo import sampling
from hoi_ros.svimo.coverage import COVERAGE_FILE, video_frames
from hoi_ros.svimo.pipeline import SViMoGenerator, camera_for_video

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "config/models/svimo/tiny_for_tests.yaml"
SHIPPED_COVERAGE = ROOT / "models" / "svimo_tiny" / COVERAGE_FILE


@pytest.fixture(scope="module")
def gen() -> SViMoGenerator:
    return SViMoGenerator.from_config(TINY)


def image(h: int = 48, w: int = 72, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def request(**kw) -> GenerationRequest:
    base = dict(image=image(), prompt="grasp the red mug and lift it up", num_frames=9, num_inference_steps=2,
                seed=3, guidance_scale=1.0)
    return GenerationRequest(**{**base, **kw})


def side_camera(width: int, height: int) -> Camera:
    """A camera unlike the tiny config's (which looks from -y): from the side, wider."""
    return Camera.from_fov(width, height, 75.0, look_at([0.45, 0.1, 0.3], [0.0, 0.0, 0.05]))


class ProjSpy:
    """Records the camera of every Proj (Eq. 7) and the rendered motion video."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cameras: list[Camera] = []
        self.frames: list[np.ndarray] = []
        original = sampling.project_motion

        def spy(hand, obj, camera, labels):
            out = original(hand, obj, camera, labels)
            self.cameras.append(camera)
            self.frames.append(out.numpy())
            return out

        monkeypatch.setattr(sampling, "project_motion", spy)


def test_camera_for_video_maps_pixels_as_prepare_image_maps_the_image() -> None:
    """An image whose red channel is its column and green its row, through prepare_image: at the pixel
    where the mapped camera projects a point, the colour is where the original camera projects it.
    The camera may be given at another size of the image's aspect ratio (intrinsics scaled)."""
    h, w = 90, 120  # 4:3 into a 3:2 video: scaled by 0.8 to 72x96, 4 rows cropped top and bottom
    cols, rows = np.meshgrid(np.arange(w), np.arange(h))
    ramp = np.stack([cols, rows, np.zeros_like(cols)], axis=-1).astype(np.uint8)
    prepared = prepare_image(ramp, 64, 96).numpy().astype(np.float64)
    cam = Camera.from_fov(w, h, 60.0, look_at([0.1, -0.5, 0.4], [0.0, 0.0, 0.0]))
    double = Camera(2 * w, 2 * h, np.diag([2.0, 2.0, 1.0]) @ cam.intrinsics + np.array(
        [[0, 0, 0.5], [0, 0, 0.5], [0, 0, 0]]), cam.extrinsics)  # pixel centres: u2 = 2u + 0.5
    rng = np.random.default_rng(0)
    points = np.c_[rng.uniform(-0.08, 0.08, 40), rng.uniform(-0.08, 0.08, 40), rng.uniform(0.0, 0.1, 40)]
    uv, _ = cam.project(points)
    for given in (cam, double):
        mapped = camera_for_video(given, (h, w), 64, 96)
        assert (mapped.width, mapped.height) == (96, 64)
        np.testing.assert_array_equal(mapped.extrinsics, cam.extrinsics)
        uv2, _ = mapped.project(points)
        inside = (uv2[:, 0] > 1) & (uv2[:, 0] < 94) & (uv2[:, 1] > 1) & (uv2[:, 1] < 62)
        assert inside.sum() > 20
        px = np.rint(uv2[inside]).astype(int)
        colour = prepared[px[:, 1], px[:, 0], :2]
        # The colour at the nearest pixel centre: within the rounding (≤ 0.5 video px = 0.625 px here) + 0.5.
        assert np.abs(colour - uv[inside]).max() < 1.2


def test_the_request_camera_renders_the_guidance_and_is_the_output_camera(
        gen: SViMoGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = ProjSpy(monkeypatch)
    default = gen.generate(request())
    default_frames, default_cameras = list(spy.frames), list(spy.cameras)
    spy.frames.clear()
    spy.cameras.clear()
    camera = side_camera(72, 48)
    seq = gen.generate(request(camera=camera))
    expected = camera_for_video(camera, (48, 72), gen.cfg.video.height, gen.cfg.video.width)
    assert len(default_cameras) == len(spy.cameras) == 2  # one Proj per step
    assert all(c is gen.camera for c in default_cameras)
    for c in spy.cameras:
        np.testing.assert_array_equal(c.intrinsics, expected.intrinsics)
        np.testing.assert_array_equal(c.extrinsics, expected.extrinsics)
    # Step 1's VID estimate is the same in both (same seed and inputs): only Proj's camera differs.
    assert not np.array_equal(default_frames[0], spy.frames[0])
    np.testing.assert_array_equal(seq.camera.intrinsics, expected.intrinsics)
    np.testing.assert_array_equal(seq.camera.extrinsics, expected.extrinsics)
    assert (seq.camera.width, seq.camera.height) == (gen.cfg.video.width, gen.cfg.video.height)
    assert seq.metadata["camera"] == "request" and default.metadata["camera"] == "model"
    assert default.camera is gen.camera
    # The guidance reaches G_θ: the output changes with the camera.
    assert not np.array_equal(seq.hand_joints, default.hand_joints)


def test_the_models_own_camera_as_request_changes_nothing(gen: SViMoGenerator) -> None:
    """The model's camera given as the request's (image at the video size: the map is the identity)
    gives the default's output bit for bit."""
    img = image(gen.cfg.video.height, gen.cfg.video.width)
    own = Camera(gen.camera.width, gen.camera.height, gen.camera.intrinsics.copy(), gen.camera.extrinsics.copy())
    a = gen.generate(request(image=img))
    b = gen.generate(request(image=img, camera=own))
    np.testing.assert_array_equal(a.hand_joints, b.hand_joints)
    np.testing.assert_array_equal(a.object_points, b.object_points)
    np.testing.assert_array_equal(a.video, b.video)


def test_bad_cameras_are_refused_before_any_compute(gen: SViMoGenerator) -> None:
    calls: list = []
    nan = side_camera(72, 48)
    nan.intrinsics[0, 0] = np.nan  # a Camera refuses NaN when built, not when changed afterwards
    flat = side_camera(72, 48)
    flat.intrinsics[1, 1] = 0.0
    for camera in (nan, flat, side_camera(72, 72)):  # the last: not the image's aspect ratio
        with pytest.raises(RequestError) as info:
            gen.generate(request(camera=camera), progress=lambda *a: calls.append(a))
        assert info.value.field == "camera"
    assert calls == []


def test_input_warnings_in_the_sequence_metadata(gen: SViMoGenerator) -> None:
    """With the shipped model's statistics: an unknown verb and object are named, a sim render with a
    training prompt gives none; without statistics (the tiny config has no model folder) there are
    no checks, and "none" turns them off."""
    covered = SViMoGenerator.from_config(TINY, input_coverage=str(SHIPPED_COVERAGE))
    assert covered.coverage_file == str(SHIPPED_COVERAGE)
    with Image.open(SHIPPED_COVERAGE.parent / "demo_reference.png") as im:
        sim = np.asarray(im.convert("RGB"))
    seq = covered.generate(request(image=sim, prompt="juggle the green banana", num_inference_steps=1))
    warnings = seq.metadata["warnings"]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("prompt: unknown verb 'juggle'")
    assert warnings[1].startswith("prompt: unknown object 'banana'")
    seq = covered.generate(request(image=sim, prompt="grasp the orange mug and lift it up", num_inference_steps=1))
    assert seq.metadata["warnings"] == []
    seq = covered.generate(request(image=sim, prompt="grasp the orange mug and lift it up", num_inference_steps=1,
                                   camera=side_camera(96, 64)))
    assert [w.split(":")[0] for w in seq.metadata["warnings"]] == ["camera"]
    assert gen.coverage is None and gen.generate(request(num_inference_steps=1)).metadata["warnings"] == []
    assert SViMoGenerator.from_config(TINY, input_coverage="none").coverage is None


@pytest.mark.skipif(not REAL_HAND_VIDEO.is_file(), reason=f"{REAL_HAND_VIDEO} not present")
def test_a_real_photo_is_flagged_in_the_pipeline() -> None:
    covered = SViMoGenerator.from_config(TINY, input_coverage=str(SHIPPED_COVERAGE))
    photo = video_frames(REAL_HAND_VIDEO, limit=1)[0]
    seq = covered.generate(request(image=photo, num_inference_steps=1))
    assert [w.split(":")[0] for w in seq.metadata["warnings"]] == ["image"]


def test_refine_turns_the_objects_with_the_hand_and_leaves_the_hand(gen: SViMoGenerator) -> None:
    """``refine.object_follows_hand`` (off in the tiny config): the same request gives the same hand
    joints and object centres, the objects turned with the palm (a contact distance every point is
    within, so every step counts as held), and the sequence says so."""
    import dataclasses

    from hoi_ros.core.contact import follow_hand
    from hoi_ros.svimo.config import RefineConfig, SViMoConfig

    plain = gen.generate(request())
    cfg = dataclasses.replace(gen.cfg, refine=RefineConfig(object_follows_hand=True, contact_distance=100.0))
    turned = SViMoGenerator(cfg).generate(request())
    assert plain.metadata["object_follows_hand"] is False and turned.metadata["object_follows_hand"] is True
    np.testing.assert_array_equal(turned.hand_joints, plain.hand_joints)
    assert not np.allclose(turned.object_points, plain.object_points, atol=1e-4)
    for part in (0, 1):
        sel = plain.object_point_labels == part
        np.testing.assert_allclose(turned.object_points[:, sel].mean(1), plain.object_points[:, sel].mean(1),
                                   atol=1e-5)
    np.testing.assert_allclose(turned.object_points, follow_hand(plain.hand_joints, plain.object_points,
                                                                 plain.object_point_labels, 100.0), atol=1e-5)
    parsed = SViMoConfig.from_dict({**gen.cfg.to_dict(), "refine": {"object_follows_hand": True}})
    assert parsed.refine == RefineConfig(object_follows_hand=True, contact_distance=0.03)
    with pytest.raises(ValueError, match="contact_distance"):
        RefineConfig(contact_distance=0.0)


def test_the_node_parameter_overrides_the_yamls_refine() -> None:
    """``from_config(object_follows_hand=...)`` (the hoi_generator parameter) replaces the YAML's switch;
    None keeps it."""
    assert SViMoGenerator.from_config(TINY).cfg.refine.object_follows_hand is False
    assert SViMoGenerator.from_config(TINY, object_follows_hand=True).cfg.refine.object_follows_hand is True
    shipped = ROOT / "config/models/svimo/embedded_default.yaml"
    assert SViMoGenerator.from_config(shipped, object_follows_hand=False).cfg.refine.object_follows_hand is False
