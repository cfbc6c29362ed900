"""The one seam between the ROS face and every model: typed requests, a stage vocabulary, limits.

A node validates a request message, resolves it against the model's :class:`GeneratorLimits`
into a typed request (:class:`GenerationRequest`: reference image + prompt → sequence, SViMo's
kind; :class:`ConditionRequest`: simulated poses → video, PAM's; :class:`ReconstructionRequest`:
video → articulation and hand motion, ArtHOI's)
and calls :meth:`Generator.generate`, which returns an :class:`~hoi_ros.core.sequence.HOISequence`
(video and/or motion, articulation where the model recovers it). Progress is reported in the
stage vocabulary :data:`STAGES`; a set ``cancel`` event stops the model within one step.

The limits are declared once, by the model (its :class:`GeneratorLimits`), and checked by one
function, :meth:`GeneratorLimits.check`, which every entry point calls; a violation raises
:class:`RequestError` naming the field.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from hoi_ros.core.camera import Camera
from hoi_ros.core.sequence import HOISequence

# The stages every model reports progress in (feedback's ``stage`` field), in the order they run.
STAGES = ("queued", "loading", "encoding", "denoising", "decoding", "optimizing", "rendering", "writing")

# progress(stage, step, total_steps): called from the generating thread; stage is one of STAGES.
ProgressCallback = Callable[[str, int, int], None]

MAX_SEED = 2**31 - 1
# A request's camera may differ from its image's aspect ratio by this much (relative): rounding when
# a client scales both, e.g. 1280x720 -> 427x240.
CAMERA_ASPECT_TOLERANCE = 0.01


class GenerationCancelled(Exception):
    """Raised by a generator when its ``cancel`` event was set; it stops within one step."""


class RequestError(ValueError):
    """An invalid request; ``str(error)`` starts with the field name, ``field`` holds it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


@dataclass(frozen=True)
class GeneratorLimits:
    """What a model accepts; requests outside these are refused before any compute."""

    min_frames: int = 1
    max_frames: int = 49
    default_frames: int = 49
    min_steps: int = 1
    max_steps: int = 1000
    default_steps: int = 50
    default_guidance: float = 1.0
    max_prompt_chars: int = 1000
    max_image_pixels: int = 4096 * 4096

    def resolve_count(self, value: int, name: str) -> int:
        """``num_frames`` or ``num_inference_steps`` with 0 meaning the model's default, range-checked."""
        low, high, default = {
            "num_frames": (self.min_frames, self.max_frames, self.default_frames),
            "num_inference_steps": (self.min_steps, self.max_steps, self.default_steps),
        }[name]
        value = int(value)
        if value == 0:
            return default
        if not low <= value <= high:
            raise RequestError(name, f"{value} is outside the model's range {low}..{high} (0 = default {default})")
        return value

    def resolve_guidance(self, value: float) -> float:
        """Classifier-free guidance scale: 0 = the model's default, else finite and >= 1 (1 = off)."""
        value = float(value)
        if not np.isfinite(value):
            raise RequestError("guidance_scale", f"must be a finite number, got {value}")
        if value == 0:
            return float(self.default_guidance)
        if value < 1:
            raise RequestError("guidance_scale", f"must be 0 (the model's default) or >= 1 (1 = off), got {value}")
        return value

    def check(self, request: Any) -> None:
        """Every limit a resolved request must meet (fields it lacks are not checked)."""
        for name in ("num_frames", "num_inference_steps"):
            if hasattr(request, name):
                value = int(getattr(request, name))
                if value == 0:
                    raise RequestError(name, "0 is not a resolved count (the node resolves 0 to the default)")
                self.resolve_count(value, name)  # raises outside the range
        if hasattr(request, "guidance_scale"):
            g = float(request.guidance_scale)
            if g == 0:
                raise RequestError("guidance_scale", "0 is not a resolved scale (the node resolves 0 to the default)")
            self.resolve_guidance(g)  # raises unless finite and >= 1
        if hasattr(request, "seed") and not 0 <= int(request.seed) <= MAX_SEED:
            raise RequestError("seed", f"{request.seed} is outside 0..{MAX_SEED}: exceeds {MAX_SEED} "
                               "(negative = pick one)")
        if hasattr(request, "prompt"):
            prompt = str(request.prompt)
            if not prompt.strip():
                raise RequestError("prompt", "empty; describe the interaction, e.g. 'grasp the mug and lift it'")
            if len(prompt) > self.max_prompt_chars:
                raise RequestError("prompt", f"{len(prompt)} characters exceeds the limit of {self.max_prompt_chars}")
        image = getattr(request, "image", None)
        if image is not None and image.shape[0] * image.shape[1] > self.max_image_pixels:
            raise RequestError("image", f"{image.shape[1]}x{image.shape[0]} exceeds {self.max_image_pixels} pixels")
        camera = getattr(request, "camera", None)
        if camera is not None:
            check_camera(camera, None if image is None else (int(image.shape[0]), int(image.shape[1])))


def check_camera(camera: Any, image_hw: tuple[int, int] | None = None) -> None:
    """A request's camera (:class:`~hoi_ros.core.camera.Camera`) is usable for the guidance rendering.

    Checked again here, not only by ``Camera``'s constructor, since its fields can be changed after
    it: a positive size, finite intrinsics with positive focal lengths and last row ``0 0 1``, a
    rigid world→camera transform (orthonormal rotation, determinant +1, finite translation) and,
    with ``image_hw`` (the reference image's height and width), the image's aspect ratio (the
    intrinsics describe that image at the camera's size). Raises :class:`RequestError` for the
    field ``camera``.
    """
    if not isinstance(camera, Camera):
        raise RequestError("camera", f"expected a hoi_ros.core.camera.Camera, got {type(camera).__name__}")
    width, height = int(camera.width), int(camera.height)
    if width < 1 or height < 1:
        raise RequestError("camera", f"image size must be positive, got {width}x{height}")
    k = np.asarray(camera.intrinsics, dtype=np.float64)
    ext = np.asarray(camera.extrinsics, dtype=np.float64)
    if k.shape != (3, 3) or not np.all(np.isfinite(k)):
        raise RequestError("camera", "intrinsics: expected a finite 3x3 matrix")
    if not (k[0, 0] > 0 and k[1, 1] > 0):
        raise RequestError("camera", f"intrinsics: focal lengths must be positive, got fx={k[0, 0]}, fy={k[1, 1]}")
    if not np.allclose(k[2], [0.0, 0.0, 1.0]) or k[1, 0] != 0:
        raise RequestError("camera", f"intrinsics: expected a pinhole matrix (rows [fx s cx] [0 fy cy] [0 0 1]), "
                           f"got rows {k[1].tolist()} {k[2].tolist()}")
    if ext.shape != (4, 4) or not np.all(np.isfinite(ext)):
        raise RequestError("camera", "extrinsics: expected a finite 4x4 matrix")
    rot = ext[:3, :3]
    if (not np.allclose(ext[3], [0.0, 0.0, 0.0, 1.0]) or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-5)
            or np.linalg.det(rot) <= 0):
        raise RequestError("camera", "extrinsics: expected a rigid world->camera transform (orthonormal "
                           "rotation with determinant +1, last row [0, 0, 0, 1])")
    if image_hw is not None:
        aspect, image_aspect = width / height, image_hw[1] / image_hw[0]
        if abs(aspect / image_aspect - 1.0) > CAMERA_ASPECT_TOLERANCE:
            raise RequestError("camera", f"{width}x{height} does not have the image's aspect ratio "
                               f"({image_hw[1]}x{image_hw[0]}); the intrinsics must describe the reference image")


@dataclass(frozen=True)
class GenerationRequest:
    """Reference image + prompt → sequence (SViMo): RGB ``[H, W, 3] uint8``, every size resolved.

    ``camera`` is the reference image's camera (intrinsics at its own ``width``/``height``, which
    have the image's aspect ratio; extrinsics world→camera, OpenCV axes): the generator renders the
    closed loop's motion video (``Proj`` of SViMo's Eq. 7) and returns the sequence with it, mapped
    to its video size as the image is. ``None`` = the model's own camera.
    """

    kind: ClassVar[str] = "image_prompt"

    image: np.ndarray
    prompt: str
    num_frames: int
    num_inference_steps: int
    seed: int
    guidance_scale: float
    camera: Camera | None = None


CONDITION_SUBSETS = ("seg", "depth", "hand", "depth+seg", "all")


@dataclass(frozen=True)
class ConditionRequest:
    """Simulated poses → video (PAM): the pose stage's source and the conditions to use.

    ``source`` is a sim request (a mapping of ``SimRollout`` fields: task, object, poses) or a
    path to a pose file (a GraspXL-style trajectory or an ``HOISequence`` with object pose);
    ``conditions`` is one of :data:`CONDITION_SUBSETS` (PAM's ablation), ``"all"`` by default.
    """

    kind: ClassVar[str] = "conditions"

    source: dict[str, Any] | str
    num_frames: int
    num_inference_steps: int
    seed: int
    prompt: str = "a hand interacting with an object"
    conditions: str = "all"

    def __post_init__(self) -> None:
        if self.conditions not in CONDITION_SUBSETS:
            raise RequestError("conditions", f"one of {list(CONDITION_SUBSETS)}, got {self.conditions!r}")


@dataclass(frozen=True)
class ReconstructionRequest:
    """A monocular video → articulation and hand motion (ArtHOI).

    ``frames`` are RGB ``[T, H, W, 3] uint8``; ``object`` names the object's geometry (a sim object
    name or a mesh path from a configured root); ``intrinsics`` is the 3x3 pinhole matrix.
    """

    kind: ClassVar[str] = "reconstruction"

    frames: np.ndarray
    object: str
    intrinsics: np.ndarray
    seed: int = 0

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise RequestError("frames", f"expected [T, H, W, 3] uint8, got shape {frames.shape} dtype {frames.dtype}")
        if frames.shape[0] < 2:
            raise RequestError("frames", f"needs at least 2 frames, got {frames.shape[0]}")
        k = np.asarray(self.intrinsics, dtype=np.float64)
        if k.shape != (3, 3) or not np.all(np.isfinite(k)) or k[0, 0] <= 0 or k[1, 1] <= 0:
            raise RequestError("intrinsics", "expected a finite 3x3 pinhole matrix with positive focal lengths")
        if not str(self.object).strip():
            raise RequestError("object", "empty; name the object's geometry")


@runtime_checkable
class Generator(Protocol):
    """Any model the nodes serve: a typed request in, an :class:`HOISequence` out.

    ``request_type`` is the request class it takes; ``limits`` what it accepts. A generator may
    also offer ``release_memory()`` (return cached accelerator memory), called after a failure.
    """

    limits: GeneratorLimits
    request_type: ClassVar[type]

    def generate(
        self,
        request: Any,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> HOISequence:
        """Run the model; raise :class:`GenerationCancelled` when ``cancel`` is set."""
        ...


@runtime_checkable
class HOIGenerator(Generator, Protocol):
    """A :class:`Generator` of :class:`GenerationRequest` (reference image + prompt → video + motion)."""

    def generate(
        self,
        request: GenerationRequest,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> HOISequence:
        """Generate video + motion; raise :class:`GenerationCancelled` when ``cancel`` is set."""
        ...
