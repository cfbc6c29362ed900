"""MuJoCo episode generation (PAM Stage I substitute): throughput and cost breakdown.

    source scripts/env.sh && python bench/sim_episode.py [--repeats 3] [--sizes 320x240,624x416]

Five episodes (grasp_lift, push, rotate, place, tool_use) at 10 fps. For each image size (W x H):

* ``physics``: ``simulate()`` wall time per recorded frame (50 physics steps of 2 ms per frame).
* per-frame rendering, the variants interleaved frame by frame (so that load from other jobs on
  a shared machine hits all of them alike), medians over every frame of every repeat:
  - ``rgb``: the shaded pass alone (``SimRenderer.render_rgb``), the reference;
  - ``all``: RGB + the id pass that yields depth and segmentation (``SimRenderer.render``) + the
    hand-keypoint map (``render_motion_video`` of the whole episode, per frame);
  - ``3 passes``: ``mujoco.Renderer`` rendering RGB, depth and segmentation separately, the
    the straightforward baseline.
* ``episode``: ``run_episode`` end to end (physics + all channels + 3D ground truth), frames/s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import mujoco
import numpy as np

from hoi_ros.core.episodes import keypoint_maps
from hoi_ros.sim.episode import EpisodeConfig, run_episode
from hoi_ros.sim.objects import make_object
from hoi_ros.sim.render import SimRenderer
from hoi_ros.sim.tasks import TaskRequest, simulate, yaw_quat


def requests() -> list[TaskRequest]:
    def on_table(name: str, x: float = 0.0, y: float = 0.0):
        obj = make_object(name)
        return obj, (np.array([x, y, obj.rest_height]), yaw_quat(0.0))

    box, box_pose = on_table("box")
    block, block_pose = on_table("block")
    mug, mug_pose = on_table("mug")
    bowl, bowl_pose = on_table("bowl", 0.25, 0.05)
    pin, pin_pose = on_table("roller")
    plate, plate_pose = on_table("plate", 0.25, 0.05)
    return [
        TaskRequest("grasp_lift", [box], [box_pose]),
        TaskRequest("push", [block], [block_pose]),
        TaskRequest("rotate", [box], [box_pose]),
        TaskRequest("place", [mug, bowl], [mug_pose, bowl_pose]),
        TaskRequest("tool_use", [pin, plate], [pin_pose, plate_pose]),
    ]


def bench_size(width: int, height: int, repeats: int) -> dict[str, float]:
    cfg = EpisodeConfig(width=width, height=height, fps=10.0)
    camera = cfg.make_camera()
    physics, frames = [], 0
    rgb_ms, all_ms, three_ms = [], [], []
    for req in requests():
        t0 = time.perf_counter()
        traj, scene = simulate(req, fps=cfg.fps, max_size=(width, height))
        physics.append(time.perf_counter() - t0)
        frames += len(traj.qpos)
        m, d = scene.model, scene.data
        baseline = mujoco.Renderer(m, height, width)
        with SimRenderer(scene, camera) as renderer:
            for _ in range(repeats):
                t0 = time.perf_counter()
                keypoint_maps(traj.keypoints, camera)
                kmap_per_frame = (time.perf_counter() - t0) / len(traj.qpos)
                for q in traj.qpos:
                    d.qpos[:] = q
                    mujoco.mj_kinematics(m, d)
                    t0 = time.perf_counter()
                    renderer.render_rgb()
                    t1 = time.perf_counter()
                    renderer.render(depth=True, segmentation=True)
                    t2 = time.perf_counter()
                    baseline.update_scene(d, camera=scene.camera_id)
                    baseline.render()
                    baseline.enable_depth_rendering()
                    baseline.render()
                    baseline.disable_depth_rendering()
                    baseline.enable_segmentation_rendering()
                    baseline.render()
                    baseline.disable_segmentation_rendering()
                    t3 = time.perf_counter()
                    rgb_ms.append(1e3 * (t1 - t0))
                    all_ms.append(1e3 * (t2 - t1 + kmap_per_frame))
                    three_ms.append(1e3 * (t3 - t2))
        baseline.close()
    t0 = time.perf_counter()
    episode_frames = 0
    for req in requests():
        episode_frames += run_episode(req, cfg).sequence.num_frames
    episode_s = time.perf_counter() - t0
    return {
        "physics_ms": 1e3 * sum(physics) / frames,
        "rgb_ms": statistics.median(rgb_ms),
        "all_ms": statistics.median(all_ms),
        "three_ms": statistics.median(three_ms),
        "episode_fps": episode_frames / episode_s,
        "frames": frames,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="320x240,624x416", help="W x H, comma-separated")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start, MuJoCo {mujoco.__version__}, "
          f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}")
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        r = bench_size(w, h, args.repeats)
        print(f"{w}x{h}: physics {r['physics_ms']:.2f} ms/frame | rgb {r['rgb_ms']:.2f} ms | all channels "
              f"{r['all_ms']:.2f} ms ({r['all_ms'] / r['rgb_ms']:.2f}x rgb) | 3 separate passes "
              f"{r['three_ms']:.2f} ms ({r['three_ms'] / r['rgb_ms']:.2f}x rgb) | episode end to end "
              f"{r['episode_fps']:.1f} frames/s ({r['frames']} frames)")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
