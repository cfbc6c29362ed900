"""Training a small CogVideoX-style video VAE on sim data (the frozen ``E``/``D`` of SViMo §3.3, §4.2).

SViMo encodes three kinds of frames with one frozen 3D VAE: the HOI video V, the reference image I
and the rendered motion video ``Proj(h, o)`` (Alg. 1 lines 1–2, Eq. 7). The paper uses CogVideoX's
pretrained VAE; none can be downloaded here, so the embedded default trains a small
:class:`diffusers.AutoencoderKLCogVideoX` (the same architecture family: causal 3D convolutions,
spatial ratio ``2^(blocks-1)``, temporal ratio 4) on the **same two kinds of frames** it will
encode: sim RGB clips and the rendered motion videos of their 3D motion.

Objective (per clip, frames in [-1, 1]): L1 reconstruction, with the foreground pixels of motion
videos (anything not black) weighted ``1 + fg_weight`` so that the thin skeleton lines are not
drowned by the black background, + ``kl_weight`` · KL of the posterior (CogVideoX trains its VAE
with a small KL term; no adversarial or perceptual loss here: no pretrained LPIPS weights offline).
Clips are random ``clip_frames`` windows (1 + 4k frames) of the training episodes; the VAE is
causal and fully convolutional in time, so it encodes the full 17-frame videos afterwards.

After training, ``scaling_factor`` = 1 / std of the posterior means over the training clips (the
role of CogVideoX's 1.15258426: unit-variance latents for the diffusion of Eq. 1), written into
the saved ``config.json``. Output: a diffusers folder (``save_pretrained``, safetensors only) that a
model YAML names as ``vae: {path: ...}`` (:class:`hoi_ros.diffusion.vae.VideoVAE`).

Deterministic: one CPU generator (seeded) draws the batches, windows and posterior samples; the
weights are initialised under ``seed``; with a fixed thread count a re-run gives the same bytes.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from hoi_ros.core.config import dataclass_from_dict


@dataclass
class VAETrainConfig:
    """Architecture and optimisation of the small VAE (``vae:`` section of ``config/recipes/svimo_*.yaml``)."""

    block_out_channels: list[int] = field(default_factory=lambda: [16, 32, 32, 32])
    layers_per_block: int = 1
    latent_channels: int = 16
    norm_num_groups: int = 16
    temporal_compression_ratio: int = 4
    steps: int = 600
    batch_size: int = 2
    clip_frames: int = 9  # 1 + 2·r_n·k frames per training clip
    lr: float = 1e-3
    kl_weight: float = 1e-6
    fg_weight: float = 9.0  # motion-video foreground pixels weigh 1 + fg_weight
    motion_fraction: float = 0.5  # share of the batch that are rendered motion videos
    max_grad_norm: float = 1.0
    seed: int = 0
    log_every: int = 10

    def __post_init__(self) -> None:
        chunk = 2 * self.temporal_compression_ratio
        if self.clip_frames < 1 or (self.clip_frames - 1) % chunk:
            raise ValueError(f"vae.clip_frames: must be 1 + {chunk}·k, got {self.clip_frames}")
        for name in ("steps", "batch_size", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"vae.{name}: must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.motion_fraction <= 1.0:
            raise ValueError(f"vae.motion_fraction: must be in [0, 1], got {self.motion_fraction}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> VAETrainConfig:
        return dataclass_from_dict(cls, data, "vae")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VAETrainResult:
    """What :func:`train_vae` returns."""

    folder: Path  # diffusers folder (config.json + diffusion_pytorch_model.safetensors)
    loss_log: Path
    scaling_factor: float
    seconds: float


def build_model(cfg: VAETrainConfig) -> Any:
    """A freshly initialised ``AutoencoderKLCogVideoX`` of ``cfg`` (seeded)."""
    from hoi_ros.diffusion.vae import new_cogvideox_vae

    return new_cogvideox_vae(cfg.block_out_channels, cfg.layers_per_block, cfg.latent_channels,
                             cfg.norm_num_groups, cfg.temporal_compression_ratio, cfg.seed)


def _to_unit(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, T, H, W, 3]`` → float ``[B, 3, T, H, W]`` in [-1, 1]."""
    return (frames.float() / 127.5 - 1.0).permute(0, 4, 1, 2, 3).contiguous()


def vae_loss(model: Any, x: torch.Tensor, is_motion: torch.Tensor, cfg: VAETrainConfig,
             gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Weighted L1 reconstruction + ``kl_weight`` · KL of one batch ``x [B, 3, T, H, W]``."""
    post = model.encode(x).latent_dist
    z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen)
    recon = model.decode(z).sample
    fg = (x.amax(dim=1, keepdim=True) > -0.9).float() * is_motion.view(-1, 1, 1, 1, 1).float()
    weight = 1.0 + cfg.fg_weight * fg
    l1 = ((recon - x).abs() * weight).sum() / (weight.sum() * x.shape[1])
    kl = post.kl().mean()  # summed over the latent elements of a clip, averaged over the batch
    return {"loss": l1 + cfg.kl_weight * kl, "l1": l1, "kl": kl}


@torch.no_grad()
def latent_std(model: Any, clips: torch.Tensor, batch: int = 4) -> float:
    """Std of the posterior means of ``clips`` (uint8 ``[N, T, H, W, 3]``)."""
    total, total_sq, count = 0.0, 0.0, 0
    for i in range(0, len(clips), batch):
        z = model.encode(_to_unit(clips[i : i + batch])).latent_dist.mean.double()
        total += float(z.sum())
        total_sq += float((z * z).sum())
        count += z.numel()
    mean = total / count
    return math.sqrt(max(total_sq / count - mean * mean, 1e-12))


def train_vae(cfg: VAETrainConfig, rgb: torch.Tensor, motion: torch.Tensor, out_dir: str | Path,
              progress: bool = True) -> VAETrainResult:
    """Train the VAE on RGB clips and motion videos (uint8 ``[N, T, H, W, 3]`` each); see the module
    docstring. Writes ``out_dir/vae`` (diffusers folder) and ``out_dir/vae_loss.jsonl``."""
    from tqdm.auto import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if rgb.shape != motion.shape or rgb.ndim != 5:
        raise ValueError(f"clips: RGB {tuple(rgb.shape)} and motion {tuple(motion.shape)} must be [N, T, H, W, 3]")
    if rgb.shape[1] < cfg.clip_frames:
        raise ValueError(f"vae.clip_frames: {cfg.clip_frames} exceeds the {rgb.shape[1]} frames of the clips")
    start = time.time()
    model = build_model(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed)
    log_path = out / "vae_loss.jsonl"
    log_path.write_text("")
    n, t_all = rgb.shape[:2]
    bar = tqdm(total=cfg.steps, desc="vae train", disable=not progress)
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, n, (cfg.batch_size,), generator=gen)
        kind = torch.rand(cfg.batch_size, generator=gen) < cfg.motion_fraction
        t0 = torch.randint(0, t_all - cfg.clip_frames + 1, (cfg.batch_size,), generator=gen)
        clips = torch.stack([(motion if k else rgb)[i, s : s + cfg.clip_frames]
                             for i, k, s in zip(idx.tolist(), kind.tolist(), t0.tolist())])
        losses = vae_loss(model, _to_unit(clips), kind, cfg, gen)
        losses["loss"].backward()
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        last = {k: float(v.detach()) for k, v in losses.items()}
        if not math.isfinite(last["loss"]):
            raise FloatingPointError(f"vae loss is {last['loss']} at step {step}")
        bar.update(1)
        bar.set_postfix(l1=f"{last['l1']:.4f}")
        if step % cfg.log_every == 0 or step == cfg.steps:
            with log_path.open("a") as f:
                f.write(json.dumps({"step": step, **last, "time": time.time()}) + "\n")
    bar.close()
    model.eval()
    sample = torch.cat([rgb[: min(len(rgb), 32)], motion[: min(len(motion), 32)]])
    scaling = 1.0 / latent_std(model, sample)
    model.register_to_config(scaling_factor=float(scaling))
    folder = out / "vae"
    model.save_pretrained(str(folder), safe_serialization=True)
    return VAETrainResult(folder=folder, loss_log=log_path, scaling_factor=float(scaling),
                          seconds=time.time() - start)


@torch.no_grad()
def reconstruction_psnr(vae: Any, clips: torch.Tensor, batch: int = 4) -> float:
    """Mean PSNR (dB, 8-bit) of ``E → D`` reconstructions of uint8 clips ``[N, T, H, W, 3]`` with a
    :class:`hoi_ros.diffusion.vae.VideoVAE`."""
    values = []
    for i in range(0, len(clips), batch):
        x = clips[i : i + batch]
        y = vae.decode(vae.encode(x))
        mse = ((y * 255.0).round() - x.float()).pow(2).mean(dim=(1, 2, 3, 4)).clamp_min(1e-10)
        values.append(10.0 * torch.log10(255.0**2 / mse))
    return float(torch.cat(values).mean())
