"""Joint training of SViMo G_θ and VID M_φ (App. A, Alg. 1; §3.5; §4.2) as a script and an API.

Command line::

    python -m hoi_ros.svimo.train --config config/recipes/svimo_train_tiny_synthetic.yaml [--output DIR] [--steps N]
    accelerate launch --config_file config/accelerate/ddp_gpu.yaml -m hoi_ros.svimo.train --config ...
    python -m hoi_ros.svimo.train --config ... --precompute DIR     # offline latent cache, then exit

API (what a recipe builds on)::

    from hoi_ros.svimo.train import load_train_config, train
    cfg, model_cfg = load_train_config("config/recipes/svimo_train_tiny_synthetic.yaml", {"output_dir": "runs/x"})
    result = train(cfg, model_cfg)            # -> TrainResult(step, final_checkpoint, loss_log, ...)

Two phases in one run: ``warmup_steps`` of VID warm-up (Eq. 6 on noised ground-truth latents),
then ``joint_steps`` of closed-loop joint training (``L = ω₁ L_SViMo + ω₂ L_VID``); the step itself
is :class:`hoi_ros.svimo.train_step.SViMoTrainModule`. The frozen VAE encodes the video, the
rendered motion video ``Proj(h, o)`` and the noised reference image ``I_noised`` (§3.3), the frozen
text encoder the prompt, every step — or once, offline, with ``--precompute`` and
``data.kind: latents`` (our choice for the full model: it keeps T5-XXL and the VAE's video pass out
of the training step; the paper does not say how it fed its encoders; the VAE then only serves the
guidance path). ``init_checkpoint`` starts from a SViMo checkpoint (e.g. an earlier phase's output).

Switches beyond Alg. 1 as written (all off by default; docs/svimo.md): ``loss_weighting``
(CogVideoX's 1/(1−ᾱₜ)), ``svimo_streams`` / ``guidance_source`` (Table 3's video-only rows),
``lora_rank`` (Table 4's LoRA variant, :mod:`hoi_ros.svimo.lora`), ``text_dropout`` (the empty prompt
for a share of the samples, what classifier-free guidance at sampling needs), ``lr_schedule`` (a cosine
decay of the learning rates within each phase, or constant rates whose last ``lr_decay_steps`` joint
steps fall linearly; §4.2 names no schedule).

Distributed: ``accelerate`` wraps the one train module (DDP on CPU/gloo or GPU/NCCL, or DeepSpeed
ZeRO-3 with ``config/accelerate/zero3_paper.yaml``). Every rank draws its own batches and noise from
its own generator; the gradients are averaged, so the ranks' weights stay identical (tested with
two CPU processes on gloo). Under DeepSpeed the final ``model`` folder holds the consolidated
float32 master weights (DeepSpeed's ``zero_to_fp32`` on the last checkpoint), not the bf16 module
weights, so the next stage (``init_checkpoint``) starts from fp32.

Output folder: ``loss_log.jsonl`` (one JSON object per logged step), ``train_config.yaml``,
``model_config.yaml``, ``checkpoints/step_XXXXXXXX/`` (:mod:`hoi_ros.diffusion.checkpointing`; the run
resumes from the newest one, exactly), and ``model/`` at the end: the trained weights as a
diffusers-style folder (:func:`hoi_ros.svimo.weights.save_svimo`) for
:class:`hoi_ros.svimo.pipeline.SViMoGenerator` (``checkpoint=...``) and for ``init_checkpoint``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from hoi_ros.core.config import dataclass_from_dict
from hoi_ros.core.render import render_motion_video
from hoi_ros.data.samples import cameras_of, collate
from hoi_ros.diffusion.checkpointing import (
    latest_checkpoint,
    load_optimizer,
    load_rng,
    save_optimizer,
    save_rng,
    save_state_dict,
)
from hoi_ros.diffusion.training import MIXED_PRECISION, is_deepspeed, make_accelerator
from hoi_ros.svimo.config import SViMoConfig
from hoi_ros.svimo.data import DataConfig, build_dataset
from hoi_ros.svimo.dit import SViMoTransformer
from hoi_ros.svimo.lora import DEFAULT_TARGETS, apply_lora, merged_state_dict
from hoi_ros.svimo.losses import LOSS_WEIGHTINGS, LossWeights
from hoi_ros.svimo.train_step import (
    CONSTRAINT_PATHS,
    GUIDANCE_SOURCES,
    MOTION_NOISE_PATHS,
    SVIMO_STREAMS,
    SViMoTrainModule,
    draw_noise,
)
from hoi_ros.svimo.vid import VID

LR_SCHEDULES = ("constant", "cosine", "stable_decay")


@dataclass
class TrainConfig:
    """One training run (a YAML file such as ``config/recipes/svimo_train_tiny_synthetic.yaml``).

    ``model`` is a ``config/models/svimo`` YAML path (relative paths resolve against the training YAML's
    folder) or an inline :class:`SViMoConfig` mapping. Step counts default to §4.2 (5k VID warm-up;
    35k joint = 30k low-resolution + 5k full-resolution steps).
    """

    model: Any = None
    data: DataConfig = field(default_factory=DataConfig)
    output_dir: str = "runs/svimo"
    seed: int = 0
    batch_size: int = 1
    warmup_steps: int = 5000
    joint_steps: int = 35000
    lr: float = 1e-4
    vid_lr: float | None = None  # default: lr
    weight_decay: float = 0.0
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    adam_eps: float = 1e-8
    # Not in the paper (§4.2 gives no schedule): "constant" (the learning rates as given) or "cosine"
    # (each phase, the VID warm-up and the joint training, decays both rates from their value to
    # lr_min_ratio of it along a half cosine; a function of the global step, so a resumed run needs no state).
    # "stable_decay": constant, then the last lr_decay_steps joint steps fall linearly towards lr_min_ratio
    # (warmup-stable-decay without the warm-up; a run continued from a constant-rate checkpoint taken
    # before the decay starts equals one trained with this schedule from the start).
    lr_schedule: str = "constant"
    lr_min_ratio: float = 0.0
    lr_decay_steps: int = 0
    max_grad_norm: float = 1.0  # 0 = no clipping
    w_svimo: float = 1.0  # ω₁ (§4.2)
    w_vid: float = 0.05  # ω₂ (§4.2)
    # Not in the paper: a per-index MSE on the object points added to L_obj (losses.vid_loss); 0 = Eq. 13
    # as written (order-free Chamfer only). Meant with data.point_order: layered_azimuth.
    w_obj_points: float = 0.0
    mixed_precision: str = "no"  # "bf16" for the full model (§4.2)
    gradient_checkpointing: bool = False
    # I_noised (§3.3): CogVideoX-I2V's image noise, σ = exp(N(mean, std²)) on [-1, 1] pixels.
    image_noise_log_mean: float = -3.0
    image_noise_log_std: float = 0.5
    # Share of VID warm-up samples that see the clean latents z₀ instead of z_t (train_step.StepNoise).
    vid_warmup_clean_fraction: float = 0.0
    # Joint phase, not in the paper (train_step docstring): the VID calls named here ("guidance",
    # "readout") see the motion noised at s ~ U{t..T−1} instead of t. [] = the paper's Alg. 1.
    loop_motion_noise: list[str] = field(default_factory=list)
    # Joint phase, not in the paper (train_step docstring): SViMo's outputs the gradient constraint
    # (Alg. 1 line 9) reaches G_θ through ("video", "motion"; the paper: both), and a linear ramp of its
    # gradient from 0 to 1 over this many joint steps (0 = none, the paper).
    constraint_paths: list[str] = field(default_factory=lambda: list(CONSTRAINT_PATHS))
    constraint_ramp_steps: int = 0
    # Joint phase, not in the paper (train_step docstring): share of samples whose interaction guidance
    # z̃₀ᴹ is zeroed (0 = the paper).
    guidance_dropout: float = 0.0
    # Eq. 5's weighting: "none" (the unweighted x₀ MSE, as Eq. 2/5 write it) or "cogvideox"
    # (1 / (1 − ᾱₜ) per sample, CogVideoX's fine-tuning loss; = MSE on v for a v-prediction DiT).
    loss_weighting: str = "none"
    # Table 3's video-only rows: the Eq. 5 terms that train G_θ ([video]: "VModel", [motion]: the motion
    # model "with only motion loss"), and where z̃₀ᴹ comes from ("ground_truth": "VModel w/ GT Mot. Guid.").
    svimo_streams: list[str] = field(default_factory=lambda: list(SVIMO_STREAMS))
    guidance_source: str = "vid"
    # Table 4's "LoRA Training" (hoi_ros.svimo.lora; needs peft): adapters of this rank on the DiT's
    # pretrained layers named in lora_targets, which are frozen; 0 = full fine-tuning (the paper's default).
    lora_rank: int = 0
    lora_alpha: float | None = None  # default: lora_rank (scale 1)
    lora_targets: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    # Joint phase: share of samples trained with the empty prompt (sampler.negative_prompt) instead of
    # theirs, so that classifier-free guidance (sampler.guidance_scale > 1) has an unconditional model.
    text_dropout: float = 0.0
    init_checkpoint: str | None = None  # trained SViMo weights to start from (model folder or .safetensors)
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 10
    num_threads: int = 0  # torch CPU threads per process; 0 = torch's default
    save_rank_weights: bool = False  # every rank writes its final weights (DDP consistency checks)

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = dataclass_from_dict(DataConfig, self.data, "data")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision: one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        for name in ("batch_size", "checkpoint_every", "log_every", "keep_checkpoints"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}: must be a positive integer, got {getattr(self, name)!r}")
        for name in ("warmup_steps", "joint_steps", "num_threads", "constraint_ramp_steps", "lr_decay_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name}: must be a non-negative integer, got {getattr(self, name)!r}")
        if not 0.0 <= float(self.vid_warmup_clean_fraction) <= 1.0:
            raise ValueError(f"vid_warmup_clean_fraction: must be in [0, 1], got {self.vid_warmup_clean_fraction}")
        if not 0.0 <= float(self.guidance_dropout) < 1.0:
            raise ValueError(f"guidance_dropout: must be in [0, 1), got {self.guidance_dropout}")
        if not 0.0 <= float(self.text_dropout) < 1.0:
            raise ValueError(f"text_dropout: must be in [0, 1), got {self.text_dropout}")
        if self.loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"loss_weighting: one of {list(LOSS_WEIGHTINGS)}, got {self.loss_weighting!r}")
        if not self.svimo_streams or set(self.svimo_streams) - set(SVIMO_STREAMS):
            raise ValueError(f"svimo_streams: a non-empty subset of {list(SVIMO_STREAMS)}, got {self.svimo_streams}")
        if self.guidance_source not in GUIDANCE_SOURCES:
            raise ValueError(f"guidance_source: one of {list(GUIDANCE_SOURCES)}, got {self.guidance_source!r}")
        if not isinstance(self.lora_rank, int) or self.lora_rank < 0:
            raise ValueError(f"lora_rank: must be a non-negative integer, got {self.lora_rank!r}")
        if self.lora_alpha is not None and not float(self.lora_alpha) > 0:
            raise ValueError(f"lora_alpha: must be positive, got {self.lora_alpha}")
        if not float(self.lr) > 0 or (self.vid_lr is not None and not float(self.vid_lr) > 0):
            raise ValueError(f"lr/vid_lr: must be positive, got {self.lr} / {self.vid_lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule: one of {list(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if not 0.0 <= float(self.lr_min_ratio) <= 1.0:
            raise ValueError(f"lr_min_ratio: must be in [0, 1], got {self.lr_min_ratio}")
        if (self.lr_schedule == "stable_decay") != (self.lr_decay_steps > 0) or self.lr_decay_steps > self.joint_steps:
            raise ValueError(f"lr_decay_steps: 1..joint_steps with lr_schedule stable_decay, else 0; got "
                             f"{self.lr_decay_steps} with {self.lr_schedule!r} and joint_steps {self.joint_steps}")
        if len(self.adam_betas) != 2:
            raise ValueError(f"adam_betas: expected two numbers, got {self.adam_betas}")
        LossWeights(self.w_svimo, self.w_vid, self.w_obj_points)
        bad = set(self.loop_motion_noise) - set(MOTION_NOISE_PATHS)
        if bad:
            raise ValueError(f"loop_motion_noise: unknown {sorted(bad)}; choose from {list(MOTION_NOISE_PATHS)}")
        bad = set(self.constraint_paths) - set(CONSTRAINT_PATHS)
        if bad:
            raise ValueError(f"constraint_paths: unknown {sorted(bad)}; choose from {list(CONSTRAINT_PATHS)}")

    def constraint_scale(self, step: int) -> float:
        """λ of the gradient constraint at (0-based, global) ``step``: a linear ramp over the first
        ``constraint_ramp_steps`` joint steps, then 1."""
        if self.constraint_ramp_steps == 0:
            return 1.0
        return min(1.0, (step - self.warmup_steps + 1) / self.constraint_ramp_steps)

    def lr_scale(self, step: int) -> float:
        """Factor on both learning rates for the update at (0-based, global) ``step``: 1 for "constant";
        for "cosine", r + (1 − r)·½(1 + cos πp) with p the share of the step's phase already done; for
        "stable_decay", 1 until the last ``lr_decay_steps`` = N steps, then r + (1 − r)(1 − k/N) at the
        k-th of them (k = 0..N−1)."""
        if self.lr_schedule == "constant":
            return 1.0
        ratio = float(self.lr_min_ratio)
        if self.lr_schedule == "stable_decay":
            into_decay = step - (self.total_steps - self.lr_decay_steps)
            return 1.0 if into_decay < 0 else ratio + (1.0 - ratio) * (1.0 - into_decay / self.lr_decay_steps)
        start, length = (0, self.warmup_steps) if step < self.warmup_steps else (self.warmup_steps, self.joint_steps)
        progress = min(1.0, (step - start) / max(1, length))
        return ratio + (1.0 - ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    @property
    def total_steps(self) -> int:
        return self.warmup_steps + self.joint_steps

    def variant(self, model_cfg: SViMoConfig) -> str:
        """The paper's row this run trains: Table 3's loop variant, a video-only row, or Table 4's LoRA."""
        streams = [s for s in SVIMO_STREAMS if s in self.svimo_streams]
        if streams == ["video"]:
            name = "VModel w/ GT Mot. Guid." if self.guidance_source == "ground_truth" else "VModel"
        elif streams == ["motion"]:
            name = "motion model (only motion loss)"
        else:
            name = model_cfg.loop.variant + (" (GT Mot. Guid.)" if self.guidance_source == "ground_truth" else "")
        return name + (f", LoRA r={self.lora_rank}" if self.lora_rank else "")


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    step: int
    world_size: int
    variant: str  # Table 3 row of the loop switches
    last: dict[str, float]  # the losses of the last step (rank 0)
    output_dir: Path
    loss_log: Path
    final_checkpoint: Path | None  # <output>/model (a save_svimo folder) once all steps are done


def load_train_config(
    path: str | os.PathLike, overrides: dict[str, Any] | None = None
) -> tuple[TrainConfig, SViMoConfig]:
    """Read a training YAML (+ overrides of top-level fields) and the model config it names."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"config: {file} does not exist")
    raw = yaml.safe_load(file.read_text()) or {}
    raw.update(overrides or {})
    cfg = dataclass_from_dict(TrainConfig, raw, "train")
    if isinstance(cfg.model, dict):
        model_cfg = SViMoConfig.from_dict(cfg.model)
    elif isinstance(cfg.model, str):
        model_path = Path(cfg.model)
        if not model_path.is_absolute():
            model_path = (file.parent / model_path).resolve()
        model_cfg = SViMoConfig.from_yaml(model_path)
    else:
        raise ValueError("model: expected a config/models/svimo YAML path or a mapping")
    return cfg, model_cfg


# ---------------------------------------------------------------------- frozen encoders / latents
class Encoders:
    """The frozen VAE ``E`` and text encoder (§3.3), loaded only where needed."""

    def __init__(self, model_cfg: SViMoConfig, need_text: bool, need_vae: bool, device: torch.device) -> None:
        from hoi_ros.diffusion.text import build_text_encoder
        from hoi_ros.diffusion.vae import build_vae

        self.text = build_text_encoder(model_cfg.text).to(device) if need_text else None
        self.vae = build_vae(model_cfg.vae).to(device) if need_vae else None

    def encode_motion(self, hand: torch.Tensor, obj: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        """``Proj`` + ``E`` (Alg. 1 lines 1–2 and 7): metres → rendered motion video (each sample's
        camera) → latents ``[B, F, C, h, w]``."""
        if self.vae is None:
            raise ValueError("encode_motion: no VAE loaded")
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
    """Alg. 1 lines 1–2: z₀ⱽ = E(V), z₀ᴹ = E(Proj(h, o)), z_I = E(I_noised) and the text features.

    Precomputed batches (``data.kind: latents``) already carry them.
    """
    if "video_latents" in batch:
        return {k: batch[k] for k in ("video_latents", "motion_latents", "image_latents", "text_embeds")}
    if enc.vae is None or enc.text is None:
        raise ValueError("encode_batch: raw samples need the VAE and the text encoder")
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


def check_sample(sample: dict[str, Any], model_cfg: SViMoConfig) -> None:
    """ValueError naming the mismatch when a data sample does not fit the model config."""
    v, m = model_cfg.video, model_cfg.vid
    t, j = sample["hand"].shape[:2]
    k = sample["obj"].shape[1]
    if (t, j, k) != (v.num_frames, m.num_joints, m.num_object_points):
        raise ValueError(
            f"data: samples have {t} frames, {j} joints, {k} object points; the model config wants "
            f"video.num_frames={v.num_frames}, vid.num_joints={m.num_joints}, "
            f"vid.num_object_points={m.num_object_points}"
        )
    if "video" in sample and tuple(sample["video"].shape[1:3]) != (v.height, v.width):
        raise ValueError(f"data: frames are {tuple(sample['video'].shape[1:3])}, the model wants {(v.height, v.width)}")


# ---------------------------------------------------------------------- models
def build_models(model_cfg: SViMoConfig, cfg: TrainConfig) -> tuple[SViMoTransformer, VID]:
    """G_θ (from CogVideoX weights when ``pretrained`` is set) and M_φ, seeded by the model config;
    then ``init_checkpoint`` if given."""
    from hoi_ros.svimo.weights import init_from_cogvideox, load_svimo_into

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model_cfg.seed)
        dit = SViMoTransformer(model_cfg.dit)
        vid = VID(model_cfg.vid)
    if cfg.init_checkpoint:
        load_svimo_into(cfg.init_checkpoint, dit, vid)
    elif model_cfg.pretrained:
        init_from_cogvideox(dit, model_cfg.pretrained)
    dit.gradient_checkpointing = cfg.gradient_checkpointing or model_cfg.dit.gradient_checkpointing
    vid.gradient_checkpointing = cfg.gradient_checkpointing or model_cfg.vid.gradient_checkpointing
    if cfg.lora_rank:  # Table 4: adapters on the (pretrained) DiT, which is frozen
        apply_lora(dit, cfg.lora_rank, _lora_alpha(cfg), cfg.lora_targets, seed=model_cfg.seed)
    return dit, vid


def _lora_alpha(cfg: TrainConfig) -> float:
    return float(cfg.lora_alpha if cfg.lora_alpha is not None else cfg.lora_rank)


def final_state_dict(state: dict[str, torch.Tensor], cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """The final weights (the ``model`` folder): LoRA adapters folded in (plain names), else ``state``."""
    return merged_state_dict(state, cfg.lora_rank, _lora_alpha(cfg)) if cfg.lora_rank else state


def consolidated_fp32_state_dict(deepspeed_dir: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The float32 master weights of a DeepSpeed ZeRO checkpoint folder, gathered from every rank's
    partition (DeepSpeed's ``zero_to_fp32``), under the train module's names (``dit.*``, ``vid.*``)."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    state = get_fp32_state_dict_from_zero_checkpoint(str(deepspeed_dir))
    return {k: v.float().contiguous() for k, v in state.items()}


# ---------------------------------------------------------------------- the run
def train(
    cfg: TrainConfig, model_cfg: SViMoConfig, resume: str | None = "auto", max_steps: int | None = None
) -> TrainResult:
    """Run (or continue) training; stop after ``max_steps`` total steps if given.

    ``resume``: "auto" (the newest checkpoint in ``output_dir`` if any), a checkpoint folder, or None.
    """
    from tqdm.auto import tqdm

    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    accelerator = make_accelerator(cfg.mixed_precision, cfg.batch_size)
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    out_dir = Path(cfg.output_dir)
    loop = model_cfg.loop
    precomputed = cfg.data.kind == "latents"

    dataset = build_dataset(cfg.data, model_cfg)
    check_sample(dataset[0], model_cfg)
    enc = Encoders(model_cfg, need_text=not precomputed, need_vae=not precomputed or loop.interaction_guidance,
                   device=device)
    dit, vid = build_models(model_cfg, cfg)
    module = SViMoTrainModule(dit, vid, model_cfg, LossWeights(cfg.w_svimo, cfg.w_vid, cfg.w_obj_points),
                              tuple(cfg.loop_motion_noise), tuple(cfg.constraint_paths),
                              loss_weighting=cfg.loss_weighting, svimo_streams=tuple(cfg.svimo_streams),
                              guidance_source=cfg.guidance_source).to(device)
    vid_lr = float(cfg.vid_lr if cfg.vid_lr is not None else cfg.lr)
    dit_params = [p for p in dit.parameters() if p.requires_grad]  # all of them, unless LoRA froze some
    optimizer = torch.optim.AdamW(
        [{"params": dit_params, "lr": float(cfg.lr)}, {"params": list(vid.parameters()), "lr": vid_lr}],
        betas=tuple(cfg.adam_betas), eps=cfg.adam_eps, weight_decay=cfg.weight_decay, foreach=True,
    )
    base_lrs = [float(group["lr"]) for group in optimizer.param_groups]  # before a checkpoint's (scaled) ones
    # Per-rank generator: batches, image noise, timesteps, ε (checkpointed per rank).
    gen = torch.Generator().manual_seed(cfg.seed * 1000003 + rank)
    step = 0
    ckpt = latest_checkpoint(out_dir) if resume == "auto" else (Path(resume) if resume else None)
    if ckpt is not None:
        from hoi_ros.diffusion.checkpointing import load_checkpoint

        load_checkpoint(ckpt / "model.safetensors", {"dit": dit, "vid": vid})
        if not is_deepspeed(accelerator):
            load_optimizer(ckpt, optimizer)
        rng_stem = ckpt / f"rng_rank{rank}"
        if not rng_stem.with_suffix(".json").is_file():
            raise ValueError(f"resume: {ckpt} has no RNG state for rank {rank} (saved with another world size?)")
        load_rng(rng_stem, gen)
        step = int(json.loads((ckpt / "trainer.json").read_text())["step"])
    model, optimizer = accelerator.prepare(module, optimizer)
    if ckpt is not None and is_deepspeed(accelerator):
        model.load_checkpoint(str(ckpt / "deepspeed"))  # DeepSpeed's own partitioned optimizer state
    plain: SViMoTrainModule = accelerator.unwrap_model(model)
    # Extra draws only where a named VID call exists (w/o VID has no guidance call: its stream is kept).
    used = {"readout"} | ({"guidance"} if loop.interaction_guidance else set())
    motion_noise = bool(set(cfg.loop_motion_noise) & used)
    dropout = float(cfg.guidance_dropout) if loop.interaction_guidance else 0.0  # the same for the dropout mask
    abar_len = int(plain.alphas_cumprod.numel())
    null_text = _null_text(cfg, model_cfg, enc) if cfg.text_dropout > 0 else None

    log_path = out_dir / "loss_log.jsonl"
    if accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "train_config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
        model_cfg.to_yaml(out_dir / "model_config.yaml")
        if log_path.is_file():  # drop entries logged after the checkpoint we resume from
            kept = [ln for ln in log_path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
            log_path.write_text("".join(k + "\n" for k in kept))
    accelerator.wait_for_everyone()
    end = cfg.total_steps if max_steps is None else min(cfg.total_steps, max_steps)
    bar = tqdm(total=end, initial=step, desc="svimo train", disable=not accelerator.is_local_main_process)
    last: dict[str, float] = {}
    while step < end:
        warmup = step < cfg.warmup_steps
        idx = torch.randint(0, len(dataset), (cfg.batch_size,), generator=gen).tolist()
        batch = collate([dataset[i] for i in idx])
        latents = encode_batch(batch, enc, cfg, gen)
        noise = draw_noise(gen, abar_len, latents["video_latents"].shape, latents["motion_latents"].shape,
                           batch["hand"].shape, batch["obj"].shape,
                           cfg.vid_warmup_clean_fraction if warmup else 0.0,
                           motion_noise=motion_noise and not warmup,
                           guidance_dropout=0.0 if warmup else dropout,
                           text_dropout=0.0 if warmup else float(cfg.text_dropout))
        if noise.drop_text is not None and null_text is not None:  # text dropout (classifier-free guidance)
            text = latents["text_embeds"]
            latents = {**latents, "text_embeds": torch.where(noise.drop_text.view(-1, 1, 1),
                                                             null_text.to(text.device, text.dtype), text)}

        def guidance_fn(hand: torch.Tensor, obj: torch.Tensor, batch: dict[str, Any] = batch) -> torch.Tensor:
            return enc.encode_motion(hand, obj, batch)

        model.train()
        with accelerator.autocast():
            losses = model(latents, batch["hand"], batch["obj"], noise, warmup,
                           guidance_fn if loop.interaction_guidance else None,
                           constraint_scale=1.0 if warmup else cfg.constraint_scale(step))
        accelerator.backward(losses["loss"])
        if cfg.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        scale = cfg.lr_scale(step)
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base * scale
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        last = {k: float(v.detach()) for k, v in losses.items()}
        if not math.isfinite(last["loss"]):
            raise FloatingPointError(f"loss is {last['loss']} at step {step}")
        phase = "warmup" if warmup else "joint"
        bar.update(1)
        bar.set_postfix(phase=phase, loss=f"{last['loss']:.4g}")
        if step % cfg.log_every == 0 or step == end:
            mean = accelerator.reduce(torch.tensor([last["loss"]], device=device), reduction="mean")
            if accelerator.is_main_process:
                entry = {"step": step, "phase": phase, "loss_mean_ranks": float(mean), **last,
                         "lr_scale": cfg.lr_scale(step - 1), "time": time.time()}  # the factor of this update
                if device.type == "cuda":  # rank 0's peak (bench/svimo_zero3.py); CPU logs are unchanged
                    entry["cuda_max_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
                with log_path.open("a") as f:
                    f.write(json.dumps(entry) + "\n")
        if step % cfg.checkpoint_every == 0 or step == end:
            _save_checkpoint(out_dir, step, model, optimizer, gen, accelerator, cfg, model_cfg)
    bar.close()
    final = None
    if step >= cfg.total_steps:
        final = out_dir / "model"
        if is_deepspeed(accelerator):  # fp32 master weights of the last checkpoint (written at step == end)
            accelerator.wait_for_everyone()
            state = (consolidated_fp32_state_dict(latest_checkpoint(out_dir) / "deepspeed")
                     if accelerator.is_main_process else {})
        else:
            state = accelerator.get_state_dict(model)
        if accelerator.is_main_process:
            from hoi_ros.svimo.weights import save_svimo_state

            save_svimo_state(final, final_state_dict(state, cfg), model_cfg.dit, model_cfg.vid,
                             _metadata(step, model_cfg, cfg))
    if cfg.save_rank_weights:
        save_state_dict(out_dir / f"final_rank{rank}.safetensors", plain.state_dict(), _metadata(step, model_cfg))
    accelerator.wait_for_everyone()
    return TrainResult(step=step, world_size=world, variant=cfg.variant(model_cfg), last=last, output_dir=out_dir,
                       loss_log=log_path, final_checkpoint=final)


def _null_text(cfg: TrainConfig, model_cfg: SViMoConfig, enc: Encoders) -> torch.Tensor:
    """``[1, L, d]`` features of the empty prompt (``sampler.negative_prompt``, what sampling's
    classifier-free guidance uses as the unconditional branch); the text encoder is loaded for it
    once when the run has none (precomputed latents)."""
    from hoi_ros.diffusion.text import build_text_encoder

    text = enc.text if enc.text is not None else build_text_encoder(model_cfg.text)
    with torch.no_grad():
        return text.encode([model_cfg.sampler.negative_prompt]).detach().float().cpu()


def _metadata(step: int, model_cfg: SViMoConfig, cfg: TrainConfig | None = None) -> dict[str, str]:
    """safetensors header of a SViMo checkpoint: trained flag, steps, variant (Table 3/4 row), model config."""
    variant = cfg.variant(model_cfg) if cfg is not None else model_cfg.loop.variant
    return {"trained": "true", "steps": str(step), "variant": variant, "config": model_cfg.name,
            "model_config": yaml.safe_dump(model_cfg.to_dict(), sort_keys=False)}


def _save_checkpoint(out_dir: Path, step: int, model: Any, optimizer: Any, gen: torch.Generator,
                     accelerator: Any, cfg: TrainConfig, model_cfg: SViMoConfig) -> None:
    """Write checkpoint ``step`` (every rank its RNG state, the main rank the rest), then prune."""
    folder = out_dir / "checkpoints" / f"step_{step:08d}"
    tmp = out_dir / "checkpoints" / f".tmp_step_{step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    state = accelerator.get_state_dict(model)  # gathered under ZeRO-3 (collective)
    save_rng(tmp / f"rng_rank{accelerator.process_index}", gen)
    if is_deepspeed(accelerator):
        model.save_checkpoint(str(tmp / "deepspeed"))  # collective; DeepSpeed's own format
    if accelerator.is_main_process:
        save_state_dict(tmp / "model.safetensors", state, _metadata(step, model_cfg, cfg))
        if not is_deepspeed(accelerator):
            save_optimizer(tmp, optimizer)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "trainer.json").write_text(json.dumps({"step": step, "world_size": accelerator.num_processes}))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        done = sorted((out_dir / "checkpoints").glob("step_*"))
        for old in done[: -cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


# ---------------------------------------------------------------------- offline latent cache
def precompute(cfg: TrainConfig, model_cfg: SViMoConfig, out: str | os.PathLike) -> Path:
    """Encode every sample once (z₀ⱽ, z₀ᴹ, z_I with one draw of the image noise, text features) into
    ``<out>/<index>.safetensors`` for ``data.kind: latents`` (frees the text encoder in training)."""
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from hoi_ros.core.io import atomic_path

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    dataset = build_dataset(cfg.data, model_cfg)
    enc = Encoders(model_cfg, need_text=True, need_vae=True, device=torch.device("cpu"))
    gen = torch.Generator().manual_seed(cfg.seed)
    for i in tqdm(range(len(dataset)), desc="precompute latents"):
        sample = dataset[i]
        lat = encode_batch(collate([sample]), enc, cfg, gen)
        tensors = {k: v[0].contiguous() for k, v in lat.items()}
        for key in ("hand", "obj", "labels", "intrinsics", "extrinsics"):
            tensors[key] = sample[key].contiguous()
        tensors["frame_size"] = torch.tensor(sample["video"].shape[1:3])
        with atomic_path(folder / f"{i:08d}.safetensors") as tmp:
            save_file(tensors, str(tmp), metadata={"prompt": sample["prompt"]})
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train SViMo + VID (Alg. 1).")
    parser.add_argument("--config", required=True,
                        help="training YAML (e.g. config/recipes/svimo_train_tiny_synthetic.yaml)")
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
    result = train(cfg, model_cfg, resume=resume, max_steps=args.steps)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"step": result.step, "world_size": result.world_size, "variant": result.variant,
                          "last": result.last, "final_checkpoint": str(result.final_checkpoint)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
