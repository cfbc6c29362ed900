"""The shared shell of a frozen pretrained part (VAE, text encoder): where it lives and in which dtype.

Written here, not taken from diffusers, because our wrappers hold a diffusers or transformers model
plus pre- and post-processing, and only the model's device and dtype matter to offloading.
"""

from __future__ import annotations

from typing import Any, Self

import torch


class FrozenModel:
    """A wrapper around ``self.model`` (an ``nn.Module``) that is used, never trained."""

    model: Any

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def to(self, device: torch.device | str) -> Self:
        self.model.to(device)
        return self
