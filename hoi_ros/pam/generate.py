"""Sim request → PAM video on the command line, with a contact sheet.

    python -m hoi_ros.pam --task grasp_lift --object "the green mug" --output runs/pam/mug
    python -m hoi_ros.pam --model config/models/pam/tiny_for_tests.yaml ... [--steps 20] [--seed 0] \
        [--subset all] [--sim-seed 0]

``--model`` is a shipped model folder (default: the small PAM in ``models/pam_small``, trained on sim
episodes by ``python -m hoi_ros.pam.recipe``) or a config YAML (seeded random weights where it names
none: an untrained model, its video noise-like, not a result). Writes ``<output>.npz`` + ``.mp4``
(the trajectory as an :class:`~hoi_ros.core.sequence.HOISequence` with the generated video) and
``<output>_sheet.png``: rows of depth, segmentation and hand-keypoint conditions, generated frames
and the sim's ground-truth render of the same trajectory.
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

from hoi_ros.core.generation import RequestError
from hoi_ros.pam.conditions import SUBSETS, condition_images
from hoi_ros.pam.pipeline import PAMPipeline, PAMRequest, ground_truth_video, request_from_episode, simulate

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "pam_small"


def progress_bar() -> Any:
    """A progress callback (stage, step, total) drawing one tqdm bar per stage on stderr."""
    from tqdm.auto import tqdm

    bars: dict[str, Any] = {}

    def report(stage: str, step: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=f"pam {stage}", file=sys.stderr, leave=False)
        bar.update(step - bar.n)
        if step >= total:
            bar.close()

    return report


def contact_sheet(request: PAMRequest, generated: np.ndarray, ground_truth: np.ndarray | None = None,
                  columns: int = 9) -> np.ndarray:
    """uint8 ``[rows·H, columns·W, 3]``: conditions, generated frames, ground truth (evenly spaced frames)."""
    images = condition_images({
        "depth": torch.as_tensor(np.asarray(request.depth, dtype=np.float32)),
        "segmentation": torch.as_tensor(np.asarray(request.segmentation, dtype=np.int64)),
        "keypoint_map": torch.as_tensor(np.asarray(request.keypoint_map, dtype=np.uint8)),
    })
    rows = [images["depth"].numpy(), images["segmentation"].numpy(), images["keypoint_map"].numpy(), generated]
    if ground_truth is not None:
        rows.append(ground_truth)
    t = generated.shape[0]
    idx = np.unique(np.linspace(0, t - 1, min(columns, t)).round().astype(int))
    return np.concatenate([np.concatenate(list(r[idx]), axis=1) for r in rows], axis=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder or config YAML")
    parser.add_argument("--task", required=True, help="a sim task, e.g. grasp_lift, place, push")
    parser.add_argument("--object", required=True, help="an object of the sim's library, e.g. 'the green mug'")
    parser.add_argument("--output", required=True, help="output stem: <output>.npz/.mp4 and <output>_sheet.png")
    parser.add_argument("--steps", type=int, default=0, help="denoising steps per stage (0 = default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sim-seed", type=int, default=0)
    parser.add_argument("--subset", default="all", choices=sorted(SUBSETS))
    parser.add_argument("--prompt", default=None, help="default: the sim's prompt for the task")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args(argv)
    from hoi_ros.core.visualize import save_png
    from hoi_ros.sim.request import build_request

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        t0 = time.perf_counter()
        pipe = PAMPipeline.from_pretrained(args.model)
        cfg = pipe.cfg
        t1 = time.perf_counter()
        episode = simulate(build_request(args.task, args.object), cfg, args.sim_seed)
        request = request_from_episode(episode, cfg, args.steps, args.seed, args.subset, args.prompt)
        t2 = time.perf_counter()
        out = pipe.generate(request, progress=progress_bar())
        t3 = time.perf_counter()
    except (OSError, ValueError, RequestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stem = Path(args.output)
    stem.parent.mkdir(parents=True, exist_ok=True)
    npz = out.save(stem)
    sheet = save_png(stem.with_name(stem.name + "_sheet.png"),
                     contact_sheet(request, out.video, ground_truth_video(episode, cfg)))
    print(json.dumps({"sequence": str(npz), "sheet": str(sheet), "frames": out.num_frames,
                      "weights_trained": pipe.weights_trained, "load_s": round(t1 - t0, 2),
                      "sim_s": round(t2 - t1, 2), "generate_s": round(t3 - t2, 2), "total_s": round(t3 - t0, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
