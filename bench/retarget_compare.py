"""hoi_ros sequence retargeting vs dex-retargeting 0.5.0 on the same human sequences and robots.

    source scripts/env.sh && pip install -r requirements/bench.txt   # once (dex-retargeting, nlopt, pin)
    python bench/retarget_compare.py --repeats 5 [--sim-episodes 3] [--json out.json]

Fairness: both methods get the same URDF (written from our description), the same human
keypoints expressed in the same palm frame (:func:`hoi_ros.retarget.human.to_palm_frame`), the
same fingertip mapping and the same scale (ours, calibrated on the sequence, passed to
dex-retargeting as ``scaling_factor``). dex-retargeting runs frame by frame as designed
(``SeqRetargeting.retarget``, warm-started with the previous frame, its default
``normal_delta``/``huber_delta``); its optimizers: ``vector`` (wrist-to-fingertip vectors, their
teleop configs) and ``dexpilot`` (their DexPilot variant), each with ``low_pass_alpha`` 1.0 (no
filter, as their offline configs) and 0.2 (their teleop default). Every output is scored by the
same code (:meth:`SequenceRetargeter.evaluate`, our FK; checked against pinocchio's FK below).

Metrics per sequence: mean fingertip error (mm, robot tip vs scaled human tip in the palm
frame), jitter = mean |second difference| of the actuated joints (rad/s^2), joint-limit
violations (joint values of all joints, coupled included, beyond the limits by > 1e-6 rad),
collision frames (finger capsules penetrating > 0.5 mm), wall time per sequence (median of
``--repeats``; dex-retargeting: the sum of its per-frame ``retarget`` calls, model build excluded).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hoi_ros.retarget import RetargetConfig, SequenceRetargeter, get_robot  # noqa: E402
from hoi_ros.retarget.human import to_palm_frame, validate_keypoints  # noqa: E402

REAL_HAND = Path("/work/shared/data/real_hand/human_joint_right.npz")


def dex_retargeter(urdf: Path, desc, method: str, scale: float, alpha: float, act_names: list[str]):
    from dex_retargeting.retargeting_config import RetargetingConfig

    tips = desc.fingertips
    human = [desc.keypoints[t] for t in tips]
    cfg = {"type": method, "urdf_path": str(urdf), "scaling_factor": float(scale), "low_pass_alpha": alpha,
           "target_joint_names": list(act_names)}
    if method == "vector":
        cfg.update(target_origin_link_names=[desc.root] * len(tips), target_task_link_names=list(tips),
                   target_link_human_indices=np.array([[0] * len(tips), human]))
    elif method == "dexpilot":
        cfg.update(wrist_link_name=desc.root, finger_tip_link_names=list(tips))
    else:
        raise ValueError(method)
    return RetargetingConfig(**cfg).build()


def run_dex(retargeting, local: np.ndarray, act_names: list[str]) -> tuple[np.ndarray, float]:
    opt = retargeting.optimizer
    indices = opt.target_link_human_indices
    origin, task = indices[0, :], indices[1, :]
    out = []
    total = 0.0
    for frame in local:
        ref = (frame[task] - frame[origin]).astype(np.float32)
        tic = time.perf_counter()
        qpos = retargeting.retarget(ref)
        total += time.perf_counter() - tic
        out.append(qpos)
    names = retargeting.joint_names
    order = [names.index(n) for n in act_names]
    return np.asarray(out)[:, order], total


def metrics(rt: SequenceRetargeter, q: np.ndarray, local: np.ndarray, scale: float, fps: float) -> dict:
    err, coll, _ = rt.evaluate(q, local, scale)
    full = rt.kin.full(q)
    lo = np.array([j.lower for j in rt.desc.revolute_joints])
    hi = np.array([j.upper for j in rt.desc.revolute_joints])
    acc = np.abs(np.diff(q, 2, axis=0)) * fps**2
    return {"tip_err_mm": float(err.mean() * 1000), "tip_err_p95_mm": float(np.percentile(err, 95) * 1000),
            "jitter_rad_s2": float(acc.mean()), "limit_violations": int(((full < lo - 1e-6) | (full > hi + 1e-6)).sum()),
            "collision_frames": int(coll.sum())}


def check_same_model(retargeting, rt: SequenceRetargeter, q: np.ndarray) -> float:
    """Max distance (m) between pinocchio's and our fingertip FK for a few of dex's solutions."""
    robot = retargeting.optimizer.robot
    names = retargeting.joint_names
    worst = 0.0
    for frame in np.linspace(0, len(q) - 1, 5).astype(int):
        full = rt.kin.full(q[frame])
        qpin = np.zeros(robot.dof)
        for name, v in zip(rt.kin.full_joint_names, full):
            qpin[names.index(name)] = v
        robot.compute_forward_kinematics(qpin)
        ours = rt.kin.link_positions(q[frame], rt.tip_links)[0]
        for k, link in enumerate(rt.tip_links):
            pos = robot.get_link_pose(robot.get_link_index(link))[:3, 3]
            worst = max(worst, float(np.linalg.norm(pos - ours[k])))
    return worst


def sequences(sim_episodes: int) -> list[tuple[str, np.ndarray, float]]:
    seqs = [("real_hand (621 frames, 30 fps)", np.load(REAL_HAND)["keypoints"], 30.0)]
    if sim_episodes:
        from hoi_ros.sim.dataset import episode_rng, sample_request
        from hoi_ros.sim.tasks import simulate

        for i in range(sim_episodes):
            req = sample_request(episode_rng(0, i))
            traj, _ = simulate(req, fps=30.0)
            seqs.append((f"sim {req.task} #{i} ({len(traj.keypoints)} frames)", traj.keypoints[:, :21], 30.0))
    return seqs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robots", nargs="+", default=["allegro", "inspire"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sim-episodes", type=int, default=0)
    ap.add_argument("--methods", nargs="+", default=["vector", "dexpilot"])
    ap.add_argument("--alphas", nargs="+", type=float, default=[1.0, 0.2])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    results = []
    tmp = Path(tempfile.mkdtemp(prefix="hoi_retarget_bench_"))
    for name, kp, fps in sequences(args.sim_episodes):
        local, _ = to_palm_frame(validate_keypoints(kp))
        for robot in args.robots:
            desc = get_robot(robot)
            urdf = tmp / f"{robot}.urdf"
            urdf.write_text(desc.to_urdf())
            rt = SequenceRetargeter(desc, RetargetConfig())
            times, res = [], None
            for _ in range(args.repeats):
                tic = time.perf_counter()
                res = rt.retarget(kp, fps)
                times.append(time.perf_counter() - tic)
            row = {"sequence": name, "robot": robot, "method": "hoi_ros", "time_s": statistics.median(times),
                   "iterations": res.iterations, **metrics(rt, res.qpos, local, res.scale, fps)}
            results.append(row)
            print(json.dumps(row), flush=True)
            for method in args.methods:
                for alpha in args.alphas:
                    times = []
                    for _ in range(args.repeats):
                        dex = dex_retargeter(urdf, desc, method, res.scale, alpha, rt.kin.joint_names)
                        q, total = run_dex(dex, local, rt.kin.joint_names)
                        times.append(total)
                    row = {"sequence": name, "robot": robot, "method": f"dex-{method} a={alpha}",
                           "time_s": statistics.median(times), "fk_check_m": check_same_model(dex, rt, q),
                           **metrics(rt, q, local, res.scale, fps)}
                    results.append(row)
                    print(json.dumps(row), flush=True)
    print("\n| sequence | robot | method | tip err mm (p95) | jitter rad/s² | limit viol. | coll. frames | time s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['sequence']} | {r['robot']} | {r['method']} | {r['tip_err_mm']:.2f} ({r['tip_err_p95_mm']:.1f}) | "
              f"{r['jitter_rad_s2']:.2f} | {r['limit_violations']} | {r['collision_frames']} | {r['time_s']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
