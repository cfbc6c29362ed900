"""``python -m hoi_ros.arthoi.benchmark``: ArtHOI and Table 5's ablations on held-out sim episodes.

    python -m hoi_ros.arthoi.benchmark --out /tmp/arthoi_bench                 # the shipped manifest
    python -m hoi_ros.arthoi.benchmark --out DIR --per-object 1                # one episode per object
    python -m hoi_ros.arthoi.benchmark --out DIR --episodes door_open_s1001   # one episode (ids of the manifest)
    python -m hoi_ros.arthoi.benchmark --out DIR --merge DIR1 DIR2             # one table from several runs
    python -m hoi_ros.arthoi.benchmark --make-manifest FILE --seeds 1001 1010  # write a new manifest

**The manifest** (JSON, :func:`load_manifest` / :func:`save_manifest`; the shipped one is
``config/benchmarks/arthoi_heldout.json``) lists the episodes: per episode an ``id``, the
``object`` and ``action``, the ``seed`` (it seeds the episode's variation below, the object's
surface samples and the simulated hand estimate), ``fps``, ``drive``, the ``camera`` (eye, target,
vertical field of view, image size), ``goal_fraction`` and ``operate_time``. Every value the
episode needs is written out, so the manifest alone reproduces it. :func:`make_manifest` draws the
variation from the seed: the camera's eye moved within +-6 cm (x, y) and +-5 cm (z) of the default
front-left view and its target within +-2 cm, the goal within 80-100 % of the object's open state,
the operation 2.1-2.7 s. Development used seed 0 and the default camera only; the held-out seeds
start at 1001 and were never run before the benchmark.

**The run**: each episode is simulated, then ArtHOI (``--config``, default ``fast.yaml``) and the
variants of ``config/models/arthoi/ablations.yaml`` (Table 5's rows: joint optimisation, w/o L_a,
w/o L_k, w/o L_s) run on the same scene; a variant that changes only Stage II reuses the full
run's Stage I. Written to ``--out``: ``manifest.json`` (the episodes run), ``results.json`` (every
metric and timing per episode and variant) and ``table.md`` (per variant: rotation error mean /
max / min in degrees over the revolute episodes, slide error in cm over the prismatic ones,
contact %, penetration %, smoothness of the hand, hand MPJPE, time per stage).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hoi_ros.arthoi.config import ArtHOIConfig

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MANIFEST = ROOT / "config" / "benchmarks" / "arthoi_heldout.json"
DEFAULT_CONFIG = ROOT / "config" / "models" / "arthoi" / "fast.yaml"
ABLATIONS_FILE = ROOT / "config" / "models" / "arthoi" / "ablations.yaml"
MANIFEST_FORMAT = "hoi_ros.arthoi.benchmark"
MANIFEST_VERSION = 1
TABLE5_VARIANTS: tuple[str, ...] = ("joint", "w/o L_a", "w/o L_k", "w/o L_s")
DEFAULT_EYE = (-0.45, -0.62, 0.55)
DEFAULT_TARGET = (0.0, 0.06, 0.12)
EPISODE_KEYS = ("id", "object", "action", "seed", "fps", "drive", "camera", "goal_fraction", "operate_time")
CAMERA_KEYS = ("eye", "target", "fov_y_deg", "width", "height")


@dataclass(frozen=True)
class Episode:
    """One held-out episode of the manifest (see the module docstring)."""

    id: str
    object: str
    action: str
    seed: int
    fps: float
    drive: str
    camera: dict[str, Any]
    goal_fraction: float
    operate_time: float

    def task(self):
        """The :class:`hoi_ros.sim.articulated.ArticulatedTask` of this episode."""
        from hoi_ros.sim.articulated import ArticulatedTask

        cam = self.camera
        return ArticulatedTask(object=self.object, action=self.action, drive=self.drive,
                               goal_fraction=self.goal_fraction, operate_time=self.operate_time, fps=self.fps,
                               width=int(cam["width"]), height=int(cam["height"]), fov_y_deg=float(cam["fov_y_deg"]),
                               camera_eye=tuple(float(v) for v in cam["eye"]),
                               camera_target=tuple(float(v) for v in cam["target"]))

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in EPISODE_KEYS}


def ablation_variants(path: str | os.PathLike = ABLATIONS_FILE) -> dict[str, dict[str, Any]]:
    """The ablation variants: name -> changes to the config under test (YAML mapping of sections)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected a mapping of variant names to config changes")
    return data


def apply_changes(cfg: ArtHOIConfig, changes: dict[str, Any]) -> ArtHOIConfig:
    """``cfg`` with a variant's changes (``{section: {field: value}}`` or top-level fields) applied."""
    data = cfg.to_dict()
    for key, value in changes.items():
        if isinstance(value, dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return ArtHOIConfig.from_dict(data)


def make_manifest(objects: list[str], actions: list[str], seeds: list[int], fps: float = 12.0,
                  drive: str = "contact", width: int = 160, height: int = 120) -> dict[str, Any]:
    """A manifest with one episode per (object, action), seeds taken in order from ``seeds``. The
    order of the actions alternates from object to object (the first object's as given, the
    second's reversed, ...), so the first episode of each object (``--per-object 1``) covers every
    action."""
    pairs = [(o, a) for i, o in enumerate(objects) for a in (actions if i % 2 == 0 else actions[::-1])]
    if len(seeds) < len(pairs):
        raise ValueError(f"seeds: {len(pairs)} episodes need {len(pairs)} seeds, got {len(seeds)}")
    episodes = []
    for (obj, action), seed in zip(pairs, seeds, strict=False):
        rng = np.random.default_rng(seed)
        eye = np.asarray(DEFAULT_EYE) + rng.uniform([-0.06, -0.06, -0.05], [0.06, 0.06, 0.05])
        target = np.asarray(DEFAULT_TARGET) + rng.uniform(-0.02, 0.02, 3)
        episodes.append(Episode(
            id=f"{obj}_{action}_s{seed}", object=obj, action=action, seed=int(seed), fps=float(fps), drive=drive,
            camera={"eye": [round(float(v), 4) for v in eye], "target": [round(float(v), 4) for v in target],
                    "fov_y_deg": 45.0, "width": width, "height": height},
            goal_fraction=round(float(rng.uniform(0.8, 1.0)), 3), operate_time=round(float(rng.uniform(2.1, 2.7)), 2),
        ).to_dict())
    return {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
            "description": "ArtHOI held-out sim episodes (hoi_ros.arthoi.benchmark); development used seed 0 "
                           "and the default camera only",
            "episodes": episodes}


def save_manifest(path: str | os.PathLike, manifest: dict[str, Any]) -> Path:
    """Write a manifest (checked first) as JSON; returns the path."""
    load_manifest_dict(manifest)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def load_manifest_dict(data: dict[str, Any]) -> list[Episode]:
    """The episodes of a manifest dict; ``ValueError`` naming the field that is wrong."""
    from hoi_ros.sim.articulated import ACTIONS, DRIVES
    from hoi_ros.sim.articulated_objects import ARTICULATED_NAMES

    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"manifest.format: expected {MANIFEST_FORMAT!r}")
    if data.get("version") != MANIFEST_VERSION:
        raise ValueError(f"manifest.version: unsupported {data.get('version')!r}")
    episodes = data.get("episodes")
    if not isinstance(episodes, list) or not episodes:
        raise ValueError("manifest.episodes: expected a non-empty list")
    out, seen = [], set()
    for i, ep in enumerate(episodes):
        where = f"manifest.episodes[{i}]"
        missing = [k for k in EPISODE_KEYS if k not in ep]
        if missing:
            raise ValueError(f"{where}: missing {missing}")
        if ep["object"] not in ARTICULATED_NAMES or ep["action"] not in ACTIONS or ep["drive"] not in DRIVES:
            raise ValueError(f"{where}: unknown object, action or drive "
                             f"({ep['object']}, {ep['action']}, {ep['drive']})")
        cam = ep["camera"]
        if not isinstance(cam, dict) or any(k not in cam for k in CAMERA_KEYS):
            raise ValueError(f"{where}.camera: expected the keys {list(CAMERA_KEYS)}")
        if ep["id"] in seen:
            raise ValueError(f"{where}.id: {ep['id']!r} appears twice")
        seen.add(ep["id"])
        out.append(Episode(str(ep["id"]), str(ep["object"]), str(ep["action"]), int(ep["seed"]), float(ep["fps"]),
                           str(ep["drive"]), dict(cam), float(ep["goal_fraction"]), float(ep["operate_time"])))
    return out


def load_manifest(path: str | os.PathLike) -> list[Episode]:
    """The episodes of a manifest file."""
    return load_manifest_dict(json.loads(Path(path).read_text()))


def select(episodes: list[Episode], per_object: int | None) -> list[Episode]:
    """The first ``per_object`` episodes of each object, in manifest order (all when None)."""
    if per_object is None:
        return list(episodes)
    counts: dict[str, int] = {}
    out = []
    for ep in episodes:
        if counts.get(ep.object, 0) < per_object:
            out.append(ep)
            counts[ep.object] = counts.get(ep.object, 0) + 1
    return out


def run_episode(ep: Episode, cfg: ArtHOIConfig, variants: dict[str, dict[str, Any]], quiet: bool = True
                ) -> dict[str, Any]:
    """Simulate ``ep``; run the full method and every variant; metrics and timings per run."""
    from hoi_ros.arthoi.pipeline import run_arthoi, scene_from_episode
    from hoi_ros.sim.articulated import run_articulated_episode

    t0 = time.perf_counter()
    episode = run_articulated_episode(ep.task(), seed=ep.seed)
    sim_s = time.perf_counter() - t0
    scene = scene_from_episode(episode, cfg.render.num_gaussians, ep.seed)
    runs: dict[str, Any] = {}
    full = None
    for name, variant in {"full": cfg, **{k: apply_changes(cfg, v) for k, v in variants.items()}}.items():
        reuse = full if (full is not None and variant.optimisation == "decoupled"
                         and (variant.segmentation, variant.render, variant.stage1)
                         == (cfg.segmentation, cfg.render, cfg.stage1)) else None
        r = run_arthoi(scene, variant, reuse=reuse)
        if name == "full":
            full = r
        runs[name] = {"metrics": r.metrics, "timings": r.timings, "joint_type": r.joint.type,
                      "stage1_reused": reuse is not None}
        if not quiet:
            m = r.metrics
            print(f"  {ep.id:24s} {name:8s} rot mean {m['rot_mean_deg']:6.2f} deg, hand MPJPE "
                  f"{100 * m.get('hand_mpjpe_m', float('nan')):.2f} cm, contact {m.get('hand_contact_pct', 0):.1f} %, "
                  f"pen {m.get('hand_penetration_pct', 0):.1f} %, {sum(r.timings.values()):.0f} s", flush=True)
    return {"episode": ep.to_dict(), "frames": int(episode.sequence.num_frames), "sim_success": bool(episode.success),
            "fraction_reached": float(episode.info["fraction_reached"]), "sim_s": sim_s,
            "joint_type": scene.truth["joint_type"], "runs": runs}


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def summarise(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per variant, over the episodes: rotation error mean / max / min (revolute episodes), slide
    error (prismatic), hand metrics and mean time per stage."""
    names = list(results[0]["runs"]) if results else []
    table: dict[str, dict[str, float]] = {}
    for name in names:
        rev = [r["runs"][name]["metrics"] for r in results if r["joint_type"] == "revolute"]
        pri = [r["runs"][name]["metrics"] for r in results if r["joint_type"] == "prismatic"]
        every = [r["runs"][name]["metrics"] for r in results]
        timings = [r["runs"][name]["timings"] for r in results]
        row = {"episodes": float(len(results)), "revolute_episodes": float(len(rev)),
               "rot_mean_deg": _mean([m["rot_mean_deg"] for m in rev]),
               "rot_max_deg": float(max(m["rot_max_deg"] for m in rev)) if rev else float("nan"),
               "rot_min_deg": float(min(m["rot_min_deg"] for m in rev)) if rev else float("nan"),
               "rot_mean_all_deg": _mean([m["rot_mean_deg"] for m in every]),
               "slide_error_cm": _mean([100 * m["translation_error_mean_m"] for m in pri
                                        if "translation_error_mean_m" in m]),
               "joint_type_correct_pct": 100 * _mean([m["joint_type_correct"] for m in every])}
        for key in ("hand_mpjpe_m", "hand_contact_pct", "hand_penetration_pct", "hand_smoothness",
                    "hand_init_mpjpe_m", "hand_init_contact_pct", "hand_init_penetration_pct", "hand_init_smoothness"):
            row[key] = _mean([m[key] for m in every if key in m])
        for key in ("segmentation_s", "stage1_s", "stage2_s"):
            row[key] = _mean([t.get(key, 0.0) for t in timings])
        table[name] = row
    return table


def table_markdown(table: dict[str, dict[str, float]]) -> str:
    """The summary as a Markdown table."""
    head = ("| variant | rot mean / max / min (deg), revolute | slide err (cm), prismatic | joint type right | "
            "hand MPJPE (cm) | contact % | penetration % | smoothness | segmentation s | Stage I s | Stage II s |")
    lines = [head, "| " + " | ".join(["---"] * 11) + " |"]
    for name, r in table.items():
        lines.append(
            f"| {name} | {r['rot_mean_deg']:.2f} / {r['rot_max_deg']:.2f} / {r['rot_min_deg']:.2f} | "
            f"{r['slide_error_cm']:.2f} | {r['joint_type_correct_pct']:.0f} % | {100 * r['hand_mpjpe_m']:.2f} | "
            f"{r['hand_contact_pct']:.1f} | {r['hand_penetration_pct']:.1f} | {r['hand_smoothness']:.4f} | "
            f"{r['segmentation_s']:.1f} | {r['stage1_s']:.1f} | {r['stage2_s']:.1f} |")
    if table:
        r = next(iter(table.values()))
        lines.append(f"| initial hand estimate | | | | {100 * r['hand_init_mpjpe_m']:.2f} | "
                     f"{r['hand_init_contact_pct']:.1f} | {r['hand_init_penetration_pct']:.1f} | "
                     f"{r['hand_init_smoothness']:.4f} | | | |")
    return "\n".join(lines) + "\n"


def merge(dirs: list[str], out: Path) -> int:
    """One table from several runs' ``results.json`` (episodes split over processes or machines)."""
    episodes, config, variants = [], None, None
    for d in dirs:
        data = json.loads((Path(d) / "results.json").read_text())
        if config is not None and (data["config"] != config or data["variants"] != variants):
            raise ValueError(f"{d}: ran with another config or other variants than {dirs[0]}")
        config, variants = data["config"], data["variants"]
        episodes += data["episodes"]
    out.mkdir(parents=True, exist_ok=True)
    table = summarise(episodes)
    text = table_markdown(table)
    (out / "table.md").write_text(text)
    (out / "results.json").write_text(json.dumps({"config": config, "variants": variants, "episodes": episodes,
                                                  "summary": table, "merged_from": dirs}, indent=2, default=float))
    sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    from hoi_ros.sim.articulated import ACTIONS
    from hoi_ros.sim.articulated_objects import ARTICULATED_NAMES

    ap = argparse.ArgumentParser(prog="python -m hoi_ros.arthoi.benchmark", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="folder for manifest.json, results.json and table.md")
    ap.add_argument("--manifest", default=str(DEFAULT_MANIFEST))
    ap.add_argument("--config", default=str(DEFAULT_CONFIG))
    ap.add_argument("--per-object", type=int, default=None, help="run only the first N episodes of each object")
    ap.add_argument("--episodes", nargs="*", default=None, metavar="ID", help="run only these episodes (ids)")
    ap.add_argument("--variants", nargs="*", default=list(TABLE5_VARIANTS),
                    help="ablation variants (names in config/models/arthoi/ablations.yaml)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--make-manifest", metavar="FILE", help="write a manifest with --seeds and stop")
    ap.add_argument("--seeds", type=int, nargs=2, metavar=("FIRST", "LAST"), default=(1001, 1010))
    ap.add_argument("--merge", nargs="+", metavar="DIR", help="summarise the results.json of these runs into --out")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.make_manifest:
        seeds = list(range(args.seeds[0], args.seeds[1] + 1))
        path = save_manifest(args.make_manifest, make_manifest(list(ARTICULATED_NAMES), list(ACTIONS), seeds))
        print(f"wrote {path}")
        return 0
    if not args.out:
        ap.error("--out is required (or --make-manifest)")
    if args.merge:
        return merge(args.merge, Path(args.out))
    import torch

    torch.set_num_threads(max(1, args.threads))
    cfg = ArtHOIConfig.from_yaml(args.config)
    known = ablation_variants()
    unknown = [v for v in args.variants if v not in known]
    if unknown:
        ap.error(f"unknown variants {unknown}; known: {list(known)}")
    variants = {v: known[v] for v in args.variants}
    episodes = select(load_manifest(args.manifest), args.per_object)
    if args.episodes is not None:
        unknown_ids = sorted(set(args.episodes) - {e.id for e in episodes})
        if unknown_ids:
            ap.error(f"unknown episode ids {unknown_ids}")
        episodes = [e for e in episodes if e.id in set(args.episodes)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_manifest(out / "manifest.json", {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
                                          "description": f"episodes run from {args.manifest}",
                                          "episodes": [e.to_dict() for e in episodes]})
    results = []
    start = time.perf_counter()
    for i, ep in enumerate(episodes):
        if not args.quiet:
            print(f"[{i + 1}/{len(episodes)}] {ep.id}", flush=True)
        results.append(run_episode(ep, cfg, variants, args.quiet))
        (out / "results.json").write_text(json.dumps({"config": cfg.to_dict(), "variants": variants,
                                                      "episodes": results}, indent=2, default=float))
    table = summarise(results)
    total = time.perf_counter() - start
    text = table_markdown(table)
    (out / "table.md").write_text(text)
    (out / "results.json").write_text(json.dumps({"config": cfg.to_dict(), "variants": variants, "episodes": results,
                                                  "summary": table, "wall_s": total}, indent=2, default=float))
    sys.stdout.write(text)
    print(f"{len(episodes)} episodes in {total:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
