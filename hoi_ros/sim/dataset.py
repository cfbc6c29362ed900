"""Deterministic synthetic HOI datasets (PAM Stage I substitute -> SViMo/PAM training data).

``write_dataset(root, n, seed)`` samples ``n`` episodes (task, objects, colours, poses, camera
preset) from ``seed``, simulates and renders them (in worker processes when ``workers > 1``; each
worker writes its own episode files) and writes (format: ``docs/sim.md``)::

    root/manifest.json                 format, seed, config, one entry per episode (+ sha256)
    root/episodes/000000.npz|.mp4      the HOISequence (hoi_ros.core format; video = RGB)
    root/episodes/000000_cond.npz      depth [T,H,W] float32 m, segmentation [T,H,W] uint8,
                                       object_poses [T,N,7], finger_angles [T,20],
                                       wrist_poses [T,7]
    root/contact_sheet.png             the first episodes' RGB, depth, segmentation, keypoints

Same seed and config -> same bytes, whatever the number of workers. A worker that dies (a
segfault in a native library, the OOM killer) is detected, replaced, and its episode run once
more; a second death ends the run with :class:`WorkerDied` naming the episode and its seed.
Command::

    python -m hoi_ros.sim.dataset OUT -n 8 --seed 0 [--workers 2] [--config config/recipes/sim_dataset_default.yaml]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from hoi_ros.core.episodes import FORMAT, VERSION, Episode, load_episode
from hoi_ros.core.io import atomic_path, npz_bytes, write_bytes_atomic
from hoi_ros.core.visualize import contact_sheet, save_png
from hoi_ros.sim.episode import EpisodeConfig, run_episode
from hoi_ros.sim.objects import COLORS, ObjectSpec, make_object
from hoi_ros.sim.render import depth_image, segmentation_image
from hoi_ros.sim.tasks import TaskRequest, default_start, plan, yaw_quat

DEFAULT_TASKS = ("grasp_lift", "push", "rotate", "place", "tool_use")
TASK_OBJECTS: dict[str, tuple[str, ...]] = {
    "grasp_lift": ("box", "block", "cylinder", "ball", "mug", "roller"),
    # A can topples when pushed at knuckle height, and turning a round object is invisible.
    "push": ("box", "block", "mug"),
    "rotate": ("box", "block"),
    "place": ("box", "block", "cylinder", "mug"),
    "tool_use": ("roller",),
}
TASK_TARGETS: dict[str, tuple[str, ...]] = {"place": ("bowl",), "tool_use": ("plate",)}
# Scene objects the prompt does not name, set where place/tool_use put their targets (beside the
# hand's path) in a fraction of the one-object tasks: the image, not the prompt, says they are there.
DISTRACTORS: tuple[str, ...] = ("bowl", "plate")
DISTRACTOR_TASKS: tuple[str, ...] = ("grasp_lift", "push", "rotate")
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "recipes" / "sim_dataset_default.yaml"


@dataclass
class DatasetConfig:
    """What a dataset samples (``config/recipes/sim_dataset_default.yaml``)."""

    tasks: tuple[str, ...] = DEFAULT_TASKS
    cameras: tuple[str, ...] = ("third_person", "ego")
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    # Fraction of grasp_lift/push/rotate episodes with an unnamed bowl or plate in the scene.
    distractor_probability: float = 0.0

    def __post_init__(self) -> None:
        self.tasks = tuple(self.tasks)
        self.cameras = tuple(self.cameras)
        unknown = [t for t in self.tasks if t not in TASK_OBJECTS]
        if unknown or not self.tasks:
            raise ValueError(f"tasks: unknown or empty {unknown}; known: {', '.join(TASK_OBJECTS)}")
        if not self.cameras:
            raise ValueError("cameras: at least one camera preset")
        if not 0.0 <= float(self.distractor_probability) <= 1.0:
            raise ValueError(f"distractor_probability: must be within [0, 1], got {self.distractor_probability}")
        for cam in self.cameras:  # raises for an unknown preset
            EpisodeConfig.from_dict({**self.episode.to_dict(), "camera": cam}).make_camera()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"dataset config: unknown keys {sorted(unknown)}")
        d = dict(d)
        if "episode" in d:
            d["episode"] = EpisodeConfig.from_dict(d["episode"] or {})
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> DatasetConfig:
        return cls.from_dict(yaml.safe_load(Path(path).read_text()) or {})

    def to_dict(self) -> dict[str, Any]:
        d = {"tasks": list(self.tasks), "cameras": list(self.cameras), "episode": self.episode.to_dict()}
        if self.distractor_probability:  # absent when off: earlier manifests stay byte-identical
            d["distractor_probability"] = float(self.distractor_probability)
        return d


def _beside_the_path(rng: np.random.Generator, obj: ObjectSpec) -> tuple[np.ndarray, np.ndarray]:
    """A pose 25 cm right of and 5 cm beyond the table centre (± 2 cm), clear of the hand's path: where
    place/tool_use put their targets and the one-object tasks their unnamed objects."""
    xy = np.array([0.25, 0.05]) + rng.uniform(-0.02, 0.02, size=2)
    return np.array([xy[0], xy[1], obj.rest_height]), yaw_quat(0.0)


def sample_request(rng: np.random.Generator, tasks: tuple[str, ...] = DEFAULT_TASKS,
                   distractor_probability: float = 0.0) -> TaskRequest:
    """A random task, objects (random colours) and poses near the table centre; with probability
    ``distractor_probability`` a one-object task also gets an unnamed :data:`DISTRACTORS` object
    where the two-object tasks put their target (drawn after everything else, so the other draws
    are those of a dataset without distractors)."""
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
        objects.append(target)
        poses.append(_beside_the_path(rng, target))
    req = TaskRequest(task=task, objects=objects, object_poses=poses,
                      push_angle=float(rng.uniform(-0.3, 0.3)),
                      rotate_angle=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.7, 1.1)))
    if distractor_probability > 0 and task in DISTRACTOR_TASKS and rng.random() < distractor_probability:
        other = make_object(DISTRACTORS[int(rng.integers(len(DISTRACTORS)))], colors[int(rng.integers(len(colors)))])
        req.objects.append(other)
        req.object_poses.append(_beside_the_path(rng, other))
    return req


def episode_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of episode ``index`` of a dataset: independent of the other episodes."""
    return np.random.default_rng([int(seed), int(index)])


def episode_plan(seed: int, index: int, cfg: DatasetConfig) -> tuple[TaskRequest, str, int]:
    """(task request, camera preset, simulation seed) of episode ``index`` of the dataset ``seed``."""
    rng = episode_rng(seed, index)
    req = sample_request(rng, cfg.tasks, cfg.distractor_probability)
    camera = cfg.cameras[int(rng.integers(len(cfg.cameras)))]
    return req, camera, int(rng.integers(2**31))


def make_episode(seed: int, index: int, cfg: DatasetConfig) -> Episode:
    """Episode ``index`` of the dataset ``seed`` (a pure function of its arguments)."""
    req, camera, episode_seed = episode_plan(seed, index, cfg)
    ep_cfg = EpisodeConfig.from_dict({**cfg.episode.to_dict(), "camera": camera})
    return run_episode(req, ep_cfg, seed=episode_seed)


def planned_seconds(seed: int, index: int, cfg: DatasetConfig) -> float:
    """Simulated duration of episode ``index`` from its plan alone (no physics): its cost estimate."""
    req = sample_request(episode_rng(seed, index), cfg.tasks, cfg.distractor_probability)
    return float(sum(k.duration for k in plan(req, req.initial_hand or default_start(req))))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_episode(ep: Episode, folder: Path, stem: str) -> dict[str, Any]:
    """Write one episode's files; returns its manifest entry."""
    seq = ep.sequence
    # One x264 thread: the video bytes are then the same on every machine and for any worker count.
    seq_path = seq.save(folder / stem, video_threads=1)
    cond = {"object_poses": ep.object_poses.astype(np.float64), "finger_angles": ep.finger_angles,
            "wrist_poses": ep.wrist_poses}
    if ep.depth is not None:
        cond["depth"] = ep.depth
    if ep.segmentation is not None:
        cond["segmentation"] = ep.segmentation
    cond_path = write_bytes_atomic(folder / f"{stem}_cond.npz", npz_bytes(cond))
    files = {"sequence": seq_path.name, "video": seq_path.with_suffix(".mp4").name, "conditions": cond_path.name}
    return {
        "id": stem, "task": ep.info["task"], "prompt": seq.prompt, "success": ep.success,
        "num_frames": seq.num_frames, "fps": seq.fps, "objects": ep.info["objects"],
        "files": {k: f"episodes/{v}" for k, v in files.items()},
        "sha256": {k: _sha256(folder / v) for k, v in files.items()},
    }


EpisodeJob = tuple[int, int, dict[str, Any], str]
# (dataset seed, index, config, folder) -> (index, manifest entry, timings)
JobResult = tuple[int, dict[str, Any], dict[str, float]]


def _episode_job(args: EpisodeJob) -> JobResult:
    seed, index, cfg_dict, folder = args
    ep = make_episode(seed, index, DatasetConfig.from_dict(cfg_dict))
    return index, write_episode(ep, Path(folder), f"{index:06d}"), ep.timings


class WorkerDied(RuntimeError):
    """A worker process died twice on the same episode; the message names the episode and its seed."""


def _init_worker(slot: int, cores: list[int]) -> None:
    """Worker set-up: one software-rasteriser thread, pinned to its own core when possible.

    Mesa's llvmpipe otherwise starts a thread per core in every worker, and the workers then
    compete for the same cores (the 1 -> 2 core scaling benchmark depends on this).
    """
    os.environ["LP_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cores[slot % len(cores)]})


def _worker(conn: Connection, slot: int, cores: list[int], job_fn: Callable[[EpisodeJob], JobResult]) -> None:
    """A worker process: runs the jobs it is sent, one at a time, until it is sent ``None``."""
    _init_worker(slot, cores)
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            conn.send(("ok", job_fn(job)))
        except Exception as exc:  # a Python error: the parent re-raises it
            conn.send(("error", exc))


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


class _WorkerPool:
    """``workers`` spawned processes, each holding at most one job, so a dead one's job is known."""

    def __init__(self, workers: int, cores: list[int], job_fn: Callable[[EpisodeJob], JobResult]) -> None:
        self.ctx = mp.get_context("spawn")
        self.cores, self.job_fn = list(cores), job_fn
        self.procs: list[Any] = [None] * workers
        self.conns: list[Connection | None] = [None] * workers
        self.jobs: list[EpisodeJob | None] = [None] * workers
        for slot in range(workers):
            self._start(slot)

    def _start(self, slot: int) -> None:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker, args=(child, slot, self.cores, self.job_fn), daemon=True)
        proc.start()
        child.close()
        self.procs[slot], self.conns[slot], self.jobs[slot] = proc, parent, None

    def run(self, jobs: list[EpisodeJob], done: Callable[..., None], describe: Callable[[EpisodeJob], str]) -> None:
        """Run every job; a job whose worker dies runs once more in a new worker, then
        :class:`WorkerDied` is raised with ``describe(job)``."""
        pending = deque(jobs)
        deaths: dict[int, int] = {}
        while pending or any(job is not None for job in self.jobs):
            for slot, job in enumerate(self.jobs):
                if job is None and pending:
                    self.jobs[slot] = pending.popleft()
                    self.conns[slot].send(self.jobs[slot])
            busy = [slot for slot, job in enumerate(self.jobs) if job is not None]
            wait([self.conns[s] for s in busy] + [self.procs[s].sentinel for s in busy], timeout=5.0)
            for slot in busy:
                job = self.jobs[slot]
                message = None
                if self.conns[slot].poll():
                    try:
                        message = self.conns[slot].recv()
                    except (EOFError, OSError):
                        message = None
                if message is not None:
                    self.jobs[slot] = None
                    if message[0] == "error":
                        raise message[1]
                    done(*message[1])
                elif not self.procs[slot].is_alive():
                    self.procs[slot].join()
                    how = _death(self.procs[slot].exitcode)
                    index = job[1]
                    deaths[index] = deaths.get(index, 0) + 1
                    if deaths[index] > 1:
                        raise WorkerDied(f"{describe(job)}: its worker died twice ({how}); run it alone with "
                                         "workers=1 to see the error")
                    self._start(slot)  # a fresh worker; the episode goes first in line
                    pending.appendleft(job)

    def close(self) -> None:
        for slot, proc in enumerate(self.procs):
            if proc is not None and proc.is_alive():
                try:
                    self.conns[slot].send(None)
                except (OSError, ValueError):
                    pass
        for proc in self.procs:
            if proc is not None:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
                    proc.join()


def write_dataset(root: str | os.PathLike, num_episodes: int, seed: int = 0, cfg: DatasetConfig | None = None,
                  workers: int = 1, progress: bool = True, in_process: bool | None = None,
                  cores: list[int] | None = None,
                  episode_job: Callable[[EpisodeJob], JobResult] | None = None) -> dict[str, Any]:
    """Generate ``num_episodes`` episodes from ``seed`` into ``root`` (see the module docstring).

    ``workers`` processes (spawned) each simulate, render and write whole episodes, the longest
    (by plan) first;
    ``in_process`` (default: ``workers == 1``) runs them in this process instead. ``cores`` pins
    worker ``i`` to ``cores[i % len(cores)]`` (default: the cores this process may use).
    A worker that dies is replaced and its episode runs once more; a second death raises
    :class:`WorkerDied` naming the episode and its seed. ``episode_job`` replaces the function a
    worker runs per episode (a module-level function, for the spawned workers; tests use it to
    kill a worker).
    """
    if int(num_episodes) != num_episodes or num_episodes < 1:
        raise ValueError(f"num_episodes: must be a positive integer, got {num_episodes}")
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers: must be a positive integer, got {workers}")
    cfg = cfg or DatasetConfig()
    root = Path(root)
    folder = root / "episodes"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(int(seed), i, cfg.to_dict(), str(folder)) for i in range(int(num_episodes))]
    entries: dict[int, dict[str, Any]] = {}
    timings: list[dict[str, float]] = []
    bar = tqdm(total=num_episodes, desc="episodes", unit="ep", disable=not progress)

    def done(index: int, entry: dict[str, Any], timing: dict[str, float]) -> None:
        entries[index] = entry
        timings.append(timing)
        bar.set_postfix(success=sum(e["success"] for e in entries.values()))
        bar.update(1)

    job_fn = episode_job or _episode_job

    def describe(job: EpisodeJob) -> str:
        return (f"episode {job[1]} of dataset seed {job[0]} (simulation seed "
                f"{episode_plan(job[0], job[1], cfg)[2]})")

    if in_process if in_process is not None else workers == 1:
        for job in jobs:
            done(*job_fn(job))
    else:
        if cores is None:
            cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        # Longest episodes first, so no worker is left alone with a long one at the end.
        jobs.sort(key=lambda job: -planned_seconds(job[0], job[1], cfg))
        pool = _WorkerPool(min(int(workers), len(jobs)), list(cores), job_fn)
        try:
            pool.run(jobs, done, describe)
        finally:
            pool.close()
    bar.close()
    manifest = {
        "format": FORMAT, "version": VERSION, "seed": int(seed), "num_episodes": int(num_episodes),
        "config": cfg.to_dict(), "episodes": [entries[i] for i in range(int(num_episodes))],
    }
    with atomic_path(root / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    manifest["timings"] = timings  # not written: wall-clock numbers differ run to run
    return manifest


def episode_sheet(episodes: list[Episode], columns: int = 6) -> np.ndarray:
    """A contact sheet: per episode, rows of RGB, depth, segmentation and keypoint map."""
    rows, labels = [], []
    for ep in episodes:
        seq = ep.sequence
        rows.append(seq.video)
        labels.append(seq.prompt + ("" if ep.success else " (failed)"))
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
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="dataset YAML (tasks, cameras, episode)")
    ap.add_argument("--width", type=int, help="override episode.width")
    ap.add_argument("--height", type=int, help="override episode.height")
    ap.add_argument("--fps", type=float, help="override episode.fps")
    ap.add_argument("--tasks", help="override tasks, comma-separated")
    ap.add_argument("--sheet-episodes", type=int, default=4, help="episodes in OUT/contact_sheet.png (0 = none)")
    a = ap.parse_args(argv)
    d = yaml.safe_load(a.config.read_text()) or {}
    ep = dict(d.get("episode") or {})
    for key in ("width", "height", "fps"):
        if getattr(a, key) is not None:
            ep[key] = getattr(a, key)
    d["episode"] = ep
    if a.tasks:
        d["tasks"] = [t for t in a.tasks.split(",") if t]
    try:
        cfg = DatasetConfig.from_dict(d)
        m = write_dataset(a.out, a.num_episodes, a.seed, cfg, a.workers)
    except ValueError as exc:
        ap.error(str(exc))
    ok = sum(e["success"] for e in m["episodes"])
    print(f"wrote {m['num_episodes']} episodes to {a.out} ({ok} successful)")
    if a.sheet_episodes > 0:
        eps = [load_episode(a.out, e) for e in m["episodes"][: a.sheet_episodes]]
        print(f"contact sheet: {save_png(a.out / 'contact_sheet.png', episode_sheet(eps))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
