"""Left and right hands: handedness detection and left-hand retargeting, measured.

    source scripts/env.sh && python bench/retarget_hands.py [--sim-episodes 2]

For each input: the handedness score of :func:`hoi_ros.retarget.handedness.detect_side` (median
palm-side height of the finger joints over the palm length; negative = right), the share of frames
agreeing, and the mean fingertip error and collision frames of the default preset on the matching
robot. Inputs: the real MediaPipe trajectory (a right hand), its mirror image (a left hand), the same
keypoints rotated and translated at random (the score must not depend on the view), and
``hoi_ros.sim`` episodes simulated with a left hand (the MuJoCo hand's own left model, not a mirrored
recording). Also the old behaviour for comparison: a left hand fitted as a right one
(``handedness: off``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hoi_ros.retarget import RetargetConfig, SequenceRetargeter  # noqa: E402
from hoi_ros.retarget.handedness import detect_side, mirror_keypoints  # noqa: E402

REAL_HAND = Path("/work/shared/data/real_hand/human_joint_right.npz")
CONFIG = REPO / "config" / "retarget" / "default.yaml"


def _config(**overrides: object) -> RetargetConfig:
    cfg = RetargetConfig.from_yaml(CONFIG)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sim-episodes", type=int, default=2)
    args = ap.parse_args(argv)
    real = np.load(REAL_HAND)["keypoints"].astype(np.float64)
    rot = Rotation.random(len(real), random_state=0).as_matrix()
    inputs = [("real hand (621 frames)", "right", real),
              ("real hand, mirrored", "left", mirror_keypoints(real)),
              ("real hand, random rotation per frame", "right", np.einsum("tij,tkj->tki", rot, real) + 0.3),
              ("real hand, mirrored, random rotation per frame", "left",
               mirror_keypoints(np.einsum("tij,tkj->tki", rot, real)))]
    from hoi_ros.sim.dataset import episode_rng, sample_request
    from hoi_ros.sim.tasks import simulate

    for i in range(args.sim_episodes):
        req = dataclasses.replace(sample_request(episode_rng(0, i)), side="left")
        traj, _ = simulate(req, fps=30.0)
        kp = np.asarray(traj.keypoints)[:, :21]
        inputs.append((f"sim {req.task} #{i}, left hand ({len(kp)} frames)", "left", kp))
    print("| input | detected | score | frames agreeing | robot | tip err mm | collision frames |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, side, kp in inputs:
        det = detect_side(kp)
        for robot in ("allegro", "inspire"):
            robot_name = f"{robot}_left" if side == "left" else robot
            res = SequenceRetargeter(robot_name, _config(hand=side)).retarget(kp, 30.0)
            print(f"| {name} | {det.side} | {det.score:+.3f} | {100 * det.frames_agreeing:.0f}% | {robot_name} "
                  f"| {res.fingertip_error.mean() * 1000:.2f} | {int(res.collision.sum())} |", flush=True)
    left = mirror_keypoints(real)
    for robot in ("allegro", "inspire"):
        right = SequenceRetargeter(robot, _config()).retarget(real, 30.0)
        mirrored = SequenceRetargeter(f"{robot}_left", _config(hand="left")).retarget(left, 30.0)
        off = SequenceRetargeter(robot, _config(handedness="off")).retarget(left, 30.0)
        print(f"# {robot}: left hand -> {robot}_left joints vs right hand -> {robot}: max |dq| "
              f"{np.abs(mirrored.qpos - right.qpos).max():.1e} rad; left hand fitted as a right one "
              f"(handedness: off): {off.fingertip_error.mean() * 1000:.2f} mm "
              f"(right hand: {right.fingertip_error.mean() * 1000:.2f} mm)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
