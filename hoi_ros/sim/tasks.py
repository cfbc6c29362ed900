"""Pose generation (PAM §Stage I interface): ``(h_0, m, o_0, h_T or task) -> {h_t, o_t}``.

PAM runs GraspXL's RL policy in RaiSim; here a scripted controller drives the MuJoCo hand
(:mod:`hoi_ros.sim.hand`): the wrist's mocap target follows keyframes (approach with the thumb
spread, descend, close, lift...), the finger position actuators close with bounded force, and a
guarded move (``Keyframe.until_contact``) lowers a held tool until it touches its target, shifting
the later keyframes by where it stopped. Objects move only through contact and friction. Tasks:
``grasp_lift``, ``push``, ``rotate``, ``place``, ``tool_use`` and ``goto`` (reach a given target
hand pose). Every episode reports success from the simulated object motion and carries a text
prompt built from the task and the object's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from hoi_ros.core.geometry import quat_to_matrix, slerp
from hoi_ros.sim.hand import FINGER_JOINTS, NUM_FINGER_JOINTS, finger_limits, open_hand_pose
from hoi_ros.sim.objects import (
    GRASP_POINTS,
    ROLE_TARGET,
    ROLE_TOOL,
    TOOL_TIPS,
    ObjectSpec,
    sample_surface_points,
)
from hoi_ros.sim.scene import PhysicsConfig, SimScene

TASKS: tuple[str, ...] = ("grasp_lift", "push", "rotate", "place", "tool_use", "goto")
# Reachable wrist positions (world, metres): the table top spans |x| < 0.6, |y| < 0.45 at z = 0.
WORKSPACE_LOW = np.array([-0.45, -0.40, 0.02])
WORKSPACE_HIGH = np.array([0.45, 0.40, 0.50])
PALM_OFFSET = np.array([0.0, 0.062, 0.0])  # grasp centre below the palm, in the hand frame
PALM_BOTTOM = 0.0125


@dataclass
class HandPose:
    """Wrist position (m), orientation (w, x, y, z) and the 20 finger joint angles (rad)."""

    wrist_pos: np.ndarray
    wrist_quat: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0]))
    fingers: np.ndarray = field(default_factory=open_hand_pose)

    def __post_init__(self) -> None:
        self.wrist_pos = _finite(self.wrist_pos, (3,), "hand_pose.wrist_pos")
        q = _finite(self.wrist_quat, (4,), "hand_pose.wrist_quat")
        if np.linalg.norm(q) < 1e-6:
            raise ValueError("hand_pose.wrist_quat: zero quaternion")
        self.wrist_quat = q / np.linalg.norm(q)
        f = _finite(self.fingers, (NUM_FINGER_JOINTS,), "hand_pose.fingers")
        lo, hi = finger_limits()
        bad = np.flatnonzero((f < lo - 1e-6) | (f > hi + 1e-6))
        if bad.size:
            j = FINGER_JOINTS[bad[0]]
            raise ValueError(f"hand_pose.fingers: {j.name}={f[bad[0]]:.3f} outside [{j.lower}, {j.upper}]")
        self.fingers = f


@dataclass
class TaskRequest:
    """Inputs of one rollout. ``objects[0]`` is the manipulated object (or tool); ``objects[1]``
    the target for ``place``/``tool_use``, or a scene object the other tasks leave alone. Poses are
    (position, quaternion w x y z) on the table."""

    task: str
    objects: list[ObjectSpec]
    object_poses: list[tuple[np.ndarray, np.ndarray]]
    initial_hand: HandPose | None = None
    target_hand: HandPose | None = None
    lift_height: float = 0.12
    push_distance: float = 0.10
    push_angle: float = 0.0  # push direction, radians from +y about +z
    rotate_angle: float = 1.0  # radians about +z
    min_lift: float = 0.05  # grasp_lift succeeds when the object rose at least this much
    side: str = "right"
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)


@dataclass
class Trajectory:
    """A simulated episode sampled at ``fps``: full simulator states to re-render, plus summaries."""

    fps: float
    qpos: np.ndarray  # [T, nq]
    mocap: np.ndarray  # [T, 7]
    keypoints: np.ndarray  # [T, 21, 3]
    object_poses: np.ndarray  # [T, N, 7]
    success: bool
    prompt: str
    info: dict[str, Any]


def _finite(v: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(v, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return arr


def yaw_quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def quat_yaw(q: np.ndarray) -> float:
    w, x, y, z = q
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def closed_hand_pose(strength: float = 1.0) -> np.ndarray:
    """Finger targets of a power grasp; beyond-contact targets give the squeezing force."""
    names = [j.name for j in FINGER_JOINTS]
    q = open_hand_pose()
    for n, v in {"thumb_cmc_flex": 1.25, "thumb_cmc_abd": 0.0, "thumb_mcp": 0.7, "thumb_ip": 0.8}.items():
        q[names.index(n)] = v
    for f in ("index", "middle", "ring", "little"):
        q[names.index(f"{f}_mcp_flex")] = 1.5
        q[names.index(f"{f}_pip")] = 1.7
        q[names.index(f"{f}_dip")] = 1.1
    return open_hand_pose() + strength * (q - open_hand_pose())


def pregrasp_pose() -> np.ndarray:
    """An open hand with the thumb extended away from the palm (reaching to grasp)."""
    q = open_hand_pose()
    q[[j.name for j in FINGER_JOINTS].index("thumb_cmc_flex")] = -0.3
    return q


def fist_pose() -> np.ndarray:
    """Curled fingers for pushing with the knuckles (flat front of the proximal phalanges)."""
    names = [j.name for j in FINGER_JOINTS]
    q = open_hand_pose()
    for f in ("index", "middle", "ring", "little"):
        q[names.index(f"{f}_mcp_flex")] = 1.5
        q[names.index(f"{f}_pip")] = 1.8
        q[names.index(f"{f}_dip")] = 1.2
    q[names.index("thumb_cmc_flex")] = 0.9
    q[names.index("thumb_mcp")] = 0.6
    return q


@dataclass
class Keyframe:
    """Reach ``pos``/``quat``/``fingers`` ``duration`` seconds after the previous keyframe."""

    duration: float
    pos: np.ndarray
    quat: np.ndarray
    fingers: np.ndarray
    phase: str
    # Guarded move: stop the wrist as soon as these two segmentation labels touch (then press
    # ``press`` metres further down to keep the contact); later keyframes shift by the same amount.
    until_contact: tuple[int, int] | None = None
    press: float = 0.002


# Pushes within this angle (rad) of +y are "straight forward"; the prompt names the side beyond it.
PUSH_STRAIGHT = 0.1
# One angle per direction phrase of each task, for enumerating every prompt the sim can give.
DIRECTION_ANGLES: dict[str, tuple[float, ...]] = {"push": (0.0, 0.2, -0.2), "rotate": (1.0, -1.0)}


def direction_phrase(task: str, angle: float) -> str:
    """The prompt's words for a push or turn direction, in the table frame seen from above (+y
    forward, +z up, so +x is right): a positive turn about +z is counterclockwise; a positive push
    angle (radians from +y about +z) pushes to the left."""
    if task == "rotate":
        return "counterclockwise" if angle > 0 else "clockwise"
    if task == "push":
        if abs(angle) < PUSH_STRAIGHT:
            return "straight forward"
        return "forward and to the left" if angle > 0 else "forward and to the right"
    raise ValueError(f"task: {task!r} has no direction (push and rotate do)")


def prompt_for(task: str, objects: list[ObjectSpec], push_angle: float = 0.0, rotate_angle: float = 1.0) -> str:
    """The episode's text prompt from the task, the objects' names and the push or turn direction
    (:func:`direction_phrase`). A scene object the task leaves alone is not named."""
    a = objects[0].display_name
    if task == "grasp_lift":
        return f"grasp the {a} and lift it up"
    if task == "push":
        return f"push the {a} {direction_phrase('push', push_angle)} across the table"
    if task == "rotate":
        return f"grasp the {a} and turn it {direction_phrase('rotate', rotate_angle)}"
    if task == "place":
        return f"pick up the {a} and place it on the {objects[1].display_name}"
    if task == "tool_use":
        return f"pick up the {a} and sweep it over the {objects[1].display_name}"
    return f"move the hand next to the {a}"


def request_prompt(req: TaskRequest) -> str:
    """:func:`prompt_for` of a task request (its task, objects and push/turn direction)."""
    return prompt_for(req.task, req.objects, req.push_angle, req.rotate_angle)


def _check_in_workspace(pos: np.ndarray, what: str) -> None:
    if np.any(pos < WORKSPACE_LOW) or np.any(pos > WORKSPACE_HIGH):
        raise ValueError(
            f"{what}: wrist position {np.round(pos, 3).tolist()} is outside the reachable workspace "
            f"{WORKSPACE_LOW.tolist()}..{WORKSPACE_HIGH.tolist()}"
        )


def _validate(req: TaskRequest) -> None:
    if req.task not in TASKS:
        raise ValueError(f"task: unknown task {req.task!r}; known: {', '.join(TASKS)}")
    need = 2 if req.task in ("place", "tool_use") else 1
    if len(req.objects) != need and not (need == 1 and len(req.objects) == 2):
        raise ValueError(f"objects: task {req.task} needs {need} object(s)"
                         f"{' (and at most one more it leaves alone)' if need == 1 else ''}, got {len(req.objects)}")
    if len(req.object_poses) != len(req.objects):
        raise ValueError(f"object_poses: expected {len(req.objects)} (one per object), got {len(req.object_poses)}")
    roles = [o.role for o in req.objects]
    if req.task in ("grasp_lift", "rotate", "place") and roles[0] == ROLE_TARGET:
        raise ValueError(
            f"objects: {req.task} needs a graspable object first, got a {roles[0]} ({req.objects[0].name})")
    if req.task == "place" and roles[1] != ROLE_TARGET:
        raise ValueError(f"objects: place needs a target (bowl or plate) second, got {req.objects[1].name}")
    if req.task == "tool_use" and (roles[0] != ROLE_TOOL or roles[1] != ROLE_TARGET):
        raise ValueError("objects: tool_use needs a tool (spatula, roller) and a target (bowl, plate)")
    if req.task == "push" and roles[0] == ROLE_TARGET:
        raise ValueError(f"objects: push needs a small object, got a {req.objects[0].name}")
    for i, (pos, quat) in enumerate(req.object_poses):
        p = _finite(pos, (3,), f"object_poses[{i}].position")
        q = _finite(quat, (4,), f"object_poses[{i}].orientation")
        if np.linalg.norm(q) < 1e-6:
            raise ValueError(f"object_poses[{i}].orientation: zero quaternion")
        if abs(p[0]) > 0.4 or abs(p[1]) > 0.3 or p[2] < -0.01 or p[2] > 0.4:
            raise ValueError(f"object_poses[{i}].position: {np.round(p, 3).tolist()} is not on the table "
                             "(|x| <= 0.4, |y| <= 0.3, 0 <= z <= 0.4)")
    for name in ("lift_height", "push_distance", "min_lift"):
        v = float(getattr(req, name))
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"{name}: must be a non-negative finite number, got {v}")
    for name in ("push_angle", "rotate_angle"):
        if not np.isfinite(getattr(req, name)) or abs(getattr(req, name)) > np.pi:
            raise ValueError(f"{name}: must be a finite angle within [-pi, pi], got {getattr(req, name)}")
    if req.task == "goto" and req.target_hand is None:
        raise ValueError("target_hand: the goto task needs a target hand pose")


def _object_top(obj: ObjectSpec, pos: np.ndarray, quat: np.ndarray | None = None,
                near: np.ndarray | None = None, radius: float = 0.06) -> float:
    """World height of the object's highest surface point at pose (pos, quat); with ``near``,
    only points within ``radius`` (horizontally) of that world point count."""
    pts = sample_surface_points(obj, 4000, np.random.default_rng(0))
    rot = quat_to_matrix(np.array([1.0, 0, 0, 0]) if quat is None else quat)
    world = pts @ rot.T + np.asarray(pos, dtype=np.float64)
    if near is not None:
        close = np.linalg.norm(world[:, :2] - np.asarray(near, dtype=np.float64)[:2], axis=1) < radius
        if np.any(close):
            world = world[close]
    return float(np.max(world[:, 2]))


def _grasp_frame(obj: ObjectSpec, pos: np.ndarray, quat: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Wrist position and orientation that put the palm's grasp centre above the object, and its top."""
    yaw = quat_yaw(quat)
    center = pos + quat_to_matrix(quat) @ np.asarray(GRASP_POINTS.get(obj.name, (0.0, 0.0, 0.0)))
    top = _object_top(obj, pos, quat, near=center)
    hand_q = yaw_quat(yaw)
    rot = np.zeros(9)
    mujoco.mju_quat2Mat(rot, hand_q)
    # Thin handles sit under the finger roots so the fingers wrap them against the thumb.
    offset = PALM_OFFSET + (np.array([0.0, 0.03, 0.0]) if obj.role == ROLE_TOOL else 0.0)
    wrist = center - rot.reshape(3, 3) @ offset
    wrist[2] = top + PALM_BOTTOM + 0.004
    return wrist, hand_q, top


def plan(req: TaskRequest, start: HandPose) -> list[Keyframe]:
    """Keyframes of the scripted controller for the task (positions in world coordinates)."""
    obj, (opos, oquat) = req.objects[0], req.object_poses[0]
    opos = np.asarray(opos, dtype=np.float64)
    oquat = np.asarray(oquat, dtype=np.float64) / np.linalg.norm(oquat)
    open_f, closed = open_hand_pose(), closed_hand_pose()
    up = np.array([0.0, 0.0, 1.0])
    kf: list[Keyframe] = []
    if req.task == "goto":
        t = req.target_hand
        kf.append(Keyframe(2.0, t.wrist_pos, t.wrist_quat, t.fingers, "reach"))
        kf.append(Keyframe(0.4, t.wrist_pos, t.wrist_quat, t.fingers, "hold"))
        return kf
    if req.task == "push":
        d = np.array([-np.sin(req.push_angle), np.cos(req.push_angle), 0.0])
        yaw = req.push_angle
        q = yaw_quat(yaw)
        extent = max(max(abs(g.pos[0]) + g.size[0], abs(g.pos[1]) + g.size[0]) for g in obj.geoms)
        begin = opos - d * (0.112 + extent + 0.02)
        begin[2] = 0.062
        end = begin + d * (req.push_distance + 0.02)
        kf.append(Keyframe(0.7, begin + 0.08 * up, q, fist_pose(), "approach"))
        kf.append(Keyframe(0.4, begin, q, fist_pose(), "descend"))
        kf.append(Keyframe(1.4, end, q, fist_pose(), "push"))
        kf.append(Keyframe(0.4, end + 0.06 * up, q, fist_pose(), "retreat"))
        return kf
    wrist, hq, _top = _grasp_frame(obj, opos, oquat)
    pre = wrist + 0.07 * up
    spread = pregrasp_pose()
    kf.append(Keyframe(0.7, pre, hq, spread, "approach"))
    kf.append(Keyframe(0.4, wrist, hq, spread, "descend"))
    kf.append(Keyframe(0.5, wrist, hq, closed, "close"))
    if req.task == "grasp_lift":
        kf.append(Keyframe(1.0, wrist + req.lift_height * up, hq, closed, "lift"))
        kf.append(Keyframe(0.4, wrist + req.lift_height * up, hq, closed, "hold"))
    elif req.task == "rotate":
        lifted = wrist + 0.02 * up
        kf.append(Keyframe(0.3, lifted, hq, closed, "lift"))
        center = opos.copy()
        n = 6
        for k in range(1, n + 1):
            a = req.rotate_angle * k / n
            rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
            p = center + rz @ (lifted - center)
            p[2] = lifted[2]
            q = np.zeros(4)
            mujoco.mju_mulQuat(q, yaw_quat(a), hq)
            kf.append(Keyframe(1.2 / n, p, q, closed, "turn"))
        kf.append(Keyframe(0.3, kf[-1].pos - 0.015 * up, kf[-1].quat, closed, "lower"))
        kf.append(Keyframe(0.3, kf[-1].pos, kf[-1].quat, open_f, "release"))
        kf.append(Keyframe(0.3, kf[-1].pos + 0.05 * up, kf[-1].quat, open_f, "retreat"))
    elif req.task in ("place", "tool_use"):
        target, (tpos, _tq) = req.objects[1], req.object_poses[1]
        tpos = np.asarray(tpos, dtype=np.float64)
        lift = wrist + req.lift_height * up
        kf.append(Keyframe(0.8, lift, hq, closed, "lift"))
        offset = tpos - opos  # carry the object (or tool) so its grasp centre is above the target
        ttop = _object_top(target, tpos) if target.name == "plate" else tpos[2] + 0.05
        if req.task == "place":
            over = lift + np.array([offset[0], offset[1], 0.0])
            kf.append(Keyframe(1.0, over, hq, closed, "carry"))
            drop = over.copy()
            drop[2] = wrist[2] + (ttop - opos[2] + obj.rest_height) + 0.02
            kf.append(Keyframe(0.6, drop, hq, closed, "lower"))
            kf.append(Keyframe(0.4, drop, hq, open_f, "release"))
            kf.append(Keyframe(0.4, drop + 0.08 * up, hq, open_f, "retreat"))
        else:
            # Carry the tool so its working tip is above the target's near side, touch, sweep.
            tip = opos + quat_to_matrix(oquat) @ np.asarray(TOOL_TIPS.get(obj.name, (0.0, 0.0, 0.0)))
            shift = tpos - tip + np.array([0.0, -0.03, 0.0])
            over = lift + np.array([shift[0], shift[1], 0.0])
            kf.append(Keyframe(1.0, over, hq, closed, "carry"))
            # Lower until the held tool touches the target (a guarded move: the planned depth is
            # 1.5 cm into the target, the move stops at the first tool-target contact).
            touch = over.copy()
            touch[2] = wrist[2] + (ttop - tip[2]) - 0.015
            kf.append(Keyframe(1.2, touch, hq, closed, "lower", until_contact=(2, 3)))
            kf.append(Keyframe(0.8, touch + np.array([0.0, 0.06, 0.0]), hq, closed, "sweep"))
            kf.append(Keyframe(0.4, touch + np.array([0.0, 0.06, 0.08]), hq, closed, "raise"))
    return kf


def default_start(req: TaskRequest) -> HandPose:
    """An open, palm-down hand 12 cm behind (against the fingers' direction) and 10 cm above
    where it will first grasp or push the object."""
    pos = np.asarray(req.object_poses[0][0], dtype=np.float64)
    quat = np.asarray(req.object_poses[0][1], dtype=np.float64)
    quat = quat / np.linalg.norm(quat)
    if req.task == "push":
        return HandPose(pos + np.array([0.0, -0.18, 0.16]), yaw_quat(req.push_angle), open_hand_pose())
    if req.task == "goto":
        return HandPose(pos + np.array([0.0, -0.18, 0.16]), yaw_quat(quat_yaw(quat)), open_hand_pose())
    wrist, hq, _top = _grasp_frame(req.objects[0], pos, quat)
    back = quat_to_matrix(hq) @ np.array([0.0, -0.12, 0.0])
    return HandPose(wrist + back + np.array([0.0, 0.0, 0.10]), hq, open_hand_pose())


def simulate(req: TaskRequest, fps: float = 10.0, scene: SimScene | None = None,
             max_size: tuple[int, int] = (640, 640)) -> tuple[Trajectory, SimScene]:
    """Run the scripted controller in MuJoCo and sample the episode at ``fps``.

    Raises ``ValueError`` naming the field for an unknown task, bad object, NaN pose or a wrist
    target outside the reachable workspace.
    """
    _validate(req)
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps: must be positive, got {fps}")
    start = req.initial_hand or default_start(req)
    keyframes = plan(req, start)
    _check_in_workspace(start.wrist_pos, "initial_hand")
    for k in keyframes:
        _check_in_workspace(k.pos, "target_hand" if req.task == "goto" else f"task {req.task} ({k.phase})")
    poses = [(np.asarray(p, float), np.asarray(q, float) / np.linalg.norm(q)) for p, q in req.object_poses]
    if scene is None:
        scene = SimScene(req.objects, poses, req.side, max_size, req.physics)
    m, d = scene.model, scene.data
    scene.reset_hand(start.wrist_pos, start.wrist_quat, start.fingers)
    # Let objects settle on the table with the hand out of the way.
    for _ in range(int(0.1 / m.opt.timestep)):
        mujoco.mj_step(m, d)
    init_poses = scene.object_poses()
    dt = m.opt.timestep
    frame_every = max(1, round(1.0 / (fps * dt)))
    fps_eff = 1.0 / (frame_every * dt)
    qpos, mocap, kps, ops, phases = [], [], [], [], []
    contacts: dict[str, set] = {}
    prev_pos, prev_quat, prev_fingers = start.wrist_pos, start.wrist_quat, start.fingers
    shift = np.zeros(3)  # accumulated offset of guarded moves that stopped early
    step = 0

    def record(phase: str) -> None:
        qpos.append(d.qpos.copy())
        mocap.append(np.concatenate([d.mocap_pos[scene.mocap_id], d.mocap_quat[scene.mocap_id]]))
        kps.append(scene.keypoints())
        ops.append(scene.object_poses())
        phases.append(phase)

    record("start")
    for key in keyframes:
        n = max(1, round(key.duration / dt))
        goal = key.pos + shift
        stopped: np.ndarray | None = None
        for i in range(1, n + 1):
            s = i / n
            s = s * s * (3 - 2 * s)  # smoothstep: gentle starts and stops
            pos = prev_pos + s * (goal - prev_pos) if stopped is None else stopped
            scene.set_wrist_target(pos, slerp(prev_quat, key.quat, s))
            scene.set_fingers(prev_fingers + s * (key.fingers - prev_fingers))
            mujoco.mj_step(m, d)
            step += 1
            pairs = scene.contact_pairs()
            contacts.setdefault(key.phase, set()).update(pairs)
            if (1, 2) in pairs and (2, 3) in pairs:  # hand holds object 0 while it touches object 1
                contacts.setdefault("held_touch", set()).add((2, 3))
            if key.until_contact is not None and stopped is None and key.until_contact in pairs:
                stopped = pos - np.array([0.0, 0.0, key.press])
                shift = shift + (stopped - goal)
            if step % frame_every == 0:
                record(key.phase)
        prev_pos = goal if stopped is None else stopped
        prev_quat, prev_fingers = key.quat, key.fingers
    traj = Trajectory(
        fps=fps_eff, qpos=np.array(qpos), mocap=np.array(mocap), keypoints=np.array(kps),
        object_poses=np.array(ops), success=False, prompt=request_prompt(req),
        info={"task": req.task, "phases": phases,
              "objects": [o.display_name for o in req.objects]},
    )
    if not np.all(np.isfinite(traj.qpos)):
        raise ValueError("simulation became unstable (NaN state); check the poses and sizes")
    traj.success, metrics = evaluate(req, traj, init_poses, scene, contacts)
    traj.info.update(metrics)
    return traj, scene


def _yaw_change(q0: np.ndarray, q1: np.ndarray) -> float:
    a = quat_yaw(q1) - quat_yaw(q0)
    return float((a + np.pi) % (2 * np.pi) - np.pi)


def evaluate(req: TaskRequest, traj: Trajectory, init: np.ndarray, scene: SimScene,
             contacts: dict[str, set]) -> tuple[bool, dict[str, Any]]:
    """Task success from the simulated object motion (no success is declared by the script)."""
    o0, o1 = init[0], traj.object_poses[-1, 0]
    disp = o1[:3] - o0[:3]
    touching = scene.hand_touches(0) > 0
    out: dict[str, Any] = {"object_displacement": disp.round(4).tolist(), "hand_touching_at_end": touching}
    if req.task == "grasp_lift":
        lift = float(disp[2])
        out["lift"] = round(lift, 4)
        return bool(lift >= req.min_lift and touching), out
    if req.task == "push":
        d = np.array([-np.sin(req.push_angle), np.cos(req.push_angle), 0.0])
        along = float(disp @ d)
        out["pushed"] = round(along, 4)
        return bool(along >= 0.5 * req.push_distance and abs(disp[2]) < 0.02), out
    if req.task == "rotate":
        turned = _yaw_change(o0[3:], o1[3:])
        out["turned"] = round(turned, 4)
        ok = np.sign(turned) == np.sign(req.rotate_angle) and abs(turned) >= 0.5 * abs(req.rotate_angle)
        return bool(ok and np.linalg.norm(disp[:2]) < 0.05 and abs(disp[2]) < 0.02), out
    if req.task == "place":
        t1 = traj.object_poses[-1, 1]
        radius = 0.8 * max(g.size[0] for g in req.objects[1].geoms if g.type == "cylinder")
        dist = float(np.linalg.norm(o1[:2] - t1[:2]))
        out["distance_to_target"] = round(dist, 4)
        above = o1[2] > t1[2] + 0.5 * req.objects[0].rest_height
        return bool(dist < radius and above and not touching), out
    if req.task == "tool_use":
        # The tool, held by the hand, touched the target (PAM/TACO tool-action-target).
        touched = (2, 3) in contacts.get("held_touch", set())
        lifted = float(np.max(traj.object_poses[:, 0, 2]) - o0[2])
        out["tool_target_contact"] = bool(touched)
        out["tool_lift"] = round(lifted, 4)
        return bool(touched and lifted > 0.03), out
    # goto: the wrist reached the target pose
    err = float(np.linalg.norm(traj.mocap[-1, :3] - scene.wrist_pose()[0]))
    out["wrist_error"] = round(err, 4)
    return bool(err < 0.02), out
