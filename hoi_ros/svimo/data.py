"""Training data for SViMo (Alg. 1 inputs: video V, prompt P, 3D motion (h, o), reference image I).

A training sample is a dict of tensors (one :class:`~hoi_ros.core.HOISequence` each):
``video [T, H, W, 3] uint8``, ``hand [T, J, 3]`` and ``obj [T, K, 3]`` (metres; the first K/2
object points are the tool, the last K/2 the target, as App. B.2 splits them), ``labels [K]``,
``intrinsics [3, 3]``, ``extrinsics [4, 4]`` and ``prompt`` (str). Sources:

- :class:`SyntheticHOIDataset` — **synthetic** data: deterministic, procedurally made sequences
  (a two-segment reach-and-carry of a 21/42-joint hand skeleton, a spherical tool point cloud that
  moves with the hand after the grasp, a static box target, and frames that draw them over a
  gradient background). No physics, no realism: it exists so that the training code runs and is
  tested anywhere; nothing learned from it transfers to real videos.
- :class:`SimDataset` — a dataset written by the simulator (``python -m hoi_ros.sim.dataset``),
  read through :class:`hoi_ros.data.sim.SimHOIDataset` at the model's frames, fps and size.
- :class:`SequenceFolderDataset` — ``HOISequence`` ``.npz`` files (+ ``.mp4``) in a folder, already at
  the model's frame count and size.
- :class:`LatentCacheDataset` — samples whose VAE latents and text features were precomputed
  offline (``python -m hoi_ros.svimo.train --precompute``), so that training needs neither the
  text encoder nor the VAE's video pass (our choice for the full model; the paper does not say how it
  fed T5 and the VAE).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from hoi_ros.core.camera import Camera, look_at
from hoi_ros.core.hand import JOINTS_PER_HAND, num_hands_for
from hoi_ros.core.render import render_motion_video
from hoi_ros.core.sequence import HOISequence
from hoi_ros.data.point_order import POINT_ORDERS, OrderedPoints
from hoi_ros.data.samples import (
    CachedDataset,
    HalvesLabels,
    LatentCacheDataset,
    SequenceFolderDataset,
    sample_from_sequence,
)
from hoi_ros.data.sim import SimHOIDataset

DATA_KINDS = ("synthetic", "sim", "folder", "latents")
POINT_LABELS = ("source", "halves")
_TOOLS = ("red ball", "blue ball", "green ball", "yellow ball")
_TARGETS = ("box", "tray", "plate")
SAMPLE_KEYS = ("video", "hand", "obj", "labels", "intrinsics", "extrinsics", "prompt")


@dataclass
class DataConfig:
    """Where training samples come from (see the module docstring).

    ``num_frames``/``height``/``width``/``fps`` default to the model's ``video`` section
    (:meth:`resolved`); ``num_joints``/``num_object_points`` (synthetic only) to its ``vid`` section.
    """

    kind: str = "synthetic"
    path: str | None = None  # sim dataset root ("sim"), npz folder ("folder") or latent cache ("latents")
    num_samples: int = 8  # synthetic only
    num_frames: int | None = None
    height: int | None = None
    width: int | None = None
    fps: float | None = None  # sim only: frames are resampled to this rate
    num_joints: int | None = None
    num_object_points: int | None = None
    only_successful: bool = True  # sim only: skip episodes whose task failed
    # Tool/target labels of the K object points (colours of the rendered motion video, Alg. 1
    # line 1): "source" keeps the data's (a single-object sim episode labels all K as tool);
    # "halves" labels the first K/2 tool and the last K/2 target, the index split of App. B.2 that
    # the sampler draws with (sampling.object_point_labels), so training and sampling render alike.
    point_labels: str = "source"
    # Order of the K points (hoi_ros.data.point_order): "source" keeps the sim's random sampling order;
    # "layered_azimuth" sorts each half by height band then azimuth at frame 0, so index i is the same
    # place on every object and VID's per-frame object token can express shape and yaw (not in the paper).
    point_order: str = "source"
    point_order_layers: int = 4
    cache_in_memory: bool = True  # keep decoded samples (deterministic) instead of re-reading them
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in DATA_KINDS:
            raise ValueError(f"data.kind: expected one of {DATA_KINDS}, got {self.kind!r}")
        if self.point_labels not in POINT_LABELS:
            raise ValueError(f"data.point_labels: one of {POINT_LABELS}, got {self.point_labels!r}")
        if self.point_order not in POINT_ORDERS:
            raise ValueError(f"data.point_order: one of {POINT_ORDERS}, got {self.point_order!r}")
        if int(self.point_order_layers) < 1:
            raise ValueError(f"data.point_order_layers: must be positive, got {self.point_order_layers}")
        if self.kind != "synthetic" and not self.path:
            raise ValueError(f"data.path: needed for data.kind={self.kind!r}")
        for name in ("num_samples", "num_frames", "height", "width", "num_object_points"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"data.{name}: must be positive, got {value}")
        if self.fps is not None and not float(self.fps) > 0:
            raise ValueError(f"data.fps: must be positive, got {self.fps}")
        if self.num_joints is not None:
            num_hands_for(self.num_joints)
        if self.num_object_points is not None and self.num_object_points % 2:
            raise ValueError(f"data.num_object_points: must be even (tool/target halves), got {self.num_object_points}")

    def resolved(self, model_cfg: Any) -> DataConfig:
        """A copy with the unset sizes taken from a :class:`~hoi_ros.svimo.config.SViMoConfig`."""
        v, m = model_cfg.video, model_cfg.vid
        defaults = {"num_frames": v.num_frames, "height": v.height, "width": v.width, "fps": v.fps,
                    "num_joints": m.num_joints, "num_object_points": m.num_object_points}
        return replace(self, **{k: d if getattr(self, k) is None else getattr(self, k) for k, d in defaults.items()})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fibonacci_sphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=-1)


def _hand_template(rng: np.random.Generator, curl: np.ndarray) -> np.ndarray:
    """21 joints ``[T, 21, 3]`` of a planar-ish hand whose fingers curl by ``curl [T]`` (radians)."""
    t = len(curl)
    joints = np.zeros((t, JOINTS_PER_HAND, 3))
    bone = 0.025 + 0.003 * rng.standard_normal()
    for f in range(5):
        spread = np.deg2rad(-40 + 20 * f)
        base_dir = np.array([np.sin(spread), np.cos(spread), 0.0])
        pos = np.zeros((t, 3)) + 0.03 * base_dir
        for k in range(4):
            ang = curl * (k + 1) / 2.5
            d = base_dir[None] * np.cos(ang)[:, None] + np.array([0, 0, -1.0])[None] * np.sin(ang)[:, None]
            joints[:, 1 + 4 * f + k] = pos
            pos = pos + bone * d
    return joints


def make_synthetic_sequence(index: int, cfg: DataConfig) -> HOISequence:
    """The ``index``-th deterministic synthetic sequence of ``cfg`` (see the module docstring)."""
    rng = np.random.default_rng([cfg.seed, index])
    t, hands, k = cfg.num_frames, cfg.num_joints // JOINTS_PER_HAND, cfg.num_object_points
    s = np.linspace(0.0, 1.0, t)
    tool_start = np.array([rng.uniform(-0.12, 0.0), rng.uniform(0.0, 0.1), 0.03])
    target_pos = np.array([rng.uniform(0.05, 0.15), rng.uniform(-0.05, 0.1), 0.02])
    grasp = 0.4  # fraction of the clip at which the hand reaches the tool
    reach = np.clip(s / grasp, 0, 1)[:, None]
    carry = np.clip((s - grasp) / (1 - grasp), 0, 1)[:, None]
    hand_start = tool_start + np.array([0.0, -0.15, 0.12])
    lift = 0.08 * np.sin(np.pi * carry)
    carry_to = target_pos + np.array([0, 0, 0.05])
    wrist = hand_start + reach * (tool_start + np.array([0, -0.05, 0.05]) - hand_start)
    wrist = wrist + carry * (carry_to - tool_start) + np.concatenate([0 * lift, 0 * lift, lift], axis=1)
    curl = np.deg2rad(10 + 50 * np.clip(s / grasp, 0, 1))
    joints = []
    for h in range(hands):
        offset = np.array([0.0, 0.0, 0.0]) if h == 0 else np.array([-0.18, 0.0, 0.0])
        joints.append(_hand_template(rng, curl) + (wrist + offset)[:, None])
    hand = np.concatenate(joints, axis=1)
    tool_rel = 0.03 * _fibonacci_sphere(k // 2)
    tool_centre = tool_start + carry * (carry_to - tool_start) + np.concatenate([0 * lift, 0 * lift, lift], axis=1)
    tool = tool_centre[:, None] + tool_rel[None]
    box = rng.uniform(-1, 1, size=(k // 2, 3)) * np.array([0.05, 0.04, 0.02])
    target = np.broadcast_to(target_pos + box, (t, k // 2, 3))
    obj = np.concatenate([tool, target], axis=1)
    labels = np.concatenate([np.zeros(k // 2), np.ones(k // 2)]).astype(np.uint8)
    eye, target = np.array([0.0, -0.55, 0.45]), np.array([0.0, 0.0, 0.05])
    camera = Camera.from_fov(cfg.width, cfg.height, 50.0, look_at(eye, target))
    # Frames: a per-sample vertical gradient background with the scene drawn over it.
    top, bottom = rng.uniform(40, 200, size=3), rng.uniform(40, 200, size=3)
    ramp = np.linspace(0, 1, cfg.height)[:, None, None]
    background = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    drawn = render_motion_video(hand, obj, camera, labels, radius=max(1, cfg.height // 48))
    video = np.where(drawn.any(axis=-1, keepdims=True), drawn, background[None]).astype(np.uint8)
    prompt = f"pick up the {_TOOLS[index % len(_TOOLS)]} and put it on the {_TARGETS[index % len(_TARGETS)]}"
    return HOISequence(hand, obj, camera, fps=8.0, prompt=prompt, video=video, object_point_labels=labels,
                       metadata={"source": "synthetic", "index": int(index)})


def _require_sizes(cfg: DataConfig, names: tuple[str, ...]) -> None:
    missing = [n for n in names if getattr(cfg, n) is None]
    if missing:
        raise ValueError(f"data.{missing[0]}: unset; give it, or build with build_dataset(cfg, model_cfg)")


class SyntheticHOIDataset(Dataset):
    """``cfg.num_samples`` deterministic synthetic samples (built once, kept in memory)."""

    def __init__(self, cfg: DataConfig) -> None:
        _require_sizes(cfg, ("num_frames", "height", "width", "num_joints", "num_object_points"))
        self.cfg = cfg
        self._samples = [sample_from_sequence(make_synthetic_sequence(i, cfg)) for i in range(cfg.num_samples)]

    def __len__(self) -> int:
        return len(self._samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self._samples[i]


class SimDataset(Dataset):
    """A simulator dataset (``hoi_ros.sim.dataset.write_dataset``) as training samples.

    Wraps :class:`hoi_ros.data.sim.SimHOIDataset` (frames resampled to ``fps`` and resized
    to ``height × width``, camera scaled to match; already the sample layout) and keeps the keys
    SViMo trains on (:data:`SAMPLE_KEYS`), checking that K splits into tool/target halves.
    """

    def __init__(self, cfg: DataConfig) -> None:
        _require_sizes(cfg, ("num_frames", "height", "width", "fps"))
        self.inner = SimHOIDataset(cfg.path, num_frames=cfg.num_frames, fps=cfg.fps, size=(cfg.height, cfg.width),
                                   only_successful=cfg.only_successful)
        if len(self.inner) == 0:
            raise ValueError(f"data.path: {cfg.path} has no usable episodes (only_successful={cfg.only_successful})")

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.inner[i]
        k = item["obj"].shape[1]
        if k % 2:
            raise ValueError(f"sim dataset: K = {k} object points; SViMo needs an even K (App. B.2 tool/target halves)")
        return {key: item[key] for key in SAMPLE_KEYS}


def build_dataset(cfg: DataConfig, model_cfg: Any | None = None) -> Dataset:
    """The dataset named by ``cfg.kind``, sizes from ``model_cfg`` where ``cfg`` leaves them unset."""
    if model_cfg is not None:
        cfg = cfg.resolved(model_cfg)
    if cfg.kind == "synthetic":
        return SyntheticHOIDataset(cfg)
    if cfg.kind == "sim":
        data: Dataset = SimDataset(cfg)
    elif cfg.kind == "folder":
        data = SequenceFolderDataset(cfg.path)
    else:
        data = LatentCacheDataset(cfg.path)
    if cfg.point_labels == "halves" and cfg.kind != "latents":
        data = HalvesLabels(data)
    if cfg.point_order == "layered_azimuth" and cfg.kind != "latents":  # a latent cache is stored ordered
        data = OrderedPoints(data, sets=2, layers=cfg.point_order_layers)
    return CachedDataset(data) if cfg.cache_in_memory else data
