"""Validation of ``/hoi/generate`` requests, before any compute.

A request (the service request or the action goal: same fields) becomes a
:class:`~hoi_ros.core.generation.GenerationRequest` with every size resolved against the
generator's :class:`~hoi_ros.core.generation.GeneratorLimits`, or raises
:class:`~hoi_ros.core.generation.RequestError`
whose message names the offending field (e.g. ``"num_frames: 80 is outside 1..49"``).

The request's ``camera`` (``sensor_msgs/CameraInfo``, ``k`` all zero = the model's camera) and
``camera_pose`` become the request's :class:`~hoi_ros.core.camera.Camera`
(:func:`hoi_ros.nodes.conversions.camera_from_msg`); the generator maps it to its video size as it
maps the image. Messages without these fields (older clients' types) get the model's camera.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from hoi_ros.core.camera import Camera
from hoi_ros.core.generation import MAX_SEED, GenerationRequest, GeneratorLimits, RequestError
from hoi_ros.nodes.conversions import camera_from_msg
from hoi_ros.nodes.image_conversion import ImageConversionError, msg_to_rgb

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class ValidatedRequest:
    """A request ready for the generator, plus the name of its output folder."""

    request_id: str
    generation: GenerationRequest


def new_request_id() -> str:
    """A fresh request id: 16 hex digits."""
    return secrets.token_hex(8)


def check_request_id(request_id: str) -> str:
    """``request_id`` itself when it is a safe folder name, else a new one when empty."""
    if request_id == "":
        return new_request_id()
    if not REQUEST_ID_PATTERN.fullmatch(request_id):
        raise RequestError(
            "request_id",
            f"{request_id!r} is not a valid folder name (1-64 characters of letters, digits, '_', "
            "'.', '-', starting with a letter or digit)",
        )
    return request_id


def request_camera(request: Any) -> Camera | None:
    """The request's camera (None = the model's); :class:`RequestError` naming ``camera`` or ``camera_pose``."""
    info = getattr(request, "camera", None)
    if info is None:
        return None
    try:
        return camera_from_msg(info, request.camera_pose)
    except ValueError as exc:
        field, _, reason = str(exc).partition(": ")
        if field not in ("camera", "camera_pose"):
            field, reason = "camera", str(exc)
        raise RequestError(field, reason) from exc


def validate_request(request: Any, limits: GeneratorLimits, max_image_pixels: int | None = None) -> ValidatedRequest:
    """Convert a ``Generate`` request/goal into a :class:`GenerationRequest` resolved against the model's
    ``limits`` (:meth:`GeneratorLimits.check` decides); raise :class:`RequestError` if invalid.

    ``max_image_pixels`` (node parameter) caps the image below ``limits.max_image_pixels``.
    """
    request_id = check_request_id(str(request.request_id))
    seed = int(request.seed)
    if seed < 0:
        seed = secrets.randbelow(MAX_SEED + 1)
    pixel_limit = limits.max_image_pixels
    if max_image_pixels is not None and max_image_pixels > 0:
        pixel_limit = min(pixel_limit, int(max_image_pixels))
    try:
        image = msg_to_rgb(request.image, max_pixels=pixel_limit, field="image")
    except ImageConversionError as exc:
        field = str(exc).split(":", 1)[0]
        raise RequestError(field, str(exc).split(": ", 1)[1]) from exc
    generation = GenerationRequest(
        image=image,
        prompt=str(request.prompt),
        num_frames=limits.resolve_count(request.num_frames, "num_frames"),
        num_inference_steps=limits.resolve_count(request.num_inference_steps, "num_inference_steps"),
        seed=seed,
        guidance_scale=limits.resolve_guidance(request.guidance_scale),
        camera=request_camera(request),
    )
    limits.check(generation)
    return ValidatedRequest(request_id=request_id, generation=generation)
