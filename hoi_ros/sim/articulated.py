"""Articulated-object episodes (ArtHOI's benchmark scenes): the sim hand opens or closes a door,
drawer, cabinet, lid or fridge through contact, rendered monocularly with ground truth.

Scene: the sim's table, hand and camera (:func:`hoi_ros.sim.scene.scene_xml` with no free
objects) loaded into an :class:`mujoco.MjSpec`, and the articulated object added with the editing
API (:func:`hoi_ros.sim.articulated_objects.add_to_spec`). The base is fixed to the world; the
moving part turns or slides on a damped, limited joint that **no actuator drives**: the hand grasps
the part's knob from above (the ``grasp_lift`` power grasp), then its wrist target follows the arc
(or line) the knob would take to the goal joint state, and the part moves only through the
contacts and friction of the grasp. The controller plans with the object's known joint (a
scripted controller, like the sim's other tasks); whether the part really followed is measured
from the simulated joint state (``success``).

``drive="kinematic"`` is the fallback named in ``docs/arthoi.md``: the joint state is written
each physics step from the same plan while the hand tracks the knob (no contact needed); it is
there for scenes where the contact-driven motion fails, and every episode records which drive made
it (``info["drive"]``).

Segmentation labels: 0 background (and table), 1 hand, 2 the base (part 0), 3 the moving part
(part 1): :data:`LABEL_FIRST_PART` + part index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from hoi_ros.core.camera import Camera, look_at
from hoi_ros.core.geometry import matrix_to_quat, quat_to_matrix
from hoi_ros.core.sequence import HOISequence
from hoi_ros.sim.articulated_objects import (
    ARTICULATED_NAMES,
    PART_MOVING,
    ArticulatedSpec,
    add_to_spec,
    make_articulated,
)
from hoi_ros.sim.hand import open_hand_pose
from hoi_ros.sim.render import SimRenderer
from hoi_ros.sim.scene import PhysicsConfig, SimScene, scene_xml
from hoi_ros.sim.tasks import PALM_BOTTOM, PALM_OFFSET, closed_hand_pose, pregrasp_pose, yaw_quat

LABEL_FIRST_PART = 2
ACTIONS: tuple[str, ...] = ("open", "close")
DRIVES: tuple[str, ...] = ("contact", "kinematic")
OBJECT_POSITION = np.array([0.0, 0.10, 0.0])


class ArticulatedScene(SimScene):
    """A :class:`SimScene` (same hand, camera, renderer interface) whose one object is articulated.

    ``object_bodies`` holds the base and moving bodies, so ``geom_label`` gives
    :data:`LABEL_FIRST_PART` + part index for each part's geoms.
    """

    def __init__(self, obj: ArticulatedSpec, pos: np.ndarray = OBJECT_POSITION,
                 quat: np.ndarray = (1.0, 0.0, 0.0, 0.0), side: str = "right",
                 max_size: tuple[int, int] = (640, 640), physics: PhysicsConfig | None = None) -> None:
        self.objects = []
        self.articulated = obj
        self.side = side
        self.spec = mujoco.MjSpec.from_string(scene_xml([], [], side, max_size, physics))
        base, moving, joint = add_to_spec(self.spec, obj, "art", np.asarray(pos, float), np.asarray(quat, float))
        # No cast shadows: the hand's moving shadow on the object is motion to optical flow
        # (ArtHOI segments parts by flow), so these scenes are lit without them.
        for light in self.spec.lights:
            light.castshadow = False
        self.model = self.spec.compile()
        self.xml = None  # built with the editing API; ``self.spec.to_xml()`` writes it out
        m = self.model
        self.joint_id = m.joint(joint).id
        self.joint_qpos_adr = int(m.jnt_qposadr[self.joint_id])
        self.joint_dof_adr = int(m.jnt_dofadr[self.joint_id])
        self._bind(np.array([m.body(base).id, m.body(moving).id], dtype=np.int64), LABEL_FIRST_PART)

    def joint_state(self) -> float:
        return float(self.data.qpos[self.joint_qpos_adr])

    def set_joint_state(self, q: float) -> None:
        self.data.qpos[self.joint_qpos_adr] = q
        self.data.qvel[self.joint_dof_adr] = 0.0

    def part_poses(self) -> np.ndarray:
        """``[2, 4, 4]`` world poses of the base and the moving part (object frame at rest -> world)."""
        out = np.tile(np.eye(4), (2, 1, 1))
        for i, b in enumerate(self.object_bodies):
            out[i, :3, :3] = self.data.xmat[b].reshape(3, 3)
            out[i, :3, 3] = self.data.xpos[b]
        return out


@dataclass
class ArticulatedTask:
    """One articulated episode: which object, open or close, the drive, timing and the camera."""

    object: str = "cabinet"
    action: str = "open"
    drive: str = "contact"
    goal_fraction: float = 1.0  # of the object's open_state
    operate_time: float = 2.4  # s the wrist takes along the arc
    fps: float = 12.0
    width: int = 160
    height: int = 120
    fov_y_deg: float = 45.0
    camera_eye: tuple[float, float, float] = (-0.45, -0.62, 0.55)  # front left: hinged fronts never turn edge-on
    camera_target: tuple[float, float, float] = (0.0, 0.06, 0.12)
    num_object_points: int = 512
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)

    def __post_init__(self) -> None:
        if self.object not in ARTICULATED_NAMES:
            raise ValueError(f"object: unknown articulated object {self.object!r}; "
                             f"known: {', '.join(ARTICULATED_NAMES)}")
        if self.action not in ACTIONS:
            raise ValueError(f"action: expected one of {list(ACTIONS)}, got {self.action!r}")
        if self.drive not in DRIVES:
            raise ValueError(f"drive: expected one of {list(DRIVES)}, got {self.drive!r}")
        if not 0.05 <= float(self.goal_fraction) <= 1.0:
            raise ValueError(f"goal_fraction: must be within [0.05, 1], got {self.goal_fraction}")
        if not 0 < self.fps <= 60 or self.operate_time <= 0:
            raise ValueError("fps/operate_time: must be positive (fps <= 60)")

    def make_camera(self) -> Camera:
        return Camera.from_fov(self.width, self.height, self.fov_y_deg,
                               look_at(np.array(self.camera_eye), np.array(self.camera_target)))


@dataclass
class ArticulatedEpisode:
    """A rendered articulated episode: the sequence (video, hand joints, object points, camera and
    the :class:`~hoi_ros.core.articulation.Articulation`) plus the rendered channels and summaries."""

    sequence: HOISequence
    depth: np.ndarray  # [T, H, W] float32 metres, 0 = nothing
    segmentation: np.ndarray  # [T, H, W] uint8: 0 bg, 1 hand, 2 base, 3 moving part
    joint_states: np.ndarray  # [T] rad or m
    wrist_poses: np.ndarray  # [T, 7]
    spec: ArticulatedSpec
    success: bool
    info: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _smooth(s: float) -> float:
    return s * s * (3 - 2 * s)


def grasp_wrist(knob_world: np.ndarray, yaw: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Wrist pose that puts the palm's grasp centre over a knob (top at ``knob + KNOB_HALF``)."""
    from hoi_ros.sim.articulated_objects import KNOB_HALF

    q = yaw_quat(yaw)
    wrist = knob_world - quat_to_matrix(q) @ PALM_OFFSET
    wrist[2] = knob_world[2] + KNOB_HALF[2] + PALM_BOTTOM + 0.004
    return wrist, q


def _pose(pos: np.ndarray, quat: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = quat_to_matrix(quat)
    out[:3, 3] = pos
    return out


def simulate_articulated(task: ArticulatedTask) -> tuple[dict[str, np.ndarray], ArticulatedScene, dict[str, Any]]:
    """Run the scripted open/close with the hand; returns the recorded states, the scene, info."""
    obj = make_articulated(task.object)
    cam = task.make_camera()
    scene = ArticulatedScene(obj, max_size=(max(cam.width, 64), max(cam.height, 64)), physics=task.physics)
    m, d = scene.model, scene.data
    goal = obj.open_state * task.goal_fraction
    q_start, q_goal = (0.0, goal) if task.action == "open" else (goal, 0.0)
    joint = obj.joint()
    base_pose = scene.part_poses()[0]
    scene.set_joint_state(q_start)
    mujoco.mj_forward(m, d)
    moving_at = lambda q: base_pose @ joint.transform(q)  # noqa: E731  world pose of the moving part
    # The grasp at rest (palm over the knob, hand yaw 0), kept relative to the moving part, so
    # the hand starts pitched/turned with a part that starts open and turns with it throughout.
    w_rest, q_rest = grasp_wrist((moving_at(0.0) @ np.append(obj.knob, 1.0))[:3])
    rel = np.linalg.inv(moving_at(0.0)) @ _pose(w_rest, q_rest)

    def wrist_at(q: float, lift: float = 0.0, back: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Wrist pose grasping the knob at joint state q, ``lift`` above it and ``back`` behind it
        along the part's own up and hand directions."""
        pose = moving_at(q) @ rel
        pos = pose[:3, 3] + pose[:3, :3] @ np.array([0.0, -back, lift])
        return pos, matrix_to_quat(pose[:3, :3])

    w_grasp, q_grasp = wrist_at(q_start)
    pre, _ = wrist_at(q_start, lift=0.07)
    start, _ = wrist_at(q_start, lift=0.10, back=0.10)
    start[2] = max(start[2], pre[2])
    up = np.array([0.0, 0.0, 1.0])
    scene.reset_hand(start, q_grasp, open_hand_pose())
    dt = m.opt.timestep
    frame_every = max(1, round(1.0 / (task.fps * dt)))
    rec: dict[str, list] = {k: [] for k in ("qpos", "mocap", "keypoints", "joint", "parts", "phase")}
    step = [0]

    def record(phase: str) -> None:
        mujoco.mj_kinematics(m, d)  # poses of the state mj_step just reached (it computes them first)
        rec["qpos"].append(d.qpos.copy())
        rec["mocap"].append(np.concatenate([d.mocap_pos[scene.mocap_id], d.mocap_quat[scene.mocap_id]]))
        rec["keypoints"].append(scene.keypoints())
        rec["joint"].append(scene.joint_state())
        rec["parts"].append(scene.part_poses())
        rec["phase"].append(phase)

    def run(duration: float, phase: str, wrist_fn, finger_fn, q_fn=None) -> None:
        n = max(1, round(duration / dt))
        for i in range(1, n + 1):
            s = i / n
            pos, quat = wrist_fn(s)
            scene.set_wrist_target(pos, quat)
            scene.set_fingers(finger_fn(s))
            if q_fn is not None:
                scene.set_joint_state(q_fn(s))
            mujoco.mj_step(m, d)
            if q_fn is not None:  # the kinematic drive: the state is the plan's, exactly
                scene.set_joint_state(q_fn(s))
            step[0] += 1
            if step[0] % frame_every == 0:
                record(phase)

    spread, closed = pregrasp_pose(), closed_hand_pose()
    for _ in range(int(0.05 / dt)):
        mujoco.mj_step(m, d)
    record("start")
    lerp = lambda a, b: (lambda s: (a + _smooth(s) * (b - a), q_grasp))  # noqa: E731
    run(0.5, "approach", lerp(start, pre), lambda s: spread)
    run(0.35, "descend", lerp(pre, w_grasp), lambda s: spread)
    run(0.45, "close", lambda s: (w_grasp, q_grasp), lambda s: spread + _smooth(s) * (closed - spread))

    def along(s: float) -> tuple[np.ndarray, np.ndarray]:
        return wrist_at(q_start + _smooth(s) * (q_goal - q_start))

    kin = (lambda s: q_start + _smooth(s) * (q_goal - q_start)) if task.drive == "kinematic" else None
    run(task.operate_time, "operate", along, lambda s: closed, kin)
    end_pos, end_quat = along(1.0)
    q_hold = scene.joint_state() if task.drive == "contact" else q_goal
    run(0.3, "release", lambda s: (end_pos, end_quat), lambda s: closed + _smooth(s) * (spread - closed),
        (lambda s: q_hold) if task.drive == "kinematic" else None)
    run(0.3, "retreat", lambda s: (end_pos + 0.06 * _smooth(s) * up, end_quat), lambda s: spread,
        (lambda s: q_hold) if task.drive == "kinematic" else None)
    states = {k: np.array(v) for k, v in rec.items() if k != "phase"}
    reached = float(states["joint"][-1])
    travel = (reached - q_start) / (q_goal - q_start)
    info = {"object": task.object, "action": task.action, "drive": task.drive, "phases": rec["phase"],
            "joint_start": q_start, "joint_goal": q_goal, "joint_reached": reached,
            "fraction_reached": float(travel), "fps": 1.0 / (frame_every * dt)}
    if not np.all(np.isfinite(states["qpos"])):
        raise ValueError("simulation became unstable (NaN state)")
    return states, scene, info


def prompt_for(task: ArticulatedTask, obj: ArticulatedSpec) -> str:
    part = obj.moving.name
    return f"{task.action} the {obj.noun}" if part == obj.noun else f"{task.action} the {obj.noun} {part}"


def run_articulated_episode(task: ArticulatedTask, seed: int = 0, min_fraction: float = 0.7) -> ArticulatedEpisode:
    """Simulate ``task`` and render it: RGB, metric depth, per-part segmentation, ground truth.

    ``success``: the joint travelled at least ``min_fraction`` of the way from start to goal.
    """
    t0 = time.perf_counter()
    states, scene, info = simulate_articulated(task)
    t1 = time.perf_counter()
    cam = task.make_camera()
    rgb, dep, seg = [], [], []
    d = scene.data
    with SimRenderer(scene, cam) as renderer:
        for q, mc in zip(states["qpos"], states["mocap"]):
            d.qpos[:] = q
            d.mocap_pos[scene.mocap_id] = mc[:3]
            d.mocap_quat[scene.mocap_id] = mc[3:]
            mujoco.mj_kinematics(scene.model, d)
            c, z, s = renderer.render(True, True)
            rgb.append(c)
            dep.append(z)
            seg.append(s)
    t2 = time.perf_counter()
    obj = scene.articulated
    local, parts = obj.surface_points(task.num_object_points, np.random.default_rng(seed))
    art = obj.articulation(states["parts"][:, 0], states["joint"], parts)
    homog = np.concatenate([local, np.ones((len(local), 1))], axis=1)
    poses = art.part_poses[:, parts]  # [T, K, 4, 4]
    points = np.einsum("tkij,kj->tki", poses, homog)[..., :3]
    success = bool(info["fraction_reached"] >= min_fraction)
    residual = np.abs(art.part_poses[:, PART_MOVING] - states["parts"][:, PART_MOVING]).max()
    info.update(success=success, seed=int(seed), part_names=list(art.parts), max_kinematic_residual=float(residual))
    seq = HOISequence(
        hand_joints=states["keypoints"].astype(np.float32), object_points=points.astype(np.float32), camera=cam,
        fps=info["fps"], prompt=prompt_for(task, obj), video=np.stack(rgb),
        object_point_labels=np.zeros(len(local), dtype=np.uint8), object_names=(obj.name,),
        metadata={"source": "hoi_ros.sim.articulated", **{k: v for k, v in info.items() if k != "phases"}},
        hand_sides=(scene.side,), articulations=(art,),
    )
    return ArticulatedEpisode(
        sequence=seq, depth=np.stack(dep), segmentation=np.stack(seg), joint_states=states["joint"],
        wrist_poses=states["qpos"][:, scene.hand_qpos_adr: scene.hand_qpos_adr + 7].copy(), spec=obj,
        success=success, info=info, timings={"physics_s": t1 - t0, "render_s": t2 - t1},
    )
