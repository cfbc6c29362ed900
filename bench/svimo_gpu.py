"""Full-scale SViMo on one GPU: forward / backward time and peak memory of the real G_θ (and VID, VAE).

    python bench/svimo_gpu.py --out svimo_gpu.json                 # on a CUDA machine (bf16)
    python bench/svimo_gpu.py --out /tmp/svimo_gpu_tiny.json --tiny  # CPU smoke run (tiny config)

Needs only torch, diffusers, safetensors, numpy and pyyaml (no transformers, no accelerate): it
imports :mod:`hoi_ros.svimo.dit` and :mod:`hoi_ros.svimo.vid` from this checkout and reads the
``dit``/``vid``/``video``/``vae`` sections of ``config/models/svimo/paper.yaml`` (``base:`` chains resolved).
Random weights; nothing is downloaded. Every case is measured after one warm-up pass, times are
medians over ``--repeats`` with ``torch.cuda.synchronize``; memory is ``torch.cuda.max_memory_allocated``
over the case (weights included), reset between cases. Results are written to ``--out`` after every
case, so a time-out keeps what finished; cases that would start after ``--budget-s`` are skipped.

Cases (batch 1 unless named):

- ``dit_full_ckpt``: the full DiT (42 blocks, 6.0 B parameters) at the paper's 26,590 tokens
  (49×416×624), bf16, gradient checkpointing per block: forward (no grad) and forward+backward.
- ``dit_lowres_b4_ckpt``: the same model at §4.2's reduced 240×368 (9,196 tokens), batch 4 (the
  paper's per-GPU batch), gradient checkpointing.
- ``dit_2blocks_nockpt``: 2 full-width blocks at 26,590 tokens without checkpointing: the activation
  memory per block that checkpointing avoids (weights of 2 blocks ≈ 0.3 GB).
- ``vid_full``: VID M_φ at the full latent grid and motion size (42 joints, 298 points, 49 frames).
- ``vae_encode``: ``AutoencoderKLCogVideoX`` (CogVideoX's architecture, random weights, tiling on as
  in paper.yaml) encoding one 49×416×624 rendered motion video: the guidance path's cost per step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hoi_ros.svimo.dit import DiTConfig, SViMoTransformer, attention_flops  # noqa: E402
from hoi_ros.svimo.vid import VID, VIDConfig  # noqa: E402


def read_config(path: Path) -> dict[str, Any]:
    """A model YAML with its ``base:`` chain merged (as ``SViMoConfig.from_yaml`` does)."""
    data = yaml.safe_load(path.read_text()) or {}
    base = data.pop("base", None)
    if base is None:
        return data
    merged = read_config(path.parent / base)
    for key, value in data.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = {**merged[key], **value} if both else value
    return merged


def latent_grid(raw: dict[str, Any], height: int, width: int) -> tuple[int, int, int]:
    """(F, h, w) for the config's VAE: temporal ratio 4, spatial 2^(#blocks−1) (8 for CogVideoX's)."""
    blocks = raw.get("vae", {}).get("block_out_channels", [128, 256, 256, 512])
    spatial = 2 ** (len(blocks) - 1)
    return (raw["video"]["num_frames"] - 1) // 4 + 1, height // spatial, width // spatial


def sig(x: float) -> float:
    """Four significant figures."""
    return float(f"{x:.4g}")


class Meter:
    """Timing and peak memory on CUDA (allocator) or CPU (resident set high-water mark)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated() / 2**30
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (process high-water mark)

    def time(self, fn: Callable[[], Any], repeats: int) -> float:
        fn()  # warm-up (kernel selection, allocator)
        self.sync()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            self.sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)


def dit_case(dit_cfg: DiTConfig, grid: tuple[int, int, int], batch: int, layers: int, checkpointing: bool,
             device: torch.device, dtype: torch.dtype, meter: Meter, repeats: int) -> dict[str, Any]:
    """Forward and forward+backward of G_θ with ``layers`` blocks at ``grid``."""
    cfg = DiTConfig(**{**dit_cfg.__dict__, "num_layers": layers, "gradient_checkpointing": checkpointing})
    torch.manual_seed(0)
    with torch.device(device):
        model = SViMoTransformer(cfg)
    model.to(dtype)
    meter.reset()  # after the float32 build and the cast: the peak counts the bf16 weights, not the build
    f, h, w = grid
    c = cfg.latent_channels
    z = [torch.randn(batch, f, c, h, w, device=device, dtype=dtype) for _ in range(4)]
    text = torch.randn(batch, cfg.max_text_seq_length, cfg.text_embed_dim, device=device, dtype=dtype)
    t = torch.full((batch,), 500, device=device, dtype=torch.long)
    weights_gib = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30

    def forward() -> None:
        with torch.no_grad():
            model(*z, text, t)

    def forward_backward() -> None:
        model.zero_grad(set_to_none=True)
        out_v, out_m = model(*z, text, t)
        (out_v.float().square().mean() + out_m.float().square().mean()).backward()

    fwd = meter.time(forward, repeats)
    fwd_bwd = meter.time(forward_backward, repeats)
    flop = attention_flops(cfg, f, h, w) * batch
    result = {
        "layers": layers, "width": cfg.inner_dim, "batch": batch, "latent_grid": list(grid),
        "tokens_per_sample": cfg.num_tokens(f, h, w), "gradient_checkpointing": checkpointing,
        "params": sum(p.numel() for p in model.parameters()), "weights_gib": sig(weights_gib),
        "forward_s": sig(fwd), "forward_backward_s": sig(fwd_bwd),
        "peak_gib": sig(meter.peak_gib()), "forward_tflop": sig(flop / 1e12),
        "forward_tflop_per_s": sig(flop / fwd / 1e12),
        # model FLOP/s of training (backward = 2x forward; checkpointing's recompute not counted)
        "forward_backward_model_tflop_per_s": sig(3 * flop / fwd_bwd / 1e12),
    }
    return result


def vid_case(vid_cfg: VIDConfig, grid: tuple[int, int, int], device: torch.device, dtype: torch.dtype,
             meter: Meter, repeats: int) -> dict[str, Any]:
    meter.reset()
    torch.manual_seed(0)
    with torch.device(device):
        vid = VID(vid_cfg)
    vid.to(dtype)
    f, h, w = grid
    n, j, k = vid_cfg.num_frames, vid_cfg.num_joints, vid_cfg.num_object_points
    hand = torch.randn(1, n, j, 3, device=device, dtype=dtype)
    obj = torch.randn(1, n, k, 3, device=device, dtype=dtype)
    zv, zm = (torch.randn(1, f, vid_cfg.latent_channels, h, w, device=device, dtype=dtype) for _ in range(2))
    t = torch.tensor([500], device=device)

    def forward_backward() -> None:
        vid.zero_grad(set_to_none=True)
        a, b = vid(hand, obj, zv, zm, t)
        (a.float().square().mean() + b.float().square().mean()).backward()

    with torch.no_grad():
        fwd = meter.time(lambda: vid(hand, obj, zv, zm, t), repeats)
    fb = meter.time(forward_backward, repeats)
    return {"params": sum(p.numel() for p in vid.parameters()), "forward_s": sig(fwd),
            "forward_backward_s": sig(fb), "peak_gib": sig(meter.peak_gib())}


def vae_case(raw: dict[str, Any], height: int, width: int, device: torch.device, dtype: torch.dtype,
             meter: Meter, repeats: int) -> dict[str, Any]:
    from diffusers import AutoencoderKLCogVideoX

    vae_raw = raw.get("vae", {})
    blocks = vae_raw.get("block_out_channels", [128, 256, 256, 512])
    meter.reset()
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(
        down_block_types=("CogVideoXDownBlock3D",) * len(blocks), up_block_types=("CogVideoXUpBlock3D",) * len(blocks),
        block_out_channels=tuple(blocks), layers_per_block=vae_raw.get("layers_per_block", 3),
        latent_channels=vae_raw.get("latent_channels", 16), norm_num_groups=vae_raw.get("norm_num_groups", 32),
    ).to(device, dtype).eval()
    if vae_raw.get("enable_tiling", False):
        vae.enable_tiling()
    frames = torch.rand(1, 3, raw["video"]["num_frames"], height, width, device=device, dtype=dtype) * 2 - 1
    with torch.no_grad():
        enc = meter.time(lambda: vae.encode(frames).latent_dist.mode(), repeats)
    return {"frames": [raw["video"]["num_frames"], height, width], "tiling": bool(vae_raw.get("enable_tiling")),
            "encode_s": sig(enc), "peak_gib": sig(meter.peak_gib())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--config", default=None, help="model YAML (default: paper.yaml, or tiny.yaml with --tiny)")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run on the tiny config (float32)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no case after this many seconds")
    parser.add_argument("--cases", default="dit_full_ckpt,dit_lowres_b4_ckpt,dit_2blocks_nockpt,vid_full,vae_encode")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
        config = Path(args.config or ROOT / "config/models/svimo/tiny_for_tests.yaml")
    else:
        if not torch.cuda.is_available():
            print("error: no CUDA device (use --tiny for the CPU smoke run)", file=sys.stderr)
            return 2
        device, dtype = torch.device("cuda"), torch.bfloat16
        config = Path(args.config or ROOT / "config/models/svimo/paper.yaml")
    raw = read_config(config)
    dit_cfg = DiTConfig(**raw["dit"])
    vid_cfg = VIDConfig(**raw["vid"])
    video = raw["video"]
    full = latent_grid(raw, video["height"], video["width"])
    # §4.2's reduced training resolution, 240x368 of 416x624 (the same ratio for other configs).
    low_h, low_w = (video["height"] * 240 // 416) // 16 * 16, (video["width"] * 368 // 624) // 16 * 16
    low = latent_grid(raw, max(low_h, 16), max(low_w, 16))
    import diffusers

    report: dict[str, Any] = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "config": str(config.relative_to(ROOT) if config.is_relative_to(ROOT) else config),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
        "dtype": str(dtype).removeprefix("torch."), "torch": torch.__version__, "diffusers": diffusers.__version__,
        "cpu_threads": torch.get_num_threads(), "repeats": args.repeats, "cases": {},
    }
    if device.type == "cuda":
        report["flash_sdp_enabled"] = torch.backends.cuda.flash_sdp_enabled()
        report["gpu_memory_gib"] = sig(torch.cuda.get_device_properties(0).total_memory / 2**30)
    meter = Meter(device)
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "dit_full_ckpt": lambda: dit_case(dit_cfg, full, 1, dit_cfg.num_layers, True, device, dtype, meter,
                                          args.repeats),
        "dit_lowres_b4_ckpt": lambda: dit_case(dit_cfg, low, 4, dit_cfg.num_layers, True, device, dtype, meter,
                                               args.repeats),
        "dit_2blocks_nockpt": lambda: dit_case(dit_cfg, full, 1, 2, False, device, dtype, meter, args.repeats),
        "vid_full": lambda: vid_case(vid_cfg, full, device, dtype, meter, args.repeats),
        "vae_encode": lambda: vae_case(raw, video["height"], video["width"], device, dtype, meter, args.repeats),
    }
    out = Path(args.out)
    names = [c for c in args.cases.split(",") if c]
    unknown = [n for n in names if n not in runs]
    if unknown:
        print(f"error: unknown case(s) {unknown}; known: {', '.join(runs)}", file=sys.stderr)
        return 2
    for name in names:
        elapsed = time.perf_counter() - start
        if elapsed > args.budget_s:
            report["cases"][name] = {"skipped": f"budget: {elapsed:.0f} s > {args.budget_s:.0f} s"}
        else:
            try:
                report["cases"][name] = runs[name]()
            except torch.cuda.OutOfMemoryError as exc:
                report["cases"][name] = {"error": f"out of memory: {str(exc).splitlines()[0]}"}
            except Exception as exc:  # one failing case must not cost the others (a one-shot GPU lease)
                report["cases"][name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            report["cases"][name]["elapsed_s"] = sig(time.perf_counter() - start)
        print(name, json.dumps(report["cases"][name]), flush=True)
        out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
