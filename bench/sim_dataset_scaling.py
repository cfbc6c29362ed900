"""Dataset generation in worker processes: speed-up from 1 to 2 cores.

    source scripts/env.sh && python bench/sim_dataset_scaling.py [-n 12] [--repeats 2]

Writes the same dataset (``-n`` episodes, seed 0, ``config/recipes/sim_dataset_default.yaml``: 320x240, all
channels, mp4 + npz) with one worker pinned to one core, then with two workers pinned to two
cores (each worker: one llvmpipe rasteriser thread, its own episodes, its own files), alternating
``--repeats`` times; prints the wall times, the median speed-up and checks that both outputs are
byte-identical. Other jobs on the machine distort the wall times: the load average is printed
before and after, and so is the CPU time the workers (and their ffmpeg encoders) used: if two
workers need no more CPU time than one, the only obstacle to a 2x speed-up is the other load.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from hoi_ros.sim.dataset import DEFAULT_CONFIG, DatasetConfig, write_dataset


def _same_tree(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        filecmp.cmp(a / f, b / f, shallow=False) for f in files)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--num-episodes", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("needs at least 2 usable cores")
    cfg = DatasetConfig.from_yaml(args.config)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; {args.num_episodes} episodes, "
          f"{cfg.episode.width}x{cfg.episode.height}, cores {cores[:2]}")
    times: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for workers in (1, 2):
                out = Path(tmp) / f"w{workers}_{r}"
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                write_dataset(out, args.num_episodes, seed=0, cfg=cfg, workers=workers, progress=False,
                              in_process=False, cores=cores[:workers])
                times[workers].append(time.perf_counter() - t0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[workers].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                print(f"repeat {r}: {workers} worker(s) on {workers} core(s): {times[workers][-1]:.1f} s wall "
                      f"({args.num_episodes / times[workers][-1]:.2f} episodes/s), workers' CPU time "
                      f"{cpu[workers][-1]:.1f} s")
        identical = _same_tree(Path(tmp) / "w1_0", Path(tmp) / "w2_0")
    speedups = [a / b for a, b in zip(times[1], times[2])]
    inflation = statistics.median(cpu[2]) / statistics.median(cpu[1])
    print(f"speed-up 1 -> 2 cores: median {statistics.median(speedups):.2f}x "
          f"(per repeat: {', '.join(f'{s:.2f}' for s in speedups)}); CPU time 2 workers / 1 worker: "
          f"{inflation:.2f}; outputs byte-identical: {identical}; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
