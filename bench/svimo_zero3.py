"""A few DeepSpeed ZeRO-3 steps of SViMo's training command on a mid-sized config (GPU).

    pip install -c requirements/lock.txt -r requirements/core.txt -r requirements/train.txt   # deepspeed
    python bench/svimo_zero3.py --out /tmp/svimo_zero3          # world size 1, and 2 with two GPUs
    python bench/svimo_zero3.py --out /tmp/svimo_zero3 --dry-run  # write the configs, print the commands

It runs ``accelerate launch --config_file <zero3_paper.yaml with num_processes N> -m hoi_ros.svimo.train``
— the same path as the paper's recipes (config/accelerate/zero3_paper.yaml → zero3_paper_ds.json, bf16,
gradient checkpointing, CogVideoX's loss weighting) — on synthetic data for a mid-sized G_θ (12 blocks of
width 1024, 0.27 B parameters; random weights, nothing downloaded): one VID warm-up step, then joint
steps. World size 1 is a valid ZeRO-3 run (one GPU); world size 2 runs where there are two GPUs (NCCL
does not put two ranks on one device). Per run it writes to ``<out>/zero3.json``: exit code, wall time,
the loss log (every step; ``cuda_max_memory_gb`` is the rank-0 peak of ``torch.cuda.max_memory_allocated``),
and the final ``model.safetensors``' dtypes (the consolidated fp32 master weights) and tensor count.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

MODEL = {  # over config/models/svimo/tiny_for_tests.yaml
    "name": "svimo-zero3-bench",
    "dit": {"num_layers": 12, "num_attention_heads": 16, "attention_head_dim": 64, "time_embed_dim": 512,
            "sample_frames": 17, "sample_height": 16, "sample_width": 24, "learned_text_positions": True},
    "vid": {"num_frames": 17, "num_object_points": 64, "d_model": 192, "num_layers": 2, "num_heads": 4,
            "conv_channels": [32, 64], "token_grid": [4, 2]},
    "video": {"num_frames": 17, "height": 64, "width": 96},
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_configs(out: Path, world: int, steps: int) -> tuple[Path, Path]:
    """The model, training and accelerate configs of one run under ``out/ws<world>``."""
    run = out / f"ws{world}"
    run.mkdir(parents=True, exist_ok=True)
    model = {"base": str(ROOT / "config/models/svimo/tiny_for_tests.yaml"), **MODEL}
    (run / "model.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    train = {
        "model": str(run / "model.yaml"), "data": {"kind": "synthetic", "num_samples": 8},
        "output_dir": str(run / "train"), "seed": 0, "batch_size": 2, "warmup_steps": 1,
        "joint_steps": max(1, steps - 1), "lr": 2.0e-5, "mixed_precision": "bf16",
        "gradient_checkpointing": True, "loss_weighting": "cogvideox", "checkpoint_every": 1000,
        "log_every": 1,
    }
    (run / "train.yaml").write_text(yaml.safe_dump(train, sort_keys=False))
    acc = yaml.safe_load((ROOT / "config/accelerate/zero3_paper.yaml").read_text())
    acc["deepspeed_config"]["deepspeed_config_file"] = str(ROOT / acc["deepspeed_config"]["deepspeed_config_file"])
    acc.update(num_processes=world, main_process_port=_port())
    (run / "accelerate.yaml").write_text(yaml.safe_dump(acc, sort_keys=False))
    return run / "accelerate.yaml", run / "train.yaml"


def command(acc: Path, train: Path) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(acc),
            "-m", "hoi_ros.svimo.train", "--config", str(train), "--no-resume"]


def run_one(out: Path, world: int, steps: int, timeout: float) -> dict[str, Any]:
    acc, train = write_configs(out, world, steps)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    start = time.time()
    try:
        proc = subprocess.run(command(acc, train), cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
        rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-4000:]
    except subprocess.TimeoutExpired as exc:
        rc, tail = 124, str(exc)[-4000:]
    result: dict[str, Any] = {"world_size": world, "returncode": rc, "wall_s": round(time.time() - start, 1),
                              "log_tail": tail}
    run = train.parent / "train"
    log = run / "loss_log.jsonl"
    if log.is_file():
        result["loss_log"] = [json.loads(x) for x in log.read_text().splitlines()]
    final = run / "model.safetensors"
    if final.is_file():
        from safetensors import safe_open

        with safe_open(str(final), framework="pt") as f:
            keys = list(f.keys())
            result["final"] = {"tensors": len(keys),
                               "dtypes": sorted({str(f.get_slice(k).get_dtype()) for k in keys})}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output folder (configs, runs, zero3.json)")
    parser.add_argument("--steps", type=int, default=4, help="total steps per run (1 warm-up + joint)")
    parser.add_argument("--world-sizes", default="auto", help="comma list, or auto: 1, and 2 with two GPUs")
    parser.add_argument("--timeout-s", type=float, default=900.0, help="per run")
    parser.add_argument("--dry-run", action="store_true", help="write the configs and print the commands only")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.world_sizes == "auto":
        import torch

        worlds = [1, 2] if torch.cuda.device_count() >= 2 else [1]
    else:
        worlds = [int(x) for x in args.world_sizes.split(",")]
    if args.dry_run:
        for w in worlds:
            print(" ".join(command(*write_configs(out, w, args.steps))))
        return 0
    import torch

    report: dict[str, Any] = {"gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                              "torch": torch.__version__, "runs": []}
    try:
        import deepspeed

        report["deepspeed"] = deepspeed.__version__
    except ImportError:
        report["deepspeed"] = None
    for w in worlds:
        report["runs"].append(run_one(out, w, args.steps, args.timeout_s))
        (out / "zero3.json").write_text(json.dumps(report, indent=1))
    ok = all(r["returncode"] == 0 for r in report["runs"])
    print(json.dumps({"ok": ok, "out": str(out / "zero3.json")}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
