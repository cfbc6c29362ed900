"""Validation of ``/hoi/generate`` requests, before any compute.

A request (the service request or the action goal: same fields) becomes a
:class:`~hoi_ros.core.generation.GenerationRequest` with every size resolved against the
generator's :class:`~hoi_ros.core.generation.GeneratorLimits`, or raises :class:`RequestError`
whose message names the offending field (e.g. ``"num_frames: 80 is outside 1..49"``).
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from typing import Any

from hoi_ros.core.generation import GenerationRequest, GeneratorLimits
from hoi_ros.nodes.image_conversion import ImageConversionError, msg_to_rgb

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_SEED = 2**31 - 1


class RequestError(ValueError):
    """An invalid request; ``str(error)`` starts with the field name."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


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
    if not REQUEST_ID_PATTERN.match(request_id):
        raise RequestError(
            "request_id",
            f"{request_id!r} is not a valid folder name (1-64 characters of letters, digits, '_', "
            "'.', '-', starting with a letter or digit)",
        )
    return request_id


def _resolve_count(value: int, name: str, default: int, low: int, high: int) -> int:
    value = int(value)
    if value == 0:
        return default
    if not low <= value <= high:
        raise RequestError(name, f"{value} is outside the model's range {low}..{high} (0 = default {default})")
    return value


def validate_request(request: Any, limits: GeneratorLimits, max_image_pixels: int | None = None) -> ValidatedRequest:
    """Check a ``Generate`` request/goal against ``limits``; raise :class:`RequestError` if invalid.

    ``max_image_pixels`` (node parameter) caps the image below ``limits.max_image_pixels``.
    """
    request_id = check_request_id(str(request.request_id))

    prompt = str(request.prompt)
    if not prompt.strip():
        raise RequestError("prompt", "empty; describe the interaction, e.g. 'grasp the mug and lift it'")
    if len(prompt) > limits.max_prompt_chars:
        raise RequestError("prompt", f"{len(prompt)} characters exceeds the limit of {limits.max_prompt_chars}")

    num_frames = _resolve_count(
        request.num_frames, "num_frames", limits.default_frames, limits.min_frames, limits.max_frames
    )
    steps = _resolve_count(
        request.num_inference_steps, "num_inference_steps", limits.default_steps, limits.min_steps,
        limits.max_steps,
    )

    guidance = float(request.guidance_scale)
    if not math.isfinite(guidance):
        raise RequestError("guidance_scale", f"must be a finite number, got {guidance}")
    if guidance != 0 and guidance < 1:
        raise RequestError("guidance_scale", f"must be 0 (the model's default) or >= 1 (1 = off), got {guidance}")
    if guidance == 0:
        guidance = float(limits.default_guidance)

    seed = int(request.seed)
    if seed < 0:
        seed = secrets.randbelow(MAX_SEED + 1)
    elif seed > MAX_SEED:
        raise RequestError("seed", f"{seed} exceeds {MAX_SEED} (negative = pick one)")

    pixel_limit = limits.max_image_pixels
    if max_image_pixels is not None and max_image_pixels > 0:
        pixel_limit = min(pixel_limit, int(max_image_pixels))
    try:
        image = msg_to_rgb(request.image, max_pixels=pixel_limit, field="image")
    except ImageConversionError as exc:
        field = str(exc).split(":", 1)[0]
        raise RequestError(field, str(exc).split(": ", 1)[1]) from exc

    return ValidatedRequest(
        request_id=request_id,
        generation=GenerationRequest(
            image=image,
            prompt=prompt,
            num_frames=num_frames,
            num_inference_steps=steps,
            seed=seed,
            guidance_scale=guidance,
        ),
    )
