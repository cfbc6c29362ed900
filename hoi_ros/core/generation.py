"""The seam between the ROS face and any image+text -> video+motion generator.

``/hoi/generate`` (service and action) validates a request, turns it into a
:class:`GenerationRequest` and calls :meth:`HOIGenerator.generate`. SViMo (``hoi_ros.svimo``)
implements this protocol; so can any other model a user plugs in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from hoi_ros.core.sequence import HOISequence

# progress(stage, step, total_steps): called from the generating thread.
ProgressCallback = Callable[[str, int, int], None]


class GenerationCancelled(Exception):
    """Raised by a generator when its ``cancel`` event was set; it stops within one step."""


@dataclass(frozen=True)
class GeneratorLimits:
    """What a generator accepts; requests outside these are rejected before any compute."""

    min_frames: int = 1
    max_frames: int = 49
    default_frames: int = 49
    min_steps: int = 1
    max_steps: int = 1000
    default_steps: int = 50
    default_guidance: float = 1.0
    max_prompt_chars: int = 1000
    max_image_pixels: int = 4096 * 4096


@dataclass(frozen=True)
class GenerationRequest:
    """A validated request: RGB image ``[H, W, 3] uint8`` and prompt, sizes already resolved."""

    image: np.ndarray
    prompt: str
    num_frames: int
    num_inference_steps: int
    seed: int
    guidance_scale: float


@runtime_checkable
class HOIGenerator(Protocol):
    """Anything that turns a reference image + prompt into an :class:`HOISequence`."""

    limits: GeneratorLimits

    def generate(
        self,
        request: GenerationRequest,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> HOISequence:
        """Generate video + motion; raise :class:`GenerationCancelled` when ``cancel`` is set."""
        ...
