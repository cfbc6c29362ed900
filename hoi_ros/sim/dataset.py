"""Deterministic synthetic HOI datasets (PAM Stage I substitute -> SViMo/PAM training data).

``write_dataset(root, n, seed)`` samples ``n`` episodes (task, objects, colours, poses, camera)
from ``seed``, simulates and renders them in worker processes and writes (format in docs/sim.md)::

    root/manifest.json                 format, seed, config, one entry per episode (+ sha256)
    root/episodes/000000.npz|.mp4      the HOISequence (hoi_ros.core format; video = RGB)
    root/episodes/000000_cond.npz      depth [T,H,W] float32 m, segmentation [T,H,W] uint8,
                                       object_poses [T,N,7], finger_angles [T,20]

Same seed and config -> same bytes. Run ``python -m hoi_ros.sim.dataset OUT -n 8 --seed 0``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing as mp
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from hoi_ros.core.io import atomic_path, write_bytes_atomic
from hoi_ros.core.visualize import contact_sheet, save_png
from hoi_ros.sim.episode import Episode, EpisodeConfig, run_episode
from hoi_ros.sim.objects import COLORS, make_object
from hoi_ros.sim.render import depth_image, segmentation_image
from hoi_ros.sim.tasks import TaskRequest, yaw_quat

FORMAT = "hoi_ros.sim.dataset"
VERSION = 1
DEFAULT_TASKS = ("grasp_lift", "push", "rotate", "place", "tool_use")
TASK_OBJECTS: dict[str, tuple[str, ...]] = {
    "grasp_lift": ("box", "block", "cylinder", "ball", "mug", "roller"),
    # A can topples when pushed at knuckle height, and turning one is invisible (it is round).
    "push": ("box", "block", "mug"),
    "rotate": ("box", "block"),
    "place": ("box", "block", "cylinder", "mug"),
    "tool_use": ("roller",),
}
TASK_TARGETS: dict[str, tuple[str, ...]] = {"place": ("bowl",), "tool_use": ("plate",)}


def sample_request(rng: np.random.Generator, tasks: tuple[str, ...] = DEFAULT_TASKS) -> TaskRequest:
    """A random task, objects (random colours) and poses near the table centre."""
    task = str(tasks[int(rng.integers(len(tasks)))])
    colors = list(COLORS)
    name = TASK_OBJECTS[task][int(rng.integers(len(TASK_OBJECTS[task])))]
    obj = make_object(name, colors[int(rng.integers(len(colors)))])
    xy = rng.uniform(-0.03, 0.03, size=2)
    yaw = 0.0 if obj.role == "tool" or name == "mug" else float(rng.uniform(-0.3, 0.3))
    objects = [obj]
    poses = [(np.array([xy[0], xy[1], obj.rest_height]), yaw_quat(yaw))]
    if task in TASK_TARGETS:
        target = make_object(TASK_TARGETS[task][0], colors[int(rng.integers(len(colors)))])
        txy = np.array([0.25, 0.05]) + rng.uniform(-0.02, 0.02, size=2)
        objects.append(target)
        poses.append((np.array([txy[0], txy[1], target.rest_height]), yaw_quat(0.0)))
    return TaskRequest(task=task, objects=objects, object_poses=poses,
                       push_angle=float(rng.uniform(-0.3, 0.3)),
                       rotate_angle=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.7, 1.1)))


def episode_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index)])


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed npz with fixed zip timestamps, so equal arrays give equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            data = io.BytesIO()
            np.lib.format.write_array(data, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, data.getvalue())
    return buf.getvalue()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make_episode(args: tuple[int, int, dict[str, Any], tuple[str, ...], tuple[str, ...]]) -> tuple[int, Episode]:
    seed, index, cfg_dict, tasks, cameras = args
    rng = episode_rng(seed, index)
    req = sample_request(rng, tasks)
    cfg = EpisodeConfig.from_dict({**cfg_dict, "camera": cameras[int(rng.integers(len(cameras)))]})
    return index, run_episode(req, cfg, seed=int(rng.integers(2**31)))


def write_episode(ep: Episode, folder: Path, stem: str) -> dict[str, Any]:
    """Write one episode's files; returns its manifest entry."""
    seq = ep.sequence
    seq_path = seq.save(folder / stem)
    cond = {"object_poses": ep.object_poses.astype(np.float64), "finger_angles": ep.finger_angles}
    if ep.depth is not None:
        cond["depth"] = ep.depth
    if ep.segmentation is not None:
        cond["segmentation"] = ep.segmentation
    cond_path = write_bytes_atomic(folder / f"{stem}_cond.npz", _npz_bytes(cond))
    files = {"sequence": seq_path.name, "video": seq_path.with_suffix(".mp4").name, "conditions": cond_path.name}
    return {
        "id": stem, "task": ep.info["task"], "prompt": seq.prompt, "success": ep.success,
        "num_frames": seq.num_frames, "fps": seq.fps, "objects": ep.info["objects"],
        "files": {k: f"episodes/{v}" for k, v in files.items()},
        "sha256": {k: _sha256(folder / v) for k, v in files.items()},
    }


def write_dataset(root: str | os.PathLike, num_episodes: int, seed: int = 0, cfg: EpisodeConfig | None = None,
                  workers: int = 1, tasks: tuple[str, ...] = DEFAULT_TASKS,
                  cameras: tuple[str, ...] = ("third_person", "ego"), progress: bool = True) -> dict[str, Any]:
    """Generate ``num_episodes`` episodes from ``seed`` into ``root`` (see the module docstring)."""
    if num_episodes < 1:
        raise ValueError(f"num_episodes: must be >= 1, got {num_episodes}")
    if workers < 1:
        raise ValueError(f"workers: must be >= 1, got {workers}")
    unknown = [t for t in tasks if t not in TASK_OBJECTS]
    if unknown or not tasks:
        raise ValueError(f"tasks: unknown or empty {unknown}; known: {', '.join(TASK_OBJECTS)}")
    cfg = cfg or EpisodeConfig()
    root = Path(root)
    folder = root / "episodes"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(int(seed), i, cfg.to_dict(), tuple(tasks), tuple(cameras)) for i in range(num_episodes)]
    entries: dict[int, dict[str, Any]] = {}
    bar = tqdm(total=num_episodes, desc="episodes", disable=not progress)

    def done(index: int, ep: Episode) -> None:
        entries[index] = write_episode(ep, folder, f"{index:06d}")
        bar.set_postfix(success=sum(e["success"] for e in entries.values()))
        bar.update(1)

    if workers == 1:
        for job in jobs:
            done(*_make_episode(job))
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            for index, ep in pool.imap_unordered(_make_episode, jobs):
                done(index, ep)
    bar.close()
    manifest = {
        "format": FORMAT, "version": VERSION, "seed": int(seed), "num_episodes": num_episodes,
        "tasks": list(tasks), "cameras": list(cameras), "episode_config": cfg.to_dict(),
        "episodes": [entries[i] for i in range(num_episodes)],
    }
    with atomic_path(root / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def load_manifest(root: str | os.PathLike) -> dict[str, Any]:
    path = Path(root) / "manifest.json"
    if not path.exists():
        raise ValueError(f"dataset root: {path} not found")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ValueError(f"{path}: not a {FORMAT} v{VERSION} manifest")
    return manifest


def load_conditions(root: str | os.PathLike, entry: dict[str, Any]) -> dict[str, np.ndarray]:
    with np.load(Path(root) / entry["files"]["conditions"], allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def episode_sheet(episodes: list[Episode], columns: int = 6) -> np.ndarray:
    """A contact sheet: per episode, rows of RGB, depth, segmentation and keypoint map."""
    rows, labels = [], []
    for ep in episodes:
        seq = ep.sequence
        rows.append(seq.video)
        labels.append(seq.prompt[:34])
        if ep.depth is not None:
            rows.append(depth_image(ep.depth))
            labels.append("  depth")
        if ep.segmentation is not None:
            rows.append(segmentation_image(ep.segmentation))
            labels.append("  segmentation")
        rows.append(ep.keypoint_map)
        labels.append("  hand keypoints")
    return contact_sheet(rows, labels, columns=columns)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write a synthetic hand-object dataset (MuJoCo, PAM Stage I).")
    ap.add_argument("out", type=Path)
    ap.add_argument("-n", "--num-episodes", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--num-object-points", type=int, default=298)
    ap.add_argument("--tasks", default=",".join(DEFAULT_TASKS))
    ap.add_argument("--sheet", type=Path, default=None, help="also write a contact sheet PNG of 4 episodes")
    a = ap.parse_args(argv)
    cfg = EpisodeConfig(width=a.width, height=a.height, fps=a.fps, num_object_points=a.num_object_points)
    tasks = tuple(t for t in a.tasks.split(",") if t)
    m = write_dataset(a.out, a.num_episodes, a.seed, cfg, a.workers, tasks)
    ok = sum(e["success"] for e in m["episodes"])
    print(f"wrote {m['num_episodes']} episodes to {a.out} ({ok} successful)")
    if a.sheet is not None:
        from hoi_ros.sim.torch_dataset import load_episode

        eps = [load_episode(a.out, e) for e in m["episodes"][:4]]
        save_png(a.sheet, episode_sheet(eps))
        print(f"contact sheet: {a.sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
