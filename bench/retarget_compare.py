"""hoi_ros whole-sequence retargeting vs dex-retargeting 0.5.0, same human sequences, same robots.

Install the baseline once (not needed by hoi_ros itself, not installed by setup.sh or CI):

    source scripts/env.sh && pip install -c requirements/lock.txt -r requirements/bench.txt
    python bench/retarget_compare.py [--repeats 3] [--sim-episodes 2] [--json out.json]

Fairness:

- Same robot: dex-retargeting loads the URDF written from our description (it ships none);
  every output is scored by the same code (our FK, :meth:`SequenceRetargeter.evaluate`), and
  ``fk_check_m`` reports the largest fingertip distance between pinocchio's FK (dex's model) and
  ours on dex's own solutions.
- Same input: the human keypoints in the same palm frame (:func:`hoi_ros.retarget.human.to_palm_frame`)
  and the same human-to-robot scale (ours, calibrated on the sequence; dex's ``scaling_factor``;
  its ``position`` optimizer has none, so it gets the scaled positions).
- dex-retargeting as its authors run it: per frame through ``SeqRetargeting.retarget``, warm
  started with the previous frame (its own ``last_qpos``), default ``normal_delta``/``huber_delta``,
  its shipped configs' settings: ``vector`` and ``dexpilot`` (teleop configs: wrist-to-fingertip
  vectors / DexPilot pairs) with their ``low_pass_alpha`` 0.2 and unfiltered (1.0), and ``position``
  (offline configs: fingertips plus the links mapped to the finger's second joint, alpha 1.0;
  without the free base joint, since both methods get palm-frame input).
- Time per sequence: dex = the sum of its per-frame ``retarget`` calls (model building excluded);
  ours = one ``SequenceRetargeter.retarget`` call (model compiled beforehand, as the node does).
  Both run in this one process, alternating, ``--repeats`` times; the median is reported.

Modes (``--mode``):

- ``batch`` (default): whole sequences as above, plus short clips of the real trajectory
  (``clips``: 30 and 61 frames) and the real trajectory at 15 fps (every second frame) and 60 fps
  (midpoints inserted) with ``--sequences fps``.
- ``stream``: frame-by-frame teleoperation. Ours: :class:`StreamingRetargeter` with
  ``config/retarget/streaming.yaml`` (and the same without the collision term), one ``step`` per
  frame, the scale calibrated beforehand on the sequence (the same scale dex gets); dex-retargeting
  as in ``batch``. Per-frame latency: wall and thread-CPU time of each call, p50 / p95 / max.
- ``fixed-cost``: our whole-sequence time on real-hand prefixes of 1-240 frames (median of
  ``--repeats``), and the least-squares line ``a + b T``: ``a`` is the fixed cost per call.

Metrics per sequence: mean (and 95th percentile) fingertip error in mm (robot tip vs scaled human
tip, palm frame); jitter = mean |second difference| of the actuated joints times fps^2 (rad/s^2);
limit frames = frames where some joint (coupled ones included) is outside its URDF limits by more
than 1e-6 rad, with the largest excess (dex-retargeting widens its bounds by 1e-3 rad on purpose,
``Optimizer.set_joint_limit``, so its excess stays near that); collision frames = finger capsules penetrating by
more than 0.5 mm.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
LIMIT_TOL = 1e-6  # rad: joint values beyond a URDF limit by more than this count as outside it


def dex_retargeter(urdf: Path, desc, method: str, scale: float, alpha: float, act_names: list[str]):
    """A dex-retargeting ``SeqRetargeting`` for our robot, configured like its shipped configs."""
    from dex_retargeting.retargeting_config import RetargetingConfig

    tips = desc.fingertips
    human_tips = [desc.keypoints[t] for t in tips]
    cfg = {"type": method, "urdf_path": str(urdf), "low_pass_alpha": alpha, "target_joint_names": list(act_names)}
    if method == "vector":
        cfg.update(scaling_factor=float(scale), target_origin_link_names=[desc.root] * len(tips),
                   target_task_link_names=list(tips), target_link_human_indices=np.array([[0] * len(tips), human_tips]))
    elif method == "dexpilot":
        cfg.update(scaling_factor=float(scale), wrist_link_name=desc.root, finger_tip_link_names=list(tips))
    elif method == "position":
        # Offline configs: fingertips plus the link at each finger's second joint (human 2, 6, 10, 14, 18).
        links = list(tips) + [link for link, h in desc.keypoints.items() if h in (2, 6, 10, 14, 18)]
        cfg.update(target_link_names=links, target_link_human_indices=np.array([desc.keypoints[k] for k in links]))
    else:
        raise ValueError(f"method: unknown {method!r}")
    return RetargetingConfig(**cfg).build()


def run_dex(retargeting, local: np.ndarray, scale: float, act_names: list[str]) -> tuple[np.ndarray, float, float]:
    """Retarget frame by frame; returns (actuated joints [T, n], wall seconds, CPU seconds) of the calls."""
    opt = retargeting.optimizer
    indices = opt.target_link_human_indices
    position = opt.retargeting_type == "POSITION"
    out, wall, cpu = [], 0.0, 0.0
    for frame in local:
        if position:
            ref = frame[indices] * scale
        else:
            ref = frame[indices[1, :]] - frame[indices[0, :]]
        ref = ref.astype(np.float32)
        tic, tic_cpu = time.perf_counter(), time.process_time()
        qpos = retargeting.retarget(ref)
        wall += time.perf_counter() - tic
        cpu += time.process_time() - tic_cpu
        out.append(qpos)
    names = retargeting.joint_names
    return np.asarray(out, dtype=np.float64)[:, [names.index(n) for n in act_names]], wall, cpu


def metrics(rt: SequenceRetargeter, q: np.ndarray, local: np.ndarray, scale: float, fps: float) -> dict:
    err, coll, dist = rt.evaluate(q, local, scale)
    full = rt.kin.full(q)
    lo = np.array([j.lower for j in rt.desc.revolute_joints])
    hi = np.array([j.upper for j in rt.desc.revolute_joints])
    excess = np.maximum(lo - full, full - hi).max(axis=1)
    acc = np.abs(np.diff(q, 2, axis=0)) * fps**2 if len(q) > 2 else np.zeros(1)
    return {"tip_err_mm": float(err.mean() * 1000), "tip_err_p95_mm": float(np.percentile(err, 95) * 1000),
            "jitter_rad_s2": float(acc.mean()), "limit_frames": int((excess > LIMIT_TOL).sum()),
            "max_limit_excess_rad": float(max(excess.max(), 0.0)), "collision_frames": int(coll.sum()),
            "min_distance_mm": float(dist.min() * 1000)}


def check_same_model(retargeting, rt: SequenceRetargeter, q: np.ndarray) -> float:
    """Largest distance (m) between pinocchio's and our fingertip FK over a few of dex's solutions."""
    robot = retargeting.optimizer.robot
    names = retargeting.joint_names
    worst = 0.0
    for frame in np.linspace(0, len(q) - 1, 5).astype(int):
        qpin = np.zeros(robot.dof)
        for name, v in zip(rt.kin.full_joint_names, rt.kin.full(q[frame])):
            qpin[names.index(name)] = v
        robot.compute_forward_kinematics(qpin)
        ours = rt.kin.link_positions(q[frame], rt.tip_links)[0]
        for k, link in enumerate(rt.tip_links):
            worst = max(worst, float(np.linalg.norm(robot.get_link_pose(robot.get_link_index(link))[:3, 3] - ours[k])))
    return worst


def sequences(kinds: list[str], sim_episodes: int) -> tuple[list[tuple[str, np.ndarray, float]], list[str]]:
    """(name, keypoints [T, 21, 3], fps) of every benchmark sequence, and notes on skipped ones."""
    seqs: list[tuple[str, np.ndarray, float]] = []
    if "real" in kinds:
        seqs.append(("real hand (MediaPipe, 621 frames, 30 fps)", np.load(REAL_HAND)["keypoints"], 30.0))
    if "synthetic" in kinds:
        from hoi_ros.core.synthetic import reach_grasp_lift

        syn = reach_grasp_lift(num_frames=90, fps=30.0)
        seqs.append((f"synthetic reach-grasp-lift ({syn.num_frames} frames, 30 fps)", syn.hand_joints[:, :21], 30.0))
    if "clips" in kinds:
        real = np.load(REAL_HAND)["keypoints"]
        for start, length in ((0, 30), (300, 61)):
            seqs.append((f"real hand clip {start}-{start + length} ({length} frames, 30 fps)",
                         real[start: start + length], 30.0))
    if "fps" in kinds:
        real = np.load(REAL_HAND)["keypoints"].astype(np.float64)
        half = real[::2]
        seqs.append((f"real hand at 15 fps ({len(half)} frames)", half, 15.0))
        double = np.concatenate([real[:-1, None], (0.5 * (real[:-1] + real[1:]))[:, None]], axis=1).reshape(-1, 21, 3)
        seqs.append((f"real hand at 60 fps ({len(double)} frames, midpoints)", double, 60.0))
    notes: list[str] = []
    if "sim" in kinds and sim_episodes:
        first = len(seqs)
        try:
            from hoi_ros.sim.dataset import episode_rng, sample_request
            from hoi_ros.sim.tasks import simulate

            i = 0
            while len(seqs) < first + sim_episodes and i < 10 * sim_episodes:
                req = sample_request(episode_rng(0, i))
                i += 1
                if getattr(req, "side", "right") != "right":
                    continue
                traj, _ = simulate(req, fps=30.0)
                seqs.append((f"sim {req.task} #{i - 1} ({len(traj.keypoints)} frames, 30 fps)",
                             np.asarray(traj.keypoints)[:, :21], 30.0))
        except Exception as exc:  # the simulation is optional here; say why it was skipped
            notes.append(f"sim episodes skipped: {type(exc).__name__}: {exc}")
    return seqs, notes


def _machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"


def fixed_cost(args: argparse.Namespace) -> int:
    """Our whole-sequence time against the sequence length; the intercept is the fixed cost per call."""
    real = np.load(REAL_HAND)["keypoints"]
    lengths = [1, 2, 4, 8, 16, 30, 61, 120, 240]
    print(f"# machine: {_machine()}", flush=True)
    rows = []
    for robot in args.robots:
        rt = SequenceRetargeter(robot, RetargetConfig.from_yaml(args.config))
        rt.retarget(real[:8], 30.0)  # warm (first-call imports)
        for t in lengths:
            walls, cpus = [], []
            for _ in range(args.repeats):
                tic, tic_cpu = time.perf_counter(), time.process_time()
                rt.retarget(real[:t], 30.0)
                walls.append(time.perf_counter() - tic)
                cpus.append(time.process_time() - tic_cpu)
            rows.append({"robot": robot, "frames": t, "time_s": statistics.median(walls),
                         "cpu_s": statistics.median(cpus)})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| robot | frames | time ms (CPU ms) |\n| --- | --- | --- |")
    for r in rows:
        print(f"| {r['robot']} | {r['frames']} | {r['time_s'] * 1e3:.1f} ({r['cpu_s'] * 1e3:.1f}) |")
    for robot in args.robots:
        mine = [r for r in rows if r["robot"] == robot]
        for key in ("time_s", "cpu_s"):
            b, a = np.polyfit([r["frames"] for r in mine], [r[key] for r in mine], 1)
            print(f"# {robot} {key}: fixed cost a = {a * 1e3:.2f} ms per call, b = {b * 1e3:.3f} ms per frame")
    if args.json:
        args.json.write_text(json.dumps({"machine": _machine(), "results": rows}, indent=1))
    return 0


def stream(args: argparse.Namespace) -> int:
    """Frame-by-frame: our StreamingRetargeter against dex-retargeting's per-frame calls, same frames."""
    from hoi_ros.retarget import StreamingRetargeter

    configs = {"hoi_ros stream": RetargetConfig.from_yaml(REPO / "config" / "retarget" / "streaming.yaml")}
    free = RetargetConfig.from_yaml(REPO / "config" / "retarget" / "streaming.yaml")
    free.collision_weight = 0.0
    configs["hoi_ros stream no_collision"] = free
    dex_methods = [("vector", 1.0), ("dexpilot", 1.0), ("position", 1.0), ("vector", 0.2)]
    seqs, notes = sequences(args.sequences, args.sim_episodes)
    print(f"# machine: {_machine()}; python {platform.python_version()}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="hoi_retarget_bench_"))
    results = []
    for seq_name, kp, fps in seqs:
        local, _ = to_palm_frame(validate_keypoints(kp))
        for robot in args.robots:
            desc = get_robot(robot)
            urdf = tmp / f"{robot}.urdf"
            urdf.write_text(desc.to_urdf())
            ref = SequenceRetargeter(desc, RetargetConfig.from_yaml(args.config))
            scale, _ = ref.calibrate_scale(local)
            act = ref.kin.joint_names
            for _ in range(args.repeats):
                for name, cfg in configs.items():
                    rt = StreamingRetargeter(desc, cfg, max_iters=args.stream_max_iters)
                    rt.calibrate(kp)
                    walls, cpus, q = [], [], []
                    for frame in kp:
                        tic, tic_cpu = time.perf_counter(), time.thread_time()
                        q.append(rt.step(frame).qpos)
                        cpus.append(time.thread_time() - tic_cpu)
                        walls.append(time.perf_counter() - tic)
                    results.append(_stream_row(seq_name, robot, name, walls, cpus, ref, np.array(q), local, scale, fps))
                for method, alpha in dex_methods:
                    dex = dex_retargeter(urdf, desc, method, scale, alpha, act)
                    q, walls, cpus = run_dex_frames(dex, local, scale, act)
                    results.append(_stream_row(seq_name, robot, f"dex {method} a={alpha:g}", walls, cpus, ref, q,
                                               local, scale, fps))
    # Median over repeats of each per-frame statistic.
    merged: dict[tuple[str, str, str], list[dict]] = {}
    for r in results:
        merged.setdefault((r["sequence"], r["robot"], r["method"]), []).append(r)
    rows = []
    for runs in merged.values():
        row = dict(runs[0])
        for key in ("p50_ms", "p95_ms", "max_ms", "cpu_p50_ms", "cpu_p95_ms", "mean_ms"):
            row[key] = statistics.median(r[key] for r in runs)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n# machine: {_machine()}")
    print("| sequence | robot | method | per-frame ms: p50 / p95 / max (CPU p50 / p95) | tip err mm (p95) "
          "| jitter rad/s² | limit frames | collision frames |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['sequence']} | {r['robot']} | {r['method']} | {r['p50_ms']:.2f} / {r['p95_ms']:.2f} / "
              f"{r['max_ms']:.1f} ({r['cpu_p50_ms']:.2f} / {r['cpu_p95_ms']:.2f}) | {r['tip_err_mm']:.2f} "
              f"({r['tip_err_p95_mm']:.1f}) | {r['jitter_rad_s2']:.2f} | {r['limit_frames']} "
              f"| {r['collision_frames']} |")
    if args.json:
        args.json.write_text(json.dumps({"machine": _machine(), "notes": notes, "results": rows}, indent=1))
    return 0


def _stream_row(seq_name: str, robot: str, method: str, walls: list[float], cpus: list[float],
                ref: SequenceRetargeter, q: np.ndarray, local: np.ndarray, scale: float, fps: float) -> dict:
    w, c = np.array(walls) * 1e3, np.array(cpus) * 1e3
    return {"sequence": seq_name, "robot": robot, "method": method, "mean_ms": float(w.mean()),
            "p50_ms": float(np.median(w)), "p95_ms": float(np.percentile(w, 95)), "max_ms": float(w.max()),
            "cpu_p50_ms": float(np.median(c)), "cpu_p95_ms": float(np.percentile(c, 95)),
            **metrics(ref, q, local, scale, fps)}


def run_dex_frames(retargeting, local: np.ndarray, scale: float,
                   act_names: list[str]) -> tuple[np.ndarray, list[float], list[float]]:
    """Like :func:`run_dex`, with the wall and thread-CPU time of every call."""
    opt = retargeting.optimizer
    indices = opt.target_link_human_indices
    position = opt.retargeting_type == "POSITION"
    out, walls, cpus = [], [], []
    for frame in local:
        ref = (frame[indices] * scale if position else frame[indices[1, :]] - frame[indices[0, :]]).astype(np.float32)
        tic, tic_cpu = time.perf_counter(), time.thread_time()
        qpos = retargeting.retarget(ref)
        cpus.append(time.thread_time() - tic_cpu)
        walls.append(time.perf_counter() - tic)
        out.append(qpos)
    names = retargeting.joint_names
    return np.asarray(out, dtype=np.float64)[:, [names.index(n) for n in act_names]], walls, cpus


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robots", nargs="+", default=["allegro", "inspire"])
    ap.add_argument("--repeats", type=int, default=3)
    kinds = ["real", "synthetic", "sim", "clips", "fps"]
    ap.add_argument("--sequences", nargs="+", default=["real", "synthetic", "sim", "clips"], choices=kinds)
    ap.add_argument("--mode", default="batch", choices=["batch", "stream", "fixed-cost"])
    ap.add_argument("--stream-max-iters", type=int, default=3,
                    help="stream mode: StreamingRetargeter's iterations per frame at most")
    ap.add_argument("--sim-episodes", type=int, default=2)
    ap.add_argument("--config", type=Path, default=REPO / "config" / "retarget" / "default.yaml",
                    help="our retargeting parameters (section 'retarget')")
    ap.add_argument("--presets", nargs="*", default=["smooth", "no_collision"],
                    help="extra configs of ours from config/retarget/<name>.yaml")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    try:
        import dex_retargeting  # noqa: F401
    except ImportError:
        print("dex-retargeting is not installed: pip install -c requirements/lock.txt -r requirements/bench.txt")
        return 2
    if args.mode == "fixed-cost":
        return fixed_cost(args)
    if args.mode == "stream":
        return stream(args)
    ours = {"hoi_ros": RetargetConfig.from_yaml(args.config)}
    for name in args.presets:
        ours[f"hoi_ros {name}"] = RetargetConfig.from_yaml(REPO / "config" / "retarget" / f"{name}.yaml")
    dex_methods = [("vector", 0.2), ("vector", 1.0), ("dexpilot", 0.2), ("dexpilot", 1.0), ("position", 1.0)]
    seqs, notes = sequences(args.sequences, args.sim_episodes)
    machine = _machine()
    print(f"# machine: {machine}; python {platform.python_version()}", flush=True)
    for note in notes:
        print(f"# {note}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="hoi_retarget_bench_"))
    results = []
    for seq_name, kp, fps in seqs:
        local, _ = to_palm_frame(validate_keypoints(kp))
        for robot in args.robots:
            desc = get_robot(robot)
            urdf = tmp / f"{robot}.urdf"
            urdf.write_text(desc.to_urdf())
            rts = {name: SequenceRetargeter(desc, cfg) for name, cfg in ours.items()}
            ref = rts["hoi_ros"]
            scale, _ = ref.calibrate_scale(local)
            act = ref.kin.joint_names
            walls: dict[str, list[float]] = {}
            cpus: dict[str, list[float]] = {}
            outputs: dict[str, np.ndarray] = {}
            extra: dict[str, dict] = {}
            for _ in range(args.repeats):  # alternate the methods so that load affects all alike
                for name, rt in rts.items():
                    tic, tic_cpu = time.perf_counter(), time.process_time()
                    res = rt.retarget(kp, fps)
                    walls.setdefault(name, []).append(time.perf_counter() - tic)
                    cpus.setdefault(name, []).append(time.process_time() - tic_cpu)
                    outputs[name] = res.qpos
                    extra[name] = {"iterations": res.iterations}
                for method, alpha in dex_methods:
                    name = f"dex {method} a={alpha:g}"
                    dex = dex_retargeter(urdf, desc, method, scale, alpha, act)
                    q, wall, cpu = run_dex(dex, local, scale, act)
                    walls.setdefault(name, []).append(wall)
                    cpus.setdefault(name, []).append(cpu)
                    outputs[name] = q
                    extra[name] = {"fk_check_m": check_same_model(dex, ref, q)}
            for name, q in outputs.items():
                row = {"sequence": seq_name, "robot": robot, "method": name,
                       "time_s": statistics.median(walls[name]), "cpu_s": statistics.median(cpus[name]),
                       **extra[name], **metrics(ref, q, local, scale, fps)}
                results.append(row)
                print(json.dumps(row), flush=True)
    print(f"\n# machine: {machine}")
    ours_names = list(ours)
    print("| sequence | robot | method | tip err mm (p95) | jitter rad/s² | limit frames (max excess rad) "
          "| collision frames | time s (CPU s) | dex time / ours: " + ", ".join(ours_names) + " |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        same = {x["method"]: x for x in results if x["sequence"] == r["sequence"] and x["robot"] == r["robot"]}
        speed = "" if r["method"].startswith("hoi_ros") else ", ".join(
            f"{r['time_s'] / same[name]['time_s']:.1f}x" for name in ours_names)
        print(f"| {r['sequence']} | {r['robot']} | {r['method']} | {r['tip_err_mm']:.2f} ({r['tip_err_p95_mm']:.1f}) "
              f"| {r['jitter_rad_s2']:.2f} | {r['limit_frames']} ({r['max_limit_excess_rad']:.1e}) "
              f"| {r['collision_frames']} | {r['time_s']:.3f} ({r['cpu_s']:.3f}) | {speed} |")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "notes": notes, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
