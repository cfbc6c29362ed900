"""The frozen 3D video VAE ``E`` / ``D`` of SViMo (§3.3, §4.2; Alg. 1 line 2, Alg. 2 lines 1 and 12).

A thin wrapper over diffusers' :class:`~diffusers.AutoencoderKLCogVideoX` (the VAE of CogVideoX,
the foundation model SViMo extends): spatial ratio 8, temporal ratio 4 and ``d_VAE = 16``
channels in the full model (§4.2: 49 × 416 × 624 frames → 13 × 52 × 78 latents).

- ``path`` set: the weights come from a **local** diffusers folder (e.g. a CogVideoX
  checkpoint's ``vae`` subfolder) with ``from_pretrained(..., local_files_only=True)``.
- ``path`` unset: a VAE of the configured size is built from the config with seeded random
  weights. Such a VAE is untrained: its latents are a fixed random 3D-conv feature map, usable
  for exercising and testing the pipeline, not for generating videos.

Layouts: frames ``[B, T, H, W, 3]`` (uint8 or float in [0, 1]) ↔ latents ``[B, F, C, h, w]``
(CogVideoX transformer layout), multiplied by the VAE's scaling factor on encode. T must be 1 or
``1 + 2·r_n·k`` (CogVideoX encodes in chunks of ``2·r_n`` frames), so that F = (T − 1)/r_n + 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from hoi_ros.core.config import dataclass_from_dict
from hoi_ros.diffusion.dtypes import check_dtype_name, torch_dtype
from hoi_ros.diffusion.frozen import FrozenModel


@dataclass
class VAEConfig:
    """The video VAE: a local checkpoint (``path``) or a seeded random one built from the fields."""

    path: str | None = None
    subfolder: str = ""
    dtype: str = "float32"
    # Architecture used when ``path`` is None (defaults: the CogVideoX VAE).
    block_out_channels: list[int] = field(default_factory=lambda: [128, 256, 256, 512])
    layers_per_block: int = 3
    latent_channels: int = 16
    norm_num_groups: int = 32
    temporal_compression_ratio: int = 4
    scaling_factor: float = 1.15258426
    seed: int = 0
    sample_posterior: bool = False  # False: the posterior mean (deterministic); True: a sample
    enable_slicing: bool = False
    enable_tiling: bool = False

    def __post_init__(self) -> None:
        check_dtype_name(self.dtype, "VAEConfig.dtype")
        self.block_out_channels = [int(c) for c in self.block_out_channels]
        if not self.block_out_channels or any(c < 1 for c in self.block_out_channels):
            raise ValueError(f"VAEConfig.block_out_channels: need positive channels, got {self.block_out_channels}")
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError(
                f"VAEConfig.norm_num_groups: {self.norm_num_groups} must divide every block_out_channels entry "
                f"{self.block_out_channels}"
            )
        r = self.temporal_compression_ratio
        if r < 1 or r & (r - 1) or int(math.log2(r)) > len(self.block_out_channels) - 1:
            raise ValueError(
                f"VAEConfig.temporal_compression_ratio: must be a power of two <= 2^(#blocks - 1), got {r}"
            )
        for name in ("layers_per_block", "latent_channels"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"VAEConfig.{name}: must be positive, got {getattr(self, name)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VAEConfig:
        return dataclass_from_dict(cls, data, "VAEConfig")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_cogvideox_vae(block_out_channels: list[int], layers_per_block: int, latent_channels: int,
                      norm_num_groups: int, temporal_compression_ratio: int, seed: int, **extra: Any) -> Any:
    """A freshly initialised ``AutoencoderKLCogVideoX`` (CogVideoX 3D down/up blocks, one per entry of
    ``block_out_channels``), its weights drawn from ``seed`` without touching the global RNG."""
    from diffusers import AutoencoderKLCogVideoX

    n = len(block_out_channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoencoderKLCogVideoX(
            down_block_types=("CogVideoXDownBlock3D",) * n,
            up_block_types=("CogVideoXUpBlock3D",) * n,
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            latent_channels=latent_channels,
            norm_num_groups=norm_num_groups,
            temporal_compression_ratio=temporal_compression_ratio,
            **extra,
        )


def route_conv3d_to_onednn(model: torch.nn.Module) -> None:
    """Make ``model``'s zero-padded ``Conv3d`` layers call oneDNN directly on CPU float32 input.

    torch's CPU heuristic (``use_mkldnn``, tuned for 2-D convolutions) sends a batch-1 3-D convolution
    with few channels × frames × rows to its im2col kernel (``aten::slow_conv3d_forward``), which made
    the embedded default's batch-1 VAE encode ≈ 4× slower (measured, docs/benchmarks.md).
    Batches of two or more already take the oneDNN path, so the numbers are the same as theirs.
    """
    for conv in model.modules():
        if not isinstance(conv, torch.nn.Conv3d) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            continue

        def conv_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                         _conv: torch.nn.Conv3d = conv) -> torch.Tensor:
            if x.device.type == "cpu" and x.dtype == torch.float32 and torch.backends.mkldnn.is_available():
                return torch.mkldnn_convolution(x.contiguous(), weight.contiguous(), bias, _conv.padding,
                                                _conv.stride, _conv.dilation, _conv.groups)
            return torch.nn.Conv3d._conv_forward(_conv, x, weight, bias)

        conv._conv_forward = conv_forward


class VideoVAE(FrozenModel):
    """Frozen ``AutoencoderKLCogVideoX``: ``encode`` frames → scaled latents, ``decode`` back."""

    def __init__(self, cfg: VAEConfig) -> None:
        from diffusers import AutoencoderKLCogVideoX

        self.cfg = cfg
        dtype = torch_dtype(cfg.dtype)
        if cfg.path:
            from pathlib import Path

            folder = Path(cfg.path).expanduser() / cfg.subfolder if cfg.subfolder else Path(cfg.path).expanduser()
            if not folder.is_dir():
                raise ValueError(f"VAEConfig.path: {folder} is not a local folder (nothing is downloaded)")
            self.model = AutoencoderKLCogVideoX.from_pretrained(
                str(folder), local_files_only=True, use_safetensors=True, torch_dtype=dtype
            )
        else:
            self.model = new_cogvideox_vae(
                cfg.block_out_channels, cfg.layers_per_block, cfg.latent_channels, cfg.norm_num_groups,
                cfg.temporal_compression_ratio, cfg.seed, scaling_factor=cfg.scaling_factor,
            )
            if dtype != torch.float32:
                self.model.to(dtype)
        self.model.eval().requires_grad_(False)
        route_conv3d_to_onednn(self.model)  # frozen: inference only (no_grad)
        mc = self.model.config
        self.latent_channels = int(mc.latent_channels)
        self.spatial_ratio = 2 ** (len(mc.block_out_channels) - 1)
        self.temporal_ratio = int(mc.temporal_compression_ratio)
        self.scaling_factor = float(mc.scaling_factor)
        if cfg.enable_slicing:
            self.model.enable_slicing()
        if cfg.enable_tiling:
            self.model.enable_tiling()

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """``(F, C, h, w)`` of the latents of ``num_frames × height × width`` frames."""
        self._check_frames(num_frames)
        if height % self.spatial_ratio or width % self.spatial_ratio:
            raise ValueError(
                f"frames: height and width must be multiples of {self.spatial_ratio}, got {height}x{width}"
            )
        return ((num_frames - 1) // self.temporal_ratio + 1, self.latent_channels,
                height // self.spatial_ratio, width // self.spatial_ratio)

    def _check_frames(self, t: int) -> None:
        chunk = 2 * self.temporal_ratio
        if t != 1 and (t - 1) % chunk:
            raise ValueError(f"frames: the number of frames must be 1 or 1 + {chunk}·k, got {t}")

    @torch.no_grad()
    def encode(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Frames ``[B, T, H, W, 3]`` (uint8, or float in [0, 1]) → latents ``[B, F, C, h, w]`` × scale."""
        if frames.ndim != 5 or frames.shape[-1] != 3:
            raise ValueError(f"frames: expected [B, T, H, W, 3], got {tuple(frames.shape)}")
        self.latent_shape(frames.shape[1], frames.shape[2], frames.shape[3])
        x = frames.to(self.device)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        x = (x * 2.0 - 1.0).permute(0, 4, 1, 2, 3).to(self.dtype)  # [B, 3, T, H, W] in [-1, 1]
        dist = self.model.encode(x).latent_dist
        z = dist.sample(generator) if self.cfg.sample_posterior else dist.mode()
        return (z * self.scaling_factor).permute(0, 2, 1, 3, 4).contiguous()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, F, C, h, w]`` (scaled) → frames float ``[B, T, H, W, 3]`` in [0, 1]."""
        if latents.ndim != 5 or latents.shape[2] != self.latent_channels:
            raise ValueError(f"latents: expected [B, F, {self.latent_channels}, h, w], got {tuple(latents.shape)}")
        if latents.shape[1] != 1 and latents.shape[1] % 2 == 0:
            raise ValueError(f"latents: CogVideoX decodes 1 or an odd number of latent frames, got {latents.shape[1]}")
        z = (latents.to(self.device, self.dtype) / self.scaling_factor).permute(0, 2, 1, 3, 4)
        x = self.model.decode(z).sample  # [B, 3, T, H, W] in [-1, 1]
        return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0).permute(0, 2, 3, 4, 1).contiguous()


def build_vae(cfg: VAEConfig) -> VideoVAE:
    """The frozen video VAE of ``cfg`` (§3.3)."""
    return VideoVAE(cfg)
