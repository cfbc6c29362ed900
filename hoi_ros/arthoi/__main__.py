"""``python -m hoi_ros.arthoi``: ArtHOI (segmentation, Stage I, Stage II) on one articulated sim scene.

    python -m hoi_ros.arthoi --sim door                      # open the door, recover its hinge
    python -m hoi_ros.arthoi --sim drawer --action close --out /tmp/arthoi
    python -m hoi_ros.arthoi --sim cabinet --ablations       # + joint, w/o L_a, w/o L_k, w/o L_s, w/o L_tr
    python -m hoi_ros.arthoi --sim door --hand mediapipe     # Stage II from MediaPipe on the sim video
    python -m hoi_ros.arthoi --sim door --save-scene ~/.ros/hoi_ros/scenes/door.npz   # input for /hoi/articulate

Prints a progress bar per stage, the time of each stage, the articulation errors against the
sim's ground truth and the hand before and after Stage II; ``--out`` writes ``result.json`` and
the recovered sequence (``.npz``). ``--ablations`` also runs the variants of
``config/models/arthoi/ablations.yaml`` (Table 5's joint optimisation, w/o L_a, w/o L_k, w/o L_s,
and w/o L_tr) on the same scene; variants that change only Stage II reuse the full run's Stage I.
``--hand`` picks the initial hand for Stage II: ``simulated`` (the documented substitute for a
hand pose estimator on sim video, :func:`~hoi_ros.arthoi.stage2.simulated_hand_estimate`) or
``mediapipe`` (MediaPipe's hand landmarker on the video, :mod:`hoi_ros.arthoi.hand_estimate`;
it finds the sim's flat-shaded hand in part of the frames only, reported).
``--save-scene FILE`` writes the scene ArtHOI reads (video, masks, camera, surface points, hand
estimate and the sim's truth; :mod:`hoi_ros.arthoi.scene_io`) and stops there: the file is a
``sequence_path`` for the ``/hoi/articulate`` action.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from hoi_ros.arthoi.benchmark import ablation_variants, apply_changes
from hoi_ros.arthoi.config import ArtHOIConfig
from hoi_ros.arthoi.pipeline import ArtHOIResult, SceneInput, run_arthoi, scene_from_episode
from hoi_ros.core.sequence import HOISequence

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "models" / "arthoi" / "default.yaml"


def _run(scene: SceneInput, cfg: ArtHOIConfig, label: str, quiet: bool,
         reuse: ArtHOIResult | None = None) -> ArtHOIResult:
    bars: dict[str, tqdm] = {}

    def progress(stage: str, step: int, steps: int, info: dict[str, float]) -> None:
        if quiet:
            return
        bar = bars.get(stage)
        if bar is None:
            unit = "frame" if stage == "stage1" else "step"
            bar = bars[stage] = tqdm(total=steps, desc=f"{label} {stage}", unit=unit, leave=True, file=sys.stderr)
        bar.update(step - bar.n)
        if info:
            bar.set_postfix({k: (round(v, 4) if isinstance(v, float) else v) for k, v in info.items()})
        if step >= steps:
            bar.close()

    return run_arthoi(scene, cfg, progress, reuse=reuse)


def main(argv: list[str] | None = None) -> int:
    from hoi_ros.sim.articulated import ACTIONS, ArticulatedTask, run_articulated_episode
    from hoi_ros.sim.articulated_objects import ARTICULATED_NAMES

    ap = argparse.ArgumentParser(prog="python -m hoi_ros.arthoi", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sim", required=True, choices=ARTICULATED_NAMES, help="articulated sim object")
    ap.add_argument("--action", default="open", choices=ACTIONS)
    ap.add_argument("--drive", default="contact", choices=("contact", "kinematic"))
    ap.add_argument("--fps", type=float, default=12.0, help="frames per second (12: 52 frames)")
    ap.add_argument("--config", default=str(DEFAULT_CONFIG), help="ArtHOI YAML (config/models/arthoi/)")
    ap.add_argument("--ablations", action="store_true",
                    help="also run the variants of config/models/arthoi/ablations.yaml (Table 5)")
    ap.add_argument("--hand", default="simulated", choices=("simulated", "mediapipe"),
                    help="initial hand for Stage II (mediapipe: MediaPipe's hand landmarker on the video)")
    ap.add_argument("--seed", type=int, default=None, help="scene seed (surface samples, hand estimate); "
                    "default: the config's")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    ap.add_argument("--out", default=None, help="folder for result.json and the recovered sequence")
    ap.add_argument("--figure", default=None, help="write the overview picture (PNG) of the full run here")
    ap.add_argument("--save-scene", default=None, metavar="FILE",
                    help="write the scene (npz, hoi_ros.arthoi.scene_io) for /hoi/articulate and stop")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    cfg = ArtHOIConfig.from_yaml(args.config)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    episode = run_articulated_episode(ArticulatedTask(object=args.sim, action=args.action, drive=args.drive,
                                                      fps=args.fps))
    timings["sim_s"] = time.perf_counter() - t0
    seed = cfg.seed if args.seed is None else args.seed
    scene = scene_from_episode(episode, cfg.render.num_gaussians, seed)
    hand_info: dict[str, Any] = {"source": args.hand}
    if args.hand == "mediapipe":
        from hoi_ros.arthoi.hand_estimate import mediapipe_hand_estimate

        est = mediapipe_hand_estimate(scene.video, scene.camera)
        scene.hand_estimate = est.joints
        truth = scene.truth["hand_joints"]
        uv, _ = scene.camera.project(truth.reshape(-1, 3))
        err2d = np.linalg.norm(est.image_points - uv.reshape(truth.shape[0], 21, 2), axis=-1)
        hand_info.update(detected_frames=int(est.detected.sum()), frames=len(est.detected),
                         image_error_px=float(np.nanmean(err2d[est.detected])) if est.detected.any() else None)
        print(f"MediaPipe: hand found in {est.detected.sum()} of {len(est.detected)} frames, 2D error "
              f"{hand_info['image_error_px']} px (against the sim's projected keypoints)")
    if args.save_scene:
        from hoi_ros.arthoi.scene_io import save_scene

        written = save_scene(Path(args.save_scene).expanduser(), scene)
        print(f"wrote {written} ({args.sim} {args.action}, {episode.sequence.num_frames} frames, "
              f"{len(scene.surface_points)} surface points)")
        return 0
    runs: dict[str, Any] = {}
    variants = {"full": cfg}
    if args.ablations:
        for name, change in ablation_variants().items():
            variants[name] = apply_changes(cfg, change)
    result = None
    for name, variant in variants.items():
        reuse = result if (result is not None and variant.optimisation == "decoupled"
                           and (variant.segmentation, variant.render, variant.stage1)
                           == (cfg.segmentation, cfg.render, cfg.stage1)) else None
        r = _run(scene, variant, name, args.quiet, reuse)
        runs[name] = {"metrics": r.metrics, "timings": r.timings, "joint_type": r.joint.type,
                      "axis": r.joint.axis.tolist(), "origin": r.joint.origin.tolist(),
                      "iterations_per_frame_mean": float(np.mean(r.stage1.iterations[1:])),
                      "stage1_reused": reuse is not None}
        if r.stage2 is not None:
            runs[name]["stage2_terms"] = r.stage2.terms
        result = result or r
    timings.update(runs["full"]["timings"])
    timings["total_s"] = time.perf_counter() - t0
    summary = {"scene": {"object": args.sim, "action": args.action, "drive": episode.info["drive"],
                         "frames": episode.sequence.num_frames, "sim_success": episode.success,
                         "size": [episode.sequence.camera.width, episode.sequence.camera.height],
                         "seed": seed, "hand": hand_info},
               "timings": timings, "runs": runs, "config": cfg.to_dict()}
    print(f"{args.sim} {args.action} ({summary['scene']['frames']} frames, drive {summary['scene']['drive']}): "
          + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    for name, run in runs.items():
        m = run["metrics"]
        extra = (f"angle err {m['angle_error_mean_deg']:.2f} deg" if "angle_error_mean_deg" in m
                 else f"slide err {100 * m['translation_error_mean_m']:.2f} cm")
        print(f"  {name:9s} {run['joint_type']:9s} rot mean/max/min {m['rot_mean_deg']:.2f}/{m['rot_max_deg']:.2f}/"
              f"{m['rot_min_deg']:.2f} deg, axis err {m['axis_error_deg']:.2f} deg, {extra}, "
              f"part acc {m['gaussian_part_accuracy']:.3f}")
        if "hand_mpjpe_m" in m:
            print(f"  {'':9s} hand (initial -> Stage II): MPJPE {100 * m['hand_init_mpjpe_m']:.2f} -> "
                  f"{100 * m['hand_mpjpe_m']:.2f} cm, contact {m['hand_init_contact_pct']:.1f} -> "
                  f"{m['hand_contact_pct']:.1f} %, penetration {m['hand_init_penetration_pct']:.1f} -> "
                  f"{m['hand_penetration_pct']:.1f} %, smoothness {m['hand_init_smoothness']:.4f} -> "
                  f"{m['hand_smoothness']:.4f}")
    if args.figure:
        import imageio.v3 as iio

        from hoi_ros.arthoi.figure import overview_figure

        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(args.figure, overview_figure(scene, result))
        print(f"wrote {args.figure}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps(summary, indent=2, default=float))
        seq = episode.sequence
        estimated = HOISequence(hand_joints=seq.hand_joints, object_points=seq.object_points, camera=seq.camera,
                                fps=seq.fps, prompt=seq.prompt, video=seq.video,
                                object_point_labels=seq.object_point_labels, object_names=seq.object_names,
                                metadata={"source": "hoi_ros.arthoi", "object": args.sim},
                                hand_sides=seq.hand_sides, articulations=(result.articulation,))
        estimated.save(out / f"{args.sim}_{args.action}_arthoi")
        print(f"wrote {out / 'result.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
