"""The embedded default's training recipe: sim data → VAE → VID warm-up → joint SViMo + VID,
the baselines, the held-out evaluation, and the shipped checkpoint with its model card.

    python -m hoi_ros.svimo.experiments.recipe --config config/recipes/svimo_embedded_default.yaml  # everything (~1 h)
    python -m hoi_ros.svimo.experiments.recipe --config ... --output runs/rerun --no-ship  # a re-run that ships nothing
    python -m hoi_ros.svimo.experiments.recipe --config ... --only eval  # one stage (its inputs must exist)

Stages (each is skipped when its output exists, so an interrupted recipe continues; SViMo training
itself resumes from its last checkpoint):

1. ``data`` — three sim datasets (:mod:`hoi_ros.sim.dataset`) from disjoint seeds: ``train``
   (everything learns from it), ``val`` (a validation split for design decisions) and ``test``
   (held-out episodes, used only by the final evaluation).
2. ``vae`` ‖ ``mdm`` (side by side, one core each) — the small CogVideoX-style VAE on the training
   episodes' RGB clips and rendered motion videos (:mod:`hoi_ros.diffusion.vae_train`), and the MDM-like
   text-only motion diffusion baseline (:mod:`hoi_ros.svimo.experiments.baselines`, Table 2).
3. ``latents`` — the offline latent cache of the training set (``train.precompute``: z₀ⱽ, z₀ᴹ,
   z_I of I_noised, text features; §4.2's way of keeping the encoders out of the loop).
4. ``full`` ‖ ``without_vid`` (side by side) — Alg. 1 for the shipped model: ``warmup_steps`` of VID
   warm-up then ``joint_steps`` of closed-loop joint training, L = ω₁ L_SViMo + ω₂ L_VID (ω₁ = 1,
   ω₂ = 0.05, §4.2); and Table 3's "w/o VID" ablation, the same recipe with the loop switches off.
   With ``training_seeds: [a, b, …]`` each runs once per seed (``full``, ``full_seed{b}``, …; two at a
   time); the first seed's ``full`` is the one that ships.
5. ``select`` then ``eval`` — :mod:`hoi_ros.svimo.experiments.evaluate` of every run, the models named in
   ``eval.compare_with``, MDM-like (when trained), the per-task template and the static ground-truth
   first frame: first on the validation split (the decisions, per configuration paired over the
   seeds), then on the test episodes, once.
6. ``ship`` — ``models/…``: the trained model as a diffusers-style folder (``model_index.json`` +
   ``transformer/``, ``vid/``, ``vae/``, safetensors only; :func:`hoi_ros.svimo.weights.save_svimo`), the
   demo's reference image (a held-out episode's first frame); contact sheets of the tasks in ``ship.sheets``, the
   loss-curve PNG and the model card.

Determinism: every stage seeds its own generators, and every training process runs on ``threads``
torch threads (1 by default), so the same config on the same machine gives the same weights.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from hoi_ros.diffusion.recipes import RecipeFile

STAGES = ("data", "vae", "mdm", "latents", "full", "without_vid", "select", "eval", "ship")
SPLITS = ("train", "val", "test")


@dataclass
class RecipeConfig(RecipeFile):
    """``config/recipes/svimo_*.yaml``: see the module docstring and ``config/recipes/svimo_embedded_default.yaml``."""

    output_dir: str = "out/svimo_tiny"
    model: str = "../models/svimo/embedded_default.yaml"
    ablation_model: str = "../models/svimo/embedded_default_without_vid.yaml"
    seed: int = 0
    # Training seeds of the SViMo runs (full and w/o VID each), compared paired on the validation split;
    # the first is the shipped one. Default: [seed].
    training_seeds: list[int] = field(default_factory=list)
    threads: int = 1
    parallel: bool = True  # run the independent stage pairs as two processes
    data: dict[str, Any] = field(default_factory=dict)
    vae: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    mdm: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    ship: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default=Path("."), repr=False)  # folder of the YAML (relative paths)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, output_dir: str | None = None) -> RecipeConfig:
        cfg = cls.read(path, output_dir)
        for split in SPLITS:
            if split not in cfg.data:
                raise ValueError(f"data.{split}: missing (seed and episodes)")
        seeds = [int(cfg.data[s]["seed"]) for s in SPLITS]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"data: train/val/test seeds must differ (held-out episodes), got {seeds}")
        return cfg


# ---------------------------------------------------------------------- helpers
def _read_info(out: Path) -> dict[str, Any]:
    f = out / "recipe.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def _update_info(out: Path, **kv: Any) -> dict[str, Any]:
    """Merge ``kv`` into ``out/recipe.json`` under a file lock (stage processes run side by side)."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "recipe.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        info = _read_info(out)
        for k, v in kv.items():
            if isinstance(v, dict) and isinstance(info.get(k), dict):
                info[k].update(v)
            else:
                info[k] = v
        tmp = out / "recipe.json.tmp"
        tmp.write_text(json.dumps(info, indent=1, default=str))
        os.replace(tmp, out / "recipe.json")
    return info


def _stage_time(out: Path, stage: str, seconds: float) -> None:
    _update_info(out, timings={stage: round(seconds, 1)})


def model_dict(cfg: RecipeConfig, which: str) -> dict[str, Any]:
    """The model config mapping of ``full`` or ``without_vid`` with the run's VAE and no checkpoint."""
    from hoi_ros.svimo.config import read_yaml_with_base

    data = read_yaml_with_base(cfg.path(cfg.model if which == "full" else cfg.ablation_model))
    data["checkpoint"] = None
    data.setdefault("vae", {})["path"] = str(cfg.out / "vae" / "vae")
    return data


def dataset_config(cfg: RecipeConfig) -> Any:
    from hoi_ros.sim.dataset import DatasetConfig

    return DatasetConfig.from_yaml(cfg.path(cfg.data.get("config", "sim_dataset_embedded_default.yaml")))


def split_root(cfg: RecipeConfig, split: str) -> Path:
    return cfg.out / "data" / split


def sim_data(cfg: RecipeConfig, split: str) -> dict[str, Any]:
    """The :class:`~hoi_ros.svimo.data.DataConfig` mapping of a split: tool/target halves, and the point
    order of ``data.point_order`` (``source`` by default)."""
    return {"kind": "sim", "path": str(split_root(cfg, split)), "point_labels": "halves",
            "point_order": str(cfg.data.get("point_order", "source"))}


def seed_runs(cfg: RecipeConfig, which: str) -> list[tuple[str, int]]:
    """(stage name, training seed) of every run of ``full`` or ``without_vid``: the first of
    ``training_seeds`` is the plain name (the shipped run), the others ``{which}_seed{N}``."""
    seeds = [int(x) for x in (cfg.training_seeds or [cfg.seed])]
    return [(which if i == 0 else f"{which}_seed{s}", s) for i, s in enumerate(seeds)]


def training_stages(cfg: RecipeConfig) -> list[str]:
    return [name for which in ("full", "without_vid") for name, _ in seed_runs(cfg, which)]


# ---------------------------------------------------------------------- stages
def stage_data(cfg: RecipeConfig) -> None:
    """Write the train / val / test sim datasets (disjoint seeds; same seed → same bytes)."""
    from hoi_ros.core.episodes import load_manifest
    from hoi_ros.sim.dataset import write_dataset

    dcfg = dataset_config(cfg)
    counts = {}
    for split in SPLITS:
        spec = cfg.data[split]
        root = split_root(cfg, split)
        try:
            m = load_manifest(root)
            ok = m["seed"] == int(spec["seed"]) and m["num_episodes"] == int(spec["episodes"]) \
                and m["config"] == dcfg.to_dict()
        except ValueError:
            ok = False
        if not ok:
            print(f"[recipe] sim dataset {split}: {spec['episodes']} episodes, seed {spec['seed']}", flush=True)
            m = write_dataset(root, int(spec["episodes"]), int(spec["seed"]), dcfg,
                              workers=int(cfg.data.get("workers", 1)))
        tasks: dict[str, list[int]] = {}
        for e in m["episodes"]:
            tasks.setdefault(e["task"], [0, 0])
            tasks[e["task"]][0] += 1
            tasks[e["task"]][1] += int(bool(e["success"]))
        counts[split] = {"seed": int(spec["seed"]), "episodes": int(spec["episodes"]),
                         "successful": sum(v[1] for v in tasks.values()), "per_task": tasks}
    _update_info(cfg.out, data=counts, test_data=str(split_root(cfg, "test")), train_data=str(split_root(cfg, "train")),
                 dataset_config=dcfg.to_dict())


def _train_samples(cfg: RecipeConfig, which: str = "full") -> Any:
    from hoi_ros.svimo.config import SViMoConfig
    from hoi_ros.svimo.data import DataConfig, build_dataset

    model_cfg = SViMoConfig.from_dict(model_dict(cfg, which))
    return build_dataset(DataConfig(**sim_data(cfg, "train")), model_cfg), model_cfg


def stage_vae(cfg: RecipeConfig) -> None:
    """Train the small VAE on the training episodes (RGB + rendered motion videos), or, with
    ``vae.reuse`` (a VAE folder trained before with the same settings; the recipe's YAML says on what
    data), take it as it is; then measure it on this run's validation episodes."""
    from hoi_ros.data.samples import clips_from_dataset
    from hoi_ros.diffusion.vae import VAEConfig, build_vae
    from hoi_ros.diffusion.vae_train import VAETrainConfig, reconstruction_psnr, train_vae

    settings = {k: v for k, v in cfg.vae.items() if k != "reuse"}
    vcfg = VAETrainConfig.from_dict({"seed": cfg.seed, **settings})
    dataset, model_cfg = _train_samples(cfg)
    folder = cfg.out / "vae" / "vae"
    if cfg.vae.get("reuse"):
        source = cfg.path(cfg.vae["reuse"])
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(source, folder)
        scaling, seconds, reused = json.loads((folder / "config.json").read_text())["scaling_factor"], 0.0, str(source)
    else:
        rgb, motion = clips_from_dataset(dataset)
        res = train_vae(vcfg, rgb, motion, cfg.out / "vae")
        folder, scaling, seconds, reused = res.folder, res.scaling_factor, res.seconds, None
    # Reconstruction quality on the validation episodes (full 17-frame videos).
    from hoi_ros.svimo.data import DataConfig, build_dataset

    val = build_dataset(DataConfig(**sim_data(cfg, "val")), model_cfg)
    val_rgb, val_motion = clips_from_dataset(val)
    vae = build_vae(VAEConfig(path=str(folder), latent_channels=vcfg.latent_channels))
    _update_info(cfg.out, vae=str(folder), vae_result={
        "scaling_factor": scaling, "seconds": round(seconds, 1), "steps": vcfg.steps, "reused": reused,
        "val_psnr_rgb": round(reconstruction_psnr(vae, val_rgb), 2),
        "val_psnr_motion": round(reconstruction_psnr(vae, val_motion), 2),
        "params": sum(p.numel() for p in vae.model.parameters()),
    })


def stage_mdm(cfg: RecipeConfig) -> None:
    """Train the MDM-like baseline: same data, batch size and step count (warm-up + joint) as SViMo,
    the learning rate of SViMo's motion model (``vid_lr``, else ``lr``)."""
    from hoi_ros.diffusion.params import count_parameters
    from hoi_ros.diffusion.text import build_text_encoder
    from hoi_ros.svimo.experiments.baselines import MDMConfig, build_mdm, train_mdm
    from hoi_ros.svimo.train_step import alphas_cumprod_of

    dataset, model_cfg = _train_samples(cfg)
    v = model_cfg.vid
    mcfg = MDMConfig.from_dict({"num_joints": v.num_joints, "num_object_points": v.num_object_points,
                                "num_frames": v.num_frames, "text_embed_dim": model_cfg.dit.text_embed_dim,
                                "coord_scale": v.coord_scale, "coord_offset": list(v.coord_offset), **cfg.mdm})
    text = build_text_encoder(model_cfg.text)
    samples = [dataset[i] for i in range(len(dataset))]
    t = cfg.train
    steps = int(t["warmup_steps"]) + int(t["joint_steps"])
    res = train_mdm(mcfg, samples, lambda prompts: text.encode(prompts), alphas_cumprod_of(model_cfg),
                    cfg.out / "mdm", steps=steps, batch_size=int(t["batch_size"]),
                    lr=float(t.get("vid_lr") or t["lr"]),  # the learning rate of SViMo's motion model VID
                    seed=cfg.seed, max_grad_norm=float(t.get("max_grad_norm", 1.0)))
    _update_info(cfg.out, checkpoints={"mdm": str(res.checkpoint)},
                 mdm_result={"steps": res.steps, "seconds": round(res.seconds, 1), "last": res.last,
                             "params": count_parameters(build_mdm(mcfg, 0))})


def _train_config(cfg: RecipeConfig, which: str, data: dict[str, Any], name: str | None = None,
                  seed: int | None = None) -> dict[str, Any]:
    return {"model": model_dict(cfg, which), "data": data, "output_dir": str(cfg.out / (name or which)),
            "seed": cfg.seed if seed is None else seed, "num_threads": cfg.threads, **cfg.train}


def stage_latents(cfg: RecipeConfig) -> None:
    """The offline latent cache of the training set, in the format of ``hoi_ros.svimo.train.precompute``
    (z₀ⱽ = E(V), z₀ᴹ = E(Proj(h, o)), z_I = E(I_noised) with one image-noise draw per clip, text
    features), encoded in batches (the VAE is much faster per clip on a batch)."""
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from hoi_ros.core.config import dataclass_from_dict
    from hoi_ros.data.samples import collate
    from hoi_ros.svimo.config import SViMoConfig
    from hoi_ros.svimo.data import DataConfig, build_dataset
    from hoi_ros.svimo.train import Encoders, TrainConfig, encode_batch

    raw = _train_config(cfg, "full", sim_data(cfg, "train"))
    model_cfg = SViMoConfig.from_dict(raw.pop("model"))
    tcfg = dataclass_from_dict(TrainConfig, raw, "train")
    dataset = build_dataset(DataConfig(**tcfg.data.to_dict()), model_cfg)
    enc = Encoders(model_cfg, need_text=True, need_vae=True, device=torch.device("cpu"))
    gen = torch.Generator().manual_seed(tcfg.seed)
    folder, tmp = cfg.out / "latents", cfg.out / "latents.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    batch = int(cfg.data.get("encode_batch", 8))
    for start in tqdm(range(0, len(dataset), batch), desc="precompute latents"):
        samples = [dataset[i] for i in range(start, min(start + batch, len(dataset)))]
        lat = encode_batch(collate(samples), enc, tcfg, gen)
        for j, sample in enumerate(samples):
            tensors = {k: v[j].contiguous() for k, v in lat.items()}
            for key in ("hand", "obj", "labels", "intrinsics", "extrinsics"):
                tensors[key] = sample[key].contiguous()
            tensors["frame_size"] = torch.tensor(sample["video"].shape[1:3])
            save_file(tensors, str(tmp / f"{start + j:08d}.safetensors"), metadata={"prompt": sample["prompt"]})
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def stage_svimo(cfg: RecipeConfig, name: str) -> None:
    """Alg. 1 (VID warm-up, then joint) for a run of ``full`` (shipped) or ``without_vid`` (Table 3),
    ``name`` one of :func:`training_stages`."""
    from hoi_ros.svimo.train import load_train_config, train

    which = "without_vid" if name.startswith("without_vid") else "full"
    seed = dict(seed_runs(cfg, which))[name]
    raw = _train_config(cfg, which, {"kind": "latents", "path": str(cfg.out / "latents")}, name, seed)
    cfg.out.mkdir(parents=True, exist_ok=True)
    yaml_path = cfg.out / f"train_{name}.yaml"
    yaml_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    tcfg, model_cfg = load_train_config(yaml_path)
    res = train(tcfg, model_cfg)
    if res.final_checkpoint is None:
        raise RuntimeError(f"{which}: training stopped at step {res.step} of {tcfg.total_steps}")
    _update_info(cfg.out, checkpoints={name: str(res.final_checkpoint)},
                 **{f"{name}_result": {"steps": res.step, "variant": res.variant, "last": res.last, "seed": seed}})


def stage_eval(cfg: RecipeConfig, split: str = "test") -> None:
    """Evaluation of every trained run and the baselines (:mod:`hoi_ros.svimo.experiments.evaluate`):
    ``val`` (stage ``select``: the design decisions, paired over the training seeds) or ``test``
    (stage ``eval``: the held-out episodes, looked at once, after the decisions)."""
    from hoi_ros.svimo.experiments.evaluate import evaluate_run

    e = cfg.eval
    torch.set_num_threads(max(1, int(e.get("threads", cfg.threads))))  # nothing else runs beside it
    _update_info(cfg.out, model_yaml=str(cfg.path(cfg.model)), ablation_yaml=str(cfg.path(cfg.ablation_model)),
                 run_names={w: [n for n, _ in seed_runs(cfg, w)] for w in ("full", "without_vid")})
    evaluate_run(cfg.out, data=split_root(cfg, split), out=cfg.out / ("eval" if split == "test" else "select"),
                 seed=int(e.get("seed", 0)), batch_size=int(e.get("batch_size", 20)), limit=e.get("limit"),
                 extra=_existing_models(cfg, e.get("compare_with")),
                 processes=int(e.get("processes", 1)))


def _existing_models(cfg: RecipeConfig, named: dict[str, str] | None) -> dict[str, str]:
    """``eval.compare_with`` (name → model YAML) resolved, without the YAMLs that are not there."""
    out = {}
    for name, path in (named or {}).items():
        full = cfg.path(path)
        if full.is_file():
            out[name] = str(full)
        else:
            print(f"[recipe] eval.compare_with: {full} not found; {name!r} is left out", flush=True)
    return out


# ---------------------------------------------------------------------- running stages
def _done(cfg: RecipeConfig, stage: str) -> bool:
    out, info = cfg.out, _read_info(cfg.out)
    return {
        "data": all((split_root(cfg, s) / "manifest.json").is_file() for s in SPLITS) and "data" in info,
        "vae": (out / "vae" / "vae" / "config.json").is_file() and "vae_result" in info,
        "mdm": "mdm" in info.get("checkpoints", {}),
        "latents": (out / "latents").is_dir(),
        "select": (out / "select" / "results.json").is_file(),
        "eval": (out / "eval" / "results.json").is_file(),
        "ship": False,
    }.get(stage, stage in info.get("checkpoints", {}))


def run_stage(cfg: RecipeConfig, stage: str) -> None:
    """Run one stage in this process (threads: ``cfg.threads``) and record its wall time."""
    torch.set_num_threads(max(1, int(cfg.threads)))
    start = time.time()
    fixed = {"data": stage_data, "vae": stage_vae, "mdm": stage_mdm, "latents": stage_latents,
             "select": lambda c: stage_eval(c, "val"), "eval": stage_eval, "ship": stage_ship}
    if stage not in fixed and stage not in training_stages(cfg):
        raise ValueError(f"stage {stage!r}: one of {list(fixed)[:4] + training_stages(cfg) + list(fixed)[4:]}")
    fn = fixed.get(stage, lambda c: stage_svimo(c, stage))
    fn(cfg)
    _stage_time(cfg.out, stage, time.time() - start)


def _spawn(config: Path, output: Path, stage: str) -> tuple[subprocess.Popen, Path]:
    log = output / f"{stage}.log"
    output.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "hoi_ros.svimo.experiments.recipe", "--config", str(config),
                                 "--output", str(output), "--only", stage], stdout=f, stderr=subprocess.STDOUT,
                                env=env)
    return proc, log


def run_pair(cfg: RecipeConfig, config: Path, here: str, there: str | None) -> None:
    """``here`` in this process and ``there`` in a child process at the same time (one core each)."""
    todo = [s for s in (here, there) if s is not None and not _done(cfg, s)]
    if not cfg.parallel or len(todo) < 2:
        for s in todo:
            print(f"[recipe] stage {s}", flush=True)
            run_stage(cfg, s)
        return
    print(f"[recipe] stages {here} (here) and {there} (child process, log {cfg.out / (there + '.log')})", flush=True)
    proc, log = _spawn(config, cfg.out, there)
    try:
        run_stage(cfg, here)
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
    if code != 0:
        raise RuntimeError(f"stage {there} failed (exit {code}); its log: {log}\n{log.read_text()[-3000:]}")


def run_recipe(config: str | Path, output: str | None = None, ship: bool = True,
               only: str | None = None) -> dict[str, Any]:
    """The whole recipe (or one stage with ``only``); returns ``recipe.json``'s contents."""
    cfg = RecipeConfig.from_yaml(config, output)
    config = Path(config).resolve()
    if only:
        run_stage(cfg, only)
        return _read_info(cfg.out)
    start = time.time()
    _update_info(cfg.out, config=str(config), recipe=_plain(cfg))
    for stage in ("data",):
        if not _done(cfg, stage):
            print("[recipe] stage data", flush=True)
            run_stage(cfg, stage)
    run_pair(cfg, config, "vae", "mdm" if cfg.mdm else None)
    if not _done(cfg, "latents"):
        print("[recipe] stage latents", flush=True)
        run_stage(cfg, "latents")
    runs = training_stages(cfg)
    for i in range(0, len(runs), 2):
        run_pair(cfg, config, runs[i], runs[i + 1] if i + 1 < len(runs) else None)
    for stage in ("select", "eval"):  # validation (decisions), then the test split once
        if not _done(cfg, stage):
            print(f"[recipe] stage {stage}", flush=True)
            run_stage(cfg, stage)
    _update_info(cfg.out, total_seconds=round(time.time() - start, 1))
    if ship:
        print("[recipe] stage ship", flush=True)
        run_stage(cfg, "ship")
    return _read_info(cfg.out)


def _plain(cfg: RecipeConfig) -> dict[str, Any]:
    return {k: getattr(cfg, k) for k in cfg.__dataclass_fields__ if k != "base_dir"}


# ---------------------------------------------------------------------- shipping
def stage_ship(cfg: RecipeConfig) -> None:
    """Write the shipped folder (the ``full`` run's weights and the run's VAE as one diffusers-style
    model folder, plus the demo image), then the contact sheets, loss curve and model card
    (``ship:`` section)."""
    from hoi_ros.svimo.config import SViMoConfig
    from hoi_ros.svimo.experiments.card import write_card, write_contact_sheets, write_demo_reference, write_loss_curve
    from hoi_ros.svimo.weights import convert_checkpoint

    info = _read_info(cfg.out)
    s = cfg.ship
    models_dir = cfg.path(s.get("models_dir", "../../models/svimo_tiny"))
    tmp = models_dir.with_name(models_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model_cfg = SViMoConfig.from_dict(model_dict(cfg, "full"))
    convert_checkpoint(info["checkpoints"]["full"], tmp, model_cfg.dit, model_cfg.vid, vae=info["vae"])
    write_demo_reference(cfg, info, tmp)
    for name in s.get("keep", []):  # files of the folder that do not depend on the weights (input coverage)
        if (models_dir / name).is_file():
            shutil.copy2(models_dir / name, tmp / name)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(models_dir)
    os.replace(tmp, models_dir)
    images = cfg.path(s.get("images", "../../docs/images"))
    sheets = write_contact_sheets(cfg, info, images)
    curve = write_loss_curve(cfg, info, images / s.get("loss_curve", "svimo_tiny_loss.png"))
    write_card(cfg, info, cfg.path(s.get("model_card", "../../docs/model_card_tiny.md")), sheets, curve)


def _weight_files(path: Path) -> dict[str, Path]:
    """A checkpoint's files by name: a safetensors file is itself (``""``); a model folder (a
    diffusers-style one with ``model_index.json``, or one component such as a VAE folder) is every
    ``*.safetensors`` and ``config.json`` under it."""
    if path.is_file():
        return {"": path}
    return {p.relative_to(path).as_posix(): p for p in sorted(path.rglob("*"))
            if p.is_file() and (p.suffix == ".safetensors" or p.name == "config.json")}


def same_weights(a: str | Path, b: str | Path, b_folder: tuple[str, str] | None = None) -> bool:
    """Whether two checkpoints hold the same tensors (bit for bit) and the same metadata.

    A checkpoint is a safetensors file (metadata: its header) or a model folder (every safetensors
    file with its header and every ``config.json``, plus ``model_index.json``'s checkpoint
    metadata; :func:`_weight_files`). Not a byte comparison: safetensors writes its metadata map in
    no fixed order. ``b_folder = (theirs, ours)``: ``b``'s metadata names its own run folder (the VAE
    path in ``model_config``), read as ``a``'s."""
    from safetensors import safe_open

    from hoi_ros.diffusion.components import checkpoint_metadata, is_component_folder

    def renamed(m: dict[str, str], rename: tuple[str, str] | None) -> dict[str, str]:
        return {k: v.replace(*rename) for k, v in m.items()} if rename else m

    a, b = Path(a), Path(b)
    files_a, files_b = _weight_files(a), _weight_files(b)
    if set(files_a) != set(files_b) or is_component_folder(a) != is_component_folder(b):
        return False
    if is_component_folder(a) and checkpoint_metadata(a) != renamed(checkpoint_metadata(b), b_folder):
        return False
    for name, fa_path in files_a.items():
        if fa_path.suffix != ".safetensors":
            ca, cb = (json.loads(p.read_text()) for p in (fa_path, files_b[name]))
            if {k: v for k, v in ca.items() if k != "_name_or_path"} != {
                    k: v for k, v in cb.items() if k != "_name_or_path"}:
                return False
            continue
        with safe_open(str(fa_path), framework="pt") as fa, safe_open(str(files_b[name]), framework="pt") as fb:
            if (fa.metadata() or {}) != renamed(fb.metadata() or {}, b_folder):
                return False
            if set(fa.keys()) != set(fb.keys()):
                return False
            if not all(torch.equal(fa.get_tensor(k), fb.get_tensor(k)) for k in fa.keys()):
                return False
    return True


def compare_runs(run: Path, other: Path) -> str:
    """Markdown: the evaluation means of two recipe runs side by side, and whether their weights are
    identical (the reproducibility statement of the model card)."""

    a, b = _read_info(run), _read_info(other)
    ra = json.loads((run / "eval" / "results.json").read_text())
    rb = json.loads((other / "eval" / "results.json").read_text())
    common = [k for k in a.get("checkpoints", {}) if k in b.get("checkpoints", {})]
    files = {k: (a["checkpoints"][k], b["checkpoints"][k]) for k in common}
    files["vae"] = (a["vae"], b["vae"])  # diffusers folders: config.json + safetensors
    folders = (str(other.resolve()), str(run.resolve()))
    same = {k: same_weights(x, y, folders) for k, (x, y) in files.items()}
    lines = [f"Re-run: the same command with `--output {os.path.relpath(other)} --no-ship` (same machine), "
             f"compared with the shipped run `{os.path.relpath(run)}`. Weights identical (every tensor bit for bit): "
             + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in same.items()) + ".", "",
             "| model | MPJPE (cm) shipped / re-run | Chamfer (cm) shipped / re-run | PSNR (dB) shipped / re-run |",
             "| --- | --- | --- | --- |"]
    for name, m in ra["models"].items():
        o = rb["models"].get(name)
        if o is None:
            continue

        def pair(key: str, scale: float, m: dict[str, Any] = m, o: dict[str, Any] = o) -> str:
            if key not in m["mean"]:
                return "—"
            return f"{m['mean'][key] * scale:.3f} / {o['mean'][key] * scale:.3f}"

        lines.append(f"| {name} | {pair('mpjpe', 100)} | {pair('chamfer', 100)} | {pair('psnr', 1)} |")
    timings = b.get("total_seconds")
    if timings:
        lines += ["", f"The re-run took {timings / 60:.1f} min (data → eval)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train, evaluate and ship the embedded SViMo.")
    ap.add_argument("--config", required=True, help="recipe YAML (config/recipes/svimo_embedded_default.yaml)")
    ap.add_argument("--output", help="override output_dir")
    ap.add_argument("--no-ship", action="store_true", help="train and evaluate only (models/ and docs/ untouched)")
    ap.add_argument("--only", help="run this stage only: " + ", ".join(STAGES) + " (full_seedN, without_vid_seedN "
                    "for the further training_seeds)")
    ap.add_argument("--compare-with", type=Path, help="a re-run's output folder: its evaluation and weights "
                    "are compared with this run's and the comparison goes into the model card")
    a = ap.parse_args(argv)
    if a.compare_with:
        cfg = RecipeConfig.from_yaml(a.config, a.output)
        _update_info(cfg.out, reproduction=compare_runs(cfg.out, a.compare_with.resolve()))
    info = run_recipe(a.config, a.output, ship=not a.no_ship, only=a.only)
    if not a.only:
        print(json.dumps({k: info.get(k) for k in ("timings", "total_seconds", "checkpoints")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
