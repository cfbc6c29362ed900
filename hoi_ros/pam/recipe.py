"""The small PAM's recipe: sim episodes → latent cache → both bases → both ControlNets → shipped folder.

    python -m hoi_ros.pam.recipe --config config/recipes/pam_small.yaml            # everything
    python -m hoi_ros.pam.recipe --config ... --output runs/rerun --no-ship        # a re-run that ships nothing

No pretrained Flux or CogVideoX weights can be downloaded here, so the recipe first pre-trains the
small bases on the sim episodes (stages ``image_base`` and ``video_base`` of :mod:`hoi_ros.pam.train`:
the same denoising objectives, whole base trainable, no ControlNet), then trains both ControlNets
with the bases frozen, as the paper does (stages ``image`` and ``video``). The image chain and the
video chain run side by side, one process and ``threads`` torch threads each. Every stage is skipped
when its output exists and training resumes from its newest checkpoint, so an interrupted recipe
continues. The video VAE is the embedded SViMo default's sim-trained one (both papers share
CogVideoX's VAE at full scale); a copy ships with the model.

``ship`` writes ``models/pam_small/``: ``pam.yaml`` (the model config, its weight paths relative to
the folder), ``vae/``, ``image_transformer/``, ``image_controlnet/``, ``video_transformer/``,
``video_controlnet/`` (diffusers folders, safetensors only), and ``training.json`` (stage times,
steps, final losses). The held-out evaluation is :mod:`hoi_ros.pam.evaluate`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hoi_ros.diffusion.recipes import RecipeFile

CHAINS = {"image": ("image_base", "image"), "video": ("video_base", "video")}
SPLITS = ("train", "val", "test")
SHIPPED_PARTS = {"image_transformer": ("image_base", "transformer"), "image_controlnet": ("image", "controlnet"),
                 "video_transformer": ("video_base", "transformer"), "video_controlnet": ("video", "controlnet")}


@dataclass
class PAMRecipe(RecipeFile):
    """``config/recipes/pam_small.yaml`` (relative paths: the YAML's folder)."""

    output_dir: str = "out/pam_small"
    model: str = "../models/pam/small.yaml"
    threads: int = 1
    parallel: bool = True
    data: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # hoi_ros.pam.train.TrainConfig fields
    ship: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default=Path("."), repr=False)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, output_dir: str | None = None) -> PAMRecipe:
        cfg = cls.read(path, output_dir)
        missing = {s for chain in CHAINS.values() for s in chain} - set(cfg.stages)
        if missing:
            raise ValueError(f"recipe.stages: missing {sorted(missing)}")
        return cfg


def split_root(cfg: PAMRecipe, split: str) -> Path:
    return cfg.out / "data" / split


def stage_data(cfg: PAMRecipe) -> list[str]:
    """Three sim datasets from disjoint seeds (train, val, test), each skipped when written; returns
    the splits written now."""
    written = []
    for split in SPLITS:
        root = split_root(cfg, split)
        if (root / "manifest.json").is_file():
            continue
        spec = cfg.data[split]
        subprocess.run([sys.executable, "-m", "hoi_ros.sim.dataset", str(root), "-n", str(spec["episodes"]),
                        "--seed", str(spec["seed"]), "--workers", str(cfg.data.get("workers", 1)),
                        "--config", str(cfg.path(cfg.data["config"])), "--sheet-episodes", "0"], check=True)
        written.append(split)
    return written


def model_config(cfg: PAMRecipe, pretrained: dict[str, str] | None = None) -> dict[str, Any]:
    """The model YAML as a dict, absolute weight paths; ``pretrained`` sets ``image``/``video`` bases."""
    from hoi_ros.pam.config import resolve_paths

    file = cfg.path(cfg.model)
    data = resolve_paths(yaml.safe_load(file.read_text()) or {}, file.parent)
    for kind, folder in (pretrained or {}).items():
        data[kind] = {**data.get(kind, {}), "pretrained": str(folder)}
    return data


def run_dir(cfg: PAMRecipe, stage: str) -> Path:
    return cfg.out / "runs" / stage


def stage_latents(cfg: PAMRecipe) -> tuple[Path, bool]:
    """The training set's latent cache, shared by all four training stages, and whether any episode
    was encoded now."""
    from hoi_ros.pam.config import PAMConfig
    from hoi_ros.pam.train import precompute_latents

    cache = cfg.out / "latents" / "train"
    before = len(list(cache.glob("*.safetensors"))) if cache.is_dir() else 0
    files = precompute_latents(PAMConfig.from_dict(model_config(cfg)), split_root(cfg, "train"), cache,
                       workers=int(cfg.data.get("workers", 1)))
    return cache, len(files) > before


def train_command(cfg: PAMRecipe, stage: str, config_file: Path, cache: Path) -> list[str]:
    args = [sys.executable, "-m", "hoi_ros.pam.train", "--stage", stage, "--config", str(config_file),
            "--data", str(split_root(cfg, "train")), "--output", str(run_dir(cfg, stage)), "--latents", str(cache)]
    for key, value in cfg.stages[stage].items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def chain_commands(cfg: PAMRecipe, kind: str, cache: Path) -> list[list[str]]:
    """The base stage, then the ControlNet stage on a config whose base is the trained one."""
    base_stage, cn_stage = CHAINS[kind]
    configs = cfg.out / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    plain, trained = configs / "model.yaml", configs / f"{kind}_trained_base.yaml"
    plain.write_text(yaml.safe_dump(model_config(cfg), sort_keys=False))
    trained.write_text(yaml.safe_dump(model_config(cfg, {kind: str(run_dir(cfg, base_stage) / "transformer")}),
                                      sort_keys=False))
    return [train_command(cfg, base_stage, plain, cache), train_command(cfg, cn_stage, trained, cache)]


def stage_done(cfg: PAMRecipe, stage: str) -> bool:
    part = "transformer" if stage.endswith("_base") else "controlnet"
    return (run_dir(cfg, stage) / part / "config.json").is_file()


def run_chains(cfg: PAMRecipe, cache: Path) -> dict[str, float]:
    """Both chains, side by side when ``parallel``; returns each stage's seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": str(cfg.threads), "MKL_NUM_THREADS": str(cfg.threads)}
    times: dict[str, float] = {}

    def chain(kind: str) -> subprocess.Popen:
        steps = [c for c, s in zip(chain_commands(cfg, kind, cache), CHAINS[kind]) if not stage_done(cfg, s)]
        log = cfg.out / f"{kind}_chain.log"
        script = " && ".join(f'echo "stage {c[4]} start $(date +%s)" && ' + shlex.join(c)
                             + f' && echo "stage {c[4]} end $(date +%s)"' for c in steps) or "true"
        return subprocess.Popen(["bash", "-c", script], stdout=log.open("a"), stderr=subprocess.STDOUT, env=env)

    kinds = list(CHAINS)
    procs = [chain(k) for k in kinds] if cfg.parallel else []
    if not cfg.parallel:
        for k in kinds:
            procs.append(chain(k))
            procs[-1].wait()
    for kind, proc in zip(kinds, procs):
        if proc.wait() != 0:
            raise RuntimeError(f"the {kind} chain failed: see {cfg.out / f'{kind}_chain.log'}")
        started: dict[str, float] = {}
        for line in (cfg.out / f"{kind}_chain.log").read_text().splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[0] == "stage" and parts[2] in ("start", "end"):
                if parts[2] == "start":
                    started[parts[1]] = float(parts[3])
                elif parts[1] in started:  # an interrupted run's start has no end: only complete runs count
                    times[parts[1]] = times.get(parts[1], 0.0) + float(parts[3]) - started.pop(parts[1])
    return times


def final_loss(log: Path, last: int = 100) -> float:
    """Mean loss of the last ``last`` steps of a ``loss_log.jsonl``."""
    losses = [json.loads(line)["loss"] for line in log.read_text().splitlines() if line.strip()]
    tail = losses[-last:]
    return float(sum(tail) / max(len(tail), 1))


def to_half(folder: Path) -> None:
    """Store a diffusers folder's float32 tensors as float16 (half the size; loading upcasts them to
    the config's dtype, and the shipped model is evaluated as stored)."""
    import torch
    from safetensors.torch import load_file, save_file

    for file in folder.glob("*.safetensors"):
        tensors = {k: (v.half() if v.dtype == torch.float32 else v) for k, v in load_file(str(file)).items()}
        save_file(tensors, str(file), metadata={"format": "pt"})


def stage_ship(cfg: PAMRecipe, times: dict[str, float]) -> Path:
    """``models/pam_small/``: pam.yaml + the VAE + the four trained parts + training.json."""
    dest = cfg.path(cfg.ship["models_dir"])
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    data = model_config(cfg)
    if data.get("vae", {}).get("path"):
        shutil.copytree(Path(data["vae"]["path"]), tmp / "vae")
    else:  # a config without VAE weights (tests): its seeded random VAE, as the pipeline builds it
        from hoi_ros.diffusion.vae import VAEConfig, build_vae

        build_vae(VAEConfig.from_dict(data.get("vae") or {})).model.save_pretrained(tmp / "vae")
    data.setdefault("vae", {})
    for name, (stage, part) in SHIPPED_PARTS.items():
        src = run_dir(cfg, stage) / part
        shutil.copytree(src, tmp / name, ignore=shutil.ignore_patterns("*.json.tmp"))
        if cfg.ship.get("half_precision", True):
            to_half(tmp / name)
    data["image"]["pretrained"], data["video"]["pretrained"], data["vae"]["path"] = (
        "image_transformer", "video_transformer", "vae")
    header = ("# The shipped small PAM (python -m hoi_ros.pam.recipe --config config/recipes/pam_small.yaml):\n"
              "# weight paths are relative to this folder. Model card: docs/model_card_pam_small.md.\n")
    (tmp / "pam.yaml").write_text(header + yaml.safe_dump(data, sort_keys=False))
    info = {"stages": {s: {**cfg.stages[s], "seconds": round(times.get(s, 0.0), 1),
                           "final_loss": round(final_loss(run_dir(cfg, s) / "loss_log.jsonl"), 5)}
                       for chain in CHAINS.values() for s in chain},
            "data": cfg.data, "threads": cfg.threads}
    (tmp / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def write_card(cfg: PAMRecipe, folder: Path, evaluation: Path | None = None) -> Path:
    """The model card (``ship.model_card``) from the shipped folder's ``training.json`` and, when
    given, a held-out evaluation (``python -m hoi_ros.pam.evaluate --output DIR``: ``DIR/result.json``)."""
    import torch

    from hoi_ros.diffusion.params import format_count
    from hoi_ros.pam.pipeline import PAMPipeline

    info = json.loads((folder / "training.json").read_text())
    pipe = PAMPipeline.from_pretrained(folder)

    def count(module: Any) -> str:
        return format_count(sum(p.numel() for p in module.parameters())).split("(")[0].strip()

    def episodes(split: str) -> str:
        manifest = split_root(cfg, split) / "manifest.json"
        if not manifest.is_file():
            return str(cfg.data[split]["episodes"])
        entries = json.loads(manifest.read_text())["episodes"]
        used = sum(1 for e in entries if e.get("success", True))
        return f"{used} of {len(entries)} simulated: those that fulfil their task"

    size = sum(f.stat().st_size for f in folder.rglob("*.safetensors"))
    lines = [
        "# Model card: small PAM (`pam-small-sim`)", "",
        "PAM's engine (`docs/pam.md`) at a size that trains on a 2-core CPU, trained here on this package's MuJoCo "
        "sim episodes only. **It is a sim-to-sim model**: it renders the sim's look, not photographs. Made by "
        "`python -m hoi_ros.pam.recipe --config config/recipes/pam_small.yaml`; shipped in `models/pam_small/` "
        f"(diffusers folders, safetensors, float16 on disk: {size / 1e6:.1f} MB).", "",
        "## Parts", "",
        "| part | parameters | trained |", "| --- | --- | --- |",
        f"| Stage II base (`FluxTransformer2DModel`) | {count(pipe.image_model.base)} | "
        "pre-trained here (whole model) |",
        f"| Stage II ControlNet (blocks 0–1) | {count(pipe.image_model.controlnet)} | base frozen |",
        f"| Stage III base (`CogVideoXTransformer3DModel`, I2V) | {count(pipe.video_model.base)} | "
        "pre-trained here (whole model) |",
        f"| Stage III ControlNet (all {len(pipe.video_model.controlnet.transformer_blocks)} blocks) | "
        f"{count(pipe.video_model.controlnet)} | base frozen, conditions masked with p = "
        f"{pipe.cfg.video.condition_mask_p} |",
        f"| video VAE (`AutoencoderKLCogVideoX`, 4× spatial, 4× temporal) | {count(pipe.vae.model)} | "
        "the embedded SViMo default's (frozen) |",
        "| text | all-MiniLM-L6-v2 (384-d tokens; pooled: their mean) | pretrained, frozen |", "",
        f"Clip: {pipe.cfg.clip.num_frames} frames of {pipe.cfg.clip.height} × {pipe.cfg.clip.width} at "
        f"{pipe.cfg.clip.fps} fps; {pipe.cfg.default_steps} denoising steps per stage by default.", "",
        "## Training", "",
        f"Data: sim episodes of `{cfg.data.get('config')}` — train seed {cfg.data['train']['seed']} "
        f"({episodes('train')}), validation seed {cfg.data['val']['seed']} ({episodes('val')}; the steps "
        f"sweep), test seed {cfg.data['test']['seed']} ({episodes('test')}; looked at once, for the table "
        "below). One torch thread per chain, the two chains side by side.", "",
        "| stage | steps | batch | lr | minutes | final loss (mean of the last 100 steps) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for stage, st in info["stages"].items():
        lines.append(f"| {stage} | {st['steps']} | {st['batch_size']} | {st['lr']} | {st['seconds'] / 60:.1f} | "
                     f"{st['final_loss']} |")
    if evaluation is not None and (evaluation / "table.md").is_file():
        result = json.loads((evaluation / "result.json").read_text())
        lines += ["", "## Held-out evaluation", "",
                  f"`python -m hoi_ros.pam.evaluate` on {result['episodes']} test episodes, {result['steps']} steps; "
                  "in brackets the paired 95 % interval of (row − all) over episodes. Hand metrics come from a 2D "
                  f"hand estimator trained on sim frames (its error on held-out ground-truth renders: "
                  f"{result['estimator']['held_out_mpjpe_px']:.2f} px, mask IoU "
                  f"{result['estimator']['held_out_hand_iou']:.3f}).", "",
                  (evaluation / "table.md").read_text().strip()]
    lines += ["", "## Limits", "",
              "- Sim look only (flat-shaded MuJoCo hand and primitives); nothing here was trained on real video, so "
              "the paper's photorealism is not claimed.",
              "- 64 × 96 pixels, 17 frames at 2.5 fps: fingers are a few pixels wide.",
              "- A pose file (no sim render) gives the hand-keypoint condition only.",
              f"- torch {torch.__version__}; weights load from safetensors only."]
    card = cfg.path(cfg.ship["model_card"])
    card.write_text("\n".join(lines) + "\n")
    return card


def run_recipe(config: str | Path, output: str | None = None, ship: bool = True) -> dict[str, Any]:
    cfg = PAMRecipe.from_yaml(config, output)
    cfg.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    written = stage_data(cfg)
    t1 = time.perf_counter()
    cache, encoded = stage_latents(cfg)
    t2 = time.perf_counter()
    times = run_chains(cfg, cache)  # parsed from the chains' logs: every stage's run
    if written:
        times["data"] = t1 - t0
    if encoded:
        times["latents"] = t2 - t1
    times_file = cfg.out / "times.json"
    known = json.loads(times_file.read_text()) if times_file.is_file() else {}
    known.update(times)  # a resumed run keeps the times of the stages it did not run
    times_file.write_text(json.dumps(known, indent=2))
    result: dict[str, Any] = {"times_s": known}
    if ship:
        result["shipped"] = str(stage_ship(cfg, known))
        if cfg.ship.get("model_card"):
            evaluation = cfg.ship.get("evaluation")
            result["model_card"] = str(write_card(cfg, Path(result["shipped"]),
                                                  cfg.path(evaluation) if evaluation else None))
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--output", default=None, help="override output_dir")
    ap.add_argument("--no-ship", dest="ship", action="store_false")
    ap.add_argument("--card-only", action="store_true", help="rewrite the model card of the shipped folder")
    args = ap.parse_args(argv)
    if args.card_only:
        cfg = PAMRecipe.from_yaml(args.config, args.output)
        evaluation = cfg.ship.get("evaluation")
        print(write_card(cfg, cfg.path(cfg.ship["models_dir"]), cfg.path(evaluation) if evaluation else None))
        return 0
    try:
        result = run_recipe(args.config, args.output, args.ship)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
