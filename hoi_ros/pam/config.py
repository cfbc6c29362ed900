"""PAM's model configuration: one dataclass tree, read from YAML, for the tiny and the paper scale.

``config/models/pam/paper.yaml`` has the paper's bases (Flux.1-dev for Stage II, CogVideoX-5B-I2V
for Stage III, 480 × 720 × 49 frames); ``tiny_for_tests.yaml`` the same parts at a few thousand
parameters. Either scale builds through the same functions: a base transformer comes from a
**local** diffusers folder (``pretrained``) or, when that is unset, from the ``transformer`` keyword
arguments with seeded random weights; ``device="meta"`` builds shapes only (parameter counts).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from hoi_ros.core.config import dataclass_from_dict
from hoi_ros.diffusion.dtypes import check_dtype_name, torch_dtype
from hoi_ros.diffusion.text import TextEncoderConfig
from hoi_ros.diffusion.vae import VAEConfig
from hoi_ros.pam.base_weights import quiet_diffusers

INJECTIONS = ("first_blocks", "interval")

# CogVideoX-5B-I2V's scheduler_config.json (CogVideoXDDIMScheduler): v-prediction, zero-terminal-SNR.
COGVIDEOX_5B_I2V_SCHEDULER: dict[str, Any] = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    clip_sample=False, set_alpha_to_one=True, steps_offset=0, prediction_type="v_prediction",
    timestep_spacing="trailing", rescale_betas_zero_snr=True, snr_shift_scale=1.0,
)


def _check_probability(value: float, name: str) -> None:
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name}: must be in [0, 1), got {value}")


def _local_folder(path: str, name: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ValueError(f"{name}: {folder} is not a local folder (nothing is downloaded)")
    return folder


@dataclass
class VideoStageConfig:
    """Stage III: the base CogVideoX(-I2V) transformer and the video ControlNet (paper, Motion Generation)."""

    pretrained: str | None = None  # local CogVideoXTransformer3DModel folder, e.g. <CogVideoX-5b-I2V>/transformer
    transformer: dict[str, Any] = field(default_factory=dict)  # its kwargs when ``pretrained`` is unset
    controlnet_layers: int = 12  # copies of the first base blocks (all when the base has fewer)
    condition_latent_channels: int = 16
    condition_mask_p: float = 0.2  # each condition masked with this probability in training
    scheduler: dict[str, Any] = field(default_factory=lambda: dict(COGVIDEOX_5B_I2V_SCHEDULER))
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_dtype_name(self.dtype, "video.dtype")
        _check_probability(self.condition_mask_p, "video.condition_mask_p")
        if self.controlnet_layers < 1 or self.condition_latent_channels < 1:
            raise ValueError("video.controlnet_layers / condition_latent_channels: must be positive")
        if self.scheduler.get("prediction_type", "v_prediction") != "v_prediction":
            raise ValueError("video.scheduler.prediction_type: Stage III is trained with v-prediction")


@dataclass
class ImageStageConfig:
    """Stage II: the base Flux transformer and its ControlNet (paper, Appearance Generation)."""

    pretrained: str | None = None  # local FluxTransformer2DModel folder, e.g. <FLUX.1-dev>/transformer
    transformer: dict[str, Any] = field(default_factory=dict)  # its kwargs when ``pretrained`` is unset
    controlnet_layers: int = 2  # double-stream blocks copied; their residuals go to the first base blocks
    controlnet_single_layers: int = 0
    injection: str = "first_blocks"  # "first_blocks": residual i → base block i; "interval": diffusers' spread
    condition_latent_channels: int = 16
    condition_mask_p: float = 0.0  # the paper masks conditions in Stage III only
    guidance_scale: float = 3.5  # FLUX.1-dev's distilled guidance embedding
    vae_path: str | None = None  # local AutoencoderKL folder (e.g. <FLUX.1-dev>/vae); None: the video VAE
    pooled_text_path: str | None = None  # local folder with CLIP text_encoder/ + tokenizer/; None: mean of T5/MiniLM
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_dtype_name(self.dtype, "image.dtype")
        _check_probability(self.condition_mask_p, "image.condition_mask_p")
        if self.injection not in INJECTIONS:
            raise ValueError(f"image.injection: one of {INJECTIONS}, got {self.injection!r}")
        if self.controlnet_layers < 1 or self.controlnet_single_layers < 0:
            raise ValueError("image.controlnet_layers: must be >= 1 (single layers >= 0)")


@dataclass
class ClipConfig:
    """The video PAM makes: frames (1 + 4k) at ``height × width`` (multiples of 16)."""

    num_frames: int = 49
    height: int = 480
    width: int = 720
    fps: float = 8.0

    def __post_init__(self) -> None:
        if self.num_frames < 1 or (self.num_frames - 1) % 4:
            raise ValueError(f"clip.num_frames: must be 1 + 4k, got {self.num_frames}")
        if self.height % 16 or self.width % 16 or min(self.height, self.width) < 16:
            raise ValueError(f"clip.height/width: multiples of 16, got {self.height}x{self.width}")


@dataclass
class PAMConfig:
    """The whole engine's models: Stage II (image), Stage III (video), VAE, text encoder, clip size."""

    name: str = "pam"
    image: ImageStageConfig = field(default_factory=ImageStageConfig)
    video: VideoStageConfig = field(default_factory=VideoStageConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    default_steps: int = 50  # denoising steps per stage when a request asks for 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PAMConfig:
        d = dict(data or {})
        return cls(
            name=str(d.pop("name", "pam")),
            image=dataclass_from_dict(ImageStageConfig, d.pop("image", None), "image"),
            video=dataclass_from_dict(VideoStageConfig, d.pop("video", None), "video"),
            vae=VAEConfig.from_dict(d.pop("vae", None) or {}),
            text=TextEncoderConfig.from_dict(d.pop("text", None) or {}),
            clip=dataclass_from_dict(ClipConfig, d.pop("clip", None), "clip"),
            default_steps=int(d.pop("default_steps", 50)),
            **_no_extra(d),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> PAMConfig:
        """The config in ``path``; its relative weight paths (``*.pretrained``, ``vae.path``,
        ``image.vae_path``, ``image.pooled_text_path``) are relative to the file's folder."""
        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls.from_dict(resolve_paths(data, Path(path).resolve().parent))


WEIGHT_PATHS = (("image", "pretrained"), ("video", "pretrained"), ("vae", "path"), ("image", "vae_path"),
                ("image", "pooled_text_path"))


def resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """``data`` with each relative path of :data:`WEIGHT_PATHS` made absolute against ``base``."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in dict(data).items()}
    for section, key in WEIGHT_PATHS:
        part = out.get(section)
        if isinstance(part, dict) and part.get(key):
            value = Path(str(part[key])).expanduser()
            part[key] = str(value if value.is_absolute() else (base / value).resolve())
    return out


def _no_extra(d: dict[str, Any]) -> dict[str, Any]:
    if d:
        raise ValueError(f"pam config: unknown field(s) {sorted(d)}")
    return {}


def load_config(path: str | os.PathLike) -> PAMConfig:
    """``PAMConfig.from_yaml``."""
    return PAMConfig.from_yaml(path)


def _build(cls: Any, pretrained: str | None, kwargs: dict[str, Any], seed: int, dtype: str,
           device: torch.device | str | None, name: str) -> Any:
    dt = torch_dtype(dtype)
    if pretrained and str(device) != "meta":
        model = cls.from_pretrained(str(_local_folder(pretrained, f"{name}.pretrained")), local_files_only=True,
                                    use_safetensors=True, torch_dtype=dt)
        return model.to(device) if device is not None else model
    if pretrained:  # meta: the shapes of the local folder's config, no weights read
        kwargs = {k: v for k, v in cls.load_config(str(_local_folder(pretrained, f"{name}.pretrained"))).items()
                  if not k.startswith("_")}
    with torch.random.fork_rng(devices=[]), torch.device(device or "cpu"), quiet_diffusers():
        torch.manual_seed(seed)
        model = cls(**kwargs)
        return model.to(dt) if dt != torch.float32 else model


def build_video_base(cfg: VideoStageConfig, device: torch.device | str | None = None) -> Any:
    """The Stage III base ``CogVideoXTransformer3DModel`` (local weights, or seeded random ones)."""
    from diffusers import CogVideoXTransformer3DModel

    return _build(CogVideoXTransformer3DModel, cfg.pretrained, cfg.transformer, cfg.seed, cfg.dtype, device, "video")


def build_image_base(cfg: ImageStageConfig, device: torch.device | str | None = None) -> Any:
    """The Stage II base ``FluxTransformer2DModel`` (local weights, or seeded random ones)."""
    from diffusers import FluxTransformer2DModel

    return _build(FluxTransformer2DModel, cfg.pretrained, cfg.transformer, cfg.seed, cfg.dtype, device, "image")


def build_video_scheduler(cfg: VideoStageConfig) -> Any:
    """Stage III's noise schedule: ``CogVideoXDDIMScheduler`` with the configured (5B-I2V) settings."""
    from diffusers import CogVideoXDDIMScheduler

    return CogVideoXDDIMScheduler(**cfg.scheduler)
