"""VID M_φ, the vision-aware 3D interaction diffusion model (SViMo §3.4, Eq. 6).

``(ĥ₀, ô₀) = M_φ[(h_t, o_t), (z_tⱽ, z_tᴹ), t]``: an x₀-predicting denoiser of hand-joint
trajectories ``h [B, T, J, 3]`` and object point clouds ``o [B, T, K, 3]`` that "sees" the video
and the rendered-motion-video latents:

1. **Dual-stream multi-scale 3D convolution** (§3.4, "a dual-stream 3D convolutional module
   encodes multi-scale spatiotemporal features from both video and motion codes"): one Conv3d
   stack per stream over ``[B, C, F, h, w]`` latents; each stage halves h and w.
2. **Fusion**: at every scale the two streams are concatenated along channels and mixed by a
   1×1×1 conv; each scale is average-pooled to ``F × g × g`` cells (``token_grid``), projected to
   ``d_model`` and tagged with a scale embedding and sinusoidal positions (frame, row, column).
   The tokens of all scales form the visual memory.
3. **3D interaction denoiser**: a transformer over 2·T motion tokens (per frame one hand token
   — the J joints — and one object token — the K points), with the timestep embedding added; each
   layer is self-attention, **cross-attention to the visual memory** (the injection of §3.4) and a
   feed-forward network. Linear heads read x₀ = (ĥ₀, ô₀) from the hand and object tokens.

The paper gives no layer sizes for VID; the sizes here are config (:class:`VIDConfig`). Motion
coordinates enter the diffusion scaled by :meth:`VID.to_diffusion` (``(p − offset) / scale``),
so the Eq. 1 noise ``N(0, I)`` is commensurate with the motion; the paper does not state a
normalisation, this is the closest standard choice (MDM-style data normalisation).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.utils.checkpoint import checkpoint

from hoi_ros.core.config import dataclass_from_dict
from hoi_ros.diffusion.components import accepts_config_dataclass


@dataclass
class VIDConfig:
    """Sizes of VID (§3.4). Defaults are the full-scale setting (J = 42, K = 298, N = 49 frames)."""

    num_joints: int = 42
    num_object_points: int = 298
    num_frames: int = 49
    latent_channels: int = 16
    conv_channels: list[int] = field(default_factory=lambda: [64, 128, 256])
    token_grid: list[int] = field(default_factory=lambda: [8, 4, 2])
    d_model: int = 384   # the paper gives no VID sizes; divisible by 6 (3D sinusoidal positions) and num_heads
    num_layers: int = 8
    num_heads: int = 8
    ff_mult: int = 4
    dropout: float = 0.0
    time_embed_dim: int = 512
    coord_scale: float = 0.1
    coord_offset: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        for name in ("num_joints", "num_object_points", "num_frames", "latent_channels", "d_model",
                     "num_layers", "num_heads", "ff_mult", "time_embed_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"VIDConfig.{name}: must be a positive integer, got {value!r}")
        if self.num_object_points % 2:
            raise ValueError(
                f"VIDConfig.num_object_points: must be even (tool and target halves, App. B.2), "
                f"got {self.num_object_points}"
            )
        self.conv_channels = [int(c) for c in self.conv_channels]
        self.token_grid = [int(g) for g in self.token_grid]
        if not self.conv_channels or any(c < 1 for c in self.conv_channels):
            raise ValueError(f"VIDConfig.conv_channels: need >= 1 positive entries, got {self.conv_channels}")
        if len(self.token_grid) != len(self.conv_channels) or any(g < 1 for g in self.token_grid):
            raise ValueError(
                f"VIDConfig.token_grid: need one positive grid size per conv stage "
                f"({len(self.conv_channels)}), got {self.token_grid}"
            )
        if self.d_model % self.num_heads:
            raise ValueError(f"VIDConfig.d_model: {self.d_model} is not divisible by num_heads {self.num_heads}")
        if self.d_model % 6:
            raise ValueError(f"VIDConfig.d_model: must be divisible by 6 (3D sinusoidal positions), got {self.d_model}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"VIDConfig.dropout: must be in [0, 1), got {self.dropout}")
        if not float(self.coord_scale) > 0:
            raise ValueError(f"VIDConfig.coord_scale: must be positive, got {self.coord_scale}")
        if len(self.coord_offset) != 3:
            raise ValueError(f"VIDConfig.coord_offset: expected 3 numbers, got {self.coord_offset}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VIDConfig:
        return dataclass_from_dict(cls, data, "VIDConfig")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``[B, dim]`` of (possibly fractional) timesteps ``[B]`` (§3.3)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def _sincos(pos: torch.Tensor, dim: int) -> torch.Tensor:
    return timestep_embedding(pos, dim, max_period=1000.0)


def positions_3d(f: int, g_h: int, g_w: int, dim: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal (frame, row, column) positions ``[f·g_h·g_w, dim]``, a third of ``dim`` each."""
    ff, hh, ww = torch.meshgrid(
        torch.arange(f, device=device), torch.arange(g_h, device=device), torch.arange(g_w, device=device),
        indexing="ij",
    )
    d = dim // 3
    return torch.cat([_sincos(x.reshape(-1), d) for x in (ff, hh, ww)], dim=-1)


class _ConvStream(nn.Module):
    """One stream of the multi-scale 3D conv encoder: stage s maps to ``conv_channels[s]``."""

    def __init__(self, in_ch: int, channels: list[int]) -> None:
        super().__init__()
        stages = []
        prev = in_ch
        for i, ch in enumerate(channels):
            stride = (1, 1, 1) if i == 0 else (1, 2, 2)
            stages.append(nn.Sequential(
                nn.Conv3d(prev, ch, kernel_size=3, stride=stride, padding=1),
                nn.GroupNorm(min(8, ch) if ch % min(8, ch) == 0 else 1, ch),
                nn.SiLU(),
                nn.Conv3d(ch, ch, kernel_size=3, padding=1),
                nn.SiLU(),
            ))
            prev = ch
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class VisualEncoder(nn.Module):
    """Dual-stream multi-scale 3D conv encoder + fusion → visual memory tokens (§3.4)."""

    def __init__(self, cfg: VIDConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.video_stream = _ConvStream(cfg.latent_channels, cfg.conv_channels)
        self.motion_stream = _ConvStream(cfg.latent_channels, cfg.conv_channels)
        self.fuse = nn.ModuleList(nn.Conv3d(2 * c, c, kernel_size=1) for c in cfg.conv_channels)
        self.proj = nn.ModuleList(nn.Linear(c, cfg.d_model) for c in cfg.conv_channels)
        self.scale_embed = nn.Parameter(torch.zeros(len(cfg.conv_channels), cfg.d_model))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, video_latents: torch.Tensor, motion_latents: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, F, C, h, w]`` (CogVideoX layout) → memory ``[B, S, d_model]``."""
        v = video_latents.permute(0, 2, 1, 3, 4)  # [B, C, F, h, w] for Conv3d
        m = motion_latents.permute(0, 2, 1, 3, 4)
        tokens = []
        for s, (fv, fm) in enumerate(zip(self.video_stream(v), self.motion_stream(m))):
            fused = self.fuse[s](torch.cat([fv, fm], dim=1))  # [B, c, F, h_s, w_s]
            f = fused.shape[2]
            g_h, g_w = min(self.cfg.token_grid[s], fused.shape[3]), min(self.cfg.token_grid[s], fused.shape[4])
            pooled = F.adaptive_avg_pool3d(fused, (f, g_h, g_w))
            tok = self.proj[s](pooled.flatten(2).transpose(1, 2))  # [B, f·g·g, d]
            pos = positions_3d(f, g_h, g_w, self.cfg.d_model, tok.device).to(tok.dtype)
            tokens.append(tok + pos + self.scale_embed[s].to(tok.dtype))
        return self.norm(torch.cat(tokens, dim=1))


class _DenoiserLayer(nn.Module):
    """Pre-norm transformer layer: self-attention, cross-attention to the visual memory, FFN."""

    def __init__(self, d: int, heads: int, ff_mult: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d, ff_mult * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_mult * d, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.drop(self.self_attn(h, h, h, need_weights=False)[0])
        h = self.norm2(x)
        x = x + self.drop(self.cross_attn(h, memory, memory, need_weights=False)[0])
        return x + self.drop(self.ff(self.norm3(x)))


class VID(ModelMixin, ConfigMixin):
    """M_φ of Eq. 6: x₀ prediction of (h, o) from (h_t, o_t), (z_tⱽ, z_tᴹ) and t.

    A diffusers component (``ModelMixin`` + ``ConfigMixin``): ``save_pretrained`` /
    ``from_pretrained`` with ``config.json`` holding the :class:`VIDConfig` fields. Build it from a
    config (``VID(cfg)``) or from the same fields as keyword arguments (``None``: the
    :class:`VIDConfig` default). ``self.cfg`` is the validated :class:`VIDConfig`.
    """

    @accepts_config_dataclass(VIDConfig)
    @register_to_config
    def __init__(
        self,
        num_joints: int = VIDConfig.num_joints,
        num_object_points: int = VIDConfig.num_object_points,
        num_frames: int = VIDConfig.num_frames,
        latent_channels: int = VIDConfig.latent_channels,
        conv_channels: list[int] | None = None,
        token_grid: list[int] | None = None,
        d_model: int = VIDConfig.d_model,
        num_layers: int = VIDConfig.num_layers,
        num_heads: int = VIDConfig.num_heads,
        ff_mult: int = VIDConfig.ff_mult,
        dropout: float = VIDConfig.dropout,
        time_embed_dim: int = VIDConfig.time_embed_dim,
        coord_scale: float = VIDConfig.coord_scale,
        coord_offset: list[float] | None = None,
        gradient_checkpointing: bool = VIDConfig.gradient_checkpointing,
    ) -> None:
        super().__init__()
        # register_to_config has recorded every argument; validate them once (None -> the default)
        # and record the normalised values (lists of int / float), which is what config.json holds.
        given = {f.name: self.config[f.name] for f in dataclasses.fields(VIDConfig)}
        cfg = VIDConfig(**{k: v for k, v in given.items() if v is not None})
        self.register_to_config(**asdict(cfg))
        self.cfg = cfg
        d = cfg.d_model
        self.encoder = VisualEncoder(cfg)
        self.hand_in = nn.Linear(cfg.num_joints * 3, d)
        self.obj_in = nn.Linear(cfg.num_object_points * 3, d)
        self.type_embed = nn.Parameter(torch.zeros(2, d))  # hand token, object token
        self.time_mlp = nn.Sequential(nn.Linear(cfg.time_embed_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.layers = nn.ModuleList(
            _DenoiserLayer(d, cfg.num_heads, cfg.ff_mult, cfg.dropout) for _ in range(cfg.num_layers)
        )
        self.norm_out = nn.LayerNorm(d)
        self.hand_out = nn.Linear(d, cfg.num_joints * 3)
        self.obj_out = nn.Linear(d, cfg.num_object_points * 3)
        # Not named coord_offset: diffusers resolves a config key before a buffer of the same name.
        self.register_buffer("offset", torch.tensor(cfg.coord_offset, dtype=torch.float32), persistent=False)
        self.gradient_checkpointing = cfg.gradient_checkpointing

    # ------------------------------------------------------------------ normalisation
    def to_diffusion(self, points: torch.Tensor) -> torch.Tensor:
        """Metres → diffusion space, ``(p − offset) / scale`` (any ``[..., 3]``)."""
        return (points - self.offset.to(points)) / self.cfg.coord_scale

    def from_diffusion(self, x: torch.Tensor) -> torch.Tensor:
        """Diffusion space → metres (inverse of :meth:`to_diffusion`)."""
        return x * self.cfg.coord_scale + self.offset.to(x)

    # ------------------------------------------------------------------ forward
    def _check(self, hand_t: torch.Tensor, obj_t: torch.Tensor, vl: torch.Tensor, ml: torch.Tensor) -> None:
        c = self.cfg
        b, t = hand_t.shape[:2]
        if hand_t.ndim != 4 or hand_t.shape[2:] != (c.num_joints, 3):
            raise ValueError(f"hand_t: expected [B, T, {c.num_joints}, 3], got {tuple(hand_t.shape)}")
        if obj_t.shape != (b, t, c.num_object_points, 3):
            raise ValueError(f"obj_t: expected [{b}, {t}, {c.num_object_points}, 3], got {tuple(obj_t.shape)}")
        for name, z in (("video_latents", vl), ("motion_latents", ml)):
            if z.ndim != 5 or z.shape[0] != b or z.shape[2] != c.latent_channels:
                raise ValueError(f"{name}: expected [{b}, F, {c.latent_channels}, h, w], got {tuple(z.shape)}")
        if vl.shape != ml.shape:
            raise ValueError(f"motion_latents: shape {tuple(ml.shape)} differs from video_latents {tuple(vl.shape)}")

    def forward(
        self,
        hand_t: torch.Tensor,
        obj_t: torch.Tensor,
        video_latents: torch.Tensor,
        motion_latents: torch.Tensor,
        timestep: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 6. ``hand_t [B,T,J,3]``, ``obj_t [B,T,K,3]`` (diffusion space), latents ``[B,F,C,h,w]``,
        ``timestep [B]`` → ``(hand_x0 [B,T,J,3], obj_x0 [B,T,K,3])``."""
        self._check(hand_t, obj_t, video_latents, motion_latents)
        b, t = hand_t.shape[:2]
        timestep = timestep.reshape(-1).expand(b) if timestep.numel() == 1 else timestep.reshape(b)
        memory = self.encoder(video_latents, motion_latents)
        dtype = memory.dtype
        temb = self.time_mlp(timestep_embedding(timestep, self.cfg.time_embed_dim).to(dtype))  # [B, d]
        hand_tok = self.hand_in(hand_t.reshape(b, t, -1).to(dtype)) + self.type_embed[0]
        obj_tok = self.obj_in(obj_t.reshape(b, t, -1).to(dtype)) + self.type_embed[1]
        pos = _sincos(torch.arange(t, device=hand_t.device), self.cfg.d_model).to(dtype)  # frame index
        x = torch.cat([hand_tok + pos, obj_tok + pos], dim=1) + temb[:, None]  # [B, 2T, d]
        for layer in self.layers:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x = checkpoint(layer, x, memory, use_reentrant=False)
            else:
                x = layer(x, memory)
        x = self.norm_out(x)
        hand_x0 = self.hand_out(x[:, :t]).reshape(b, t, self.cfg.num_joints, 3)
        obj_x0 = self.obj_out(x[:, t:]).reshape(b, t, self.cfg.num_object_points, 3)
        return hand_x0, obj_x0
