"""Stage II's image VAE: FLUX.1-dev's ``AutoencoderKL`` (16 latent channels, H/8 × W/8) for single frames.

Paper, Stage II: the conditions are "VAE-encoded into H/8 × W/8 × 16 latents" — Flux's own VAE,
whose latents are ``(z − shift_factor) · scaling_factor``. :class:`ImageVAE` gives it the
interface of :class:`hoi_ros.diffusion.vae.VideoVAE` (``encode``: frames ``[B, 1, H, W, 3]`` →
``[B, 1, C, h, w]``; ``decode`` back; ``latent_channels``), so the pipeline uses either. Loaded from a
**local** diffusers folder only (``image.vae_path``, e.g. ``<FLUX.1-dev>/vae``); without one, Stage II
shares the video VAE on single frames (the small PAM).
"""

from __future__ import annotations

from pathlib import Path

import torch

from hoi_ros.diffusion.dtypes import torch_dtype
from hoi_ros.diffusion.frozen import FrozenModel


class ImageVAE(FrozenModel):
    """A frozen ``AutoencoderKL`` (Flux's) applied frame by frame; see the module docstring."""

    def __init__(self, path: str, dtype: str = "float32") -> None:
        from diffusers import AutoencoderKL

        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ValueError(f"image.vae_path: {folder} is not a local folder (nothing is downloaded)")
        self.model = AutoencoderKL.from_pretrained(str(folder), local_files_only=True, use_safetensors=True,
                                                   torch_dtype=torch_dtype(dtype))
        self.model.eval().requires_grad_(False)
        mc = self.model.config
        self.latent_channels = int(mc.latent_channels)
        self.spatial_ratio = 2 ** (len(mc.block_out_channels) - 1)
        self.scaling_factor = float(mc.scaling_factor)
        self.shift_factor = float(mc.shift_factor or 0.0)

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames ``[B, T, H, W, 3]`` (uint8 or float in [0, 1]) → ``[B, T, C, h, w]`` (posterior mode)."""
        if frames.ndim != 5 or frames.shape[-1] != 3:
            raise ValueError(f"frames: expected [B, T, H, W, 3], got {tuple(frames.shape)}")
        b, t = frames.shape[:2]
        x = frames.to(self.device)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        x = (x * 2.0 - 1.0).flatten(0, 1).permute(0, 3, 1, 2).to(self.dtype)
        z = self.model.encode(x).latent_dist.mode()
        z = (z - self.shift_factor) * self.scaling_factor
        return z.view(b, t, *z.shape[1:])

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """``[B, T, C, h, w]`` → frames float ``[B, T, H, W, 3]`` in [0, 1]."""
        b, t = latents.shape[:2]
        z = latents.flatten(0, 1).to(self.device, self.dtype) / self.scaling_factor + self.shift_factor
        x = self.model.decode(z).sample
        x = ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0).permute(0, 2, 3, 1)
        return x.reshape(b, t, *x.shape[1:]).contiguous()
