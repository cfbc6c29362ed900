"""Joint training of SViMo G_θ and VID M_φ (App. A, Alg. 1; §3.5; §4.2).

``python -m hoi_ros.svimo.train --config config/train/tiny.yaml [--output DIR] [--steps N]``
(``accelerate launch --config_file config/accelerate/ddp_gpu.yaml -m hoi_ros.svimo.train ...`` for
several devices). Two phases:

1. **VID warm-up** (§3.5, §4.2 "we first warm up the VID for 5k steps"): Eq. 6 on the noised
   latents, ``(ĥ₀, ô₀) = M_φ((h_t, o_t), (z_tⱽ, z_tᴹ), t)``, loss ``L_VID`` (App. B.2 Eq. 12 + 13).
2. **Joint closed-loop training** (Alg. 1 lines 4-11): t ~ U{0..999}; Eq. 1 noising of z₀ⱽ, z₀ᴹ,
   h₀, o₀; *interaction guidance* (lines 6-7): VID without gradients on (z_tⱽ, z_tᴹ) →
   ``render_motion_video`` with each sample's camera → frozen VAE → z̃₀ᴹ; G_θ(z_tⱽ ⊕ z_I,
   z_tᴹ ⊕ z̃₀ᴹ, P, t) → (ẑ₀ⱽ, ẑ₀ᴹ) (line 8, x₀ through the v-prediction output); *gradient
   constraint* (line 9): VID on (ẑ₀ⱽ, ẑ₀ᴹ) with gradients into G_θ; ``L = ω₁ L_SViMo + ω₂ L_VID``
   (Eq. 5, 6; ω₁ = 1, ω₂ = 0.05).

The loop flags come from the model config (``SViMoConfig.loop``, Table 3): guidance off → z̃₀ᴹ is
zeros; gradient constraint off → VID still trains on SViMo's outputs, but detached; both off
("w/o VID") → VID is neither warmed up nor trained and ``L = ω₁ L_SViMo``.

The VAE and the text encoder are frozen (§3.3). With ``data.kind: latents`` the video, motion and
image latents and the text features come from an offline cache (``--precompute``), so the text
encoder is never loaded; the VAE is still needed for the guidance path (line 7) when it is on.

Checkpoints (``<output>/checkpoints/step_XXXXXXXX/``) hold only safetensors and JSON, never pickles:
``model.safetensors`` (``dit.*``, ``vid.*``, loadable by :func:`hoi_ros.svimo.weights.load_checkpoint`),
``optimizer.safetensors`` + ``optimizer.json`` (AdamW moments and hyper-parameters),
``rng_rank<r>.safetensors`` + ``rng_rank<r>.json`` (every random state of every rank) and
``trainer.json``. Resuming from one reproduces the uninterrupted run exactly (tested).
The loss log is ``<output>/loss_log.jsonl`` (one JSON object per logged step).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from hoi_ros.core.render import render_motion_video
from hoi_ros.svimo.config import SViMoConfig
from hoi_ros.svimo.data import DataConfig, build_dataset, cameras_of, collate
from hoi_ros.svimo.dit import SViMoTransformer, expand_image_latents, x0_from_output
from hoi_ros.svimo.losses import LossWeights, svimo_loss, total_loss, vid_loss
from hoi_ros.svimo.vid import VID

MIXED_PRECISION = ("no", "bf16", "fp16")


@dataclass
class TrainConfig:
    """One training run (YAML ``config/train/*.yaml``); ``model`` is a ``config/svimo`` YAML path
    (relative paths resolve against the training YAML's folder) or an inline SViMoConfig mapping."""

    model: Any = "../svimo/tiny.yaml"
    data: DataConfig = field(default_factory=DataConfig)
    output_dir: str = "runs/svimo"
    seed: int = 0
    batch_size: int = 1
    warmup_steps: int = 5000  # VID warm-up (§4.2)
    joint_steps: int = 35000  # closed-loop joint training (§4.2: 30k low-res + 5k full-res)
    lr: float = 1e-4
    vid_lr: float | None = None  # default: lr
    weight_decay: float = 0.0
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    adam_eps: float = 1e-8
    max_grad_norm: float = 1.0  # 0 = no clipping
    w_svimo: float = 1.0  # ω₁ (§4.2)
    w_vid: float = 0.05  # ω₂ (§4.2)
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    # I_noised (§3.3): CogVideoX-I2V's image noise, σ = exp(N(mean, std²)) on [-1, 1] pixels.
    image_noise_log_mean: float = -3.0
    image_noise_log_std: float = 0.5
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 10
    num_threads: int = 0  # torch CPU threads per process; 0 = torch's default
    save_rank_weights: bool = False  # every rank writes its final weights (for DDP consistency checks)

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = _dataclass_from(DataConfig, self.data, "data")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision: one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        for name in ("batch_size", "checkpoint_every", "log_every", "keep_checkpoints"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}: must be a positive integer, got {getattr(self, name)!r}")
        for name in ("warmup_steps", "joint_steps", "num_threads"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name}: must be a non-negative integer, got {getattr(self, name)!r}")
        if not float(self.lr) > 0 or (self.vid_lr is not None and not float(self.vid_lr) > 0):
            raise ValueError(f"lr/vid_lr: must be positive, got {self.lr} / {self.vid_lr}")
        if len(self.adam_betas) != 2:
            raise ValueError(f"adam_betas: expected two numbers, got {self.adam_betas}")
        LossWeights(self.w_svimo, self.w_vid)


def _dataclass_from(cls: type, data: dict[str, Any], section: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{section}: unknown field(s) {unknown}")
    return cls(**data)


def load_train_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> tuple[TrainConfig, SViMoConfig]:
    """Read a training YAML (+ overrides of top-level fields) and the model config it names."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"config: {file} does not exist")
    raw = yaml.safe_load(file.read_text()) or {}
    raw.update(overrides or {})
    cfg = _dataclass_from(TrainConfig, raw, "train")
    if isinstance(cfg.model, dict):
        model_cfg = SViMoConfig.from_dict(cfg.model)
    elif isinstance(cfg.model, str):
        model_path = Path(cfg.model)
        if not model_path.is_absolute():
            model_path = (file.parent / model_path).resolve()
        model_cfg = SViMoConfig.from_yaml(model_path)
    else:
        raise ValueError(f"model: expected a config/svimo YAML path or a mapping, got {type(cfg.model).__name__}")
    return cfg, model_cfg


def alphas_cumprod_of(model_cfg: SViMoConfig) -> torch.Tensor:
    """ᾱ of Eq. 1 from the model's schedule (the same diffusers betas SViMo samples with)."""
    from diffusers import DDPMScheduler

    s = model_cfg.sampler
    sched = DDPMScheduler(
        num_train_timesteps=s.num_train_timesteps, beta_start=s.beta_start, beta_end=s.beta_end,
        beta_schedule=s.beta_schedule, rescale_betas_zero_snr=s.rescale_betas_zero_snr,
    )
    return sched.alphas_cumprod.clone().float()


def diffuse(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Eq. 1: ``x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε`` with per-sample ``t [B]``."""
    abar = alphas_cumprod.to(x0.device)[t].view((-1,) + (1,) * (x0.ndim - 1))
    return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise


# ---------------------------------------------------------------------- frozen encoders / latents
class Encoders:
    """The frozen VAE ``E`` and text encoder (loaded only where needed)."""

    def __init__(self, model_cfg: SViMoConfig, need_text: bool, need_vae: bool, device: torch.device) -> None:
        from hoi_ros.svimo.text import build_text_encoder
        from hoi_ros.svimo.vae import build_vae

        self.text = build_text_encoder(model_cfg.text).to(device) if need_text else None
        self.vae = build_vae(model_cfg.vae).to(device) if need_vae else None

    def encode_motion(self, hand: torch.Tensor, obj: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        """``Proj`` + ``E`` (Alg. 1 lines 1-2 / 7): metres → rendered motion video → latents."""
        assert self.vae is not None
        height, width = batch["video"].shape[2:4] if "video" in batch else batch["frame_size"][0].tolist()
        cams = cameras_of(batch, int(height), int(width))
        labels = batch["labels"].numpy()
        frames = np.stack([
            render_motion_video(h.detach().float().cpu().numpy(), o.detach().float().cpu().numpy(), cam, lab)
            for h, o, cam, lab in zip(hand, obj, cams, labels)
        ])
        return self.vae.encode(torch.from_numpy(frames))


def encode_batch(
    batch: dict[str, Any], enc: Encoders, cfg: TrainConfig, gen: torch.Generator
) -> dict[str, torch.Tensor]:
    """Alg. 1 lines 1-2: z₀ⱽ = E(V), z₀ᴹ = E(Proj(h, o)), z_I = E(I_noised) and e_text.

    Precomputed batches (``data.kind: latents``) already carry them.
    """
    if "video_latents" in batch:
        return {k: batch[k] for k in ("video_latents", "motion_latents", "image_latents", "text_embeds")}
    assert enc.vae is not None and enc.text is not None
    video = batch["video"]
    z_v = enc.vae.encode(video)
    z_m = enc.encode_motion(batch["hand"], batch["obj"], batch)
    image = video[:, :1].float() / 255.0 * 2.0 - 1.0  # [B, 1, H, W, 3] in [-1, 1]
    sigma = torch.exp(cfg.image_noise_log_mean + cfg.image_noise_log_std * torch.randn(image.shape[0], generator=gen))
    noise = torch.randn(image.shape, generator=gen)
    noised = ((image + sigma.view(-1, 1, 1, 1, 1) * noise + 1.0) / 2.0).clamp(0.0, 1.0)
    z_i = enc.vae.encode(noised)
    text = enc.text.encode(list(batch["prompt"]))
    return {"video_latents": z_v, "motion_latents": z_m, "image_latents": z_i, "text_embeds": text.cpu()}


# ---------------------------------------------------------------------- the training step
def training_step(
    dit: nn.Module,
    vid: nn.Module,
    vid_plain: VID,
    batch: dict[str, Any],
    latents: dict[str, torch.Tensor],
    enc: Encoders,
    model_cfg: SViMoConfig,
    cfg: TrainConfig,
    alphas_cumprod: torch.Tensor,
    gen: torch.Generator,
    warmup: bool,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """One step of Alg. 1 (``warmup``: Eq. 6 only). ``dit``/``vid`` may be DDP-wrapped; ``vid_plain``
    is the unwrapped VID for the no-grad guidance pass. Returns the losses (``"loss"`` to minimise)."""
    loop = model_cfg.loop
    use_vid = loop.interaction_guidance or loop.gradient_constraint
    z0v = latents["video_latents"].to(device)
    z0m = latents["motion_latents"].to(device)
    h0 = vid_plain.to_diffusion(batch["hand"].to(device))
    o0 = vid_plain.to_diffusion(batch["obj"].to(device))
    b = z0v.shape[0]
    n = alphas_cumprod.numel()
    # Alg. 1 line 4-5 (all random numbers from the run's own generator, for exact resumption).
    t = torch.randint(0, n, (b,), generator=gen)
    eps = [torch.randn(x.shape, generator=gen) for x in (z0v, z0m, h0, o0)]
    t = t.to(device)
    ztv, ztm, ht, ot = (diffuse(x, e.to(device), t, alphas_cumprod) for x, e in zip((z0v, z0m, h0, o0), eps))
    out: dict[str, torch.Tensor] = {}
    if warmup:
        hand, obj = vid(ht, ot, ztv, ztm, t)  # Eq. 6 on (z_tⱽ, z_tᴹ)
        lv = vid_loss(hand.float(), obj.float(), h0, o0)
        out.update(l_vid=lv["vid"], l_hand=lv["hand"], l_obj=lv["object"], loss=lv["vid"])
        return out
    # Lines 6-7: interaction guidance z̃₀ᴹ.
    if loop.interaction_guidance:
        with torch.no_grad():
            hg, og = vid_plain(ht, ot, ztv, ztm, t)
            guidance = enc.encode_motion(vid_plain.from_diffusion(hg.float()), vid_plain.from_diffusion(og.float()),
                                         batch).to(device, z0m.dtype)
    else:
        guidance = torch.zeros_like(z0m)
    # Line 8: G_θ (through the wrapped module so that DDP synchronises its gradients).
    image = expand_image_latents(latents["image_latents"].to(device), z0v.shape[1], model_cfg.dit.image_latent_layout)
    out_v, out_m = dit(ztv, image, ztm, guidance, latents["text_embeds"].to(device), t)
    x0v = x0_from_output(out_v.float(), ztv, t, alphas_cumprod, model_cfg.dit.prediction_type)
    x0m = x0_from_output(out_m.float(), ztm, t, alphas_cumprod, model_cfg.dit.prediction_type)
    ls = svimo_loss(x0v, z0v, x0m, z0m)
    out.update(l_svimo=ls["svimo"], l_video=ls["video"], l_motion=ls["motion"])
    l_vid = None
    if use_vid:
        # Line 9: gradient constraint (detached when the flag is off, so VID still learns).
        vin, min_ = (x0v, x0m) if loop.gradient_constraint else (x0v.detach(), x0m.detach())
        hand, obj = vid(ht, ot, vin, min_, t)
        lv = vid_loss(hand.float(), obj.float(), h0, o0)
        l_vid = lv["vid"]
        out.update(l_vid=l_vid, l_hand=lv["hand"], l_obj=lv["object"])
    out["loss"] = total_loss(ls["svimo"], l_vid, LossWeights(cfg.w_svimo, cfg.w_vid))  # line 10
    return out


# ---------------------------------------------------------------------- checkpoints (no pickle)
def _rng_save(path_stem: Path, gen: torch.Generator) -> None:
    tensors = {"generator": gen.get_state(), "torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    save_file(tensors, str(path_stem.with_suffix(".safetensors")))
    np_state = np.random.get_state()
    py_state = random.getstate()
    meta = {
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    path_stem.with_suffix(".json").write_text(json.dumps(meta))


def _rng_load(path_stem: Path, gen: torch.Generator) -> None:
    with safe_open(str(path_stem.with_suffix(".safetensors")), framework="pt") as f:
        gen.set_state(f.get_tensor("generator"))
        torch.set_rng_state(f.get_tensor("torch_cpu"))
        if torch.cuda.is_available():
            states = [f.get_tensor(k) for k in sorted(k for k in f.keys() if k.startswith("torch_cuda_"))]  # noqa: SIM118
            if states:
                torch.cuda.set_rng_state_all(states)
    meta = json.loads(path_stem.with_suffix(".json").read_text())
    n = meta["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    p = meta["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def _optimizer_save(folder: Path, optimizer: torch.optim.Optimizer) -> None:
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{idx}.{key}"] = value
    save_file(tensors, str(folder / "optimizer.safetensors"))
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    (folder / "optimizer.json").write_text(json.dumps({"param_groups": groups, "scalars": scalars}))


def _optimizer_load(folder: Path, optimizer: torch.optim.Optimizer) -> None:
    meta = json.loads((folder / "optimizer.json").read_text())
    state: dict[int, dict[str, Any]] = {}
    with safe_open(str(folder / "optimizer.safetensors"), framework="pt") as f:
        for name in f.keys():  # noqa: SIM118
            idx, key = name.split(".", 1)
            state.setdefault(int(idx), {})[key] = f.get_tensor(name)
    for name, value in meta["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder of a run, or None."""
    folders = sorted((Path(output_dir) / "checkpoints").glob("step_*"))
    complete = [f for f in folders if (f / "trainer.json").is_file()]
    return complete[-1] if complete else None


# ---------------------------------------------------------------------- the run
def build_models(model_cfg: SViMoConfig, cfg: TrainConfig) -> tuple[SViMoTransformer, VID]:
    """G_θ (from CogVideoX weights when ``pretrained`` is set) and M_φ, seeded by the model config."""
    from hoi_ros.svimo.weights import init_from_cogvideox

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model_cfg.seed)
        dit = SViMoTransformer(model_cfg.dit)
        vid = VID(model_cfg.vid)
    if model_cfg.pretrained:
        init_from_cogvideox(dit, model_cfg.pretrained)
    dit.gradient_checkpointing = cfg.gradient_checkpointing or model_cfg.dit.gradient_checkpointing
    vid.gradient_checkpointing = cfg.gradient_checkpointing or model_cfg.vid.gradient_checkpointing
    return dit, vid


def train(cfg: TrainConfig, model_cfg: SViMoConfig, resume: str | None = "auto", max_steps: int | None = None) -> dict[str, Any]:
    """Run (or continue) training; stops after ``max_steps`` total steps if given. Returns a summary.

    ``resume``: "auto" (the newest checkpoint in ``output_dir`` if any), a checkpoint folder, or None.
    """
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from hoi_ros.svimo.weights import load_checkpoint, save_checkpoint

    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not torch.cuda.is_available())
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    out_dir = Path(cfg.output_dir)
    loop = model_cfg.loop
    use_vid = loop.interaction_guidance or loop.gradient_constraint
    precomputed = cfg.data.kind == "latents"
    if cfg.data.kind == "synthetic":
        d = cfg.data
        if (d.num_frames, d.height, d.width) != (model_cfg.video.num_frames, model_cfg.video.height, model_cfg.video.width):
            raise ValueError(
                f"data: synthetic clips {d.num_frames}x{d.height}x{d.width} differ from the model's video "
                f"{model_cfg.video.num_frames}x{model_cfg.video.height}x{model_cfg.video.width}"
            )

    dataset = build_dataset(cfg.data)
    enc = Encoders(model_cfg, need_text=not precomputed,
                   need_vae=not precomputed or loop.interaction_guidance, device=device)
    alphas_cumprod = alphas_cumprod_of(model_cfg).to(device)
    dit, vid = build_models(model_cfg, cfg)
    dit_lr, vid_lr = float(cfg.lr), float(cfg.vid_lr if cfg.vid_lr is not None else cfg.lr)
    optimizer = torch.optim.AdamW(
        [{"params": list(dit.parameters()), "lr": dit_lr}, {"params": list(vid.parameters()), "lr": vid_lr}],
        betas=tuple(cfg.adam_betas), eps=cfg.adam_eps, weight_decay=cfg.weight_decay, foreach=True,
    )
    # Per-rank generator: batches, timesteps, noise (its state is checkpointed per rank).
    gen = torch.Generator().manual_seed(cfg.seed * 1000003 + rank)
    step = 0
    ckpt = latest_checkpoint(out_dir) if resume == "auto" else (Path(resume) if resume else None)
    if ckpt is not None:
        load_checkpoint(ckpt / "model.safetensors", {"dit": dit, "vid": vid})
        _optimizer_load(ckpt, optimizer)
        rng_stem = ckpt / f"rng_rank{rank}"
        if not rng_stem.with_suffix(".json").is_file():
            raise ValueError(f"resume: {ckpt} has no RNG state for rank {rank} (saved with another world size?)")
        _rng_load(rng_stem, gen)
        step = int(json.loads((ckpt / "trainer.json").read_text())["step"])
    dit, vid, optimizer = accelerator.prepare(dit, vid, optimizer)
    vid_plain: VID = accelerator.unwrap_model(vid)
    dit_plain: SViMoTransformer = accelerator.unwrap_model(dit)

    log_path = out_dir / "loss_log.jsonl"
    if accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "train_config.yaml").write_text(yaml.safe_dump(_to_plain(cfg), sort_keys=False))
        model_cfg.to_yaml(out_dir / "model_config.yaml")
        if log_path.is_file():  # drop entries logged after the checkpoint we resume from
            kept = [ln for ln in log_path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
            log_path.write_text("".join(k + "\n" for k in kept))
    first_phase = cfg.warmup_steps if use_vid else 0  # "w/o VID": there is no VID to warm up
    total = first_phase + cfg.joint_steps
    end = total if max_steps is None else min(total, max_steps)
    bar = tqdm(total=end, initial=step, desc="svimo train", disable=not accelerator.is_local_main_process)
    last: dict[str, float] = {}
    while step < end:
        warmup = step < first_phase
        idx = torch.randint(0, len(dataset), (cfg.batch_size,), generator=gen).tolist()
        batch = collate([dataset[i] for i in idx])
        latents = encode_batch(batch, enc, cfg, gen)
        dit.train()
        vid.train()
        with accelerator.autocast():
            losses = training_step(dit, vid, vid_plain, batch, latents, enc, model_cfg, cfg, alphas_cumprod,
                                   gen, warmup, device)
        accelerator.backward(losses["loss"])
        if cfg.max_grad_norm > 0:
            params = list(vid_plain.parameters()) if warmup else [*dit_plain.parameters(), *vid_plain.parameters()]
            accelerator.clip_grad_norm_([p for p in params if p.grad is not None], cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        last = {k: float(v.detach()) for k, v in losses.items()}
        if not math.isfinite(last["loss"]):
            raise FloatingPointError(f"loss is {last['loss']} at step {step}")
        bar.update(1)
        bar.set_postfix(phase="warmup" if warmup else "joint", loss=f"{last['loss']:.4g}")
        if step % cfg.log_every == 0 or step == end:
            mean = accelerator.reduce(torch.tensor([last["loss"]], device=device), reduction="mean")
            if accelerator.is_main_process:
                entry = {"step": step, "phase": "warmup" if warmup else "joint", "loss_mean_ranks": float(mean),
                         **last, "time": time.time()}
                with log_path.open("a") as f:
                    f.write(json.dumps(entry) + "\n")
        if step % cfg.checkpoint_every == 0 or step == end:
            _save_all(out_dir, step, dit_plain, vid_plain, optimizer, gen, accelerator, cfg, model_cfg,
                      save_checkpoint)
    bar.close()
    if cfg.save_rank_weights:
        save_checkpoint(out_dir / f"final_rank{rank}.safetensors", {"dit": dit_plain, "vid": vid_plain})
    accelerator.wait_for_everyone()
    return {"step": step, "world_size": world, "last": last, "variant": loop.variant}


def _save_all(out_dir: Path, step: int, dit: nn.Module, vid: nn.Module, optimizer: Any, gen: torch.Generator,
              accelerator: Any, cfg: TrainConfig, model_cfg: SViMoConfig, save_checkpoint: Any) -> None:
    """Write checkpoint ``step`` (every rank its RNG state, the main rank the rest), then prune."""
    folder = out_dir / "checkpoints" / f"step_{step:08d}"
    tmp = out_dir / "checkpoints" / f".tmp_step_{step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    _rng_save(tmp / f"rng_rank{accelerator.process_index}", gen)
    if accelerator.is_main_process:
        save_checkpoint(tmp / "model.safetensors", {"dit": dit, "vid": vid},
                        metadata={"trained": "true", "steps": str(step), "variant": model_cfg.loop.variant})
        _optimizer_save(tmp, optimizer)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "trainer.json").write_text(json.dumps({"step": step, "world_size": accelerator.num_processes}))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        done = sorted((out_dir / "checkpoints").glob("step_*"))
        for old in done[: -cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _to_plain(cfg: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


# ---------------------------------------------------------------------- offline latent cache
def precompute(cfg: TrainConfig, model_cfg: SViMoConfig, out: str | os.PathLike) -> Path:
    """Encode every sample once (z₀ⱽ, z₀ᴹ, z_I with one draw of the image noise, e_text) into
    ``<out>/<index>.safetensors`` for ``data.kind: latents`` (frees the text encoder in training)."""
    from tqdm.auto import tqdm

    from hoi_ros.core.io import atomic_path

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    dataset = build_dataset(cfg.data)
    enc = Encoders(model_cfg, need_text=True, need_vae=True, device=torch.device("cpu"))
    gen = torch.Generator().manual_seed(cfg.seed)
    for i in tqdm(range(len(dataset)), desc="precompute latents"):
        sample = dataset[i]
        batch = collate([sample])
        lat = encode_batch(batch, enc, cfg, gen)
        tensors = {k: v[0].contiguous() for k, v in lat.items()}
        for key in ("hand", "obj", "labels", "intrinsics", "extrinsics"):
            tensors[key] = sample[key].contiguous()
        tensors["frame_size"] = torch.tensor(sample["video"].shape[1:3])
        with atomic_path(folder / f"{i:08d}.safetensors") as tmp:
            save_file(tensors, str(tmp), metadata={"prompt": sample["prompt"]})
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train SViMo + VID (Alg. 1).")
    parser.add_argument("--config", required=True, help="training YAML (config/train/*.yaml)")
    parser.add_argument("--output", help="override output_dir")
    parser.add_argument("--steps", type=int, help="stop after this many total steps (resumable)")
    parser.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints")
    parser.add_argument("--resume", help="resume from this checkpoint folder")
    parser.add_argument("--precompute", metavar="DIR", help="write the offline latent cache to DIR and exit")
    args = parser.parse_args(argv)
    overrides = {"output_dir": args.output} if args.output else {}
    cfg, model_cfg = load_train_config(args.config, overrides)
    if args.precompute:
        print(precompute(cfg, model_cfg, args.precompute))
        return 0
    resume = None if args.no_resume else (args.resume or "auto")
    summary = train(cfg, model_cfg, resume=resume, max_steps=args.steps)
    if summary["step"] and int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
