"""``SViMoConfig``: one YAML file describes a whole SViMo model (``config/models/svimo/*.yaml``).

It composes the DiT G_θ (:class:`~hoi_ros.svimo.dit.DiTConfig`), VID M_φ
(:class:`~hoi_ros.svimo.vid.VIDConfig`), the frozen text encoder
(:class:`~hoi_ros.diffusion.text.TextEncoderConfig`) and video VAE
(:class:`~hoi_ros.diffusion.vae.VAEConfig`), the noise schedule + sampler (Eq. 1, 3; Alg. 2), the
closed-loop switches of Table 3 (§3.5, Eq. 7), the output video size, the camera that projects
3D motion into the rendered motion video, and an optional refinement of the generated object points
(``refine``, not in the paper). ``paper.yaml`` is the full model of §4.2, ``tiny.yaml``
the CPU/test model; both go through the same code.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hoi_ros.core.camera import Camera, look_at
from hoi_ros.core.config import dataclass_from_dict
from hoi_ros.diffusion.dtypes import check_dtype_name
from hoi_ros.diffusion.schedulers import SamplerConfig
from hoi_ros.diffusion.text import TextEncoderConfig
from hoi_ros.diffusion.vae import VAEConfig
from hoi_ros.svimo.dit import DiTConfig
from hoi_ros.svimo.vid import VIDConfig

MINILM_DIM = 384  # hidden size of the bundled all-MiniLM-L6-v2 (TextEncoderConfig backend "minilm")


@dataclass
class LoopConfig:
    """The closed loop of §3.5 (Eq. 7); the four combinations are Table 3's ablations.

    ``interaction_guidance``: VID (no grad) on (zₜⱽ, zₜᴹ) → Proj → VAE → z̃₀ᴹ, concatenated to zₜᴹ
    (training and sampling). Off: z̃₀ᴹ is zeros. ``gradient_constraint``: during training the
    VID runs on SViMo's outputs with gradients into SViMo (Eq. 7, row 2; used by ``train.py``).
    At sampling time the 3D motion is always read out by VID on SViMo's outputs (Alg. 2 line 7).
    """

    interaction_guidance: bool = True
    gradient_constraint: bool = True

    @property
    def variant(self) -> str:
        """Table 3 row name."""
        return {
            (True, True): "SViMo w/ VID",
            (True, False): "SViMo w/ Inter. Guid.",
            (False, True): "SViMo w/ Grad. Cons.",
            (False, False): "SViMo w/o VID",
        }[(bool(self.interaction_guidance), bool(self.gradient_constraint))]


@dataclass
class RefineConfig:
    """After Alg. 2, not in the paper (:mod:`hoi_ros.core.contact`): ``object_follows_hand`` turns each
    object part with the palm of the hand touching it (closer than ``contact_distance`` metres) and keeps
    the generated path of its centre; the hand joints are never changed. Off: VID's points as they are."""

    object_follows_hand: bool = False
    contact_distance: float = 0.03

    def __post_init__(self) -> None:
        if not float(self.contact_distance) > 0:
            raise ValueError(f"refine.contact_distance: must be positive, got {self.contact_distance}")


@dataclass
class VideoConfig:
    """Output video: frames, size and rate (§4.1: 49 frames of 416×624 at 8 fps)."""

    num_frames: int = 49
    height: int = 416
    width: int = 624
    fps: float = 8.0

    def __post_init__(self) -> None:
        for name in ("num_frames", "height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"video.{name}: must be a positive integer, got {value!r}")
        if not float(self.fps) > 0:
            raise ValueError(f"video.fps: must be positive, got {self.fps}")


@dataclass
class CameraConfig:
    """The camera of the rendered motion video (``Proj`` of Eq. 7) and of the output sequence.

    The paper projects with each TACO clip's own camera; a generator from a single image has none,
    so it is a config value: a pinhole with vertical field of view ``fov_y_deg`` at ``eye`` looking
    at ``target`` (world metres, z up), image size = the video size.
    """

    fov_y_deg: float = 60.0
    eye: list[float] = field(default_factory=lambda: [0.0, -0.45, 0.45])
    target: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    up: list[float] = field(default_factory=lambda: [0.0, 0.0, 1.0])

    def __post_init__(self) -> None:
        if not 0.0 < float(self.fov_y_deg) < 180.0:
            raise ValueError(f"camera.fov_y_deg: must be in (0, 180), got {self.fov_y_deg}")
        for name in ("eye", "target", "up"):
            value = getattr(self, name)
            if len(value) != 3 or not np.all(np.isfinite(np.asarray(value, dtype=float))):
                raise ValueError(f"camera.{name}: expected 3 finite numbers, got {value!r}")

    def build(self, width: int, height: int) -> Camera:
        return Camera.from_fov(width, height, self.fov_y_deg, look_at(self.eye, self.target, self.up))


@dataclass
class SViMoConfig:
    """Everything that defines a SViMo model and how it samples; see the module docstring."""

    name: str = "svimo"
    dit: DiTConfig = field(default_factory=DiTConfig)
    vid: VIDConfig = field(default_factory=VIDConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    # Local diffusers CogVideoX-5B-I2V transformer folder to initialise G_θ from (weights.py);
    # None: random initialisation (seeded by ``seed``).
    pretrained: str | None = None
    # Trained SViMo weights (a model folder, weights.save_svimo; or a single safetensors file) the generator
    # loads by default (the node's ``checkpoint`` parameter overrides it); None: ``pretrained`` or random weights.
    checkpoint: str | None = None
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_dtype_name(self.dtype, "dtype")
        c = self.dit.latent_channels
        if self.vae.latent_channels != c:
            raise ValueError(f"vae.latent_channels: {self.vae.latent_channels} differs from dit.latent_channels={c}")
        if self.vid.latent_channels != c:
            raise ValueError(f"vid.latent_channels: {self.vid.latent_channels} differs from dit.latent_channels={c}")
        if self.vid.num_frames != self.video.num_frames:
            raise ValueError(
                f"vid.num_frames: {self.vid.num_frames} differs from video.num_frames={self.video.num_frames}"
            )
        if self.vid.num_joints not in (21, 42):
            raise ValueError(f"vid.num_joints: the motion video needs 21 or 42 joints, got {self.vid.num_joints}")
        if self.text.max_length > self.dit.max_text_seq_length:
            raise ValueError(
                f"text.max_length: {self.text.max_length} exceeds "
                f"dit.max_text_seq_length={self.dit.max_text_seq_length}"
            )
        if self.text.backend == "minilm" and self.dit.text_embed_dim != MINILM_DIM:
            raise ValueError(
                f"dit.text_embed_dim: the minilm text encoder gives {MINILM_DIM}-d features, "
                f"got {self.dit.text_embed_dim}"
            )
        spatial = 2 ** (len(self.vae.block_out_channels) - 1) if self.vae.path is None else None
        if spatial is not None:
            step = spatial * self.dit.patch_size
            if self.video.height % step or self.video.width % step:
                raise ValueError(
                    f"video.height/width: must be multiples of VAE ratio x patch size = {step}, "
                    f"got {self.video.height}x{self.video.width}"
                )
            chunk = 2 * self.vae.temporal_compression_ratio
            if self.video.num_frames != 1 and (self.video.num_frames - 1) % chunk:
                raise ValueError(f"video.num_frames: must be 1 + {chunk}·k for the VAE, got {self.video.num_frames}")

    # ------------------------------------------------------------------ YAML
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SViMoConfig:
        if not isinstance(data, dict):
            raise ValueError(f"SViMoConfig: expected a mapping, got {type(data).__name__}")
        sections = {
            "dit": DiTConfig,
            "vid": VIDConfig,
            "text": TextEncoderConfig,
            "vae": VAEConfig,
            "sampler": SamplerConfig,
            "loop": LoopConfig,
            "refine": RefineConfig,
            "video": VideoConfig,
            "camera": CameraConfig,
        }
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"SViMoConfig: unknown section(s) {unknown}")
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k not in sections}
        for key, sub in sections.items():
            kwargs[key] = dataclass_from_dict(sub, data.get(key), key)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> SViMoConfig:
        """Read a YAML config. A top-level ``base: other.yaml`` (relative to this file) is read
        first and this file's sections are merged over it, key by key. A relative file path
        (``checkpoint``, ``pretrained``, ``vae.path``, ``text.path``, ``text.tokenizer_path``) that
        exists relative to the YAML file defining it is made absolute (so a config in
        ``config/models/svimo/`` names shipped weights in ``models/`` the same way in the source tree and
        in an installed ``share/hoi_ros``); other relative paths stay relative to the working folder."""
        return cls.from_dict(read_yaml_with_base(path))

    def to_yaml(self, path: str | os.PathLike) -> Path:
        from hoi_ros.core.io import write_bytes_atomic

        return write_bytes_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False).encode("utf-8"))

    # ------------------------------------------------------------------ derived
    @property
    def latent_grid(self) -> tuple[int, int, int]:
        """(F, h, w) of the configured video, for a VAE built from this config."""
        spatial = 2 ** (len(self.vae.block_out_channels) - 1)
        f = (self.video.num_frames - 1) // self.vae.temporal_compression_ratio + 1
        return f, self.video.height // spatial, self.video.width // spatial


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


_PATH_KEYS = ((None, "checkpoint"), (None, "pretrained"), ("vae", "path"), ("text", "path"),
              ("text", "tokenizer_path"))


def _resolve_paths(data: dict[str, Any], folder: Path) -> None:
    """Make the relative file paths of one YAML mapping absolute where they exist relative to ``folder``."""
    for section, key in _PATH_KEYS:
        holder = data if section is None else data.get(section)
        if not isinstance(holder, dict) or not isinstance(holder.get(key), str):
            continue
        value = Path(holder[key]).expanduser()
        if not value.is_absolute() and (folder / value).exists():
            holder[key] = str((folder / value).resolve())


def read_yaml_with_base(path: str | os.PathLike, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config mapping with its ``base:`` chain resolved (mappings merged recursively)."""
    file = Path(path).resolve()
    if not file.is_file():
        raise ValueError(f"config: {file} does not exist")
    if file in _seen:
        raise ValueError(f"config: base cycle through {file}")
    data = yaml.safe_load(file.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config: {file} is not a mapping")
    _resolve_paths(data, file.parent)
    base = data.pop("base", None)
    if base is None:
        return data
    return _merge(read_yaml_with_base(file.parent / str(base), (*_seen, file)), data)


def load_config(path: str | os.PathLike) -> SViMoConfig:
    """``SViMoConfig.from_yaml``."""
    return SViMoConfig.from_yaml(path)
