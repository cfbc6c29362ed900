"""Training one PAM ControlNet (Stage II or Stage III) on sim episodes, bases frozen, or a base.

    python -m hoi_ros.pam.train --stage video --config config/models/pam/tiny_for_tests.yaml \
        --data DATASET --output RUN [--steps N] [--batch-size B] [--lr LR] [--save-every K]
    accelerate launch -m hoi_ros.pam.train --stage image ...

Stages ``image`` and ``video`` train the ControlNets (the paper's training); ``image_base`` and
``video_base`` pre-train the base transformer itself on the same objective without ControlNet
(whole model trainable), what the small PAM needs because no pretrained Flux or CogVideoX weights
can be downloaded here; their result is ``RUN/transformer/`` (a diffusers folder a config's
``pretrained`` can name).

Paper, "Loss & Training": both stages use the standard denoising objective and update only the
ControlNet parameters. Stage III: v-prediction with the CogVideoX scheduler and CogVideoX's
1/(1 − ᾱₜ) x₀ weighting (:func:`hoi_ros.pam.video_loss.video_training_loss`), each condition masked
with p = 0.2; Stage II: Flux's rectified flow (:func:`hoi_ros.pam.image_controlnet.flow_matching_loss`).

Latents are precomputed once into ``RUN/latents/`` (one safetensors file per episode: video,
first-frame and condition latents — Stage II's by ``image.vae_path`` when set — and the prompt's
text features, by the frozen VAEs and text encoder; ``--latents`` names a cache shared by several
runs); a rerun reuses them. Checkpoints ``RUN/checkpoints/step_XXXXXXXX/`` hold the ControlNet
(``controlnet/``, diffusers folder), the AdamW state and every RNG state; a run resumes from the
newest one and continues exactly as if uninterrupted. ``RUN/controlnet/`` is the final ControlNet
(``PAMPipeline.from_config(..., video_controlnet=...)``); ``RUN/loss_log.jsonl`` one line per step.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from hoi_ros.diffusion.checkpointing import (
    latest_checkpoint,
    load_optimizer,
    load_rng,
    save_optimizer,
    save_rng,
    save_state_dict,
)
from hoi_ros.diffusion.training import MIXED_PRECISION, make_accelerator
from hoi_ros.pam.conditions import CONDITIONS, condition_images, draw_condition_keep, encode_conditions
from hoi_ros.pam.config import PAMConfig, build_video_scheduler, load_config
from hoi_ros.pam.image_controlnet import flow_matching_loss
from hoi_ros.pam.models import build_image_model, build_video_model
from hoi_ros.pam.video_loss import video_training_loss

STAGES = ("image", "video", "image_base", "video_base")
LATENT_KEYS = ("video", "image", "first_frame", "first_conditions", "conditions", "text", "pooled")


@dataclass
class TrainConfig:
    """One ControlNet training run (command-line flags of the same names)."""

    stage: str
    config: str  # a PAM model config (config/models/pam/*.yaml)
    data: str  # a sim dataset folder (python -m hoi_ros.sim.dataset)
    output: str
    latents: str | None = None  # the latent cache folder (default: <output>/latents; share it across runs)
    steps: int = 100
    batch_size: int = 1
    lr: float = 1e-4
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    save_every: int = 50
    seed: int = 0
    mixed_precision: str = "no"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage: one of {STAGES}, got {self.stage!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision: one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        for name in ("steps", "batch_size", "save_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")


def precompute_latents(cfg: PAMConfig, data: str | Path, out: str | Path, progress: bool = True,
                       workers: int = 1) -> list[Path]:
    """Encode every episode of a sim dataset at the clip size into ``out`` (existing files are kept);
    ``workers`` processes (one torch thread each) share the episodes."""
    from hoi_ros.data.sim import SimHOIDataset

    clip = cfg.clip
    n = len(SimHOIDataset(data, num_frames=clip.num_frames, fps=clip.fps, size=(clip.height, clip.width)))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / f"{i:08d}.safetensors" for i in range(n)]
    todo = [i for i, f in enumerate(files) if not f.is_file()]
    if not todo:
        return files
    if workers <= 1:
        _encode_episodes(cfg, str(data), str(out), todo, progress)
        return files
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        jobs = [pool.submit(_encode_episodes, cfg, str(data), str(out), todo[k::workers], progress and k == 0, 1)
                for k in range(workers)]
        for job in jobs:
            job.result()
    return files


@torch.no_grad()
def _encode_episodes(cfg: PAMConfig, data: str, out: str, indices: list[int], progress: bool,
                     threads: int = 0) -> None:
    """Write the latent file of each episode in ``indices`` (see :func:`precompute_latents`)."""
    from tqdm.auto import tqdm

    from hoi_ros.data.sim import SimHOIDataset
    from hoi_ros.diffusion.text import build_text_encoder
    from hoi_ros.diffusion.vae import build_vae
    from hoi_ros.pam.image_vae import ImageVAE
    from hoi_ros.pam.pipeline import build_pooled_text
    from hoi_ros.pam.pooled_text import mean_pooled

    if threads:
        torch.set_num_threads(threads)
    clip = cfg.clip
    ds = SimHOIDataset(data, num_frames=clip.num_frames, fps=clip.fps, size=(clip.height, clip.width),
                       fields=CONDITIONS)
    vae, text = build_vae(cfg.vae), build_text_encoder(cfg.text)
    image_vae = ImageVAE(cfg.image.vae_path, cfg.image.dtype) if cfg.image.vae_path else vae
    pooled_text = build_pooled_text(cfg)
    for i in tqdm(indices, desc="precompute latents", disable=not progress):
        item = ds[i]
        images = condition_images({k: item[k][None] for k in CONDITIONS})
        video = item["video"][None]
        tensors = {
            "video": vae.encode(video)[0],  # [F, C, h, w]
            "image": vae.encode(video[:, :1])[0],  # [1, C, h, w]: the first frame alone (Stage III's I₀)
            "first_frame": image_vae.encode(video[:, :1])[0],  # [1, C', h, w]: Stage II's target
            "first_conditions": encode_conditions({c: images[c][:, :1] for c in CONDITIONS},
                                                  image_vae.encode)[0],  # [1, 3C', h, w]
            "conditions": encode_conditions(images, vae.encode)[0],  # [F, 3C, h, w]
            "text": text.encode([item["prompt"]])[0],  # [L, D]
        }
        tensors["pooled"] = (pooled_text.encode([item["prompt"]])[0] if pooled_text is not None
                             else mean_pooled(tensors["text"][None])[0])  # [D']: Flux's pooled embedding
        save_state_dict(Path(out) / f"{i:08d}.safetensors", tensors, {"prompt": item["prompt"], "task": item["task"]})


def load_latents(files: list[Path]) -> dict[str, torch.Tensor]:
    """The cached latents of every episode, stacked along a new first axis."""
    stacks: dict[str, list[torch.Tensor]] = {k: [] for k in LATENT_KEYS}
    for f in files:
        with safe_open(str(f), framework="pt") as h:
            for k in LATENT_KEYS:
                stacks[k].append(h.get_tensor(k))
    return {k: torch.stack(v) for k, v in stacks.items()}


def stage_model(stage: str) -> str:
    """``"image"`` or ``"video"``: which controlled model a stage trains a part of."""
    return stage.split("_")[0]


def trains_base(stage: str) -> bool:
    """Whether the stage trains the base transformer (no ControlNet) rather than the ControlNet."""
    return stage.endswith("_base")


def stage_loss(tc: TrainConfig, cfg: PAMConfig, model: Any, scheduler: Any, batch: dict[str, torch.Tensor],
               gen: torch.Generator) -> torch.Tensor:
    """The denoising loss of one batch for the run's stage."""
    use_controlnet = not trains_base(tc.stage)
    if stage_model(tc.stage) == "video":
        return video_training_loss(model, scheduler, batch["video"], batch["image"], batch["conditions"],
                                   batch["text"], gen, cfg.video.condition_mask_p, use_controlnet=use_controlnet)
    b = batch["image"].shape[0]
    keep = draw_condition_keep(b, cfg.image.condition_mask_p, gen) if cfg.image.condition_mask_p > 0 else None
    return flow_matching_loss(model, batch["first_frame"][:, 0], batch["first_conditions"][:, 0], batch["text"],
                              batch["pooled"], gen, cfg.image.guidance_scale, condition_keep=keep,
                              use_controlnet=use_controlnet)


def trained_part(stage: str) -> tuple[str, str, Any]:
    """(module attribute, folder name, diffusers class) of what ``stage`` trains."""
    from diffusers import CogVideoXTransformer3DModel, FluxTransformer2DModel

    from hoi_ros.pam.image_controlnet import PAMFluxControlNetModel
    from hoi_ros.pam.video_controlnet import CogVideoXControlNetModel

    video = stage_model(stage) == "video"
    if trains_base(stage):
        return "base", "transformer", CogVideoXTransformer3DModel if video else FluxTransformer2DModel
    return "controlnet", "controlnet", CogVideoXControlNetModel if video else PAMFluxControlNetModel


def train(tc: TrainConfig) -> dict[str, Any]:
    """Run (or resume) ``tc``; returns the final step, loss log path and the trained part's folder
    (``controlnet`` key, or ``transformer`` for a base stage)."""
    from tqdm.auto import tqdm

    cfg = load_config(tc.config)
    out = Path(tc.output)
    out.mkdir(parents=True, exist_ok=True)
    acc = make_accelerator(tc.mixed_precision, tc.batch_size)
    cache = Path(tc.latents) if tc.latents else out / "latents"
    if acc.is_main_process:
        precompute_latents(cfg, tc.data, cache, tc.progress)
    acc.wait_for_everyone()
    data = load_latents(sorted(cache.glob("*.safetensors")))
    n = data["video"].shape[0]
    kind = stage_model(tc.stage)
    build = build_video_model if kind == "video" else build_image_model
    model = build(getattr(cfg, kind), acc.device)
    attr, part, cls = trained_part(tc.stage)
    if trains_base(tc.stage):
        model.base.requires_grad_(True)
        model.controlnet.requires_grad_(False)
    scheduler = build_video_scheduler(cfg.video)
    params = [p for p in getattr(model, attr).parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    gen = torch.Generator().manual_seed(tc.seed + acc.process_index)
    step = 0
    ckpt = latest_checkpoint(out)
    if ckpt is not None:
        saved = cls.from_pretrained(str(ckpt / part), local_files_only=True, use_safetensors=True)
        getattr(model, attr).load_state_dict(saved.state_dict())
        load_optimizer(ckpt, optimizer)
        load_rng(ckpt / f"rng_rank{acc.process_index}", gen)
        step = int(json.loads((ckpt / "trainer.json").read_text())["step"])
    model, optimizer = acc.prepare(model, optimizer)
    plain = acc.unwrap_model(model)
    model.train()
    (plain.controlnet if trains_base(tc.stage) else plain.base).eval()  # the frozen part: no dropout
    log = out / "loss_log.jsonl"
    bar = tqdm(total=tc.steps, initial=step, desc=f"pam {tc.stage} {part}", disable=not tc.progress)
    while step < tc.steps:
        idx = torch.randint(0, n, (tc.batch_size,), generator=gen)
        batch = {k: v[idx].to(acc.device) for k, v in data.items()}
        with acc.autocast():
            loss = stage_loss(tc, cfg, model, scheduler, batch, gen)
        acc.backward(loss)
        if tc.max_grad_norm > 0:
            acc.clip_grad_norm_(params, tc.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if acc.is_main_process:
            with log.open("a") as f:
                f.write(json.dumps({"step": step, "loss": float(loss.item())}) + "\n")
        if step % tc.save_every == 0 or step == tc.steps:
            save_training_checkpoint(acc, getattr(plain, attr), part, optimizer, gen, out, step)
    bar.close()
    final = out / part
    if acc.is_main_process:
        getattr(plain, attr).save_pretrained(final, safe_serialization=True)
        (out / "train_config.json").write_text(json.dumps(asdict(tc), indent=2))
    acc.wait_for_everyone()
    return {"step": step, part: str(final), "loss_log": str(log)}


def save_training_checkpoint(acc: Any, module: Any, part: str, optimizer: torch.optim.Optimizer,
                             gen: torch.Generator, out: Path, step: int) -> Path:
    """``checkpoints/step_XXXXXXXX/``: the trained part's folder (``part``), optimizer, RNG states;
    ``trainer.json`` last."""
    folder = out / "checkpoints" / f"step_{step:08d}"
    if acc.is_main_process and folder.exists():
        shutil.rmtree(folder)
    acc.wait_for_everyone()
    folder.mkdir(parents=True, exist_ok=True)
    save_rng(folder / f"rng_rank{acc.process_index}", gen)
    if acc.is_main_process:
        module.save_pretrained(folder / part, safe_serialization=True)
        save_optimizer(folder, optimizer)
    acc.wait_for_everyone()
    if acc.is_main_process:
        (folder / "trainer.json").write_text(json.dumps({"step": step, "world_size": acc.num_processes}))
        for older in (out / "checkpoints").glob("step_*"):  # only the newest is needed to resume
            if older != folder:
                shutil.rmtree(older)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--latents", default=None, help="latent cache folder (default: OUTPUT/latents)")
    for name, typ in (("steps", int), ("batch_size", int), ("lr", float), ("weight_decay", float),
                      ("max_grad_norm", float), ("save_every", int), ("seed", int)):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=typ, default=None)
    parser.add_argument("--mixed-precision", dest="mixed_precision", default=None, choices=MIXED_PRECISION)
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    try:
        result = train(TrainConfig(**args))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
