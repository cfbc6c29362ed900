"""Parameter counts of a SViMo config, built on the meta device (no memory, no weights read).

    python -m hoi_ros.svimo.experiments.params config/models/svimo/paper.yaml [--json]

Per part: the DiT G_θ split into tensors that exist in CogVideoX-I2V ("pretrained": loaded from
the checkpoint by :mod:`hoi_ros.svimo.weights`) and tensors SViMo adds ("new": the motion
stream, copy-initialised from the video stream), the learned positional table (a buffer in
diffusers, counted by the paper's 6.02 B, App. C.1), and VID M_φ (all new). The frozen text
encoder and VAE come from the checkpoint and are not part of the trainable model.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import torch

from hoi_ros.diffusion.params import format_count
from hoi_ros.svimo.config import SViMoConfig
from hoi_ros.svimo.dit import build_dit
from hoi_ros.svimo.weights import copy_source


def parameter_counts(cfg: SViMoConfig) -> dict[str, Any]:
    """Counts for ``cfg`` (meta device); see the module docstring for the parts."""
    from hoi_ros.svimo.vid import VID

    dit = build_dit(cfg.dit, "meta")
    dim = cfg.dit.inner_dim
    pretrained = new = 0
    for name, p in dit.named_parameters():
        if name == "patch_embed.pos_embedding":  # a parameter with dit.train_positional_table; counted below
            continue
        if copy_source(name, dim) is None:
            pretrained += p.numel()
        else:
            new += p.numel()
    pos = dit.patch_embed.pos_embedding.numel() if cfg.dit.use_learned_positional_embeddings else 0
    with torch.device("meta"):
        vid = VID(cfg.vid)
    n_vid = sum(p.numel() for p in vid.parameters())
    return {
        "config": cfg.name,
        "dit": {
            "total": pretrained + new,
            "pretrained": pretrained,
            "new": new,
            "learned_positional_table": pos,
            "motion_modulation": cfg.dit.motion_modulation,
        },
        "vid": {"total": n_vid, "new": n_vid},
        "total": pretrained + new + n_vid,
        "tokens": cfg.dit.num_tokens(*cfg.latent_grid),
    }


def format_counts(c: dict[str, Any]) -> str:
    d = c["dit"]
    lines = [
        f"config {c['config']}  (joint attention over {c['tokens']:,} tokens)",
        f"DiT G_θ                    {format_count(d['total'])}   motion modulation: {d['motion_modulation']}",
        f"  pretrained (CogVideoX)   {format_count(d['pretrained'])}",
        f"  new (motion stream)      {format_count(d['new'])}",
        f"  + learned pos. table     {format_count(d['learned_positional_table'])}   (buffer; DiT incl. it: "
        f"{format_count(d['total'] + d['learned_positional_table']).strip()})",
        f"VID M_φ (new)              {format_count(c['vid']['total'])}",
        f"total trainable            {format_count(c['total'])}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="SViMo YAML config, e.g. config/models/svimo/paper.yaml")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        counts = parameter_counts(SViMoConfig.from_yaml(args.config))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counts, indent=2) if args.json else format_counts(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
