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
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hoi_ros.core.metrics import chamfer_distance, motion_smoothness, mpjpe
from hoi_ros.diffusion.video_metrics import psnr, ssim, temporal_consistency
from hoi_ros.svimo.config import SViMoConfig


@dataclass
class EvalItem:
    """One held-out episode at the model's frames, fps and size."""

    index: int
    prompt: str
    task: str
    video: torch.Tensor  # [T, H, W, 3] uint8
    hand: torch.Tensor  # [T, J, 3] metres
    obj: torch.Tensor  # [T, K, 3] metres


@dataclass
class Generated:
    """One model's output for a batch: video (or None), hand and object points."""

    video: torch.Tensor | None  # [B, T, H, W, 3] uint8
    hand: torch.Tensor  # [B, T, J, 3]
    obj: torch.Tensor  # [B, T, K, 3]


def load_items(root: str | Path, model_cfg: SViMoConfig, limit: int | None = None) -> list[EvalItem]:
    """The successful episodes of a sim dataset, read at the model's frames, fps and size."""
    from hoi_ros.data.sim import SimHOIDataset

    v = model_cfg.video
    ds = SimHOIDataset(root, num_frames=v.num_frames, fps=v.fps, size=(v.height, v.width), only_successful=True)
    items = []
    for i in range(len(ds) if limit is None else min(limit, len(ds))):
        it = ds[i]
        items.append(EvalItem(i, it["prompt"], it["task"], it["video"], it["hand"], it["obj"]))
    return items


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
    return out


# ---------------------------------------------------------------------- models
def svimo_model(model_yaml: str | Path, checkpoint: str | Path, vae_path: str | Path | None = None,
                sampler: dict[str, Any] | None = None) -> Callable[[list[EvalItem], int], Generated]:
    """A batch generator around :class:`hoi_ros.svimo.pipeline.SViMoGenerator`'s parts (Alg. 2)."""
    from hoi_ros.svimo.pipeline import SViMoGenerator

    cfg = SViMoConfig.from_yaml(model_yaml)
    if vae_path is not None:
        cfg = dataclasses.replace(cfg, vae=dataclasses.replace(cfg.vae, path=str(vae_path)))
    if sampler:
        cfg = dataclasses.replace(cfg, sampler=dataclasses.replace(cfg.sampler, **sampler))
    gen = SViMoGenerator(cfg, checkpoint=checkpoint)

    def run(items: list[EvalItem], seed: int) -> Generated:
        text = gen.text_encoder.encode([it.prompt for it in items])
        images = torch.stack([it.video[0] for it in items])[:, None]  # [B, 1, H, W, 3] = I
        z_image = gen.vae.encode(images)
        g = torch.Generator().manual_seed(int(seed))
        res = gen.sampler.sample(z_image, text, cfg.video.num_frames, generator=g)
        video = gen.vae.decode(res.video_latents)
        video = (video * 255.0).round().clamp(0, 255).to(torch.uint8)
        return Generated(video, res.hand.float(), res.obj.float())

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


# ---------------------------------------------------------------------- the evaluation
METRICS = ("mpjpe", "msmo", "chamfer", "psnr", "ssim", "tc")


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


def markdown_table(results: dict[str, Any]) -> str:
    """The side-by-side table of :func:`evaluate`'s results (mean ± standard error over episodes)."""
    def cell(model: dict[str, Any], m: str, scale: float = 1.0, digits: int = 2) -> str:
        if m not in model["mean"]:
            return "—"
        return f"{model['mean'][m] * scale:.{digits}f} ± {model['sem'][m] * scale:.{digits}f}"

    gt = results["ground_truth"]
    lines = [
        "| model | MPJPE (cm) ↓ | MSmo. (mm/frame²) | Chamfer (cm) ↓ | PSNR (dB) ↑ | SSIM ↑ | TC |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, model in results["models"].items():
        lines.append(f"| {name} | {cell(model, 'mpjpe', 100)} | {cell(model, 'msmo', 1000)} | "
                     f"{cell(model, 'chamfer', 100)} | {cell(model, 'psnr', 1, 1)} | {cell(model, 'ssim', 1, 3)} | "
                     f"{cell(model, 'tc', 1, 3)} |")
    lines.append(f"| ground truth | 0 | {gt['msmo'] * 1000:.2f} | 0 | — | — | {gt['tc']:.3f} |")
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


def evaluate_run(run_dir: str | Path, data: str | Path | None = None, out: str | Path | None = None,
                 seed: int = 0, batch_size: int = 20, limit: int | None = None) -> dict[str, Any]:
    """Evaluate the models a recipe run trained (``run_dir/recipe.json`` names them) on its held-out
    test episodes (or ``data``); writes ``results.json`` and ``results.md`` into ``out``."""
    run = Path(run_dir)
    info = json.loads((run / "recipe.json").read_text())
    model_yaml = info["model_yaml"]
    cfg = SViMoConfig.from_yaml(model_yaml)
    items = load_items(data or info["test_data"], cfg, limit)
    models: dict[str, Callable[[list[EvalItem], int], Generated]] = {
        "SViMo w/ VID (shipped)": svimo_model(model_yaml, info["checkpoints"]["full"], info["vae"]),
    }
    if info["checkpoints"].get("without_vid"):  # its own YAML: the loop switches also act at sampling
        models["SViMo w/o VID"] = svimo_model(info["ablation_yaml"], info["checkpoints"]["without_vid"], info["vae"])
    if info["checkpoints"].get("mdm"):
        models["MDM-like (text only)"] = mdm_model(info["checkpoints"]["mdm"], cfg)
    models["static first frame (GT)"] = static_model()
    results = evaluate(models, items, seed=seed, batch_size=batch_size)
    out_dir = Path(out) if out else run / "eval"
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
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    results = evaluate_run(a.run, a.data, a.out, a.seed, a.batch_size, a.limit)
    print(markdown_table(results))
    print()
    print(per_task_table(results))
    print()
    print(paired_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
