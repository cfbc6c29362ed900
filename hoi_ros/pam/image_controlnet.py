"""PAM Stage II, appearance: the first frame from the conditions, Flux + ControlNet (paper, "Appearance
Generation").

"A Flux image diffusion model is fine-tuned with a ControlNet that accepts three condition types —
depth map D₀, segmentation mask S₀, and hand keypoint map K₀ (each H × W × 3). The conditions are
VAE-encoded into H/8 × W/8 × 16 latents, concatenated channel-wise, and injected into the first two
layers of the DiT blocks via zero-convolution initialization. Only the ControlNet parameters are
updated during training."

Built on diffusers' Flux parts:

- :class:`PAMFluxControlNetModel` is a :class:`~diffusers.FluxControlNetModel` (two double-stream
  blocks copied from the base by name, no single-stream blocks) whose zero-initialised input
  projection ``controlnet_x_embedder`` takes the three packed condition latents (3 × 16 channels ×
  2 × 2 packing = 192 features per token) instead of the image's 64; its zero-initialised
  ``controlnet_blocks`` are the output projections.
- :class:`ControlledFlux` runs the frozen base :class:`~diffusers.FluxTransformer2DModel` with the
  ControlNet's residuals. ``injection: first_blocks`` adds residual ``i`` to base block ``i`` only
  (the paper's "first two layers"; zeros elsewhere, so the base's own ``forward`` is used);
  ``interval`` is diffusers' convention (each residual repeated over ``ceil(N / n)`` blocks).
- :func:`flow_matching_loss`: Flux's rectified-flow objective (x_σ = (1 − σ)·x₀ + σ·ε, target
  ε − x₀, σ logit-normal), the "standard denoising objective" for this base.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from diffusers import FluxControlNetModel, FluxTransformer2DModel
from diffusers.configuration_utils import register_to_config
from diffusers.models.controlnets.controlnet import zero_module
from torch import nn

from hoi_ros.pam.base_weights import copy_same_named, match_base, quiet_diffusers, same_named
from hoi_ros.pam.conditions import CONDITIONS, apply_condition_keep

INJECTIONS = ("first_blocks", "interval")
BASE_KEYS = ("patch_size", "in_channels", "attention_head_dim", "num_attention_heads", "joint_attention_dim",
             "pooled_projection_dim", "guidance_embeds", "axes_dims_rope")


def pack_latents(latents: torch.Tensor) -> torch.Tensor:
    """``[B, C, h, w]`` → Flux tokens ``[B, (h/2)(w/2), 4C]`` (2 × 2 patches, channel-major)."""
    b, c, h, w = latents.shape
    if h % 2 or w % 2:
        raise ValueError(f"latents: height and width must be even, got {h}x{w}")
    x = latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack_latents(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`pack_latents` for a ``height × width`` latent."""
    b, _, d = tokens.shape
    x = tokens.view(b, height // 2, width // 2, d // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, d // 4, height, width)


def latent_image_ids(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Flux's positional ids ``[(h/2)(w/2), 3]`` of the image tokens of a ``height × width`` latent."""
    ids = torch.zeros(height // 2, width // 2, 3, device=device)
    ids[..., 1] = torch.arange(height // 2, device=device)[:, None]
    ids[..., 2] = torch.arange(width // 2, device=device)[None, :]
    return ids.reshape(-1, 3)


class PAMFluxControlNetModel(FluxControlNetModel):
    """A Flux ControlNet over PAM's channel-concatenated condition latents (module docstring)."""

    ignore_for_config: ClassVar[list[str]] = ["num_mode", "conditioning_embedding_channels"]

    @register_to_config
    def __init__(
        self,
        patch_size: int = 1,
        in_channels: int = 64,
        num_layers: int = 2,
        num_single_layers: int = 0,
        attention_head_dim: int = 128,
        num_attention_heads: int = 24,
        joint_attention_dim: int = 4096,
        pooled_projection_dim: int = 768,
        guidance_embeds: bool = True,
        axes_dims_rope: Sequence[int] = (16, 56, 56),
        condition_names: Sequence[str] = CONDITIONS,
        condition_latent_channels: int = 16,
    ) -> None:
        super().__init__(
            patch_size=patch_size, in_channels=in_channels, num_layers=num_layers,
            num_single_layers=num_single_layers, attention_head_dim=attention_head_dim,
            num_attention_heads=num_attention_heads, joint_attention_dim=joint_attention_dim,
            pooled_projection_dim=pooled_projection_dim, guidance_embeds=guidance_embeds,
            axes_dims_rope=list(axes_dims_rope),
        )
        self.condition_channels = len(condition_names) * condition_latent_channels
        packed = self.condition_channels * 4 * patch_size * patch_size
        self.controlnet_x_embedder = zero_module(nn.Linear(packed, self.inner_dim))

    @classmethod
    def from_base(cls, base: FluxTransformer2DModel, num_layers: int = 2, num_single_layers: int = 0,
                  condition_names: Sequence[str] = CONDITIONS, condition_latent_channels: int = 16,
                  load_weights_from_base: bool = True) -> PAMFluxControlNetModel:
        """A ControlNet for ``base``: its first ``num_layers`` double-stream blocks (and first
        ``num_single_layers`` single-stream ones), embeddings and text projection copied by name."""
        bc = dict(base.config)
        if num_layers > bc["num_layers"] or num_single_layers > bc["num_single_layers"]:
            raise ValueError(f"controlnet: {num_layers}/{num_single_layers} blocks exceed the base's "
                             f"{bc['num_layers']}/{bc['num_single_layers']}")
        with torch.device(base.device), quiet_diffusers():
            model = cls(num_layers=num_layers, num_single_layers=num_single_layers,
                        condition_names=list(condition_names), condition_latent_channels=condition_latent_channels,
                        **{k: bc[k] for k in BASE_KEYS})
        return match_base(model, base, load_weights_from_base)

    def base_key_map(self, base: nn.Module) -> dict[str, str]:
        """ControlNet tensor name → the base tensor of the same name."""
        return same_named(self, base)

    def load_from_base(self, base: nn.Module) -> dict[str, str]:
        """Copy every same-named tensor of ``base``; the zero projections have no base counterpart."""
        return copy_same_named(self, base)


class ControlledFlux(nn.Module):
    """The frozen base Flux transformer driven by the (trainable) :class:`PAMFluxControlNetModel`.

    Takes latents ``[B, C, h, w]`` and condition latents ``[B, K·C, h, w]``, packs both into Flux
    tokens, runs the ControlNet and the base, and returns the base's prediction ``[B, C, h, w]``
    (the flow velocity ε − x₀).
    """

    def __init__(self, base: FluxTransformer2DModel, controlnet: PAMFluxControlNetModel,
                 injection: str = "first_blocks", freeze_base: bool = True) -> None:
        super().__init__()
        if injection not in INJECTIONS:
            raise ValueError(f"injection: one of {INJECTIONS}, got {injection!r}")
        self.base, self.controlnet, self.injection = base, controlnet, injection
        if freeze_base:
            self.base.requires_grad_(False)

    def block_samples(self, residuals: Sequence[torch.Tensor] | None) -> list[torch.Tensor] | None:
        """The per-block list the base's ``forward`` takes (``first_blocks``: zeros after the copies)."""
        if residuals is None or self.injection == "interval":
            return None if residuals is None else list(residuals)
        n = len(self.base.transformer_blocks)
        zero = torch.zeros_like(residuals[0])
        return list(residuals) + [zero] * (n - len(residuals))

    def forward(
        self,
        latents: torch.Tensor,
        condition_latents: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        pooled_projections: torch.Tensor,
        timestep: torch.Tensor,
        guidance: torch.Tensor | None = None,
        condition_keep: torch.Tensor | None = None,
        conditioning_scale: float = 1.0,
        joint_attention_kwargs: dict[str, Any] | None = None,
        use_controlnet: bool = True,
    ) -> torch.Tensor:
        """``timestep`` is σ ∈ [0, 1] ``[B]`` (Flux scales it by 1000 inside); ``guidance`` the
        distilled guidance scale ``[B]`` (FLUX.1-dev) or None (a base without guidance embedding);
        ``use_controlnet=False`` runs the base alone (its pre-training, the no-ControlNet baseline)."""
        h, w = latents.shape[-2:]
        x = pack_latents(latents)
        img_ids = latent_image_ids(h, w, latents.device).to(latents.dtype)
        txt_ids = torch.zeros(encoder_hidden_states.shape[1], 3, device=latents.device, dtype=latents.dtype)
        if not use_controlnet:
            out = self.base(hidden_states=x, encoder_hidden_states=encoder_hidden_states,
                            pooled_projections=pooled_projections, timestep=timestep, img_ids=img_ids,
                            txt_ids=txt_ids, guidance=guidance, joint_attention_kwargs=joint_attention_kwargs,
                            return_dict=False)[0]
            return unpack_latents(out, h, w)
        cond = condition_latents if condition_keep is None else apply_condition_keep(condition_latents, condition_keep)
        c = pack_latents(cond.to(latents.dtype))
        blocks, singles = self.controlnet(
            hidden_states=x, controlnet_cond=c, conditioning_scale=conditioning_scale,
            encoder_hidden_states=encoder_hidden_states, pooled_projections=pooled_projections, timestep=timestep,
            img_ids=img_ids, txt_ids=txt_ids, guidance=guidance, joint_attention_kwargs=joint_attention_kwargs,
            return_dict=False,
        )
        out = self.base(
            hidden_states=x, encoder_hidden_states=encoder_hidden_states, pooled_projections=pooled_projections,
            timestep=timestep, img_ids=img_ids, txt_ids=txt_ids, guidance=guidance,
            joint_attention_kwargs=joint_attention_kwargs, controlnet_block_samples=self.block_samples(blocks),
            controlnet_single_block_samples=singles, return_dict=False,
        )[0]
        return unpack_latents(out, h, w)


def sample_sigmas(batch_size: int, generator: torch.Generator | None = None, mean: float = 0.0,
                  std: float = 1.0) -> torch.Tensor:
    """Logit-normal σ ``[B]`` (the default density of diffusers' Flux ControlNet training script)."""
    u = torch.randn(batch_size, generator=generator) * std + mean
    return torch.sigmoid(u)


def flow_matching_loss(model: ControlledFlux, latents: torch.Tensor, condition_latents: torch.Tensor,
                       encoder_hidden_states: torch.Tensor, pooled_projections: torch.Tensor,
                       generator: torch.Generator | None = None, guidance_scale: float | None = 3.5,
                       condition_keep: torch.Tensor | None = None, use_controlnet: bool = True) -> torch.Tensor:
    """Rectified-flow loss of Stage II: ‖f(x_σ, σ) − (ε − x₀)‖² with x_σ = (1 − σ)·x₀ + σ·ε
    (``use_controlnet=False``: the base alone, as its pre-training)."""
    b = latents.shape[0]
    sigma = sample_sigmas(b, generator).to(latents.device, latents.dtype)
    noise = torch.randn(latents.shape, generator=generator).to(latents.device, latents.dtype)
    s = sigma.view(b, 1, 1, 1)
    noisy = (1.0 - s) * latents + s * noise
    guidance = None
    if guidance_scale is not None and getattr(model, "module", model).base.config.guidance_embeds:
        guidance = torch.full((b,), float(guidance_scale), device=latents.device, dtype=latents.dtype)
    pred = model(noisy, condition_latents, encoder_hidden_states, pooled_projections, sigma, guidance=guidance,
                 condition_keep=condition_keep, use_controlnet=use_controlnet)
    return (pred.float() - (noise - latents).float()).pow(2).mean()
