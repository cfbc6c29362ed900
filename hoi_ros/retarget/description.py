"""Robot hand descriptions: one URDF-shaped data model, exported as URDF and as MJCF.

A :class:`HandDescription` is a tree of links joined by revolute or fixed joints (URDF
semantics: a joint's ``xyz``/``rpy`` place the child frame in the parent frame, the revolute
``axis`` is in the child frame, ``mimic`` couples a joint to another as
``q = multiplier * q_source + offset``), plus

- collision capsules per link (segment ``start``-``end`` in the link frame and a radius),
- ``keypoints``: robot link -> human keypoint index (MediaPipe/MANO order of
  :mod:`hoi_ros.core.hand`), the mapping retargeting matches,
- ``fingertips``: the links of the fingertip keypoints.

Frame convention of the built-in hands (and of :func:`hoi_ros.retarget.human.palm_frame`): origin
at the wrist, ``x`` from the wrist towards the middle finger's knuckle, ``z`` out of the back of
the hand, ``y = z x x`` (towards the thumb for a right hand). Positive flexion bends a finger
towards the palm (``-z``).

The same description also comes from a user's URDF (:func:`from_urdf`, no mesh needed) with a
keypoint mapping given in YAML (see :mod:`hoi_ros.retarget.robots`).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

from hoi_ros.core.geometry import rpy_to_matrix, rpy_to_quat
from hoi_ros.core.hand import FINGER_COLORS, FINGERTIPS, JOINT_FINGER, JOINTS_PER_HAND

Vec3 = tuple[float, float, float]


@dataclass
class Joint:
    """A URDF joint: ``revolute`` (with limits, optional mimic) or ``fixed``."""

    name: str
    parent: str
    child: str
    type: str = "revolute"
    xyz: Vec3 = (0.0, 0.0, 0.0)
    rpy: Vec3 = (0.0, 0.0, 0.0)
    axis: Vec3 = (0.0, 1.0, 0.0)
    lower: float = 0.0
    upper: float = 0.0
    mimic: tuple[str, float, float] | None = None  # (source joint, multiplier, offset)

    def __post_init__(self) -> None:
        if self.type not in ("revolute", "fixed"):
            raise ValueError(f"joint {self.name}: type must be 'revolute' or 'fixed', got {self.type!r}")
        if self.type == "revolute":
            if not self.lower <= self.upper:
                raise ValueError(f"joint {self.name}: lower limit {self.lower} above upper {self.upper}")
            if np.linalg.norm(self.axis) < 1e-9:
                raise ValueError(f"joint {self.name}: axis must be non-zero")


@dataclass
class Capsule:
    """A collision capsule on ``link``: the segment ``start``-``end`` (link frame) swept by ``radius``."""

    link: str
    start: Vec3
    end: Vec3
    radius: float


@dataclass
class HandDescription:
    """A robot hand (see the module docstring)."""

    name: str
    root: str
    joints: list[Joint]
    capsules: list[Capsule] = field(default_factory=list)
    keypoints: dict[str, int] = field(default_factory=dict)
    notes: str = ""
    side: str = "right"  # the hand it is: "right" (thumb towards +y) or "left" (thumb towards -y)

    def __post_init__(self) -> None:
        if self.side not in ("right", "left"):
            raise ValueError(f"side: must be 'right' or 'left', got {self.side!r}")
        links = self.links
        names = [j.name for j in self.joints]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: joint names must be unique")
        children = [j.child for j in self.joints]
        if len(set(children)) != len(children) or self.root in children:
            raise ValueError(f"{self.name}: every link but the root needs exactly one parent joint")
        by_name = {j.name: j for j in self.joints}
        for j in self.joints:
            if j.mimic is not None:
                src = by_name.get(j.mimic[0])
                if src is None or src.type != "revolute" or src.mimic is not None:
                    raise ValueError(f"joint {j.name}: mimic source {j.mimic[0]!r} must be an actuated joint")
        for link, idx in self.keypoints.items():
            if link not in links:
                raise ValueError(f"keypoints: unknown link {link!r} in robot {self.name}")
            if not 0 <= int(idx) < JOINTS_PER_HAND:
                raise ValueError(f"keypoints: human index of {link!r} must be in 0..20, got {idx}")
        if len(set(self.keypoints.values())) != len(self.keypoints):
            raise ValueError(f"keypoints: two links of {self.name} map to the same human keypoint")
        if not self.fingertips:
            raise ValueError(f"keypoints: robot {self.name} maps no fingertip (human 4, 8, 12, 16, 20)")
        for c in self.capsules:
            if c.link not in links:
                raise ValueError(f"capsules: unknown link {c.link!r}")

    # ------------------------------------------------------------------ structure
    @property
    def links(self) -> list[str]:
        """Root first, then the joints' children in order."""
        return [self.root] + [j.child for j in self.joints]

    @property
    def actuated_joints(self) -> list[Joint]:
        return [j for j in self.joints if j.type == "revolute" and j.mimic is None]

    @property
    def revolute_joints(self) -> list[Joint]:
        return [j for j in self.joints if j.type == "revolute"]

    @property
    def fingertips(self) -> list[str]:
        """Links mapped to human fingertips, in thumb..little order."""
        tips = {idx: link for link, idx in self.keypoints.items() if idx in FINGERTIPS}
        return [tips[i] for i in sorted(tips)]

    def link_finger(self) -> dict[str, int]:
        """Finger (0 thumb .. 4 little) of each link: the one fingertip keypoint below it; -1 = palm."""
        children: dict[str, list[str]] = {}
        for j in self.joints:
            children.setdefault(j.parent, []).append(j.child)
        tip_finger = {link: int(JOINT_FINGER[idx]) for link, idx in self.keypoints.items() if idx in FINGERTIPS}

        def below(link: str) -> set[int]:
            found = {tip_finger[link]} if link in tip_finger else set()
            for c in children.get(link, []):
                found |= below(c)
            return found

        return {link: (next(iter(f)) if len(f := below(link)) == 1 else -1) for link in self.links}

    def mirrored(self, name: str | None = None) -> HandDescription:
        """The mirror-image hand (reflection ``y -> -y`` of every frame, ``M = diag(1, -1, 1)``).

        A joint's placement ``R`` becomes ``M R M`` (roll-pitch-yaw ``(r, p, y) -> (-r, p, -y)``), its
        offset ``M xyz``, and its axis ``-M a``, since ``M Rot(a, t) M = Rot(-M a, t)`` for a
        reflection: the same joint angles give the mirrored pose (positive flexion still bends
        towards the palm, limits and mimic couplings are unchanged), so ``FK_mirror(q) = M FK(q) M``.
        Capsules are mirrored likewise. The default name: ``<name>_left`` for a right hand, the name
        without ``_left`` for a left one.
        """
        def flip(v: Vec3) -> Vec3:
            return (float(v[0]), -float(v[1]), float(v[2]))

        joints = [Joint(j.name, j.parent, j.child, j.type, flip(j.xyz), (-j.rpy[0], j.rpy[1], -j.rpy[2]),
                        (-j.axis[0], j.axis[1], -j.axis[2]), j.lower, j.upper, j.mimic) for j in self.joints]
        caps = [Capsule(c.link, flip(c.start), flip(c.end), c.radius) for c in self.capsules]
        side = "left" if self.side == "right" else "right"
        if name is None:
            name = f"{self.name}_left" if side == "left" else self.name.removesuffix("_left")
        notes = f"mirror image ({side} hand) of {self.name}" + (f": {self.notes}" if self.notes else "")
        return HandDescription(name, self.root, joints, caps, dict(self.keypoints), notes, side)

    # ------------------------------------------------------------------ export
    def to_urdf(self) -> str:
        """URDF text: links with cylinder+sphere collision/visual shapes of the capsules, mimic joints."""
        robot = ET.Element("robot", name=self.name)
        by_link: dict[str, list[Capsule]] = {}
        for c in self.capsules:
            by_link.setdefault(c.link, []).append(c)
        finger = self.link_finger()
        for f in range(-1, 5):
            color = FINGER_COLORS[f] / 255.0 if f >= 0 else np.array([0.75, 0.75, 0.75])
            mat = ET.SubElement(robot, "material", name=f"finger{f}")
            ET.SubElement(mat, "color", rgba=" ".join(f"{v:.3f}" for v in (*color, 1.0)))
        for link in self.links:
            el = ET.SubElement(robot, "link", name=link)
            for c in by_link.get(link, []):
                for shape in _capsule_shapes(c):
                    for kind in ("visual", "collision"):
                        node = ET.SubElement(el, kind)
                        ET.SubElement(node, "origin", xyz=_fmt(shape[1]), rpy=_fmt(shape[2]))
                        geom = ET.SubElement(node, "geometry")
                        if shape[0] == "sphere":
                            ET.SubElement(geom, "sphere", radius=f"{c.radius:.6g}")
                        else:
                            ET.SubElement(geom, "cylinder", radius=f"{c.radius:.6g}", length=f"{shape[3]:.6g}")
                        if kind == "visual":
                            ET.SubElement(node, "material", name=f"finger{finger[link]}")
            if link in by_link:
                inertial = ET.SubElement(el, "inertial")
                ET.SubElement(inertial, "mass", value="0.02")
                ET.SubElement(inertial, "inertia", ixx="1e-6", iyy="1e-6", izz="1e-6", ixy="0", ixz="0", iyz="0")
        for j in self.joints:
            el = ET.SubElement(robot, "joint", name=j.name, type=j.type)
            ET.SubElement(el, "parent", link=j.parent)
            ET.SubElement(el, "child", link=j.child)
            ET.SubElement(el, "origin", xyz=_fmt(j.xyz), rpy=_fmt(j.rpy))
            if j.type == "revolute":
                ET.SubElement(el, "axis", xyz=_fmt(j.axis))
                ET.SubElement(el, "limit", lower=f"{j.lower:.9g}", upper=f"{j.upper:.9g}", effort="1", velocity="5")
                if j.mimic is not None:
                    ET.SubElement(el, "mimic", joint=j.mimic[0], multiplier=f"{j.mimic[1]:.8g}",
                                  offset=f"{j.mimic[2]:.8g}")
        ET.indent(robot)
        return '<?xml version="1.0"?>\n' + ET.tostring(robot, encoding="unicode") + "\n"

    def to_mjcf(self, free_base: bool = False) -> str:
        """MJCF text: nested bodies, hinge joints with ranges, capsule geoms, a site per keypoint link,
        joint-coupling equalities for mimic joints. ``free_base`` adds a mocap-free root joint."""
        mj = ET.Element("mujoco", model=self.name)
        ET.SubElement(mj, "compiler", angle="radian", autolimits="true")
        asset = ET.SubElement(mj, "asset")
        for f in range(-1, 5):
            color = FINGER_COLORS[f] / 255.0 if f >= 0 else np.array([0.75, 0.75, 0.75])
            ET.SubElement(asset, "material", name=f"finger{f}", rgba=" ".join(f"{v:.3f}" for v in (*color, 1.0)))
        world = ET.SubElement(mj, "worldbody")
        by_parent: dict[str, list[Joint]] = {}
        for j in self.joints:
            by_parent.setdefault(j.parent, []).append(j)
        by_link: dict[str, list[Capsule]] = {}
        for c in self.capsules:
            by_link.setdefault(c.link, []).append(c)
        finger = self.link_finger()

        def add_body(parent_el: ET.Element, link: str, joint: Joint | None) -> None:
            attrs = {"name": link}
            if joint is not None:
                attrs["pos"] = _fmt(joint.xyz)
                attrs["quat"] = _fmt(rpy_to_quat(joint.rpy))
            body = ET.SubElement(parent_el, "body", **attrs)
            if joint is None and free_base:
                ET.SubElement(body, "freejoint", name="base")
            if joint is not None and joint.type == "revolute":
                ET.SubElement(body, "joint", name=joint.name, type="hinge", axis=_fmt(joint.axis),
                              range=f"{joint.lower:.9g} {joint.upper:.9g}", limited="true")
            for c in by_link.get(link, []):
                ET.SubElement(body, "geom", type="capsule", fromto=_fmt((*c.start, *c.end)),
                              size=f"{c.radius:.6g}", material=f"finger{finger[link]}", mass="0.02")
            if link not in by_link:
                ET.SubElement(body, "inertial", pos="0 0 0", mass="0.001", diaginertia="1e-7 1e-7 1e-7")
            if link in self.keypoints:
                ET.SubElement(body, "site", name=f"kp_{link}", size="0.004", rgba="1 1 1 1")
            for child in by_parent.get(link, []):
                add_body(body, child.child, child)

        add_body(world, self.root, None)
        mimics = [j for j in self.joints if j.mimic is not None]
        if mimics:
            eq = ET.SubElement(mj, "equality")
            for j in mimics:
                src, mul, off = j.mimic  # type: ignore[misc]
                ET.SubElement(eq, "joint", joint1=j.name, joint2=src, polycoef=f"{off:.8g} {mul:.8g} 0 0 0")
        ET.indent(mj)
        return ET.tostring(mj, encoding="unicode") + "\n"


# ---------------------------------------------------------------------- helpers
def _fmt(values: object) -> str:
    return " ".join(f"{float(v):.8g}" for v in values)  # type: ignore[union-attr]


def _capsule_shapes(c: Capsule) -> list[tuple]:
    """URDF has no capsule: a cylinder between the end points plus a sphere at each end."""
    a, b = np.asarray(c.start, float), np.asarray(c.end, float)
    shapes: list[tuple] = [("sphere", tuple(a), (0.0, 0.0, 0.0), 0.0)]
    length = float(np.linalg.norm(b - a))
    if length > 1e-9:
        shapes.append(("sphere", tuple(b), (0.0, 0.0, 0.0), 0.0))
        d = (b - a) / length  # cylinder axis is z: rotate z onto d (pitch then yaw)
        pitch = math.acos(max(-1.0, min(1.0, d[2])))
        yaw = math.atan2(d[1], d[0])
        shapes.append(("cylinder", tuple((a + b) / 2), (0.0, pitch, yaw), length))
    return shapes


def _floats(text: str | None, default: Vec3) -> Vec3:
    if not text:
        return default
    vals = tuple(float(v) for v in text.split())
    if len(vals) != 3:
        raise ValueError(f"URDF: expected three numbers, got {text!r}")
    return vals  # type: ignore[return-value]


def from_urdf(text: str, keypoints: dict[str, int], name: str | None = None) -> HandDescription:
    """A description from URDF text (revolute/continuous/fixed joints, mimic tags; meshes ignored).

    Collision capsules come from the URDF's ``cylinder`` and ``sphere`` collision shapes (a
    cylinder along its origin's z axis becomes a capsule of the same radius).
    """
    root_el = ET.fromstring(text)
    if root_el.tag != "robot":
        raise ValueError("urdf: the root element must be <robot>")
    joints: list[Joint] = []
    for el in root_el.findall("joint"):
        jtype = el.get("type", "")
        if jtype not in ("revolute", "continuous", "fixed"):
            raise ValueError(f"urdf: joint {el.get('name')} of type {jtype!r} is not supported")
        origin = el.find("origin")
        axis = el.find("axis")
        limit = el.find("limit")
        mimic = el.find("mimic")
        lower, upper = (-math.pi, math.pi) if jtype == "continuous" else (0.0, 0.0)
        if limit is not None and jtype == "revolute":
            lower, upper = float(limit.get("lower", 0.0)), float(limit.get("upper", 0.0))
        joints.append(Joint(
            name=el.get("name", ""),
            parent=el.find("parent").get("link"),  # type: ignore[union-attr]
            child=el.find("child").get("link"),  # type: ignore[union-attr]
            type="fixed" if jtype == "fixed" else "revolute",
            xyz=_floats(origin.get("xyz") if origin is not None else None, (0.0, 0.0, 0.0)),
            rpy=_floats(origin.get("rpy") if origin is not None else None, (0.0, 0.0, 0.0)),
            axis=_floats(axis.get("xyz") if axis is not None else None, (1.0, 0.0, 0.0)),
            lower=lower, upper=upper,
            mimic=None if mimic is None else (mimic.get("joint", ""), float(mimic.get("multiplier", 1.0)),
                                              float(mimic.get("offset", 0.0))),
        ))
    children = {j.child for j in joints}
    link_names = [el.get("name", "") for el in root_el.findall("link")]
    roots = [n for n in link_names if n not in children]
    if len(roots) != 1:
        raise ValueError(f"urdf: expected one root link, found {roots}")
    joints = _topological(joints, roots[0])
    capsules: list[Capsule] = []
    for el in root_el.findall("link"):
        for col in el.findall("collision"):
            origin = col.find("origin")
            xyz = np.array(_floats(origin.get("xyz") if origin is not None else None, (0.0, 0.0, 0.0)))
            rot = rpy_to_matrix(_floats(origin.get("rpy") if origin is not None else None, (0.0, 0.0, 0.0)))
            geom = col.find("geometry")
            cyl = geom.find("cylinder") if geom is not None else None
            sph = geom.find("sphere") if geom is not None else None
            if cyl is not None:
                half = rot[:, 2] * float(cyl.get("length", 0.0)) / 2
                capsules.append(Capsule(el.get("name", ""), tuple(xyz - half), tuple(xyz + half),
                                        float(cyl.get("radius", 0.0))))
            elif sph is not None:
                capsules.append(Capsule(el.get("name", ""), tuple(xyz), tuple(xyz), float(sph.get("radius", 0.0))))
    return HandDescription(name or root_el.get("name", "robot"), roots[0], joints, capsules,
                           {k: int(v) for k, v in keypoints.items()})


def _topological(joints: list[Joint], root: str) -> list[Joint]:
    """The joints with every parent link placed before its children, keeping the file's order
    where it already is (so the actuated joint order is the URDF's)."""
    seen = {root}
    ordered: list[Joint] = []
    pending = list(joints)
    while pending:
        left: list[Joint] = []
        for j in pending:  # one pass in file order; a joint whose parent is still unknown waits
            if j.parent in seen:
                ordered.append(j)
                seen.add(j.child)
            else:
                left.append(j)
        if len(left) == len(pending):
            raise ValueError("urdf: joints do not form one tree below the root link")
        pending = left
    return ordered
