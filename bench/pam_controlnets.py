"""Forward / backward time and peak memory of PAM's ControlNets (bases frozen), at a config's clip size.

    python bench/pam_controlnets.py config/models/pam/paper.yaml [--stage video|image|both] [--device cuda]
        [--repeats 3] [--gradient-checkpointing] [--json]

The GPU check, run where a device is lent: each ControlNet at 480 × 720 × 49 frames in bf16
(paper.yaml). Weights are random (built on the meta device, materialised on the target device and
filled with N(0, 0.02)): timing and memory do not depend on their values, and nothing is read from
disk. Inputs are one sample: video latents ``[1, 13, 16, 60, 90]`` + first-frame latent + three
condition latents and text features (the config's text length) for Stage III; the first frame's
latent and conditions and the same text for Stage II. "train" is one forward + backward through
the frozen base into the ControlNet (gradients only there).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import torch

from hoi_ros.diffusion.dtypes import torch_dtype
from hoi_ros.pam.config import PAMConfig
from hoi_ros.pam.models import build_image_model, build_video_model


def _materialise(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    model = model.to_empty(device=device).to(dtype)
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.normal_(0.0, 0.02)
    return model


def _inputs(cfg: PAMConfig, stage: str, model: Any, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    clip = cfg.clip
    c = int(getattr(cfg, stage).condition_latent_channels)
    h, w = clip.height // 8, clip.width // 8
    f = (clip.num_frames - 1) // 4 + 1

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, device=device, dtype=dtype)

    if stage == "video":
        bc = model.base.config
        return dict(noisy_latents=rand(1, f, c, h, w), image_latents=rand(1, 1, c, h, w),
                    condition_latents=rand(1, f, 3 * c, h, w),
                    encoder_hidden_states=rand(1, cfg.text.max_length, int(bc.text_embed_dim)),
                    timestep=torch.tensor([500], device=device))
    bc = model.base.config
    return dict(latents=rand(1, c, h, w), condition_latents=rand(1, 3 * c, h, w),
                encoder_hidden_states=rand(1, cfg.text.max_length, int(bc.joint_attention_dim)),
                pooled_projections=rand(1, int(bc.pooled_projection_dim)),
                timestep=torch.tensor([0.5], device=device, dtype=dtype),
                guidance=torch.tensor([3.5], device=device, dtype=dtype) if bc.guidance_embeds else None)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_stage(cfg: PAMConfig, stage: str, device: torch.device, repeats: int = 3,
                gradient_checkpointing: bool = False) -> dict[str, Any]:
    """Median seconds of inference forward and of forward + backward, and peak memory (CUDA only)."""
    scfg = getattr(cfg, stage)
    dtype = torch_dtype(scfg.dtype)
    build = build_video_model if stage == "video" else build_image_model
    model = _materialise(build(scfg, "meta"), device, dtype)
    model.base.requires_grad_(False)
    if gradient_checkpointing:
        model.base.enable_gradient_checkpointing()
        model.controlnet.enable_gradient_checkpointing()
    inp = _inputs(cfg, stage, model, device, dtype)
    result: dict[str, Any] = {"stage": stage, "device": str(device), "dtype": scfg.dtype,
                              "frames": cfg.clip.num_frames if stage == "video" else 1,
                              "height": cfg.clip.height, "width": cfg.clip.width,
                              "gradient_checkpointing": gradient_checkpointing}
    for mode in ("forward", "train"):
        times = []
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(repeats + 1):  # the first is a warm-up
            _sync(device)
            t0 = time.perf_counter()
            if mode == "forward":
                with torch.no_grad():
                    model(**inp)
            else:
                model(**inp).float().pow(2).mean().backward()
                model.controlnet.zero_grad(set_to_none=True)
            _sync(device)
            times.append(time.perf_counter() - t0)
        result[f"{mode}_s"] = sorted(times[1:])[len(times[1:]) // 2]
        if device.type == "cuda":
            result[f"{mode}_peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    result["controlnet_params"] = sum(p.numel() for p in model.controlnet.parameters())
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("--stage", default="both", choices=("video", "image", "both"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cfg = PAMConfig.from_yaml(args.config)
    device = torch.device(args.device)
    if device.type == "cuda":
        print(f"# {torch.cuda.get_device_name(device)}, torch {torch.__version__}", file=sys.stderr)
    stages = ("image", "video") if args.stage == "both" else (args.stage,)
    rows = [bench_stage(cfg, s, device, args.repeats, args.gradient_checkpointing) for s in stages]
    for r in rows:
        print(json.dumps(r) if args.json else
              " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
