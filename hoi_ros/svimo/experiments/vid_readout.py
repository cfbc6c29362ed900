"""Does VID read its own motion input? Its x₀ (Eq. 6) from the true motion at a few noise levels.

    python -m hoi_ros.svimo.experiments.vid_readout --latents out/svimo_tiny/latents \\
        --model config/models/svimo/embedded_default.yaml

For cached training clips (:func:`hoi_ros.svimo.experiments.recipe.stage_latents`: clean video and
motion latents z₀ⱽ, z₀ᴹ, and the true hand h and object points o), VID is given (h_t, o_t) diffused to
level t (Eq. 1) with the clean latents and returns (ĥ₀, ô₀); reported per t: the mean distance from
ô₀'s point i to o's point i ("index error") and from ĥ₀'s joint j to h's joint j, in cm. At t = 0 a
denoiser that reads its input returns it (errors near 0); errors that do not fall with t mean VID
answers from the latents alone. A control gives o with its indices shuffled at t = 0. Not a SViMo
metric: a diagnosis of why generated object points keep no place (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from hoi_ros.svimo.config import SViMoConfig
from hoi_ros.svimo.train_step import alphas_cumprod_of, diffuse
from hoi_ros.svimo.vid import VID

LEVELS = (0, 20, 200, 600, 950)


@torch.no_grad()
def readout_errors(vid: VID, clips: list[dict[str, torch.Tensor]], alphas_cumprod: torch.Tensor,
                   levels: tuple[int, ...] = LEVELS, seed: int = 0) -> dict[str, Any]:
    """Per level t (and ``"shuffled"``: t = 0 with the points' indices permuted): the mean index error of
    the object points and the mean joint error of the hand, in cm, over ``clips`` (dicts with ``hand
    [T,J,3]``, ``obj [T,K,3]`` in metres, ``video_latents``, ``motion_latents`` ``[F,C,h,w]``)."""
    g = torch.Generator().manual_seed(seed)
    rows: dict[str, list[tuple[float, float]]] = {str(t): [] for t in levels} | {"shuffled": []}
    for clip in clips:
        h0, o0 = vid.to_diffusion(clip["hand"][None].float()), vid.to_diffusion(clip["obj"][None].float())
        vl, ml = clip["video_latents"][None].float(), clip["motion_latents"][None].float()
        for key in rows:
            t = torch.tensor([0 if key == "shuffled" else int(key)])
            ht = diffuse(h0, torch.randn(h0.shape, generator=g), t, alphas_cumprod)
            ot = diffuse(o0, torch.randn(o0.shape, generator=g), t, alphas_cumprod)
            if key == "shuffled":
                ot = ot[:, :, torch.randperm(ot.shape[2], generator=g)]
            hp, op = vid(ht, ot, vl, ml, t)
            obj_err = (vid.from_diffusion(op) - clip["obj"][None]).norm(dim=-1).mean().item() * 100
            hand_err = (vid.from_diffusion(hp) - clip["hand"][None]).norm(dim=-1).mean().item() * 100
            rows[key].append((obj_err, hand_err))
    return {key: {"object_index_error_cm": float(np.mean([r[0] for r in v])),
                  "hand_error_cm": float(np.mean([r[1] for r in v]))} for key, v in rows.items()}


def load_clips(folder: str | Path, count: int) -> list[dict[str, torch.Tensor]]:
    """The first ``count`` clips of a latent cache (safetensors, sorted by name)."""
    files = sorted(Path(folder).glob("*.safetensors"))[:count]
    if not files:
        raise FileNotFoundError(f"no .safetensors clips in {folder}")
    return [load_file(str(f)) for f in files]


def main(argv: list[str] | None = None) -> int:
    from hoi_ros.svimo.weights import load_svimo

    ap = argparse.ArgumentParser(description="VID's x0 from the true motion at a few noise levels.")
    ap.add_argument("--latents", required=True, help="a recipe run's latent cache (RUN/latents)")
    ap.add_argument("--model", required=True, help="model YAML (its checkpoint is used)")
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    cfg = SViMoConfig.from_yaml(a.model)
    if not cfg.checkpoint:
        ap.error(f"--model: {a.model} names no checkpoint (trained weights)")
    vid = load_svimo(cfg.checkpoint, cfg.dit, cfg.vid)[1].eval()  # VID only: no VAE or text encoder
    out = readout_errors(vid, load_clips(a.latents, a.clips), alphas_cumprod_of(cfg), seed=a.seed)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
