"""A MuJoCo scene: table, hand (mocap-driven wrist), objects and the rendering camera.

Physics settings follow MuJoCo's recommendations for grasping: elliptic friction cones with a
high ``impratio`` (stiff friction), torsional friction (condim 4), small contact time constants.
Objects are free bodies: they move only through contacts and friction, never by welding.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from hoi_ros.core.camera import Camera
from hoi_ros.sim.camera import mujoco_camera_pose
from hoi_ros.sim.hand import (
    NUM_FINGER_JOINTS,
    check_side,
    finger_joint_names,
    hand_actuators_xml,
    hand_body_xml,
    hand_defaults_xml,
    keypoint_site_names,
)
from hoi_ros.sim.objects import ObjectSpec, object_body_xml, sample_surface_points

LABEL_BACKGROUND = 0
LABEL_HAND = 1
LABEL_FIRST_OBJECT = 2  # object i has segmentation label 2 + i


@dataclass(frozen=True)
class PhysicsConfig:
    """Simulator settings (seconds, metres)."""

    timestep: float = 0.002
    impratio: float = 10.0
    weld_solref: tuple[float, float] = (0.01, 1.0)


def _fmt(v) -> str:
    return " ".join(f"{float(x):.6g}" for x in np.ravel(v))


def scene_xml(objects: list[ObjectSpec], object_poses: list[tuple[np.ndarray, np.ndarray]], side: str,
              max_size: tuple[int, int] = (640, 640), physics: PhysicsConfig | None = None) -> str:
    """The MJCF of a scene with one hand and ``objects`` at ``object_poses`` (pos, quat wxyz)."""
    physics = physics or PhysicsConfig()
    check_side(side)
    bodies = "\n".join(
        object_body_xml(obj, f"obj{i}", pos, quat) for i, (obj, (pos, quat)) in enumerate(zip(objects, object_poses))
    )
    w, h = max_size
    return f"""
<mujoco model="hoi_sim">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{physics.timestep}" cone="elliptic" impratio="{physics.impratio}" integrator="implicitfast"/>
  <statistic extent="1" center="0 0 0.1"/>
  <visual>
    <global offwidth="{w}" offheight="{h}"/>
    <map znear="0.01" zfar="20"/>
    <quality shadowsize="1024"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.45 0.45 0.45" specular="0.05 0.05 0.05"/>
  </visual>
  <asset>
    <texture name="sky" type="skybox" builtin="gradient" rgb1="0.75 0.78 0.82" rgb2="0.3 0.32 0.36"
      width="32" height="32"/>
  </asset>
  <default>
    {hand_defaults_xml()}
    <default class="object"><geom contype="1" conaffinity="3" condim="4" solref="0.004 1"
      solimp="0.95 0.99 0.001"/></default>
  </default>
  <worldbody>
    <light name="key" pos="0.3 -0.4 1.2" dir="-0.25 0.35 -1" castshadow="true" diffuse="0.5 0.5 0.5"/>
    <geom name="table" type="box" size="0.6 0.45 0.05" pos="0 0 -0.05" rgba="0.62 0.52 0.42 1"
      contype="1" conaffinity="3" condim="3" friction="0.6 0.01 0.001"/>
    <camera name="render" pos="0 -0.5 0.5" xyaxes="1 0 0 0 0.7 0.7" fovy="45"/>
    <body name="{side}_wrist_target" mocap="true" pos="0 -0.2 0.2"/>
    {hand_body_xml(side)}
    {bodies}
  </worldbody>
  <equality>
    <weld body1="{side}_wrist_target" body2="{side}_hand" relpose="0 0 0 1 0 0 0"
      solref="{_fmt(physics.weld_solref)}"/>
  </equality>
  <actuator>
    {hand_actuators_xml(side)}
  </actuator>
</mujoco>
"""


class SimScene:
    """A compiled scene plus the indices the controller and the renderer need."""

    def __init__(self, objects: list[ObjectSpec], object_poses: list[tuple[np.ndarray, np.ndarray]],
                 side: str = "right", max_size: tuple[int, int] = (640, 640),
                 physics: PhysicsConfig | None = None) -> None:
        if len(objects) != len(object_poses):
            raise ValueError("object_poses: one pose per object")
        self.objects = list(objects)
        self.side = check_side(side)
        self.xml = scene_xml(self.objects, object_poses, side, max_size, physics)
        self.model = mujoco.MjModel.from_xml_string(self.xml)
        self._bind(np.array([self.model.body(f"obj{i}").id for i in range(len(objects))], dtype=np.int64),
                   LABEL_FIRST_OBJECT)

    def _bind(self, object_bodies: np.ndarray, first_label: int) -> None:
        """Data, the hand's and camera's indices, and every geom's segmentation label (background,
        hand, or ``first_label`` + index in ``object_bodies``) of the compiled ``self.model``."""
        self.data = mujoco.MjData(self.model)
        m, side = self.model, self.side
        self.site_ids = np.array([m.site(n).id for n in keypoint_site_names(side)])
        self.finger_qpos_adr = np.array([m.joint(n).qposadr[0] for n in finger_joint_names(side)])
        self.finger_joint_names = finger_joint_names(side)
        self.hand_body = m.body(f"{side}_hand").id
        self.hand_qpos_adr = int(m.joint(f"{side}_wrist").qposadr[0])
        self.hand_qvel_adr = int(m.joint(f"{side}_wrist").dofadr[0])
        self.mocap_id = int(m.body_mocapid[m.body(f"{side}_wrist_target").id])
        self.object_bodies = np.asarray(object_bodies, dtype=np.int64)
        self.camera_id = m.camera("render").id
        self.geom_label = np.zeros(m.ngeom, dtype=np.uint8)
        hand_bodies = {b for b in range(m.nbody) if self._is_under(b, self.hand_body)}
        for g in range(m.ngeom):
            body = int(m.geom_bodyid[g])
            if body in hand_bodies:
                self.geom_label[g] = LABEL_HAND
            for i, ob in enumerate(self.object_bodies):
                if body == ob:
                    self.geom_label[g] = first_label + i
        self.hand_geoms = np.flatnonzero(self.geom_label == LABEL_HAND)
        mujoco.mj_forward(m, self.data)

    def _is_under(self, body: int, root: int) -> bool:
        while body > 0:
            if body == root:
                return True
            body = int(self.model.body_parentid[body])
        return False

    # ----------------------------------------------------------------- state
    def set_camera(self, camera: Camera) -> None:
        """Place the MuJoCo render camera exactly where the OpenCV ``camera`` is."""
        pos, quat, fovy = mujoco_camera_pose(camera)
        self.model.cam_pos[self.camera_id] = pos
        self.model.cam_quat[self.camera_id] = quat
        self.model.cam_fovy[self.camera_id] = fovy
        # Camera world poses live in mjData (computed by kinematics); refresh them now.
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)

    def reset_hand(self, wrist_pos: np.ndarray, wrist_quat: np.ndarray, fingers: np.ndarray) -> None:
        """Teleport the hand (wrist pose + 20 finger angles) and its mocap target; zero velocities."""
        fingers = np.asarray(fingers, dtype=np.float64)
        if fingers.shape != (NUM_FINGER_JOINTS,):
            raise ValueError(f"hand_pose.fingers: expected {NUM_FINGER_JOINTS} joint angles, got {fingers.shape}")
        d, a = self.data, self.hand_qpos_adr
        d.qpos[a : a + 3] = wrist_pos
        d.qpos[a + 3 : a + 7] = wrist_quat
        d.qvel[self.hand_qvel_adr : self.hand_qvel_adr + 6] = 0
        d.qpos[self.finger_qpos_adr] = fingers
        d.ctrl[:NUM_FINGER_JOINTS] = fingers
        self.set_wrist_target(wrist_pos, wrist_quat)
        mujoco.mj_forward(self.model, d)

    def set_wrist_target(self, pos: np.ndarray, quat: np.ndarray) -> None:
        self.data.mocap_pos[self.mocap_id] = pos
        self.data.mocap_quat[self.mocap_id] = quat

    def set_fingers(self, targets: np.ndarray) -> None:
        self.data.ctrl[:NUM_FINGER_JOINTS] = np.clip(
            targets, self.model.actuator_ctrlrange[:NUM_FINGER_JOINTS, 0],
            self.model.actuator_ctrlrange[:NUM_FINGER_JOINTS, 1],
        )

    def keypoints(self) -> np.ndarray:
        """The 21 hand keypoints ``[21, 3]`` in world coordinates (core joint order)."""
        return self.data.site_xpos[self.site_ids].copy()

    def finger_angles(self) -> np.ndarray:
        return self.data.qpos[self.finger_qpos_adr].copy()

    def wrist_pose(self) -> tuple[np.ndarray, np.ndarray]:
        a = self.hand_qpos_adr
        return self.data.qpos[a : a + 3].copy(), self.data.qpos[a + 3 : a + 7].copy()

    def object_pose(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Position and quaternion (w, x, y, z) of object ``i``'s body."""
        b = self.object_bodies[i]
        return self.data.xpos[b].copy(), self.data.xquat[b].copy()

    def object_poses(self) -> np.ndarray:
        """``[N, 7]`` position + quaternion of each object."""
        return np.concatenate([self.data.xpos[self.object_bodies], self.data.xquat[self.object_bodies]], axis=1)

    def object_points(self, local_points: list[np.ndarray]) -> np.ndarray:
        """World coordinates of each object's body-frame points, concatenated ``[K, 3]``."""
        out = []
        for b, pts in zip(self.object_bodies, local_points):
            rot = self.data.xmat[b].reshape(3, 3)
            out.append(pts @ rot.T + self.data.xpos[b])
        return np.concatenate(out, axis=0) if out else np.zeros((0, 3))

    def contact_pairs(self) -> set[tuple[int, int]]:
        """Segmentation-label pairs currently in contact (sorted tuples)."""
        pairs = set()
        for c in self.data.contact[: self.data.ncon]:
            a, b = int(self.geom_label[c.geom1]), int(self.geom_label[c.geom2])
            pairs.add((min(a, b), max(a, b)))
        return pairs

    def hand_touches(self, obj: int) -> int:
        """Number of hand-object contacts with object ``obj``."""
        lab = LABEL_FIRST_OBJECT + obj
        n = 0
        for c in self.data.contact[: self.data.ncon]:
            la, lb = self.geom_label[c.geom1], self.geom_label[c.geom2]
            if {int(la), int(lb)} == {LABEL_HAND, lab}:
                n += 1
        return n


def object_point_sets(objects: list[ObjectSpec], k: int,
                      rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    """Body-frame surface points for each object (K split evenly, SViMo §4) and their labels.

    One object: all K points, label 0 (tool). Two objects: K/2 each, the first labelled 0 (tool),
    the second 1 (target), as SViMo's tool/target split.
    """
    if len(objects) not in (1, 2):
        raise ValueError(f"objects: expected one or two objects, got {len(objects)}")
    if k < len(objects):
        raise ValueError(f"num_object_points: must be at least {len(objects)}, got {k}")
    counts = [k] if len(objects) == 1 else [k - k // 2, k // 2]
    sets = [sample_surface_points(o, c, rng) for o, c in zip(objects, counts)]
    labels = np.concatenate([np.full(c, i, dtype=np.uint8) for i, c in enumerate(counts)])
    return sets, labels
