"""PAM Stage III, motion: CogVideoX image-to-video with a video ControlNet (paper, "Motion Generation").

"Per-frame depth maps, segmentation masks, and keypoint maps are rendered as condition sequences,
VAE-encoded into (T+1)/4 × H/8 × W/8 × 16 latents, concatenated channel-wise, and injected into 12
duplicate DiT blocks of CogVideoX (also initialized with zero-convolution)." diffusers has no
CogVideoX ControlNet; :class:`CogVideoXControlNetModel` is ours:

- its own patch embedding takes the base's input (noisy latent ⊕ first-frame latent, the
  CogVideoX-I2V layout: 32 channels at 5B-I2V) concatenated with the condition latents (3 × 16);
  the base's channels start from the base's projection, the condition channels from zero;
- copies of the first ``num_layers`` base blocks (12 in the paper; all when the base has fewer),
  time embedding and text projection, initialised from the base's weights **by name**
  (:meth:`CogVideoXControlNetModel.from_base`);
- after copy ``i``, a zero-initialised linear projection of its video tokens, added to the hidden
  states of base block ``i`` (:class:`ControlledCogVideoX`), so a fresh ControlNet leaves the
  base's output unchanged exactly.

:class:`ControlledCogVideoX` runs the frozen base ``CogVideoXTransformer3DModel`` through its own
``forward`` (forward hooks add the residuals to the first blocks' outputs), so the base's code
path, gradient checkpointing included, is diffusers' own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from diffusers import CogVideoXTransformer3DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import CogVideoXPatchEmbed, TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock
from torch import nn

from hoi_ros.diffusion.cogvideox_rope import cogvideox_rotary_embedding
from hoi_ros.pam.base_weights import copy_same_named, match_base, quiet_diffusers, same_named
from hoi_ros.pam.conditions import CONDITIONS, apply_condition_keep

PAPER_CONTROLNET_LAYERS = 12

# The base transformer's config keys the ControlNet shares (everything that shapes a copied part).
SHARED_KEYS = (
    "num_attention_heads", "attention_head_dim", "in_channels", "flip_sin_to_cos", "freq_shift", "time_embed_dim",
    "ofs_embed_dim", "text_embed_dim", "dropout", "attention_bias", "sample_width", "sample_height",
    "sample_frames", "patch_size", "patch_size_t", "temporal_compression_ratio", "max_text_seq_length",
    "activation_fn", "timestep_activation_fn", "norm_elementwise_affine", "norm_eps",
    "spatial_interpolation_scale", "temporal_interpolation_scale", "use_rotary_positional_embeddings",
    "use_learned_positional_embeddings", "patch_bias",
)


def zero_linear(dim_in: int, dim_out: int) -> nn.Linear:
    """A linear layer whose weight and bias start at zero (the ControlNet "zero convolution")."""
    layer = nn.Linear(dim_in, dim_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class CogVideoXControlNetModel(ModelMixin, ConfigMixin):
    """Video ControlNet for a CogVideoX transformer; see the module docstring.

    ``forward`` returns one residual per copied block, ``[B, N_video_tokens, inner_dim]``, to be
    added to the output hidden states of the base block with the same index.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        num_layers: int = PAPER_CONTROLNET_LAYERS,
        condition_names: Sequence[str] = CONDITIONS,
        condition_latent_channels: int = 16,
        num_attention_heads: int = 48,
        attention_head_dim: int = 64,
        in_channels: int = 32,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        time_embed_dim: int = 512,
        ofs_embed_dim: int | None = None,
        text_embed_dim: int = 4096,
        dropout: float = 0.0,
        attention_bias: bool = True,
        sample_width: int = 90,
        sample_height: int = 60,
        sample_frames: int = 49,
        patch_size: int = 2,
        patch_size_t: int | None = None,
        temporal_compression_ratio: int = 4,
        max_text_seq_length: int = 226,
        activation_fn: str = "gelu-approximate",
        timestep_activation_fn: str = "silu",
        norm_elementwise_affine: bool = True,
        norm_eps: float = 1e-5,
        spatial_interpolation_scale: float = 1.875,
        temporal_interpolation_scale: float = 1.0,
        use_rotary_positional_embeddings: bool = True,
        use_learned_positional_embeddings: bool = True,
        patch_bias: bool = True,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"controlnet.num_layers: must be >= 1, got {num_layers}")
        if not condition_names or condition_latent_channels < 1:
            raise ValueError("controlnet: needs at least one condition with positive latent channels")
        inner_dim = num_attention_heads * attention_head_dim
        self.condition_channels = len(condition_names) * condition_latent_channels
        self.patch_embed = CogVideoXPatchEmbed(
            patch_size=patch_size, patch_size_t=patch_size_t, in_channels=in_channels + self.condition_channels,
            embed_dim=inner_dim, text_embed_dim=text_embed_dim, bias=patch_bias, sample_width=sample_width,
            sample_height=sample_height, sample_frames=sample_frames,
            temporal_compression_ratio=temporal_compression_ratio, max_text_seq_length=max_text_seq_length,
            spatial_interpolation_scale=spatial_interpolation_scale,
            temporal_interpolation_scale=temporal_interpolation_scale,
            use_positional_embeddings=not use_rotary_positional_embeddings,
            use_learned_positional_embeddings=use_learned_positional_embeddings,
        )
        self.embedding_dropout = nn.Dropout(dropout)
        self.time_proj = Timesteps(inner_dim, flip_sin_to_cos, freq_shift)
        self.time_embedding = TimestepEmbedding(inner_dim, time_embed_dim, timestep_activation_fn)
        self.ofs_proj: Timesteps | None = None
        self.ofs_embedding: TimestepEmbedding | None = None
        if ofs_embed_dim:
            self.ofs_proj = Timesteps(ofs_embed_dim, flip_sin_to_cos, freq_shift)
            self.ofs_embedding = TimestepEmbedding(ofs_embed_dim, ofs_embed_dim, timestep_activation_fn)
        self.transformer_blocks = nn.ModuleList([
            CogVideoXBlock(
                dim=inner_dim, num_attention_heads=num_attention_heads, attention_head_dim=attention_head_dim,
                time_embed_dim=time_embed_dim, dropout=dropout, activation_fn=activation_fn,
                attention_bias=attention_bias, norm_elementwise_affine=norm_elementwise_affine, norm_eps=norm_eps,
            )
            for _ in range(num_layers)
        ])
        self.controlnet_blocks = nn.ModuleList([zero_linear(inner_dim, inner_dim) for _ in range(num_layers)])
        self.zero_condition_input()
        self.gradient_checkpointing = False

    @torch.no_grad()
    def zero_condition_input(self) -> None:
        """Zero the patch embedding's weights on the condition channels (the input "zero convolution")."""
        proj = self.patch_embed.proj
        base_in = int(self.config.in_channels)
        if isinstance(proj, nn.Conv2d):
            proj.weight[:, base_in:].zero_()
        else:  # CogVideoX 1.5: Linear over (C · p_t · p · p) patch features, channel-last
            p, p_t = int(self.config.patch_size), int(self.config.patch_size_t)
            w = proj.weight.view(proj.weight.shape[0], p_t, p, p, -1)
            w[..., base_in:].zero_()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_base(cls, base: CogVideoXTransformer3DModel, num_layers: int = PAPER_CONTROLNET_LAYERS,
                  condition_names: Sequence[str] = CONDITIONS, condition_latent_channels: int | None = None,
                  load_weights_from_base: bool = True) -> CogVideoXControlNetModel:
        """A ControlNet for ``base``: ``min(num_layers, base blocks)`` copies, initialised by name.

        ``condition_latent_channels`` defaults to the base's output channels (the VAE's).
        """
        bc = dict(base.config)
        kwargs = {k: bc[k] for k in SHARED_KEYS if k in bc}
        latent = int(condition_latent_channels or bc.get("out_channels") or bc["in_channels"])
        # the meta device stays meta (parameter counts, name checks)
        with torch.device(base.device), quiet_diffusers():
            model = cls(num_layers=min(int(num_layers), int(bc["num_layers"])),
                        condition_names=list(condition_names), condition_latent_channels=latent, **kwargs)
        return match_base(model, base, load_weights_from_base)

    def base_key_map(self, base: nn.Module) -> dict[str, str]:
        """ControlNet tensor name → the base tensor it is copied from (every name the base also has)."""
        return same_named(self, base)

    @torch.no_grad()
    def load_from_base(self, base: nn.Module) -> dict[str, str]:
        """Copy every same-named tensor from ``base`` (the patch projection's base channels only; its
        condition channels and the ``controlnet_blocks`` stay zero). Returns the name map used."""
        patch = "patch_embed.proj.weight"
        mapping = copy_same_named(self, base, skip=(patch,))
        self._copy_patch_weight(self.state_dict()[patch], base.state_dict()[patch])
        self.zero_condition_input()
        return {**mapping, patch: patch}

    def _copy_patch_weight(self, target: torch.Tensor, value: torch.Tensor) -> None:
        base_in = int(self.config.in_channels)
        if target.ndim == 4:  # Conv2d [D, C_in, p, p]
            target[:, :base_in].copy_(value)
        else:  # Linear [D, p_t·p·p·C_in], channel-last patches
            p, p_t = int(self.config.patch_size), int(self.config.patch_size_t)
            target.view(target.shape[0], p_t, p, p, -1)[..., :base_in].copy_(value.view(value.shape[0], p_t, p, p, -1))

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        hidden_states: torch.Tensor,
        condition_latents: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        ofs: torch.Tensor | None = None,
        conditioning_scale: float = 1.0,
        attention_kwargs: dict[str, Any] | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """Residuals for the base's first ``num_layers`` blocks.

        ``hidden_states`` is the base's input ``[B, F, in_channels, h, w]`` (noisy ⊕ image latents),
        ``condition_latents`` ``[B, F, K·C, h, w]`` (already masked), ``encoder_hidden_states`` the
        text features ``[B, L, text_embed_dim]``.
        """
        if condition_latents.shape[2] != self.condition_channels:
            raise ValueError(
                f"condition_latents: expected {self.condition_channels} channels, got {condition_latents.shape[2]}"
            )
        t_emb = self.time_proj(timestep).to(dtype=hidden_states.dtype)
        emb = self.time_embedding(t_emb)
        if self.ofs_embedding is not None and self.ofs_proj is not None:
            emb = emb + self.ofs_embedding(self.ofs_proj(ofs).to(dtype=hidden_states.dtype))
        x = torch.cat([hidden_states, condition_latents.to(hidden_states.dtype)], dim=2)
        tokens = self.embedding_dropout(self.patch_embed(encoder_hidden_states, x))
        n_text = encoder_hidden_states.shape[1]
        text, video = tokens[:, :n_text], tokens[:, n_text:]
        residuals = []
        for block, proj in zip(self.transformer_blocks, self.controlnet_blocks):
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                video, text = self._gradient_checkpointing_func(block, video, text, emb, image_rotary_emb,
                                                                attention_kwargs)
            else:
                video, text = block(hidden_states=video, encoder_hidden_states=text, temb=emb,
                                    image_rotary_emb=image_rotary_emb, attention_kwargs=attention_kwargs)
            residuals.append(proj(video) * conditioning_scale)
        return tuple(residuals)


@contextlib.contextmanager
def block_residuals(blocks: nn.ModuleList, residuals: Sequence[torch.Tensor]) -> Iterator[None]:
    """While active, block ``i``'s output hidden states (the first element of its output tuple)
    get ``residuals[i]`` added, for ``i < len(residuals)``."""
    if len(residuals) > len(blocks):
        raise ValueError(f"residuals: {len(residuals)} for {len(blocks)} blocks")
    handles = []
    for block, res in zip(blocks, residuals):
        def hook(_module: nn.Module, _args: Any, output: Any, _res: torch.Tensor = res) -> Any:
            return (output[0] + _res.to(output[0].dtype), *output[1:])

        handles.append(block.register_forward_hook(hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


class ControlledCogVideoX(nn.Module):
    """The frozen base CogVideoX-I2V transformer driven by the (trainable) video ControlNet.

    ``forward`` builds the base input as CogVideoX-I2V does (noisy latents ⊕ first-frame latent
    padded with zero latents, along channels), masks the conditions, runs the ControlNet, then the
    base with the residuals added after its first blocks; it returns the base's raw output (v).
    """

    def __init__(self, base: CogVideoXTransformer3DModel, controlnet: CogVideoXControlNetModel,
                 freeze_base: bool = True) -> None:
        super().__init__()
        self.base, self.controlnet = base, controlnet
        if freeze_base:
            self.base.requires_grad_(False)
        image_channels = int(base.config.in_channels) - int(base.config.out_channels or base.config.in_channels)
        self.image_channels = image_channels  # 16 for I2V; 0 for a text-to-video base

    def rotary_embedding(self, frames: int, height: int, width: int,
                         device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor] | None:
        return cogvideox_rotary_embedding(self.base.config, frames, height, width, device)

    def base_input(self, noisy_latents: torch.Tensor, image_latents: torch.Tensor | None) -> torch.Tensor:
        """``[B, F, C(+C_img), h, w]``: the I2V layout (first-frame latent, then zeros) when the base is I2V."""
        if self.image_channels == 0:
            return noisy_latents
        if image_latents is None:
            raise ValueError("image_latents: the base is image-to-video; give the first frame's latent [B, 1, C, h, w]")
        first = image_latents[:, :1].to(noisy_latents.dtype)
        pad = first.new_zeros(first.shape[0], noisy_latents.shape[1] - 1, *first.shape[2:])
        return torch.cat([noisy_latents, torch.cat([first, pad], dim=1)], dim=2)

    def forward(
        self,
        noisy_latents: torch.Tensor,
        image_latents: torch.Tensor | None,
        condition_latents: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        condition_keep: torch.Tensor | None = None,
        conditioning_scale: float = 1.0,
        ofs: torch.Tensor | None = None,
        use_controlnet: bool = True,
    ) -> torch.Tensor:
        """v-prediction ``[B, F, C, h, w]``; ``condition_keep`` bool ``[B, K]`` masks conditions.
        ``use_controlnet=False`` runs the base alone (its pre-training, the no-ControlNet baseline)."""
        x = self.base_input(noisy_latents, image_latents)
        _, f, _, h, w = x.shape
        rotary = self.rotary_embedding(f, h, w, x.device)
        if not use_controlnet:
            return self.base(hidden_states=x, encoder_hidden_states=encoder_hidden_states, timestep=timestep,
                             ofs=ofs, image_rotary_emb=rotary, return_dict=False)[0]
        cond = condition_latents if condition_keep is None else apply_condition_keep(condition_latents, condition_keep)
        residuals = self.controlnet(x, cond, encoder_hidden_states, timestep, image_rotary_emb=rotary, ofs=ofs,
                                    conditioning_scale=conditioning_scale)
        with block_residuals(self.base.transformer_blocks, residuals):
            return self.base(hidden_states=x, encoder_hidden_states=encoder_hidden_states, timestep=timestep,
                             ofs=ofs, image_rotary_emb=rotary, return_dict=False)[0]


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (works on the meta device)."""
    return sum(p.numel() for p in module.parameters())
