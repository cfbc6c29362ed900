"""Samplers and step counts of the closed loop (Alg. 2) on held-out episodes, with the model-free
baselines beside them.

    python -m hoi_ros.svimo.experiments.steps --data out/svimo_val --templates out/svimo_train \
        [--samplers ddpm:50 dpm:10 dpm:25 dpm:50] [--limit N] [--out DIR]

Every sampler runs the same Alg. 2 (interaction guidance and gradient constraint as configured) with
the shipped model; only the reverse process and its step count change. Rows: one per ``name:steps``,
the per-task template (each episode's true task's mean hand path over ``--templates``' episodes,
:func:`~hoi_ros.svimo.experiments.baselines.template_baseline`) and the static first frame. MPJPE and
Chamfer against the simulated ground truth (:mod:`hoi_ros.svimo.experiments.evaluate`), paired
differences to the first sampler, and the time of one demo-size generation (batch 1) per sampler.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from hoi_ros.svimo.config import SViMoConfig
from hoi_ros.svimo.experiments.evaluate import (
    EvalItem,
    evaluate,
    load_items,
    markdown_table,
    paired_table,
    static_model,
    svimo_model,
    template_model,
)

DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "config" / "models" / "svimo" / "embedded_default.yaml"


def parse_sampler(text: str) -> dict[str, Any]:
    """``"dpm:10"`` → ``{"name": "dpm", "num_inference_steps": 10}``."""
    name, _, steps = text.partition(":")
    if not steps.isdigit() or int(steps) < 1:
        raise ValueError(f"sampler: expected NAME:STEPS such as dpm:10, got {text!r}")
    return {"name": name, "num_inference_steps": int(steps)}


def demo_seconds(run: Any, item: EvalItem, repeats: int = 2) -> float:
    """Best-of-``repeats`` wall time of one generation of ``item`` (after a warm-up)."""
    run([item], 0)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run([item], 0)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="held-out sim dataset (the embedded default's dataset config)")
    ap.add_argument("--templates", required=True, help="training-distribution sim dataset for the per-task template")
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--samplers", nargs="+", default=["ddpm:50", "dpm:10", "dpm:25", "dpm:50"])
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default=None, help="folder for results.json and table.md")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = SViMoConfig.from_yaml(a.model)
    items = load_items(a.data, cfg, a.limit)
    train = load_items(a.templates, cfg)
    models = {s: svimo_model(a.model, cfg.checkpoint, sampler=parse_sampler(s)) for s in a.samplers}
    timings = {s: round(demo_seconds(run, items[0]), 2) for s, run in models.items()}
    models |= {"per-task template": template_model(train), "static first frame": static_model()}
    results = evaluate(models, items, a.seed, a.batch_size)
    results["demo_seconds"] = timings
    demo = ", ".join(f"{k} {v} s" for k, v in timings.items())
    table = f"{markdown_table(results)}\n\n{paired_table(results)}\n\nDemo-size generation (batch 1, best of 2): {demo}"
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        slim = {**results, "models": {k: {kk: vv for kk, vv in v.items() if kk != "per_episode"}
                                      for k, v in results["models"].items()}}
        (out / "results.json").write_text(json.dumps(slim, indent=2, default=float))
        (out / "table.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
