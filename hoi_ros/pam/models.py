"""Building PAM's two controlled models from a :class:`~hoi_ros.pam.config.PAMConfig` (any scale).

``build_video_model``: the Stage III base CogVideoX(-I2V) transformer + a video ControlNet copied
from it; ``build_image_model``: the Stage II base Flux transformer + its ControlNet. A ControlNet
folder written by ``save_pretrained`` (``controlnet=``) replaces the fresh copy.
``device="meta"`` builds shapes only.
"""

from __future__ import annotations

import os

import torch

from hoi_ros.pam.config import ImageStageConfig, VideoStageConfig, build_image_base, build_video_base
from hoi_ros.pam.image_controlnet import ControlledFlux, PAMFluxControlNetModel
from hoi_ros.pam.video_controlnet import CogVideoXControlNetModel, ControlledCogVideoX


def build_video_model(cfg: VideoStageConfig, device: torch.device | str | None = None,
                      controlnet: str | os.PathLike | None = None) -> ControlledCogVideoX:
    """Stage III: frozen base + video ControlNet (fresh from the base, or loaded from a local folder)."""
    base = build_video_base(cfg, device)
    if controlnet is not None:
        cn = CogVideoXControlNetModel.from_pretrained(str(controlnet), local_files_only=True, use_safetensors=True)
        cn.to(device=base.device, dtype=base.dtype)
    else:
        cn = CogVideoXControlNetModel.from_base(base, cfg.controlnet_layers,
                                                condition_latent_channels=cfg.condition_latent_channels)
    return ControlledCogVideoX(base, cn)


def build_image_model(cfg: ImageStageConfig, device: torch.device | str | None = None,
                      controlnet: str | os.PathLike | None = None) -> ControlledFlux:
    """Stage II: frozen base + Flux ControlNet (fresh from the base, or loaded from a local folder)."""
    base = build_image_base(cfg, device)
    if controlnet is not None:
        cn = PAMFluxControlNetModel.from_pretrained(str(controlnet), local_files_only=True, use_safetensors=True)
        cn.to(device=base.device, dtype=base.dtype)
    else:
        cn = PAMFluxControlNetModel.from_base(base, cfg.controlnet_layers, cfg.controlnet_single_layers,
                                              condition_latent_channels=cfg.condition_latent_channels)
    return ControlledFlux(base, cn, injection=cfg.injection)
