"""Forward / backward time and peak memory of the SViMo DiT G_θ vs. token count, on CPU.

    source scripts/env.sh && python bench/svimo_dit.py            # table for docs/benchmarks.md (1 thread)
    source scripts/env.sh && python bench/svimo_dit.py --json out.json

Each case runs in a fresh subprocess (so its peak RSS is its own): build the DiT of the given size
with random weights (float32), then time ``--repeats`` forward passes (no grad) and forward +
backward passes (loss = mean square of the raw outputs); medians. Memory, two ways:

- "saved for backward": the bytes of the distinct tensors autograd keeps between forward and
  backward (``torch.autograd.graph.saved_tensors_hooks``, deduplicated by storage): the activation
  memory of training, exact and independent of the allocator and of other processes;
- "peak RSS growth": how far the process's resident high-water mark (``ru_maxrss``) rose during
  the forward + backward passes over what the model and one no-grad forward had already used.

Tokens = text + 2 × F·(h/p)·(w/p) (the joint sequence of Eq. 4).

The last lines estimate the full model (config/models/svimo/paper.yaml, 26,590 tokens), labelled as
extrapolations: time = its analytic FLOPs (:func:`hoi_ros.svimo.dit.attention_flops`) / the
throughput measured on the largest case; activations = the measured saved bytes per
token·layer·width × 26,590 · 42 · 3072 (float32; half in bf16); training state = 16 bytes per
parameter (bf16 weights and gradients, float32 master weights and AdamW moments).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

# (name, layers, heads, head_dim, text tokens, latent F, h, w, latent channels)
CASES: list[tuple[str, int, int, int, int, int, int, int, int]] = [
    ("tiny", 2, 2, 16, 16, 3, 4, 6, 4),
    ("small-1", 4, 4, 64, 32, 3, 8, 12, 16),
    ("small-2", 4, 4, 64, 32, 5, 16, 24, 16),
    ("small-3", 4, 4, 64, 32, 7, 24, 36, 16),
    ("small-4", 4, 4, 64, 32, 13, 24, 36, 16),
]


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def run_case(case: tuple, repeats: int) -> dict:
    import torch

    from hoi_ros.svimo.dit import DiTConfig, SViMoTransformer, attention_flops, count_parameters

    name, layers, heads, head_dim, text, f, h, w, c = case
    cfg = DiTConfig(
        num_layers=layers, num_attention_heads=heads, attention_head_dim=head_dim, latent_channels=c,
        text_embed_dim=64, max_text_seq_length=text, time_embed_dim=64, sample_frames=(f - 1) * 4 + 1,
        sample_height=h, sample_width=w,
    )
    torch.manual_seed(0)
    model = SViMoTransformer(cfg)
    g = torch.Generator().manual_seed(0)
    z = [torch.randn(1, f, c, h, w, generator=g) for _ in range(4)]
    emb = torch.randn(1, text, 64, generator=g)
    t = torch.tensor([500])
    with torch.no_grad():  # warm-up
        model(*z, emb, t)
    base = _maxrss_bytes()

    fwd = []
    with torch.no_grad():
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(*z, emb, t)
            fwd.append(time.perf_counter() - t0)
    saved: dict[int, int] = {}

    def pack(x: torch.Tensor) -> torch.Tensor:
        storage = x.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        out_v, out_m = model(*z, emb, t)
    del out_v, out_m
    param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved_bytes = sum(n for ptr, n in saved.items() if ptr not in param_ptrs)
    bwd = []
    for _ in range(repeats):
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        out_v, out_m = model(*z, emb, t)
        (out_v.square().mean() + out_m.square().mean()).backward()
        bwd.append(time.perf_counter() - t0)
    peak = _maxrss_bytes()
    tokens = cfg.num_tokens(f, h, w)
    return {
        "name": name,
        "layers": layers,
        "width": cfg.inner_dim,
        "tokens": tokens,
        "params": count_parameters(model),
        "forward_s": statistics.median(fwd),
        "forward_backward_s": statistics.median(bwd),
        "model_rss_mib": base / 2**20,
        "saved_for_backward_mib": saved_bytes / 2**20,
        "peak_rss_growth_mib": (peak - base) / 2**20,
        "forward_gflop": attention_flops(cfg, f, h, w) / 1e9,
        "threads": torch.get_num_threads(),
    }


def estimate_full(largest: dict) -> dict:
    """Extrapolate to paper.yaml from the largest measured case (see the module docstring)."""
    from hoi_ros.svimo.config import SViMoConfig
    from hoi_ros.svimo.dit import attention_flops
    from hoi_ros.svimo.experiments.params import parameter_counts

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = SViMoConfig.from_yaml(os.path.join(root, "config/models/svimo/paper.yaml"))
    f, h, w = cfg.latent_grid
    flops = attention_flops(cfg.dit, f, h, w)
    gflops_per_s = largest["forward_gflop"] / largest["forward_s"]
    per = largest["saved_for_backward_mib"] * 2**20 / (largest["tokens"] * largest["layers"] * largest["width"])
    tokens = cfg.dit.num_tokens(f, h, w)
    act = per * tokens * cfg.dit.num_layers * cfg.dit.inner_dim
    params = parameter_counts(cfg)["total"]
    # Gradient checkpointing keeps each block's input streams (bf16) plus one block's activations.
    ckpt = 2 * tokens * cfg.dit.inner_dim * cfg.dit.num_layers + act / 2 / cfg.dit.num_layers
    return {
        "tokens": tokens,
        "forward_tflop": flops / 1e12,
        "measured_cpu_gflop_per_s": gflops_per_s,
        "est_forward_s_cpu": flops / (gflops_per_s * 1e9),
        "est_forward_backward_s_cpu": 3 * flops / (gflops_per_s * 1e9),
        "saved_bytes_per_token_layer_width_fp32": per,
        "est_activations_gib_fp32": act / 2**30,
        "est_activations_gib_bf16": act / 2 / 2**30,
        "est_activations_gib_bf16_checkpointed": ckpt / 2**30,
        "params": params,
        "est_training_state_gib": 16 * params / 2**30,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per case (1: steadier timings on a shared machine)")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.case is not None:
        import torch

        torch.set_num_threads(args.threads)
        case = next(c for c in CASES if c[0] == args.case)
        print(json.dumps(run_case(case, args.repeats)))
        return
    load_before = os.getloadavg()[0]
    rows = []
    for case in CASES:
        out = subprocess.run(
            [sys.executable, __file__, "--case", case[0], "--repeats", str(args.repeats),
             "--threads", str(args.threads)],
            check=True, capture_output=True, text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    load = os.getloadavg()[0]
    print(f"load average before/after: {load_before:.2f} / {load:.2f} on {os.cpu_count()} cores")
    print("| config | layers × width | tokens | params | forward | forward+backward | saved for backward "
          "| peak RSS growth |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['name']} | {r['layers']} × {r['width']} | {r['tokens']:,} | {r['params'] / 1e6:.2f} M | "
            f"{r['forward_s'] * 1000:.1f} ms | {r['forward_backward_s'] * 1000:.1f} ms | "
            f"{r['saved_for_backward_mib']:.1f} MiB | {r['peak_rss_growth_mib']:.1f} MiB |"
        )
    est = estimate_full(rows[-1])
    print(
        f"\nestimate for paper.yaml ({est['tokens']:,} tokens, {est['forward_tflop']:.0f} TFLOP per forward, "
        f"{est['params'] / 1e9:.2f} B trainable parameters):\n"
        f"- time at the measured {est['measured_cpu_gflop_per_s']:.1f} GFLOP/s of this CPU: forward ≈ "
        f"{est['est_forward_s_cpu'] / 3600:.1f} h, "
        f"forward+backward ≈ {est['est_forward_backward_s_cpu'] / 3600:.1f} h\n"
        f"- activations: {est['saved_bytes_per_token_layer_width_fp32']:.1f} B saved per token·layer·width → "
        f"≈ {est['est_activations_gib_fp32']:.0f} GiB fp32, {est['est_activations_gib_bf16']:.0f} GiB bf16 without "
        f"checkpointing, ≈ {est['est_activations_gib_bf16_checkpointed']:.0f} GiB bf16 with per-block checkpointing\n"
        f"- training state (bf16 weights + grads, fp32 master + AdamW): ≈ {est['est_training_state_gib']:.0f} GiB "
        f"(÷ 4 GPUs under ZeRO-3 ≈ {est['est_training_state_gib'] / 4:.0f} GiB each)"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cases": rows, "estimate_full": est}, fh, indent=2)


if __name__ == "__main__":
    main()
