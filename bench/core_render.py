"""Throughput of the rendered motion video (hoi_ros.core.render) and of HOISequence.save/load.

    source scripts/env.sh && python bench/core_render.py

Prints the median of ``--repeats`` runs for SViMo's size (49 frames, 416x624, 21 joints, 298 object
points) and the tiny training size (17 frames, 64x96).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hoi_ros.core.sequence import HOISequence
from hoi_ros.core.synthetic import reach_grasp_lift


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    for frames, size in ((49, (416, 624)), (17, (64, 96))):
        seq = reach_grasp_lift(num_frames=frames, image_size=size)
        render_s = median_time(seq.render_motion, args.repeats)
        video = seq.render_motion()
        with tempfile.TemporaryDirectory() as tmp:
            withv = seq.with_video(video)
            save_s = median_time(lambda: withv.save(Path(tmp) / "s"), args.repeats)  # noqa: B023
            load_s = median_time(lambda: HOISequence.load(Path(tmp) / "s"), args.repeats)
        print(
            f"{frames} frames {size[0]}x{size[1]}: render {render_s * 1000:.1f} ms "
            f"({frames / render_s:.0f} frames/s), save npz+mp4 {save_s * 1000:.1f} ms, "
            f"load {load_s * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
