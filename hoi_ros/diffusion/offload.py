"""Model CPU offload: a module visits the accelerator for one stage of a pipeline, then goes back.

The same idea as diffusers' ``enable_model_cpu_offload`` for our own stage sequence (text →
image latent → denoising → decoding), which diffusers' hooks do not know.
"""

from __future__ import annotations

from typing import Any

import torch


class OnDevice:
    """Context manager: moves ``module`` to ``device`` on entry and back to the CPU on exit (when
    ``active``; otherwise it does nothing, so the same code runs with and without offload)."""

    def __init__(self, module: Any, device: torch.device, active: bool) -> None:
        self.module, self.device, self.active = module, device, active

    def __enter__(self) -> None:
        if self.active:
            self.module.to(self.device)

    def __exit__(self, *exc: object) -> None:
        if self.active:
            self.module.to("cpu")
