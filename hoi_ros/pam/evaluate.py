"""PAM on held-out sim episodes, where the ground-truth render of the same trajectory is known.

    python -m hoi_ros.pam.evaluate --model models/pam_small --data out/pam_small/data/test \
        --estimator out/pam_small/estimator --train-data out/pam_small/data/train --output out/pam_small/eval_test

Rows (one command, the same episodes, noise and first frames for every row, so differences are paired):

- ``all``, ``seg``, ``depth``, ``hand``, ``depth+seg``: the full engine (Stage II first frame →
  Stage III video) with that condition subset (paper, Table "Ablation Study"; the other conditions'
  latents zeroed, as the masked training sees them);
- ``no ControlNet``: Stage III's base alone from the same generated first frame (text only);
- ``first-frame copy``: the generated first frame repeated;
- ``VAE reconstruction``: the ground truth encoded and decoded by the video VAE, the ceiling of any
  latent model with this VAE;
- with ``--truth-first-frame`` also the Stage III rows from the ground-truth first frame
  (``all, real I₀``, ``no ControlNet, real I₀``, ``first-frame copy, real I₀``), which isolates Stage III.

Metrics per episode, then mean and the 95 % interval of the paired difference to ``all``: PSNR and
SSIM against the ground-truth render, temporal consistency (mean SSIM of consecutive frames; the
ground truth's is reported beside it), the hand's MPJPE in pixels and the hand mask's IoU, both from
:mod:`hoi_ros.data.hand_estimator` run on the generated frames (trained on the training split's
frames, measured first on held-out ground-truth frames: the ``ground truth`` row is its floor).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hoi_ros.data.hand_estimator import (
    HandEstimator,
    frames_from_dataset,
    item_keypoints,
    keypoint_error,
    load_estimator,
    mask_iou,
    predict,
    save_estimator,
    train_estimator,
)
from hoi_ros.diffusion.video_metrics import psnr, ssim, temporal_consistency
from hoi_ros.pam.conditions import CONDITIONS, condition_images, encode_conditions, subset_keep
from hoi_ros.pam.generate import DEFAULT_MODEL
from hoi_ros.pam.pipeline import PAMPipeline
from hoi_ros.pam.pooled_text import mean_pooled

SUBSET_ROWS = ("all", "seg", "depth", "hand", "depth+seg")
METRICS = ("psnr", "ssim", "tc", "hand_mpjpe_px", "hand_iou", "first_frame_psnr")


def load_items(pipe: PAMPipeline, root: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The episodes of a sim dataset at the model's clip: GT video, conditions, keypoints, prompt."""
    from hoi_ros.data.sim import SimHOIDataset

    clip = pipe.cfg.clip
    ds = SimHOIDataset(root, num_frames=clip.num_frames, fps=clip.fps, size=(clip.height, clip.width),
                       fields=CONDITIONS)
    items = []
    for i in range(len(ds) if limit is None else min(limit, len(ds))):
        it = ds[i]
        kp, vis = item_keypoints(it)
        items.append({"video": it["video"].numpy(), "depth": it["depth"], "segmentation": it["segmentation"],
                      "keypoint_map": it["keypoint_map"], "prompt": it["prompt"], "task": it["task"],
                      "keypoints": kp, "visible": vis,
                      "hand_mask": it["segmentation"].numpy() == 1})
    return items


def _uint8(video: torch.Tensor) -> np.ndarray:
    return (video * 255.0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


@torch.no_grad()
def generate_rows(pipe: PAMPipeline, items: list[dict[str, Any]], steps: int, seed: int,
                  truth_first_frame: bool = False, subsets: tuple[str, ...] = SUBSET_ROWS,
                  baselines: bool = True) -> dict[str, np.ndarray]:
    """Every row's video for a batch of items (uint8 ``[B, T, H, W, 3]`` each); one noise draw per
    stage shared by all rows (paired). ``subsets`` (``all`` first) and ``baselines`` select rows."""
    b = len(items)
    text = pipe.text.encode([it["prompt"] for it in items]).to(pipe.device, pipe.dtype)
    pooled = (pipe.pooled_text.encode([it["prompt"] for it in items]) if pipe.pooled_text is not None
              else mean_pooled(text)).to(pipe.device, pipe.dtype)
    images = condition_images({c: torch.stack([it[c] for it in items]) for c in CONDITIONS})
    cond = encode_conditions(images, pipe.vae.encode).to(pipe.device, pipe.dtype)
    first_cond = encode_conditions({c: images[c][:, :1] for c in CONDITIONS}, pipe.image_vae.encode)[:, 0]
    first_cond = first_cond.to(pipe.device, pipe.dtype)
    t = pipe.cfg.clip.num_frames

    def no_tick(_: int) -> None:
        return None

    def stage3(frame0: torch.Tensor, subset: str, use_controlnet: bool = True) -> np.ndarray:
        image_latents = pipe.vae.encode(frame0).to(pipe.device, pipe.dtype)
        g = torch.Generator().manual_seed(seed + 1)
        lat = pipe.video_latents(image_latents, cond, text, subset_keep(subset, b).to(pipe.device), steps, g,
                                 no_tick, use_controlnet=use_controlnet)
        return _uint8(pipe.vae.decode(lat)[:, :t])

    rows: dict[str, np.ndarray] = {}
    firsts: dict[str, torch.Tensor] = {}
    for subset in subsets:
        g = torch.Generator().manual_seed(seed)
        lat0 = pipe.first_frame_latent(first_cond, text, pooled, subset_keep(subset, b).to(pipe.device), steps, g,
                                       no_tick)
        firsts[subset] = pipe.image_vae.decode(lat0[:, None]).clamp(0, 1)  # [B, 1, H, W, 3]
        rows[subset] = stage3(firsts[subset], subset)
    if not baselines:
        return rows
    truth = np.stack([it["video"] for it in items])
    encoded = pipe.vae.encode(torch.from_numpy(truth).float() / 255.0)
    rows["VAE reconstruction"] = _uint8(pipe.vae.decode(encoded)[:, :t])
    rows["no ControlNet"] = stage3(firsts["all"], "all", use_controlnet=False)
    rows["first-frame copy"] = np.repeat(_uint8(firsts["all"]), t, axis=1)
    if truth_first_frame:
        real = torch.from_numpy(np.stack([it["video"][:1] for it in items])).float() / 255.0
        rows["all, real I₀"] = stage3(real, "all")
        rows["no ControlNet, real I₀"] = stage3(real, "all", use_controlnet=False)
        rows["first-frame copy, real I₀"] = np.repeat(np.stack([it["video"][:1] for it in items]), t, axis=1)
    return rows


def episode_metrics(video: np.ndarray, item: dict[str, Any], estimator: HandEstimator) -> dict[str, float]:
    """One generated video against its episode's ground truth."""
    gt = torch.from_numpy(item["video"])
    gen = torch.from_numpy(np.ascontiguousarray(video))
    kp, mask = predict(estimator, video)
    return {"psnr": psnr(gen, gt), "ssim": float(ssim(gen, gt).mean()), "tc": temporal_consistency(gen),
            "hand_mpjpe_px": keypoint_error(kp, item["keypoints"], item["visible"]),
            "hand_iou": mask_iou(mask, item["hand_mask"]), "first_frame_psnr": psnr(gen[:1], gt[:1])}


def paired_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """95 % normal interval of the mean of ``a − b`` over episodes (NaNs dropped pairwise)."""
    d = (a - b)[np.isfinite(a - b)]
    if len(d) < 2:
        return float("nan"), float("nan")
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean() - half), float(d.mean() + half)


def summarise(per_episode: dict[str, dict[str, np.ndarray]], reference: str = "all") -> dict[str, Any]:
    """Mean of each metric per row, and the paired 95 % interval of (row − reference)."""
    out: dict[str, Any] = {}
    for row, metrics in per_episode.items():
        out[row] = {m: float(np.nanmean(v)) for m, v in metrics.items()}
        if row != reference and reference in per_episode:
            out[row]["vs_" + reference] = {m: paired_interval(v, per_episode[reference][m]) for m, v in metrics.items()}
    return out


def get_estimator(folder: str | Path, train_data: str | Path | None, held_out: str | Path, size: tuple[int, int],
                  num_frames: int, fps: float, steps: int = 2000, episodes: int = 240) -> tuple[HandEstimator, dict]:
    """The estimator in ``folder``, trained first (on ``train_data``'s frames) when absent; its error on
    the held-out dataset's ground-truth frames is measured and stored with it."""
    folder = Path(folder)
    if (folder / "model.safetensors").is_file():
        return load_estimator(folder), json.loads((folder / "config.json").read_text())
    if train_data is None:
        raise ValueError(f"estimator: {folder} has no model; give --train-data to train one")
    data = frames_from_dataset(train_data, size, num_frames, fps, limit=episodes)
    model = train_estimator(data, steps=steps, batch_size=16)
    val = frames_from_dataset(held_out, size, num_frames, fps)
    kp, mask = predict(model, val["frames"])
    info = {"train_episodes": episodes, "train_frames": len(data["frames"]), "steps": steps,
            "held_out_mpjpe_px": keypoint_error(kp, val["keypoints"], val["visible"]),
            "held_out_hand_iou": mask_iou(mask, val["mask"]), "held_out": str(held_out)}
    save_estimator(model, folder, info)
    return model, info


def evaluate(model: str | Path, data: str | Path, estimator: str | Path, train_data: str | Path | None = None,
             steps: int = 0, seed: int = 0, batch_size: int = 10, limit: int | None = None,
             truth_first_frame: bool = True, progress: bool = True, subsets: tuple[str, ...] = SUBSET_ROWS,
             baselines: bool = True) -> dict[str, Any]:
    """The full table (module docstring) as a dict: ``summary``, ``estimator``, settings, seconds."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    pipe = PAMPipeline.from_pretrained(model)
    clip = pipe.cfg.clip
    steps = steps or pipe.limits.default_steps
    est, est_info = get_estimator(estimator, train_data, data, (clip.height, clip.width), clip.num_frames, clip.fps)
    items = load_items(pipe, data, limit)
    per: dict[str, dict[str, list[float]]] = {}
    for start in tqdm(range(0, len(items), batch_size), desc="pam evaluate", disable=not progress):
        batch = items[start:start + batch_size]
        rows = generate_rows(pipe, batch, steps, seed + start, truth_first_frame, subsets, baselines)
        rows = {"ground truth": np.stack([it["video"] for it in batch]), **rows}
        for row, videos in rows.items():
            for video, item in zip(videos, batch):
                for m, v in episode_metrics(video, item, est).items():
                    per.setdefault(row, {}).setdefault(m, []).append(v)
    arrays = {row: {m: np.asarray(v, dtype=np.float64) for m, v in ms.items()} for row, ms in per.items()}
    return {"model": str(model), "data": str(data), "episodes": len(items), "steps": steps, "seed": seed,
            "weights_trained": pipe.weights_trained, "estimator": est_info, "summary": summarise(arrays),
            "seconds": round(time.perf_counter() - t0, 1)}


def markdown_table(result: dict[str, Any]) -> str:
    """The summary as a Markdown table (paired 95 % intervals of the difference to ``all``)."""
    head = "| row | PSNR ↑ | SSIM ↑ | TC | hand MPJPE (px) ↓ | hand IoU ↑ | first-frame PSNR ↑ |"
    lines = [head, "|" + " --- |" * 7]
    for row, s in result["summary"].items():
        cells = []
        for m in METRICS:
            v = s[m]
            txt = ("—" if not np.isfinite(v) else "exact" if "psnr" in m and v > 99 else
                   f"{v:.3f}" if m in ("ssim", "tc", "hand_iou") else f"{v:.2f}")
            ci = s.get("vs_all", {}).get(m)
            if ci and np.isfinite(ci[0]) and row != "ground truth" and txt != "exact":
                txt += f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if m not in ("ssim", "tc", "hand_iou") else \
                    f" [{ci[0]:+.3f}, {ci[1]:+.3f}]"
            cells.append(txt)
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help="a shipped model folder or a config YAML")
    ap.add_argument("--data", required=True, help="held-out sim dataset (python -m hoi_ros.sim.dataset)")
    ap.add_argument("--estimator", required=True, help="hand estimator folder (trained there when absent)")
    ap.add_argument("--train-data", default=None, help="sim dataset the estimator trains on when absent")
    ap.add_argument("--steps", type=int, default=0, help="denoising steps per stage (0 = the model's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--limit", type=int, default=None, help="first N episodes only")
    ap.add_argument("--no-truth-first-frame", dest="truth_first_frame", action="store_false")
    ap.add_argument("--only-all", action="store_true", help="the full model's row only (e.g. a steps sweep)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--output", default=None, help="folder for result.json and table.md")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = evaluate(args.model, args.data, args.estimator, args.train_data, args.steps, args.seed,
                          args.batch_size, args.limit, args.truth_first_frame and not args.only_all,
                          subsets=("all",) if args.only_all else SUBSET_ROWS, baselines=not args.only_all)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = markdown_table(result)
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps(result, indent=2, default=float))
        (out / "table.md").write_text(table + "\n")
    print(table)
    print(json.dumps({k: v for k, v in result.items() if k != "summary"}, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
