"""The generator seam: typed requests for each model kind, one stage vocabulary, and one function
that checks every limit and names the field it refuses."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from hoi_ros.core.generation import (
    STAGES,
    ConditionRequest,
    GenerationRequest,
    Generator,
    GeneratorLimits,
    HOIGenerator,
    ReconstructionRequest,
    RequestError,
)
from hoi_ros.core.sequence import HOISequence

LIMITS = GeneratorLimits(max_frames=17, default_frames=17, max_steps=100, default_steps=50, max_prompt_chars=20)


def request(**kw) -> GenerationRequest:
    base = dict(image=np.zeros((8, 8, 3), np.uint8), prompt="grasp the box", num_frames=9, num_inference_steps=10,
                seed=1, guidance_scale=1.0)
    return GenerationRequest(**{**base, **kw})


def test_check_accepts_a_resolved_request_and_names_each_bad_field() -> None:
    LIMITS.check(request())
    for fields, name in [({"num_frames": 18}, "num_frames"), ({"num_frames": 0}, "num_frames"),
                         ({"num_inference_steps": 101}, "num_inference_steps"),
                         ({"guidance_scale": 0.5}, "guidance_scale"), ({"seed": -1}, "seed"),
                         ({"prompt": " "}, "prompt"), ({"prompt": "x" * 21}, "prompt")]:
        with pytest.raises(RequestError) as info:
            LIMITS.check(request(**fields))
        assert info.value.field == name and str(info.value).startswith(f"{name}: ")


def test_resolve_fills_defaults_and_refuses_out_of_range() -> None:
    assert LIMITS.resolve_count(0, "num_frames") == 17 and LIMITS.resolve_count(5, "num_frames") == 5
    assert LIMITS.resolve_guidance(0) == 1.0 and LIMITS.resolve_guidance(3.5) == 3.5
    with pytest.raises(RequestError, match=r"^num_inference_steps: 0?101 is outside"):
        LIMITS.resolve_count(101, "num_inference_steps")
    with pytest.raises(RequestError, match=r"^guidance_scale: must be a finite"):
        LIMITS.resolve_guidance(float("nan"))


def test_request_kinds_of_the_three_models() -> None:
    assert {GenerationRequest.kind, ConditionRequest.kind, ReconstructionRequest.kind} == {
        "image_prompt", "conditions", "reconstruction"}
    cond = ConditionRequest(source={"task": "grasp_lift", "object": "red box"}, num_frames=9,
                            num_inference_steps=10, seed=0, prompt="lift the box", conditions="depth+seg")
    LIMITS.check(cond)
    with pytest.raises(RequestError, match=r"^conditions: "):
        ConditionRequest(source="poses.npz", num_frames=9, num_inference_steps=10, seed=0, conditions="rgb")
    video = ReconstructionRequest(frames=np.zeros((3, 8, 8, 3), np.uint8), object="door",
                                  intrinsics=np.diag([50.0, 50.0, 1.0]))
    LIMITS.check(video)
    with pytest.raises(RequestError, match=r"^frames: "):
        ReconstructionRequest(frames=np.zeros((3, 8, 8), np.uint8), object="door", intrinsics=np.eye(3))
    with pytest.raises(RequestError, match=r"^intrinsics: "):
        ReconstructionRequest(frames=np.zeros((3, 8, 8, 3), np.uint8), object="door", intrinsics=np.zeros((3, 3)))


class _Echo:
    """A minimal real generator of another request kind: the seam is not SViMo's alone."""

    request_type = ReconstructionRequest
    limits = LIMITS

    def generate(self, request, progress=None, cancel: threading.Event | None = None) -> HOISequence:
        from hoi_ros.core.camera import Camera

        self.limits.check(request)
        for i, stage in enumerate(("encoding", "optimizing", "writing")):
            assert stage in STAGES
            if progress is not None:
                progress(stage, i + 1, 3)
        t = request.frames.shape[0]
        return HOISequence(np.zeros((t, 21, 3)), np.zeros((t, 4, 3)), Camera(8, 8, request.intrinsics, np.eye(4)), 10.0,
                           video=request.frames)


def test_any_model_kind_fits_the_protocol() -> None:
    gen = _Echo()
    assert isinstance(gen, Generator) and not hasattr(gen, "sample")
    seen = []
    seq = gen.generate(ReconstructionRequest(frames=np.zeros((2, 8, 8, 3), np.uint8), object="lid",
                                             intrinsics=np.diag([50.0, 50.0, 1.0])), progress=lambda *a: seen.append(a))
    assert seq.num_frames == 2 and [s[0] for s in seen] == ["encoding", "optimizing", "writing"]
    assert isinstance(gen, HOIGenerator)  # structural: the protocol checks methods, not argument types
    assert STAGES[0] == "queued" and len(set(STAGES)) == len(STAGES)


def _camera(width: int = 8, height: int = 8):
    from hoi_ros.core.camera import Camera, look_at

    return Camera.from_fov(width, height, 50.0, look_at([0.0, -0.4, 0.4], [0.0, 0.0, 0.0]))


def test_a_request_camera_is_optional_and_checked_by_field_camera() -> None:
    """``camera`` defaults to None (the model's); a given one must be a usable pinhole with a rigid
    world→camera transform and the image's aspect ratio, else ``camera`` is named."""
    assert request().camera is None
    LIMITS.check(request(camera=_camera()))
    LIMITS.check(request(camera=_camera(16, 16)))  # another size of the same aspect: scaled, not refused
    bad = []
    cam = _camera()
    cam.intrinsics[0, 2] = np.nan
    bad.append(cam)
    cam = _camera()
    cam.intrinsics[1, 1] = -3.0
    bad.append(cam)
    cam = _camera()
    cam.extrinsics[:3, :3] *= 2.0  # not a rotation
    bad.append(cam)
    cam = _camera()
    cam.extrinsics[:3, 0] *= -1.0  # a reflection
    bad.append(cam)
    bad.append(_camera(16, 8))  # 2:1 camera for a 1:1 image
    bad.append("not a camera")
    for camera in bad:
        with pytest.raises(RequestError) as info:
            LIMITS.check(request(camera=camera))
        assert info.value.field == "camera", camera
