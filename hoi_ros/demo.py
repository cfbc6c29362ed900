"""``hoi-demo``: build an interaction with the core, render its motion video, save and show it.

Writes into ``--out`` (default ``out/demo``):
- ``sequence.npz`` + ``sequence.mp4``: the HOISequence (video = its rendered motion video),
- ``motion.mp4``: the rendered motion video (SViMo §3.2) alone,
- ``contact_sheet.png``: evenly spaced frames of it, for a person to look at.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hoi_ros.core.io import write_video
from hoi_ros.core.metrics import motion_smoothness
from hoi_ros.core.synthetic import reach_grasp_lift
from hoi_ros.core.visualize import contact_sheet, save_png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--frames", type=int, default=49, help="number of frames (SViMo: 49)")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second (SViMo: 8)")
    parser.add_argument("--height", type=int, default=416)
    parser.add_argument("--width", type=int, default=624)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    seq = reach_grasp_lift(num_frames=args.frames, fps=args.fps, image_size=(args.height, args.width))
    motion = seq.render_motion()
    seq = seq.with_video(motion)
    args.out.mkdir(parents=True, exist_ok=True)
    npz = seq.save(args.out / "sequence")
    mp4 = write_video(args.out / "motion.mp4", motion, seq.fps)
    sheet = save_png(args.out / "contact_sheet.png", contact_sheet([motion], ["rendered motion"], columns=7))
    dt = time.perf_counter() - t0
    print(f"prompt: {seq.prompt!r}")
    print(
        f"frames: {seq.num_frames} at {seq.fps:g} fps, {seq.num_joints} joints, "
        f"{seq.num_object_points} object points"
    )
    print(f"motion smoothness (mean joint acceleration): {motion_smoothness(seq.hand_joints) * 1000:.2f} mm/frame^2")
    print(f"wrote {npz}, {mp4}, {sheet} in {dt:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
