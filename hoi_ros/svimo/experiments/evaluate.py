"""Evaluation of the embedded default on held-out sim episodes, side by side with its baselines.

    python -m hoi_ros.svimo.experiments.evaluate --run runs/svimo_tiny [--data DIR] [--out DIR]

SViMo Table 2 (motion) and Table 3 (ablation) at small scale. Every model gets, per held-out
episode, the episode's **first RGB frame** as the reference image I and its **prompt** P (SViMo §3:
image + prompt in), generates the video and the 3D motion, and is compared with the simulated
ground truth:

- **MPJPE** (hand, metres): mean joint position error over all frames (``hoi_ros.core.metrics``);
- **MSmo.** (motion smoothness, metres/frame²): mean joint acceleration norm of the *generated*
  hand motion (lower is smoother; the ground truth's own value is given for reference — a static
  motion scores 0, so it is not a quality measure alone);
- **Chamfer** (object, metres): symmetric Euclidean Chamfer distance per frame, averaged;
- **PSNR** (dB) and **SSIM** of the generated video against the ground-truth frames (8-bit,
  SSIM of Wang et al. 2004: 11×11 Gaussian window, σ = 1.5, averaged over RGB channels and frames);
- **TC** (temporal consistency): mean SSIM between consecutive generated frames (1 = nothing
  changes); the ground truth's own TC is the reference, so |TC − TC_gt| is what to read.

Models: the shipped SViMo (w/ VID, Table 3 row 1), SViMo w/o VID (Table 3's ablation, same recipe
with the ``loop:`` switches off), the MDM-like motion-only diffusion (Table 2, no vision) and the
static ground-truth first frame (:mod:`hoi_ros.svimo.experiments.baselines`). All generative models use the
sampler of the model config and the same seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hoi_ros.core.metrics import centroid_error, chamfer_distance, motion_smoothness, mpjpe, yaw_change
from hoi_ros.diffusion.video_metrics import psnr, ssim, temporal_consistency
from hoi_ros.svimo.config import SViMoConfig

SECOND_OBJECT_RADIUS = 0.05  # m: a generated target half whose centre stays this close to the true one is "present"
# (the sim's target sits 25 cm from the tool, so a half on the tool or between them is far outside it)


@dataclass
class EvalItem:
    """One held-out episode at the model's frames, fps and size."""

    index: int
    prompt: str
    task: str
    video: torch.Tensor  # [T, H, W, 3] uint8
    hand: torch.Tensor  # [T, J, 3] metres
    obj: torch.Tensor  # [T, K, 3] metres
    labels: torch.Tensor | None = None  # [K] 0 tool, 1 target (the sim's labels; None: one object)


@dataclass
class Generated:
    """One model's output for a batch: video (or None), hand and object points."""

    video: torch.Tensor | None  # [B, T, H, W, 3] uint8
    hand: torch.Tensor  # [B, T, J, 3]
    obj: torch.Tensor  # [B, T, K, 3]


# The rows that need no model: their numbers depend on the episodes (and the training split) only.
TEMPLATE_ROW = "per-task template (no model)"
STATIC_ROW = "static first frame (GT)"


def load_items(root: str | Path, model_cfg: SViMoConfig, limit: int | None = None) -> list[EvalItem]:
    """The successful episodes of a sim dataset, read at the model's frames, fps and size."""
    from hoi_ros.data.sim import SimHOIDataset

    v = model_cfg.video
    ds = SimHOIDataset(root, num_frames=v.num_frames, fps=v.fps, size=(v.height, v.width), only_successful=True)
    items = []
    for i in range(len(ds) if limit is None else min(limit, len(ds))):
        it = ds[i]
        items.append(EvalItem(i, it["prompt"], it["task"], it["video"], it["hand"], it["obj"], it["labels"]))
    return items


def lift_prompt_items(items: list[EvalItem]) -> list[EvalItem]:
    """The two-object episodes with their prompt replaced by the sim's lift prompt for the first object
    (``hoi_ros.sim.tasks.prompt_for``'s wording, matched by a test)
    ("pick up the red block and place it on the blue bowl" → "grasp the red block and lift it up"):
    the second object is still in the image but not in the prompt, which tests whether the 3D output's
    objects come from the picture or from the prompt's task."""
    out = []
    for it in items:
        m = re.match(r"pick up the (.+?) and ", it.prompt)
        if not has_second_object(it) or m is None:
            continue
        out.append(dataclasses.replace(it, prompt=f"grasp the {m.group(1)} and lift it up"))
    return out


def has_second_object(item: EvalItem) -> bool:
    """Whether the episode's scene has a second object (target points, label 1)."""
    return item.labels is not None and bool((item.labels == 1).any())


def turned_object(item: EvalItem, obj: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(true, generated) points ``[T, K', 3]`` of the manipulated object: with a second object in the
    scene, the tool half (App. B.2's index split: the first K/2 generated points, label 0 in the truth)."""
    two = has_second_object(item)
    true = item.obj[:, item.labels == 0] if two else item.obj
    generated = obj[:, : obj.shape[1] // 2] if two else obj
    return true.double().numpy(), generated.double().numpy()


def episode_metrics(item: EvalItem, hand: torch.Tensor, obj: torch.Tensor, video: torch.Tensor | None
                    ) -> dict[str, float]:
    """The metrics of one generated episode against its ground truth (see the module docstring)."""
    out = {
        "mpjpe": float(mpjpe(hand.double(), item.hand.double())),
        "msmo": float(motion_smoothness(hand.double())),
        "chamfer": float(chamfer_distance(obj.double(), item.obj.double())),
    }
    if video is not None:
        out.update(psnr=psnr(video, item.video), ssim=float(ssim(video, item.video).mean()),
                   tc=temporal_consistency(video))
    if item.task == "rotate":  # the turned object's turn, generated against true (degrees)
        true_obj, generated = turned_object(item, obj)
        diff = yaw_change(generated) - yaw_change(true_obj)
        out["yaw_error"] = abs(math.degrees(math.remainder(diff, 2 * math.pi)))
    if has_second_object(item):
        # A second object in the image: the generated target half (App. B.2's index split) against it.
        k = obj.shape[1]
        err = centroid_error(obj[:, k // 2:].double().numpy(), item.obj[:, item.labels == 1].double().numpy())
        out["target_error"] = err
        out["second_object"] = float(err < SECOND_OBJECT_RADIUS)
    return out


# ---------------------------------------------------------------------- models
def svimo_model(model_yaml: str | Path, checkpoint: str | Path, vae_path: str | Path | None = None,
                sampler: dict[str, Any] | None = None, refine: dict[str, Any] | None = None
                ) -> Callable[[list[EvalItem], int], Generated]:
    """A batch generator around :class:`hoi_ros.svimo.pipeline.SViMoGenerator`'s parts (Alg. 2), then the
    model's ``refine`` of the object points; ``sampler`` / ``refine``: fields that replace the YAML's."""
    from hoi_ros.svimo.pipeline import SViMoGenerator

    cfg = SViMoConfig.from_yaml(model_yaml)
    if vae_path is not None:
        cfg = dataclasses.replace(cfg, vae=dataclasses.replace(cfg.vae, path=str(vae_path)))
    if sampler:
        cfg = dataclasses.replace(cfg, sampler=dataclasses.replace(cfg.sampler, **sampler))
    if refine:
        cfg = dataclasses.replace(cfg, refine=dataclasses.replace(cfg.refine, **refine))
    gen = SViMoGenerator(cfg, checkpoint=checkpoint)

    def run(items: list[EvalItem], seed: int) -> Generated:
        text = gen.text_encoder.encode([it.prompt for it in items])
        images = torch.stack([it.video[0] for it in items])[:, None]  # [B, 1, H, W, 3] = I
        z_image = gen.vae.encode(images)
        g = torch.Generator().manual_seed(int(seed))
        res = gen.sampler.sample(z_image, text, cfg.video.num_frames, generator=g)
        video = gen.vae.decode(res.video_latents)
        video = (video * 255.0).round().clamp(0, 255).to(torch.uint8)
        return Generated(video, res.hand.float(), gen.refine_objects(res.hand, res.obj).float())

    return run


def mdm_model(checkpoint: str | Path, model_cfg: SViMoConfig) -> Callable[[list[EvalItem], int], Generated]:
    """A batch generator for the MDM-like baseline (text only; same sampler as SViMo)."""
    from hoi_ros.diffusion.text import build_text_encoder
    from hoi_ros.svimo.experiments.baselines import load_mdm, sample_mdm

    model = load_mdm(checkpoint)
    text_encoder = build_text_encoder(model_cfg.text)

    def run(items: list[EvalItem], seed: int) -> Generated:
        text = text_encoder.encode([it.prompt for it in items])
        g = torch.Generator().manual_seed(int(seed))
        hand, obj = sample_mdm(model, text, model_cfg.sampler, g)
        return Generated(None, hand.float(), obj.float())

    return run


def static_model() -> Callable[[list[EvalItem], int], Generated]:
    """The ground-truth first frame held still (hand, object points and video)."""
    from hoi_ros.svimo.experiments.baselines import static_baseline

    def run(items: list[EvalItem], seed: int) -> Generated:
        hand, obj, video = static_baseline(torch.stack([it.hand for it in items]),
                                           torch.stack([it.obj for it in items]),
                                           torch.stack([it.video for it in items]))
        return Generated(video, hand, obj)

    return run


def template_model(train: list[EvalItem]) -> Callable[[list[EvalItem], int], Generated]:
    """The per-task template (:func:`~hoi_ros.svimo.experiments.baselines.template_baseline`) over
    ``train``'s episodes as an evaluation model: no model, it is handed the true task."""
    from hoi_ros.svimo.experiments.baselines import task_templates, template_baseline

    templates = task_templates([it.task for it in train], torch.stack([it.hand for it in train]))

    def run(items: list[EvalItem], seed: int) -> Generated:
        hand, obj = template_baseline(templates, [it.task for it in items], torch.stack([it.obj for it in items]))
        return Generated(None, hand, obj)

    return run


# ---------------------------------------------------------------------- the evaluation
METRICS = ("mpjpe", "msmo", "chamfer", "psnr", "ssim", "tc", "yaw_error", "target_error", "second_object")


def evaluate(models: dict[str, Callable[[list[EvalItem], int], Generated]], items: list[EvalItem],
             seed: int = 0, batch_size: int = 20, progress: bool = True,
             keep: Callable[[str, EvalItem, Generated, int], None] | None = None) -> dict[str, Any]:
    """Run every model on every item (batches of ``batch_size``, batch ``i`` seeded ``seed + i``).

    Returns ``{"models": {name: {"mean": {...}, "sem": {...}, "per_task": {task: {...}},
    "seconds": s, "per_episode": [rows]}}, "ground_truth": {"msmo", "tc"}, "episodes": n}``; every
    model sees the same items in the same order, so ``per_episode`` rows pair up (:func:`paired_differences`).
    """
    from tqdm.auto import tqdm

    results: dict[str, Any] = {"models": {}, "episodes": len(items)}
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    for name, run in models.items():
        rows: list[dict[str, float]] = []
        start = time.time()
        for b, batch in enumerate(tqdm(batches, desc=f"eval {name}", disable=not progress)):
            out = run(batch, seed + b)
            for j, it in enumerate(batch):
                video = None if out.video is None else out.video[j]
                rows.append({"episode": it.index, "task": it.task,
                             **episode_metrics(it, out.hand[j], out.obj[j], video)})
                if keep is not None:
                    keep(name, it, out, j)
        results["models"][name] = summarise(rows) | {"seconds": round(time.time() - start, 1), "per_episode": rows}
    results["ground_truth"] = {
        "msmo": float(np.mean([float(motion_smoothness(it.hand.double())) for it in items])),
        "tc": float(np.mean([temporal_consistency(it.video) for it in items])),
    }
    return results


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard error over episodes, and per-task means."""
    def stats(sub: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
        mean, sem = {}, {}
        for m in METRICS:
            vals = np.array([r[m] for r in sub if m in r], dtype=np.float64)
            if len(vals):
                mean[m] = float(vals.mean())
                sem[m] = float(vals.std(ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else 0.0
        return mean, sem

    mean, sem = stats(rows)
    tasks = sorted({r["task"] for r in rows})
    per_task = {t: stats([r for r in rows if r["task"] == t])[0] | {"n": sum(r["task"] == t for r in rows)}
                for t in tasks}
    return {"mean": mean, "sem": sem, "per_task": per_task}


def paired_differences(results: dict[str, Any], metric: str) -> dict[str, dict[str, float]]:
    """Per baseline: the episode-wise difference ``baseline − first model`` of ``metric`` (positive = the
    first model is better for an error metric): mean, standard error, and the fraction of episodes where
    the first model is better. Paired, so the spread the episodes share cancels (unlike comparing the two
    means ± their own standard errors). Models without per-episode rows or the metric are skipped."""
    names = list(results["models"])
    ref = results["models"][names[0]].get("per_episode")
    out: dict[str, dict[str, float]] = {}
    if not ref:
        return out
    for name in names[1:]:
        rows = results["models"][name].get("per_episode")
        if not rows or metric not in rows[0] or metric not in ref[0]:
            continue
        if [r["episode"] for r in rows] != [r["episode"] for r in ref]:
            raise ValueError(f"paired_differences: {name!r} was run on other episodes than {names[0]!r}")
        d = np.array([b[metric] - a[metric] for a, b in zip(ref, rows)], dtype=np.float64)
        sem = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
        out[name] = {"mean": float(d.mean()), "sem": sem, "better": float((d > 0).mean()), "n": len(d)}
    return out


def paired_table(results: dict[str, Any]) -> str:
    """Markdown: :func:`paired_differences` of MPJPE and Chamfer (cm) for every baseline ("" without rows)."""
    first = next(iter(results["models"]))
    mp, ch = paired_differences(results, "mpjpe"), paired_differences(results, "chamfer")
    if not mp:
        return ""
    lines = [f"| baseline − {first} | ΔMPJPE (cm) | {first} better (MPJPE) | ΔChamfer (cm) | "
             f"{first} better (Chamfer) |", "| --- | --- | --- | --- | --- |"]
    for name, m in mp.items():
        c = ch.get(name)
        cham = (f"{c['mean'] * 100:+.2f} ± {c['sem'] * 100:.2f} | {c['better']:.0%}") if c else "— | —"
        lines.append(f"| {name} | {m['mean'] * 100:+.2f} ± {m['sem'] * 100:.2f} | {m['better']:.0%} | {cham} |")
    return "\n".join(lines)


def split_seed(name: str) -> tuple[str, str | None]:
    """A model row's (configuration, training seed): its name without `` (shipped)`` and `` seed N``,
    and ``N`` (``None`` for a row without a training seed)."""
    base = name.replace(" (shipped)", "")
    head, _, tail = base.rpartition(" seed ")
    return (head, tail) if head and tail.isdigit() else (base, None)


def configuration(name: str) -> str:
    """A model row's configuration (:func:`split_seed`)."""
    return split_seed(name)[0]


def seed_groups(results: dict[str, Any]) -> dict[str, list[str]]:
    """Model rows grouped by :func:`configuration`, in table order."""
    groups: dict[str, list[str]] = {}
    for name in results["models"]:
        groups.setdefault(configuration(name), []).append(name)
    return groups


def _seed_mean_rows(results: dict[str, Any], names: list[str], metric: str) -> np.ndarray | None:
    """Per episode, ``metric`` averaged over the training seeds ``names`` (NaN where undefined)."""
    rows = [results["models"][n].get("per_episode") for n in names]
    if not all(rows):
        return None
    vals = np.array([[r.get(metric, np.nan) for r in rs] for rs in rows], dtype=np.float64)
    return vals.mean(0)


def configuration_table(results: dict[str, Any], metrics: tuple[tuple[str, str, float], ...] = (
        ("mpjpe", "MPJPE (cm)", 100.0), ("chamfer", "Chamfer (cm)", 100.0),
        ("yaw_error", "rotate yaw error (°)", 1.0), ("second_object", "second object present (%)", 100.0))) -> str:
    """Markdown: per configuration (:func:`seed_groups`), each metric's mean over its training seeds with
    the seeds' own means in brackets (the seed spread), and the difference to the first configuration,
    paired per episode on the seed-averaged values (mean ± standard error; positive = the first is better
    for an error metric, worse for "present")."""
    groups = seed_groups(results)
    first = next(iter(groups))
    head = "| configuration (seeds) | " + " | ".join(f"{label} | Δ vs {first}" for _, label, _ in metrics) + " |"
    lines = [head, "| --- |" + " --- | --- |" * len(metrics)]
    for cfg_name, names in groups.items():
        cells = []
        for metric, _, scale in metrics:
            per_seed = [results["models"][n]["mean"].get(metric) for n in names]
            if any(v is None for v in per_seed):
                cells += ["—", "—"]
                continue
            mean = float(np.mean(per_seed)) * scale
            spread = f" ({', '.join(f'{v * scale:.2f}' for v in per_seed)})" if len(per_seed) > 1 else ""
            cells.append(f"{mean:.2f}{spread}")
            a, b = _seed_mean_rows(results, groups[first], metric), _seed_mean_rows(results, names, metric)
            if cfg_name == first or a is None or b is None:
                cells.append("—")
                continue
            d = (b - a)[~np.isnan(a) & ~np.isnan(b)] * scale
            sem = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
            cells.append(f"{d.mean():+.2f} ± {sem:.2f}" if len(d) else "—")
        lines.append(f"| {cfg_name} ({len(names)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_table(results: dict[str, Any]) -> str:
    """The side-by-side table of :func:`evaluate`'s results (mean ± standard error over episodes)."""
    def cell(model: dict[str, Any], m: str, scale: float = 1.0, digits: int = 2) -> str:
        if m not in model["mean"]:
            return "—"
        return f"{model['mean'][m] * scale:.{digits}f} ± {model['sem'][m] * scale:.{digits}f}"

    gt = results["ground_truth"]
    lines = [
        "| model | MPJPE (cm) ↓ | MSmo. (mm/frame²) | Chamfer (cm) ↓ | rotate yaw error (°) ↓ | "
        "second object present ↑ | PSNR (dB) ↑ | SSIM ↑ | TC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, model in results["models"].items():
        present = cell(model, "second_object", 100, 0) + (" %" if "second_object" in model["mean"] else "")
        lines.append(f"| {name} | {cell(model, 'mpjpe', 100)} | {cell(model, 'msmo', 1000)} | "
                     f"{cell(model, 'chamfer', 100)} | {cell(model, 'yaw_error', 1, 1)} | {present} | "
                     f"{cell(model, 'psnr', 1, 1)} | "
                     f"{cell(model, 'ssim', 1, 3)} | {cell(model, 'tc', 1, 3)} |")
    lines.append(f"| ground truth | 0 | {gt['msmo'] * 1000:.2f} | 0 | 0 | 100 % | — | — | {gt['tc']:.3f} |")
    return "\n".join(lines)


def per_task_table(results: dict[str, Any]) -> str:
    """MPJPE / Chamfer (cm) per task and model."""
    names = list(results["models"])
    tasks = sorted({t for m in results["models"].values() for t in m["per_task"]})
    head = "| task (n) | " + " | ".join(f"{n} MPJPE / Cham." for n in names) + " |"
    lines = [head, "| --- |" + " --- |" * len(names)]
    for t in tasks:
        n = results["models"][names[0]]["per_task"][t]["n"]
        cells = [f"{results['models'][m]['per_task'][t]['mpjpe'] * 100:.2f} / "
                 f"{results['models'][m]['per_task'][t]['chamfer'] * 100:.2f}" for m in names]
        lines.append(f"| {t} ({n}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


Model = Callable[[list[EvalItem], int], Generated]


def run_models(info: dict[str, Any], cfg: SViMoConfig, train_data: str | Path | None = None,
               extra: dict[str, str] | None = None) -> dict[str, Callable[[], Model]]:
    """The rows of a recipe run (``recipe.json``), first the shipped one, each as a constructor (so a
    process builds only the rows it runs): every training seed of SViMo w/ VID and w/o VID, the
    MDM-like baseline when trained, ``extra`` (name → model YAML, run with its own checkpoint, e.g. a
    previously shipped model), the per-task template over ``train_data`` and the static first frame."""
    ckpt = info["checkpoints"]
    names = info.get("run_names") or {"full": ["full"], "without_vid": ["without_vid"]}
    models: dict[str, Callable[[], Model]] = {}
    for which, label, yaml_key in (("full", "SViMo w/ VID", "model_yaml"),
                                   ("without_vid", "SViMo w/o VID", "ablation_yaml")):
        for i, name in enumerate(n for n in names[which] if n in ckpt):
            seed = info.get(f"{name}_result", {}).get("seed")
            tag = f"{label} (shipped)" if which == "full" and i == 0 else label  # its own YAML: the loop switches act
            models[tag + ("" if seed is None or len(names[which]) == 1 else f" seed {seed}")] = functools.partial(
                svimo_model, info[yaml_key], ckpt[name], info["vae"])
    for name, model_yaml in (extra or {}).items():
        models[name] = functools.partial(svimo_model, model_yaml, SViMoConfig.from_yaml(model_yaml).checkpoint)
    if ckpt.get("mdm"):
        models["MDM-like (text only)"] = functools.partial(mdm_model, ckpt["mdm"], cfg)
    if train_data is not None:
        models[TEMPLATE_ROW] = lambda: template_model(load_items(train_data, cfg))
    models[STATIC_ROW] = static_model
    return models


def _cost(name: str, sampled: set[str]) -> float:
    """A rough relative cost of a row: a SViMo model with the closed loop re-encodes a motion video at
    every step (``sampled``: further rows that sample a model YAML, costed as such)."""
    if name.startswith("SViMo w/o VID"):
        return 2.0
    return 3.0 if name.startswith("SViMo") or name in sampled else 0.1


def split_models(names: list[str], parts: int, sampled: set[str] | frozenset[str] = frozenset()) -> list[list[str]]:
    """``names`` in ``parts`` groups of about equal :func:`_cost` (greedy, costliest first)."""
    groups: list[list[str]] = [[] for _ in range(max(1, parts))]
    loads = [0.0] * len(groups)
    for name in sorted(names, key=lambda n: _cost(n, set(sampled)), reverse=True):
        i = loads.index(min(loads))
        groups[i].append(name)
        loads[i] += _cost(name, set(sampled))
    return [g for g in groups if g]


def evaluate_run(run_dir: str | Path, data: str | Path | None = None, out: str | Path | None = None,
                 seed: int = 0, batch_size: int = 20, limit: int | None = None,
                 extra: dict[str, str] | None = None, prompts: str = "episode", only: list[str] | None = None,
                 processes: int = 1) -> dict[str, Any]:
    """Evaluate the models a recipe run trained (``run_dir/recipe.json`` names them; :func:`run_models`)
    on its held-out test episodes (or ``data``); writes ``results.json`` and ``results.md`` into ``out``.
    ``prompts="lift"``: only the two-object episodes, with :func:`lift_prompt_items`' prompts; ``only``:
    these rows only. ``processes`` > 1: the rows are split (:func:`split_models`) over that many
    one-thread processes (this one and children), every batch seeded as in one process (so the rows
    pair up as in one process); the rows are merged in table order."""
    run = Path(run_dir)
    info = json.loads((run / "recipe.json").read_text())
    cfg = SViMoConfig.from_yaml(info["model_yaml"])
    items = load_items(data or info["test_data"], cfg, limit)
    if prompts == "lift":
        items = lift_prompt_items(items)
    elif prompts != "episode":
        raise ValueError(f"prompts: 'episode' or 'lift', got {prompts!r}")
    rows = run_models(info, cfg, info.get("train_data"), extra)
    if only is not None:
        unknown = sorted(set(only) - set(rows))
        if unknown:
            raise ValueError(f"only: no model rows {unknown}; rows: {list(rows)}")
        rows = {k: v for k, v in rows.items() if k in only}
    out_dir = Path(out) if out else run / "eval"
    children = []
    if processes > 1:
        here, *others = split_models(list(rows), processes, set(extra or {}))
        torch.set_num_threads(1)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        for i, names in enumerate(others):
            args = [sys.executable, "-m", "hoi_ros.svimo.experiments.evaluate", "--run", str(run), "--out",
                    str(out_dir / f"part{i + 1}"), "--seed", str(seed), "--batch-size", str(batch_size),
                    "--threads", "1", "--prompts", prompts, "--only", *names]
            args += ["--data", str(data or info["test_data"])] + (["--limit", str(limit)] if limit else [])
            args += [a for name, path in (extra or {}).items() for a in ("--extra", f"{name}={path}")]
            out_dir.mkdir(parents=True, exist_ok=True)
            log = open(out_dir / f"part{i + 1}.log", "w")  # closed after the child ends
            children.append((subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env), log, i + 1))
        order = list(rows)
        rows = {k: v for k, v in rows.items() if k in here}
    results = evaluate({name: build() for name, build in rows.items()}, items, seed=seed, batch_size=batch_size)
    for proc, log, i in children:
        code = proc.wait()
        log.close()
        if code != 0:
            raise RuntimeError(f"evaluation part {i} failed (exit {code}): {out_dir / f'part{i}.log'}")
        part = json.loads((out_dir / f"part{i}" / "results.json").read_text())
        results["models"].update(part["models"])
    if children:
        results["models"] = {k: results["models"][k] for k in order}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    (out_dir / "results.md").write_text(markdown_table(results) + "\n\n" + per_task_table(results) + "\n\n"
                                        + paired_table(results) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Evaluate the embedded SViMo and its baselines on held-out episodes.")
    ap.add_argument("--run", required=True, help="recipe output folder (python -m hoi_ros.svimo.experiments.recipe)")
    ap.add_argument("--data", help="sim dataset to evaluate on (default: the run's held-out test set)")
    ap.add_argument("--out", help="output folder (default: RUN/eval)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--limit", type=int, help="first N episodes only")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--prompts", choices=("episode", "lift"), default="episode",
                    help="lift: the two-object episodes with a lift prompt naming only the first object")
    ap.add_argument("--only", nargs="+", help="these model rows only (names as in the table)")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=YAML",
                    help="a further model row: a model YAML run with its own checkpoint")
    ap.add_argument("--processes", type=int, default=1, help="split the rows over this many one-thread processes")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    extra = dict(e.split("=", 1) for e in a.extra)
    results = evaluate_run(a.run, a.data, a.out, a.seed, a.batch_size, a.limit, extra=extra, prompts=a.prompts,
                           only=a.only, processes=a.processes)
    print(markdown_table(results))
    print()
    print(per_task_table(results))
    print()
    print(paired_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
