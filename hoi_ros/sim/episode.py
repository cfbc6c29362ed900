"""One simulated episode rendered as PAM's conditions and as training data.

``run_episode`` = physics (:func:`hoi_ros.sim.tasks.simulate`) + per-frame rendering from a
configurable camera: RGB, metric depth, segmentation and the 2D hand-keypoint map (PAM §Stage
II/III conditions), plus 3D ground truth: hand joints [T, 21, 3], object poses [T, N, 7] and K
object surface points [T, K, 3] (SViMo §4: K = 298, split tool/target with two objects). The
result's ``sequence`` is a :class:`hoi_ros.core.HOISequence` whose camera is the render camera.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import mujoco
import numpy as np

from hoi_ros.core.camera import Camera
from hoi_ros.core.episodes import Episode, keypoint_maps
from hoi_ros.core.sequence import HOISequence
from hoi_ros.sim.camera import camera_preset
from hoi_ros.sim.render import SimRenderer
from hoi_ros.sim.scene import SimScene, object_point_sets
from hoi_ros.sim.tasks import TaskRequest, Trajectory, simulate


@dataclass
class EpisodeConfig:
    """Rendering and sampling of an episode (``config/ros/sim.yaml``, section ``episode``)."""

    width: int = 320
    height: int = 240
    fps: float = 10.0
    camera: str = "third_person"
    fov_y_deg: float = 45.0
    num_object_points: int = 298
    depth: bool = True
    segmentation: bool = True

    def __post_init__(self) -> None:
        for name in ("width", "height", "num_object_points"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"episode.{name}: must be a positive integer, got {v}")
        if not 0 < float(self.fps) <= 100:
            raise ValueError(f"episode.fps: must be in (0, 100], got {self.fps}")
        if not 10 <= float(self.fov_y_deg) <= 120:
            raise ValueError(f"episode.fov_y_deg: must be in [10, 120], got {self.fov_y_deg}")
        if self.width > 1024 or self.height > 1024:
            raise ValueError(f"episode.width/height: at most 1024, got {self.width}x{self.height}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EpisodeConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"episode: unknown keys {sorted(unknown)}")
        return cls(**d)

    def make_camera(self) -> Camera:
        return camera_preset(self.camera, self.width, self.height, self.fov_y_deg)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def render_trajectory(traj: Trajectory, scene: SimScene, camera: Camera, depth: bool = True,
                      segmentation: bool = True) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Replay the recorded simulator states and render each frame."""
    rgb, dep, seg = [], [], []
    d = scene.data
    with SimRenderer(scene, camera) as renderer:
        for q, mc in zip(traj.qpos, traj.mocap):
            d.qpos[:] = q
            d.mocap_pos[scene.mocap_id] = mc[:3]
            d.mocap_quat[scene.mocap_id] = mc[3:]
            mujoco.mj_kinematics(scene.model, d)
            c, z, s = renderer.render(depth, segmentation)
            rgb.append(c)
            dep.append(z)
            seg.append(s)
    return (np.stack(rgb), np.stack(dep) if depth else None, np.stack(seg) if segmentation else None)


def run_episode(req: TaskRequest, cfg: EpisodeConfig | None = None, camera: Camera | None = None,
                seed: int = 0) -> Episode:
    """Simulate ``req`` and render it (``camera`` overrides the config's preset)."""
    cfg = cfg or EpisodeConfig()
    camera = camera or cfg.make_camera()
    t0 = time.perf_counter()
    traj, scene = simulate(req, fps=cfg.fps, max_size=(max(camera.width, 64), max(camera.height, 64)))
    t1 = time.perf_counter()
    rgb, depth, seg = render_trajectory(traj, scene, camera, cfg.depth, cfg.segmentation)
    t2 = time.perf_counter()
    sets, labels = object_point_sets(req.objects, cfg.num_object_points, np.random.default_rng(seed))
    points = []
    for poses in traj.object_poses:
        frame = []
        for (pos_quat, local) in zip(poses, sets):
            rot = np.zeros(9)
            mujoco.mju_quat2Mat(rot, pos_quat[3:])
            frame.append(local @ rot.reshape(3, 3).T + pos_quat[:3])
        points.append(np.concatenate(frame, axis=0))
    kmap = keypoint_maps(traj.keypoints, camera)
    t3 = time.perf_counter()
    info = dict(traj.info)
    info.update(success=bool(traj.success), side=req.side, seed=int(seed),
                object_names=[o.name for o in req.objects], colors=[o.color for o in req.objects])
    seq = HOISequence(
        hand_joints=traj.keypoints.astype(np.float32), object_points=np.stack(points).astype(np.float32),
        camera=camera, fps=traj.fps, prompt=traj.prompt, video=rgb, object_point_labels=labels,
        metadata={"source": "hoi_ros.sim", **info}, hand_sides=(req.side,),
    )
    return Episode(
        sequence=seq, depth=depth, segmentation=seg, keypoint_map=kmap, object_poses=traj.object_poses,
        finger_angles=traj.qpos[:, scene.finger_qpos_adr],
        wrist_poses=traj.qpos[:, scene.hand_qpos_adr: scene.hand_qpos_adr + 7].copy(),
        success=bool(traj.success), info=info,
        timings={"physics_s": t1 - t0, "render_s": t2 - t1, "ground_truth_s": t3 - t2},
    )
