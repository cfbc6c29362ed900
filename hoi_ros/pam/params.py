"""Parameter counts of a PAM config, built on the meta device (no memory, no weights read).

    python -m hoi_ros.pam.params config/models/pam/paper.yaml [--json]

Per stage: the frozen base transformer (Flux for Stage II, CogVideoX-I2V for Stage III) and its
ControlNet (the trainable part), with how many ControlNet tensors are initialised from the base by
name and how many base blocks are copied. Learned positional tables are buffers in diffusers and
counted apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hoi_ros.diffusion.params import count_parameters, format_count
from hoi_ros.pam.config import PAMConfig
from hoi_ros.pam.models import build_image_model, build_video_model


def _stage(model: Any) -> dict[str, Any]:
    base, cn = model.base, model.controlnet
    mapping = cn.base_key_map(base)
    sd = cn.state_dict()
    from_base = sum(sd[k].numel() for k in mapping if k in dict(cn.named_parameters()))
    blocks = sorted({int(k.split(".")[1]) for k in mapping if k.startswith("transformer_blocks.")})
    return {
        "base": count_parameters(base),
        "controlnet": count_parameters(cn),
        "controlnet_from_base": from_base,
        "controlnet_new": count_parameters(cn) - from_base,
        "copied_blocks": blocks,
        "base_blocks": len(base.transformer_blocks),
    }


def parameter_counts(cfg: PAMConfig) -> dict[str, Any]:
    """Counts for ``cfg`` (meta device); see the module docstring."""
    video = build_video_model(cfg.video, "meta")
    image = build_image_model(cfg.image, "meta")
    v, i = _stage(video), _stage(image)
    pos = video.base.patch_embed.pos_embedding
    v["learned_positional_table"] = pos.numel() if pos is not None and video.base.config.get(
        "use_learned_positional_embeddings") else 0
    i["single_blocks"] = len(image.controlnet.single_transformer_blocks)
    return {"config": cfg.name, "image": i, "video": v,
            "trainable": i["controlnet"] + v["controlnet"], "frozen": i["base"] + v["base"]}


def format_counts(c: dict[str, Any]) -> str:
    i, v = c["image"], c["video"]

    def blocks(s: dict[str, Any]) -> str:
        b = s["copied_blocks"]
        return f"copies of base blocks {b[0]}..{b[-1]} ({len(b)} of {s['base_blocks']})" if b else "no blocks"

    return "\n".join([
        f"config {c['config']}",
        f"Stage II  base (Flux)              {format_count(i['base'])}   frozen",
        f"Stage II  ControlNet               {format_count(i['controlnet'])}   {blocks(i)}",
        f"            from the base by name  {format_count(i['controlnet_from_base'])}",
        f"            new (zero-initialised) {format_count(i['controlnet_new'])}",
        f"Stage III base (CogVideoX-I2V)     {format_count(v['base'])}   frozen; + learned pos. table "
        f"{format_count(v['learned_positional_table']).strip()} (buffer)",
        f"Stage III ControlNet               {format_count(v['controlnet'])}   {blocks(v)}",
        f"            from the base by name  {format_count(v['controlnet_from_base'])}",
        f"            new (zero-initialised) {format_count(v['controlnet_new'])}",
        f"trainable (both ControlNets)       {format_count(c['trainable'])}",
        f"frozen (both bases)                {format_count(c['frozen'])}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="a PAM model config, e.g. config/models/pam/paper.yaml")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args(argv)
    try:
        counts = parameter_counts(PAMConfig.from_yaml(args.config))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counts, indent=2) if args.json else format_counts(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
