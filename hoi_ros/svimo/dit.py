"""The SViMo network G_θ (§3.3, Eq. 4–5): a CogVideoX DiT extended to joint video + motion denoising.

Three token streams enter one transformer: text (T5 features through a linear projection), video
(noisy video latent ⊕ reference-image latent along channels, patchified by a 2D stride
convolution) and motion (noisy rendered-motion latent ⊕ the VID interaction-guidance latent
z̃₀ᴹ, patchified the same way). Every block (:class:`SViMoBlock`) modulates each modality with its
own scale/shift/gate pairs computed from the timestep embedding, runs one joint 3D full attention
over ``[text; video; motion]`` (CogVideoX's 3D rotary embedding on the video and motion tokens) and
a shared feed-forward, as CogVideoX's block computes them (pre-norm residuals: Eq. 4 as printed adds
the residuals to the modulated f′/f″ and feeds FFD the un-normalised f′; we read that as notation for
CogVideoX's block, which the pretrained weights need). Two output heads reconstruct the video and
motion latents.

Built on diffusers' CogVideoX components (``CogVideoXBlock``, ``CogVideoXPatchEmbed``,
``CogVideoXLayerNormZero``, ``AdaLayerNorm``, ``get_3d_rotary_pos_embed``) with the same parameter
names, so a CogVideoX-5B-I2V checkpoint loads into the video stream unchanged (see
:mod:`hoi_ros.svimo.weights`).

Prediction target: Eq. 2 trains x₀-prediction. Pretrained CogVideoX-5B-I2V is a v-prediction
model (zero-terminal-SNR betas, trailing spacing), so with ``prediction_type: v_prediction`` the
network's raw output is read as v and turned into x₀ with :func:`x0_from_output`
(x₀ = √ᾱₜ·zₜ − √(1−ᾱₜ)·v); Eq. 2/5 are then applied to that x₀. ``prediction_type: sample``
reads the output as x₀ directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import (
    CogVideoXPatchEmbed,
    TimestepEmbedding,
    Timesteps,
    get_3d_rotary_pos_embed,
)
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.normalization import AdaLayerNorm
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock
from torch import nn
from torch.utils.checkpoint import checkpoint

from hoi_ros.diffusion.cogvideox_rope import resize_crop_region
from hoi_ros.diffusion.components import accepts_config_dataclass
from hoi_ros.diffusion.params import count_parameters  # noqa: F401  (re-exported)

PREDICTION_TYPES = ("v_prediction", "sample")
MOTION_MODULATION = ("all", "even")
IMAGE_LATENT_LAYOUTS = ("repeat", "first_frame")


@dataclass
class DiTConfig:
    """Sizes of G_θ. Defaults are the paper's full model (§4.2, App. C.1): CogVideoX-5B-I2V + motion.

    ``sample_height``/``sample_width``/``sample_frames`` are the *pretrained* base grid (latent
    pixels / video frames) that the learned positional table and the rotary crop are defined for;
    the actual latent grid comes with the input and may differ (the table is then resampled).
    """

    num_layers: int = 42
    num_attention_heads: int = 48
    attention_head_dim: int = 64
    latent_channels: int = 16
    text_embed_dim: int = 4096
    max_text_seq_length: int = 226
    time_embed_dim: int = 512
    patch_size: int = 2
    temporal_compression_ratio: int = 4
    sample_frames: int = 49
    sample_height: int = 60
    sample_width: int = 90
    use_rotary_positional_embeddings: bool = True
    use_learned_positional_embeddings: bool = True
    spatial_interpolation_scale: float = 1.875
    temporal_interpolation_scale: float = 1.0
    flip_sin_to_cos: bool = True
    freq_shift: int = 0
    activation_fn: str = "gelu-approximate"
    timestep_activation_fn: str = "silu"
    attention_bias: bool = True
    norm_eps: float = 1e-5
    dropout: float = 0.0
    # "all": separate motion modulation in every block (the paper's default); "even": only in
    # blocks with an even 0-based index, the others modulate motion with the video parameters
    # (App. C.1 "Only Even Layers").
    motion_modulation: str = "all"
    prediction_type: str = "v_prediction"
    # "repeat": z_I repeated along time (§3.3); "first_frame": z_I then zero latents (the
    # CogVideoX-I2V pipeline layout the pretrained weights saw).
    image_latent_layout: str = "repeat"
    gradient_checkpointing: bool = False
    # Learned positional table (use_learned_positional_embeddings): True adds its first L rows to the L
    # text tokens, as diffusers' CogVideoXPatchEmbed does (CogVideoX-5B-I2V); False (earlier releases,
    # the embedded default) uses only its video rows.
    learned_text_positions: bool = False
    # True: the learned table is a trained parameter (its gradient flows through the resampling to
    # other grids); False: a fixed buffer, as in diffusers' CogVideoX.
    train_positional_table: bool = False

    def __post_init__(self) -> None:
        for name in (
            "num_layers",
            "num_attention_heads",
            "attention_head_dim",
            "latent_channels",
            "text_embed_dim",
            "max_text_seq_length",
            "time_embed_dim",
            "patch_size",
            "temporal_compression_ratio",
            "sample_frames",
            "sample_height",
            "sample_width",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"dit.{name}: must be a positive integer, got {value!r}")
        if self.attention_head_dim % 8 != 0 and self.use_rotary_positional_embeddings:
            raise ValueError(
                f"dit.attention_head_dim: must be a multiple of 8 for the 3D rotary embedding, "
                f"got {self.attention_head_dim}"
            )
        if self.sample_height % self.patch_size or self.sample_width % self.patch_size:
            raise ValueError(
                f"dit.sample_height/sample_width: must be multiples of patch_size={self.patch_size}, "
                f"got {self.sample_height}x{self.sample_width}"
            )
        if self.use_learned_positional_embeddings and not self.use_rotary_positional_embeddings:
            raise ValueError(
                "dit.use_learned_positional_embeddings: CogVideoX only pairs learned positions with rotary "
                "embeddings; set use_rotary_positional_embeddings: true"
            )
        if self.motion_modulation not in MOTION_MODULATION:
            raise ValueError(f"dit.motion_modulation: one of {MOTION_MODULATION}, got {self.motion_modulation!r}")
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"dit.prediction_type: one of {PREDICTION_TYPES}, got {self.prediction_type!r}")
        if self.image_latent_layout not in IMAGE_LATENT_LAYOUTS:
            raise ValueError(
                f"dit.image_latent_layout: one of {IMAGE_LATENT_LAYOUTS}, got {self.image_latent_layout!r}"
            )
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dit.dropout: must be in [0, 1), got {self.dropout}")

    @property
    def inner_dim(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    def has_motion_modulation(self, layer: int) -> bool:
        """Whether block ``layer`` (0-based) has its own motion modulation (App. C.1)."""
        return self.motion_modulation == "all" or layer % 2 == 0

    def num_tokens(self, latent_frames: int, latent_height: int, latent_width: int) -> int:
        """Sequence length of the joint attention: text + video + motion tokens (§4.2: 26590)."""
        per_stream = latent_frames * (latent_height // self.patch_size) * (latent_width // self.patch_size)
        return self.max_text_seq_length + 2 * per_stream


class MotionModulation(nn.Module):
    """Motion-stream adaptive modulation of one sub-layer: (shift, scale, gate) = Linear(SiLU(e_t)).

    The motion counterpart of the video half of ``CogVideoXLayerNormZero`` (Eq. 4, first row); the
    LayerNorm itself is the block's shared one.
    """

    def __init__(self, time_embed_dim: int, dim: int) -> None:
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(time_embed_dim, 3 * dim, bias=True)

    def forward(self, temb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        shift, scale, gate = self.linear(self.silu(temb)).chunk(3, dim=1)
        return shift[:, None, :], scale[:, None, :], gate[:, None, :]


class SViMoBlock(CogVideoXBlock):
    """One DiT block of Eq. 4 over text, video and motion tokens.

    ``norm1``/``attn1``/``norm2``/``ff`` are CogVideoX's (text + video modulation, attention, FF);
    ``motion_norm1``/``motion_norm2`` add the motion modulation (absent in the odd blocks of the
    "only even layers" variant, where motion tokens share the video modulation).
    """

    def __init__(self, cfg: DiTConfig, motion_modulation: bool) -> None:
        super().__init__(
            dim=cfg.inner_dim,
            num_attention_heads=cfg.num_attention_heads,
            attention_head_dim=cfg.attention_head_dim,
            time_embed_dim=cfg.time_embed_dim,
            dropout=cfg.dropout,
            activation_fn=cfg.activation_fn,
            attention_bias=cfg.attention_bias,
            norm_elementwise_affine=True,
            norm_eps=cfg.norm_eps,
        )
        self.motion_norm1: MotionModulation | None = None
        self.motion_norm2: MotionModulation | None = None
        if motion_modulation:
            self.motion_norm1 = MotionModulation(cfg.time_embed_dim, cfg.inner_dim)
            self.motion_norm2 = MotionModulation(cfg.time_embed_dim, cfg.inner_dim)

    @staticmethod
    def _modulate(
        norm: nn.Module,
        motion_mod: MotionModulation | None,
        video: torch.Tensor,
        motion: torch.Tensor,
        text: torch.Tensor,
        temb: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        """LN(f) ⊙ (1 + α) + β per modality; returns normed (video, motion, text) and gates γ."""
        if motion_mod is None:  # motion shares the video modulation
            n_video = video.size(1)
            normed_vm, normed_t, gate_vm, gate_t = norm(torch.cat([video, motion], dim=1), text, temb)
            return normed_vm[:, :n_video], normed_vm[:, n_video:], normed_t, gate_vm, gate_vm, gate_t
        normed_v, normed_t, gate_v, gate_t = norm(video, text, temb)
        shift, scale, gate_m = motion_mod(temb)
        normed_m = norm.norm(motion) * (1 + scale) + shift
        return normed_v, normed_m, normed_t, gate_v, gate_m, gate_t

    def forward(  # type: ignore[override]
        self,
        video: torch.Tensor,
        motion: torch.Tensor,
        text: torch.Tensor,
        temb: torch.Tensor,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        attention_kwargs: dict[str, Any] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eq. 4 for all three modalities; returns updated ``(video, motion, text)`` tokens."""
        n_text, n_video = text.size(1), video.size(1)
        attention_kwargs = attention_kwargs or {}
        # 3D full attention over [text; video; motion] (rotary on video + motion tokens).
        nv, nm, nt, gv, gm, gt = self._modulate(self.norm1, self.motion_norm1, video, motion, text, temb)
        attn_vm, attn_t = self.attn1(
            hidden_states=torch.cat([nv, nm], dim=1),
            encoder_hidden_states=nt,
            image_rotary_emb=image_rotary_emb,
            **attention_kwargs,
        )
        video = video + gv * attn_vm[:, :n_video]
        motion = motion + gm * attn_vm[:, n_video:]
        text = text + gt * attn_t
        # Shared feed-forward over the concatenated, separately modulated tokens.
        nv, nm, nt, gv, gm, gt = self._modulate(self.norm2, self.motion_norm2, video, motion, text, temb)
        ff = self.ff(torch.cat([nt, nv, nm], dim=1))
        text = text + gt * ff[:, :n_text]
        video = video + gv * ff[:, n_text : n_text + n_video]
        motion = motion + gm * ff[:, n_text + n_video :]
        return video, motion, text


def expand_image_latents(image_latents: torch.Tensor, num_frames: int, layout: str) -> torch.Tensor:
    """Lay the reference-image latent ``[B, 1, C, h, w]`` out over ``num_frames`` latent frames.

    ``repeat`` follows §3.3 ("repeat the image feature z_I along the temporal axis");
    ``first_frame`` is the CogVideoX-I2V pipeline layout (z_I, then zeros).
    """
    if image_latents.ndim != 5 or image_latents.size(1) < 1:
        raise ValueError(f"image_latents: expected [B, F>=1, C, h, w], got {tuple(image_latents.shape)}")
    first = image_latents[:, :1]
    if layout == "repeat":
        return first.expand(-1, num_frames, -1, -1, -1).contiguous()
    if layout == "first_frame":
        pad = first.new_zeros(first.size(0), num_frames - 1, *first.shape[2:])
        return torch.cat([first, pad], dim=1)
    raise ValueError(f"image_latent_layout: one of {IMAGE_LATENT_LAYOUTS}, got {layout!r}")


def x0_from_output(
    output: torch.Tensor,
    sample: torch.Tensor,
    timestep: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    prediction_type: str,
) -> torch.Tensor:
    """x₀ estimate (Eq. 2's target) from a network output at noisy ``sample`` zₜ.

    ``v_prediction``: x₀ = √ᾱₜ·zₜ − √(1−ᾱₜ)·v; ``sample``: the output is x₀.
    ``timestep`` is ``[B]`` (long), ``alphas_cumprod`` the scheduler's ᾱ table.
    """
    if prediction_type == "sample":
        return output
    if prediction_type != "v_prediction":
        raise ValueError(f"prediction_type: one of {PREDICTION_TYPES}, got {prediction_type!r}")
    abar = alphas_cumprod.to(device=sample.device, dtype=torch.float32)[timestep.long()]
    shape = (-1,) + (1,) * (sample.ndim - 1)
    a = abar.sqrt().view(shape)
    s = (1.0 - abar).clamp_min(0.0).sqrt().view(shape)
    return (a * sample.float() - s * output.float()).to(output.dtype)


class SViMoTransformer(ModelMixin, ConfigMixin):
    """G_θ of §3.3: ``(ẑ₀ⱽ, ẑ₀ᴹ) = G_θ(zₜⱽ ⊕ z_I, zₜᴹ ⊕ z̃₀ᴹ, P, t)`` (Alg. 1 line 8, Alg. 2 line 6).

    Parameter names mirror ``CogVideoXTransformer3DModel``; the motion stream adds
    ``motion_patch_embed``, ``transformer_blocks.*.motion_norm{1,2}``, ``motion_norm_out`` and
    ``motion_proj_out``.

    A diffusers component (``ModelMixin`` + ``ConfigMixin``): ``save_pretrained(folder)`` writes
    ``config.json`` (the :class:`DiTConfig` fields) and ``diffusion_pytorch_model.safetensors``;
    ``from_pretrained(folder)`` reads them. Build it from a config (``SViMoTransformer(cfg)``) or
    from the same fields as keyword arguments (defaults: :class:`DiTConfig`'s). ``self.config`` is
    diffusers' frozen record of those fields (``dit.config.prediction_type``); ``self.cfg`` is the
    validated :class:`DiTConfig` (with ``inner_dim``, ``has_motion_modulation``, ...).
    """

    @accepts_config_dataclass(DiTConfig)
    @register_to_config
    def __init__(
        self,
        num_layers: int = DiTConfig.num_layers,
        num_attention_heads: int = DiTConfig.num_attention_heads,
        attention_head_dim: int = DiTConfig.attention_head_dim,
        latent_channels: int = DiTConfig.latent_channels,
        text_embed_dim: int = DiTConfig.text_embed_dim,
        max_text_seq_length: int = DiTConfig.max_text_seq_length,
        time_embed_dim: int = DiTConfig.time_embed_dim,
        patch_size: int = DiTConfig.patch_size,
        temporal_compression_ratio: int = DiTConfig.temporal_compression_ratio,
        sample_frames: int = DiTConfig.sample_frames,
        sample_height: int = DiTConfig.sample_height,
        sample_width: int = DiTConfig.sample_width,
        use_rotary_positional_embeddings: bool = DiTConfig.use_rotary_positional_embeddings,
        use_learned_positional_embeddings: bool = DiTConfig.use_learned_positional_embeddings,
        spatial_interpolation_scale: float = DiTConfig.spatial_interpolation_scale,
        temporal_interpolation_scale: float = DiTConfig.temporal_interpolation_scale,
        flip_sin_to_cos: bool = DiTConfig.flip_sin_to_cos,
        freq_shift: int = DiTConfig.freq_shift,
        activation_fn: str = DiTConfig.activation_fn,
        timestep_activation_fn: str = DiTConfig.timestep_activation_fn,
        attention_bias: bool = DiTConfig.attention_bias,
        norm_eps: float = DiTConfig.norm_eps,
        dropout: float = DiTConfig.dropout,
        motion_modulation: str = DiTConfig.motion_modulation,
        prediction_type: str = DiTConfig.prediction_type,
        image_latent_layout: str = DiTConfig.image_latent_layout,
        gradient_checkpointing: bool = DiTConfig.gradient_checkpointing,
        learned_text_positions: bool = DiTConfig.learned_text_positions,
        train_positional_table: bool = DiTConfig.train_positional_table,
    ) -> None:
        super().__init__()
        # register_to_config has recorded every argument (defaults filled in); validate them once.
        cfg = DiTConfig(**{f.name: self.config[f.name] for f in dataclasses.fields(DiTConfig)})
        self.register_to_config(**dataclasses.asdict(cfg))
        self.cfg = cfg
        dim, c, p = cfg.inner_dim, cfg.latent_channels, cfg.patch_size
        # Text projection, video patchify (2C -> d) and the pretrained positional table.
        self.patch_embed = CogVideoXPatchEmbed(
            patch_size=p,
            patch_size_t=None,
            in_channels=2 * c,
            embed_dim=dim,
            text_embed_dim=cfg.text_embed_dim,
            bias=True,
            sample_width=cfg.sample_width,
            sample_height=cfg.sample_height,
            sample_frames=cfg.sample_frames,
            temporal_compression_ratio=cfg.temporal_compression_ratio,
            max_text_seq_length=cfg.max_text_seq_length,
            spatial_interpolation_scale=cfg.spatial_interpolation_scale,
            temporal_interpolation_scale=cfg.temporal_interpolation_scale,
            use_positional_embeddings=not cfg.use_rotary_positional_embeddings,
            use_learned_positional_embeddings=cfg.use_learned_positional_embeddings,
        )
        if cfg.use_learned_positional_embeddings and cfg.train_positional_table:
            table = self.patch_embed._buffers.pop("pos_embedding")  # same name, now a parameter
            # In the weights' dtype: diffusers builds the table in float64, and a parameter's dtype is the module's.
            self.patch_embed.pos_embedding = nn.Parameter(table.detach().to(self.patch_embed.proj.weight.dtype))
        # Motion patchify: the same 2D stride convolution layout as the video stream's.
        self.motion_patch_embed = nn.Conv2d(2 * c, dim, kernel_size=(p, p), stride=p, bias=True)
        self.embedding_dropout = nn.Dropout(cfg.dropout)
        self.time_proj = Timesteps(dim, cfg.flip_sin_to_cos, cfg.freq_shift)
        self.time_embedding = TimestepEmbedding(dim, cfg.time_embed_dim, cfg.timestep_activation_fn)
        self.transformer_blocks = nn.ModuleList(
            [SViMoBlock(cfg, cfg.has_motion_modulation(i)) for i in range(cfg.num_layers)]
        )
        self.norm_final = nn.LayerNorm(dim, cfg.norm_eps, True)
        self.norm_out = AdaLayerNorm(cfg.time_embed_dim, output_dim=2 * dim, norm_elementwise_affine=True,
                                     norm_eps=cfg.norm_eps, chunk_dim=1)
        self.proj_out = nn.Linear(dim, p * p * c)
        self.motion_norm_out = AdaLayerNorm(cfg.time_embed_dim, output_dim=2 * dim, norm_elementwise_affine=True,
                                            norm_eps=cfg.norm_eps, chunk_dim=1)
        self.motion_proj_out = nn.Linear(dim, p * p * c)
        self.gradient_checkpointing = cfg.gradient_checkpointing

    # ------------------------------------------------------------------ embeddings
    def _patchify(self, proj: nn.Module, latents: torch.Tensor) -> torch.Tensor:
        """``[B, F, 2C, h, w]`` -> ``[B, F·(h/p)·(w/p), d]`` (CogVideoXPatchEmbed's 2D layout)."""
        b, f, ch, h, w = latents.shape
        x = proj(latents.reshape(b * f, ch, h, w))
        return x.view(b, f, *x.shape[1:]).flatten(3).transpose(2, 3).flatten(1, 2)

    def positional_embedding(self, frames: int, height: int, width: int) -> torch.Tensor | None:
        """Absolute positions added to video and motion tokens ``[1, N, d]``, or None (rotary only).

        With learned positions (CogVideoX-5B-I2V) the pretrained table, defined on the base grid, is
        resampled trilinearly when the latent grid differs (the paper's 52×78 vs. the base 60×90; ours,
        diffusers refuses other sizes for it); with ``train_positional_table`` the table is a parameter
        and trains through the resampling. Its text rows: :meth:`text_positional_embedding`.
        """
        cfg, pe = self.cfg, self.patch_embed
        p = cfg.patch_size
        gh, gw = height // p, width // p
        if cfg.use_learned_positional_embeddings:
            table = pe.pos_embedding[:, cfg.max_text_seq_length :]
            base_f = (cfg.sample_frames - 1) // cfg.temporal_compression_ratio + 1
            base_h, base_w = cfg.sample_height // p, cfg.sample_width // p
            if (base_f, base_h, base_w) == (frames, gh, gw):
                return table
            grid = table.reshape(1, base_f, base_h, base_w, -1).permute(0, 4, 1, 2, 3)
            grid = F.interpolate(grid.float(), size=(frames, gh, gw), mode="trilinear", align_corners=False)
            return grid.permute(0, 2, 3, 4, 1).reshape(1, frames * gh * gw, -1).to(table.dtype)
        if not cfg.use_rotary_positional_embeddings:  # fixed 3D sin-cos (CogVideoX-2B style)
            pre_frames = (frames - 1) * cfg.temporal_compression_ratio + 1
            table = pe._get_positional_embeddings(height, width, pre_frames, device=pe.proj.weight.device)
            return table[:, cfg.max_text_seq_length :]
        return None

    def text_positional_embedding(self, length: int) -> torch.Tensor | None:
        """The learned table's first ``length`` rows ``[1, length, d]``, added to the text tokens as
        diffusers' CogVideoXPatchEmbed does (``learned_text_positions``), or None."""
        cfg = self.cfg
        if not (cfg.use_learned_positional_embeddings and cfg.learned_text_positions):
            return None
        return self.patch_embed.pos_embedding[:, :length]

    def rotary_embedding(
        self, frames: int, height: int, width: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """CogVideoX's 3D RoPE (cos, sin) for the video tokens, repeated for the aligned motion tokens."""
        cfg = self.cfg
        if not cfg.use_rotary_positional_embeddings:
            return None
        p = cfg.patch_size
        gh, gw = height // p, width // p
        crops = resize_crop_region((gh, gw), cfg.sample_width // p, cfg.sample_height // p)
        cos, sin = get_3d_rotary_pos_embed(
            embed_dim=cfg.attention_head_dim, crops_coords=crops, grid_size=(gh, gw), temporal_size=frames,
            device=device,
        )
        return torch.cat([cos, cos], dim=0), torch.cat([sin, sin], dim=0)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        video_latents: torch.Tensor,
        image_latents: torch.Tensor,
        motion_latents: torch.Tensor,
        guidance_latents: torch.Tensor,
        text_embeds: torch.Tensor,
        timestep: torch.Tensor,
        attention_kwargs: dict[str, Any] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw outputs for the video and motion streams, each ``[B, F, C, h, w]``.

        Args:
            video_latents: zₜⱽ ``[B, F, C, h, w]``.
            image_latents: z_I laid out over F frames (:func:`expand_image_latents`), ``[B, F, C, h, w]``.
            motion_latents: zₜᴹ ``[B, F, C, h, w]``.
            guidance_latents: z̃₀ᴹ from the VID interaction guidance (Eq. 7), ``[B, F, C, h, w]``.
            text_embeds: T5 features ``[B, L, d_text]`` (L ≤ max_text_seq_length).
            timestep: ``[B]`` diffusion step.

        The outputs are v (``prediction_type: v_prediction``) or x₀; use :meth:`predict_x0`.
        """
        cfg = self.cfg
        c, p = cfg.latent_channels, cfg.patch_size
        shapes = {
            "video_latents": video_latents,
            "image_latents": image_latents,
            "motion_latents": motion_latents,
            "guidance_latents": guidance_latents,
        }
        ref = tuple(video_latents.shape)
        for name, tensor in shapes.items():
            if tensor.ndim != 5 or tensor.size(2) != c:
                raise ValueError(f"{name}: expected [B, F, {c}, h, w], got {tuple(tensor.shape)}")
            if tuple(tensor.shape) != ref:
                raise ValueError(f"{name}: shape {tuple(tensor.shape)} differs from video_latents {ref}")
        b, f, _, h, w = ref
        if h % p or w % p:
            raise ValueError(f"video_latents: latent height/width must be multiples of patch_size={p}, got {h}x{w}")
        if text_embeds.ndim != 3 or text_embeds.size(0) != b or text_embeds.size(2) != cfg.text_embed_dim:
            raise ValueError(f"text_embeds: expected [{b}, L, {cfg.text_embed_dim}], got {tuple(text_embeds.shape)}")
        if text_embeds.size(1) > cfg.max_text_seq_length:
            raise ValueError(
                f"text_embeds: {text_embeds.size(1)} tokens exceed max_text_seq_length={cfg.max_text_seq_length}"
            )
        timestep = torch.as_tensor(timestep, device=video_latents.device)
        if timestep.ndim == 0:
            timestep = timestep.expand(b)
        if timestep.shape != (b,):
            raise ValueError(f"timestep: expected shape [{b}], got {tuple(timestep.shape)}")

        # Time embedding e_t (§3.3: sinusoidal + two linear layers).
        dtype = video_latents.dtype
        temb = self.time_embedding(self.time_proj(timestep).to(dtype))
        # Token streams.
        text = self.patch_embed.text_proj(text_embeds)
        text_pos = self.text_positional_embedding(text.size(1))
        if text_pos is not None:
            text = text + text_pos.to(device=text.device, dtype=text.dtype)
        video = self._patchify(self.patch_embed.proj, torch.cat([video_latents, image_latents], dim=2))
        motion = self._patchify(self.motion_patch_embed, torch.cat([motion_latents, guidance_latents], dim=2))
        pos = self.positional_embedding(f, h, w)
        if pos is not None:
            pos = pos.to(device=video.device, dtype=video.dtype)
            video, motion = video + pos, motion + pos
        video, motion, text = (self.embedding_dropout(x) for x in (video, motion, text))
        rotary = self.rotary_embedding(f, h, w, video.device)

        for block in self.transformer_blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                video, motion, text = checkpoint(
                    block, video, motion, text, temb, rotary, attention_kwargs, use_reentrant=False
                )
            else:
                video, motion, text = block(video, motion, text, temb, rotary, attention_kwargs)

        out_v = self.proj_out(self.norm_out(self.norm_final(video), temb=temb))
        out_m = self.motion_proj_out(self.motion_norm_out(self.norm_final(motion), temb=temb))
        return self._unpatchify(out_v, b, f, h, w), self._unpatchify(out_m, b, f, h, w)

    def _unpatchify(self, x: torch.Tensor, b: int, f: int, h: int, w: int) -> torch.Tensor:
        p = self.cfg.patch_size
        x = x.reshape(b, f, h // p, w // p, -1, p, p)
        return x.permute(0, 1, 4, 2, 5, 3, 6).flatten(5, 6).flatten(3, 4)

    def predict_x0(
        self,
        video_latents: torch.Tensor,
        image_latents: torch.Tensor,
        motion_latents: torch.Tensor,
        guidance_latents: torch.Tensor,
        text_embeds: torch.Tensor,
        timestep: torch.Tensor,
        alphas_cumprod: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(ẑ₀ⱽ, ẑ₀ᴹ) of Eq. 2/5, through the v output when the model is v-prediction."""
        out_v, out_m = self(video_latents, image_latents, motion_latents, guidance_latents, text_embeds, timestep)
        t = torch.as_tensor(timestep, device=video_latents.device).expand(video_latents.size(0))
        pt = self.cfg.prediction_type
        return (
            x0_from_output(out_v, video_latents, t, alphas_cumprod, pt),
            x0_from_output(out_m, motion_latents, t, alphas_cumprod, pt),
        )


def build_dit(cfg: DiTConfig, device: torch.device | str | None = None) -> SViMoTransformer:
    """Build G_θ, optionally on ``device`` (``"meta"`` for a free parameter count)."""
    if device is None:
        return SViMoTransformer(cfg)
    with torch.device(device):
        return SViMoTransformer(cfg)


def attention_flops(cfg: DiTConfig, frames: int, height: int, width: int) -> float:
    """Rough forward FLOPs of the transformer blocks at a latent grid (2·MACs; for bench estimates)."""
    n = cfg.num_tokens(frames, height, width)
    d = cfg.inner_dim
    per_block = 2 * n * (4 * d * d + 2 * 4 * d * d) + 2 * 2 * n * n * d  # qkvo + FF(4d) + QK^T and AV
    return float(cfg.num_layers * per_block)
