"""Articulated objects for the sim (ArtHOI's doors, drawers, cabinets, lids and fridges), built
with MuJoCo's model-editing API (:class:`mujoco.MjSpec`), not with XML strings.

Each object has two parts: part 0, the **base** (static, fixed to the world) and part 1, the
**moving part** (door panel, drawer, lid), linked by one joint: revolute (hinge) or prismatic
(slide). Geometry is boxes (:class:`hoi_ros.sim.objects.GeomSpec`), so the same description gives
the MuJoCo bodies, the surface points of the ground truth and the canonical 3D Gaussians of
ArtHOI (its "known geometry at frame 0").

Object frame (the :mod:`hoi_ros.core.articulation` convention): z up, origin on the table at the
base's footprint centre, the front (the side the hand works from) facing -y. At rest (joint state
0) every part's frame is the object frame, so the moving part's geoms are given in the object
frame too and the joint's ``axis``/``origin`` are object-frame values. Each moving part carries a
**knob** (a box on a short stem above its top edge) that the hand grasps from above, the way the
sim's ``grasp_lift`` grasps a box; the knob is part of the moving part.

Scale: tabletop models (a 30 cm door, a 36 cm fridge) sized for the sim's human-sized hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from hoi_ros.core.articulation import Articulation, Joint
from hoi_ros.sim.objects import COLORS, GeomSpec, ObjectSpec, geom_volume, sample_surface_points

PART_BASE = 0
PART_MOVING = 1
KNOB_HALF = (0.024, 0.020, 0.024)  # knob box half-sizes (about the sim's graspable 5.5 cm box)
KNOB_GAP = 0.026  # stem height between the moving part's top edge and the knob's bottom
STEM_HALF_XY = (0.006, 0.006)
SPECKLE_FRACTION = 0.25  # share of texels that are darker speckles
SPECKLE_TEXELS = 24  # texture side (texels per box face)


@dataclass(frozen=True)
class PartSpec:
    """One rigid part: name, colour (a :data:`hoi_ros.sim.objects.COLORS` name), boxes in the
    object frame at rest, and mass (kg)."""

    name: str
    color: str
    geoms: tuple[GeomSpec, ...]
    mass: float

    def as_object(self) -> ObjectSpec:
        """The part as an :class:`ObjectSpec` (for surface sampling)."""
        return ObjectSpec(name=self.name, noun=self.name, role="part", color=self.color, geoms=self.geoms,
                          rest_height=0.0, mass=self.mass)

    @property
    def rgba(self) -> tuple[float, float, float, float]:
        return (*COLORS[self.color], 1.0)


@dataclass(frozen=True)
class ArticulatedSpec:
    """An articulated object: base and moving part, the joint linking them, the knob's centre (the
    grasp point, object frame at rest) and the joint state the ``open`` task reaches."""

    name: str
    noun: str
    base: PartSpec
    moving: PartSpec
    joint_type: str  # "revolute" | "prismatic"
    axis: tuple[float, float, float]
    origin: tuple[float, float, float]
    joint_range: tuple[float, float]  # rad or m
    open_state: float  # rad or m
    knob: tuple[float, float, float]
    damping: float = 0.02  # joint damping (N m s / rad or N s / m)

    @property
    def parts(self) -> tuple[PartSpec, PartSpec]:
        return (self.base, self.moving)

    def joint(self) -> Joint:
        """The core :class:`Joint` (parent: base, child: moving part)."""
        return Joint(f"{self.name}_joint", self.joint_type, PART_BASE, PART_MOVING, self.axis, self.origin)

    def articulation(self, root_poses: np.ndarray, joint_states: np.ndarray,
                     point_parts: np.ndarray | None = None) -> Articulation:
        """The :class:`Articulation` for per-frame root poses ``[T, 4, 4]`` and states ``[T]``."""
        return Articulation.from_root_poses(self.name, (self.base.name, self.moving.name), (self.joint(),),
                                            root_poses, np.asarray(joint_states, dtype=np.float64).reshape(-1, 1),
                                            point_parts)

    def surface_points(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``k`` surface points (object frame at rest) split over the parts by area, and their part."""
        areas = np.array([sum(_box_area(g) for g in p.geoms) for p in self.parts])
        counts = rng.multinomial(k, areas / areas.sum())
        pts = [sample_surface_points(p.as_object(), int(c), rng) for p, c in zip(self.parts, counts)]
        labels = np.concatenate([np.full(int(c), i, dtype=np.int16) for i, c in enumerate(counts)])
        return np.concatenate(pts, axis=0), labels


def _box_area(g: GeomSpec) -> float:
    s = g.size
    return 8.0 * (s[0] * s[1] + s[1] * s[2] + s[0] * s[2])


def _box(center: tuple[float, float, float], half: tuple[float, float, float]) -> GeomSpec:
    return GeomSpec("box", tuple(float(v) for v in half), tuple(float(v) for v in center))


def _knob(x: float, y: float, top: float) -> tuple[tuple[GeomSpec, ...], tuple[float, float, float]]:
    """A stem on the part's top edge at (x, y) and the knob above it; returns geoms and knob centre."""
    stem = _box((x, y, top + KNOB_GAP / 2), (*STEM_HALF_XY, KNOB_GAP / 2 + 0.002))
    zc = top + KNOB_GAP + KNOB_HALF[2]
    return (stem, _box((x, y, zc), KNOB_HALF)), (x, y, zc)


def _shell(width: float, depth: float, height: float, wall: float = 0.008,
           open_front: bool = True, top: bool = True) -> tuple[GeomSpec, ...]:
    """A box shell (bottom, back, two sides, optional top) open at the front (-y)."""
    w, d, h = width / 2, depth / 2, height
    geoms = [
        _box((0.0, 0.0, wall / 2), (w, d, wall / 2)),  # bottom
        _box((0.0, d - wall / 2, h / 2), (w, wall / 2, h / 2)),  # back
        _box((-w + wall / 2, 0.0, h / 2), (wall / 2, d, h / 2)),  # left side
        _box((w - wall / 2, 0.0, h / 2), (wall / 2, d, h / 2)),  # right side
    ]
    if top:
        geoms.append(_box((0.0, 0.0, h - wall / 2), (w, d, wall / 2)))
    if not open_front:
        geoms.append(_box((0.0, -d + wall / 2, h / 2), (w, wall / 2, h / 2)))
    return tuple(geoms)


def _hinged_front(name: str, noun: str, base: tuple[GeomSpec, ...], base_color: str, width: float,
                  height: float, front_y: float, door_color: str, open_deg: float, z0: float = 0.0,
                  door_mass: float = 0.08) -> ArticulatedSpec:
    """A door panel in the plane ``y = front_y`` (thickness 1.2 cm) hinged on its left edge
    (x = -width/2) about a vertical axis; positive angles swing its free edge towards -y."""
    t = 0.006
    y = front_y - t
    panel = _box((0.0, y, z0 + height / 2), (width / 2 - 0.002, t, height / 2))
    knob_geoms, knob = _knob(width / 2 - 0.045, y, z0 + height)
    moving = PartSpec("door", door_color, (panel, *knob_geoms), door_mass)
    return ArticulatedSpec(name, noun, PartSpec("base", base_color, base, 1.0), moving, "revolute",
                           (0.0, 0.0, -1.0), (-width / 2, y, 0.0), (0.0, np.deg2rad(100.0)),
                           float(np.deg2rad(open_deg)), knob)


def make_articulated(name: str) -> ArticulatedSpec:
    """One object of :data:`ARTICULATED_NAMES` (see the module docstring for the frame)."""
    if name == "door":
        # A door in a frame: two posts and a sill; no lintel, so the knob on the panel's top edge is free.
        w, h = 0.26, 0.28
        base = (_box((-w / 2 - 0.012, 0.0, h / 2 + 0.006), (0.012, 0.02, h / 2 + 0.006)),
                _box((w / 2 + 0.012, 0.0, h / 2 + 0.006), (0.012, 0.02, h / 2 + 0.006)),
                _box((0.0, 0.0, 0.004), (w / 2 + 0.024, 0.03, 0.004)))
        return _hinged_front("door", "door", base, "brown", w, h, 0.006, "white", 75.0, z0=0.01)
    if name == "cabinet":
        w, d, h = 0.24, 0.16, 0.20
        return _hinged_front("cabinet", "cabinet", _shell(w, d, h), "gray", w, h, -d / 2, "blue", 80.0)
    if name == "fridge":
        w, d, h = 0.22, 0.18, 0.34
        return _hinged_front("fridge", "fridge", _shell(w, d, h), "white", w, h, -d / 2, "cyan", 70.0)
    if name == "drawer":
        w, d, h = 0.24, 0.18, 0.12
        base = _shell(w, d, h)
        t = 0.006
        iw, ih = w / 2 - 0.012, h - 0.02  # the drawer box inside the shell
        fy = -d / 2 - t  # front plate just in front of the shell
        drawer = (
            _box((0.0, fy, h / 2 + 0.004), (w / 2, t, h / 2 + 0.004)),  # front plate
            _box((0.0, -0.005, 0.014), (iw, d / 2 - 0.012, 0.004)),  # drawer bottom
            _box((-iw + 0.004, -0.005, 0.014 + ih / 2), (0.004, d / 2 - 0.012, ih / 2 - 0.006)),
            _box((iw - 0.004, -0.005, 0.014 + ih / 2), (0.004, d / 2 - 0.012, ih / 2 - 0.006)),
        )
        knob_geoms, knob = _knob(0.0, fy, h + 0.008)
        moving = PartSpec("drawer", "orange", (*drawer, *knob_geoms), 0.10)
        return ArticulatedSpec("drawer", "drawer", PartSpec("base", "brown", base, 1.0), moving, "prismatic",
                               (0.0, -1.0, 0.0), (0.0, fy, h / 2), (0.0, 0.13), 0.10, knob, damping=0.5)
    if name == "lid":
        # A chest without a top; the lid lies on its walls, hinged on the back edge about -x, so
        # positive angles lift the front edge.
        w, d, h = 0.22, 0.16, 0.10
        base = _shell(w, d, h, open_front=False, top=False)
        t = 0.006
        lid = _box((0.0, 0.0, h + t), (w / 2, d / 2, t))
        knob_geoms, knob = _knob(0.0, -d / 2 + 0.035, h + 2 * t)
        moving = PartSpec("lid", "green", (lid, *knob_geoms), 0.08)
        return ArticulatedSpec("lid", "lid", PartSpec("base", "purple", base, 1.0), moving, "revolute",
                               (-1.0, 0.0, 0.0), (0.0, d / 2, h + t), (0.0, np.deg2rad(110.0)),
                               float(np.deg2rad(100.0)), knob)
    raise ValueError(f"object: unknown articulated object {name!r}; known: {', '.join(ARTICULATED_NAMES)}")


ARTICULATED_NAMES: tuple[str, ...] = ("door", "drawer", "cabinet", "lid", "fridge")


def _add_speckled_material(spec: mujoco.MjSpec, name: str, rgb: tuple[float, ...]) -> str:
    """A material of the part's colour with darker random speckles (MuJoCo's builtin ``random``
    mark): surfaces with texture, so optical flow has something to follow (ArtHOI App. D names
    low-texture surfaces as the flow trackers' failure case). Returns the material's name."""
    base = np.asarray(rgb, dtype=np.float64)
    tex = spec.add_texture(name=f"{name}_tex", type=mujoco.mjtTexture.mjTEXTURE_CUBE,
                           builtin=mujoco.mjtBuiltin.mjBUILTIN_FLAT, mark=mujoco.mjtMark.mjMARK_RANDOM,
                           random=SPECKLE_FRACTION, rgb1=base.tolist(), rgb2=base.tolist(),
                           markrgb=(0.45 * base + 0.05).tolist(), width=SPECKLE_TEXELS, height=SPECKLE_TEXELS)
    mat = spec.add_material(name=f"{name}_mat")
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex.name
    return mat.name


def add_to_spec(spec: mujoco.MjSpec, obj: ArticulatedSpec, body_name: str, pos: np.ndarray,
                quat: np.ndarray) -> tuple[str, str, str]:
    """Add ``obj`` to ``spec``'s world body at pose (pos, quat wxyz) with the editing API.

    The base is a body fixed to the world (no joint); the moving part is its child body with the
    object's joint, both with frames at the object frame. Returns the base body, moving body and
    joint names.
    """
    base = spec.worldbody.add_body(name=f"{body_name}_base", pos=np.asarray(pos, float).tolist(),
                                   quat=np.asarray(quat, float).tolist())
    moving = base.add_body(name=f"{body_name}_moving")
    jtype = mujoco.mjtJoint.mjJNT_HINGE if obj.joint_type == "revolute" else mujoco.mjtJoint.mjJNT_SLIDE
    jname = f"{body_name}_joint"
    moving.add_joint(name=jname, type=jtype, axis=list(obj.axis), pos=list(obj.origin), range=list(obj.joint_range),
                     limited=mujoco.mjtLimited.mjLIMITED_TRUE, damping=obj.damping, armature=0.001)
    for body, part in ((base, obj.base), (moving, obj.moving)):
        material = _add_speckled_material(spec, body.name, part.rgba[:3])
        density = part.mass / sum(geom_volume(g) for g in part.geoms)
        for i, g in enumerate(part.geoms):
            body.add_geom(name=f"{body.name}_g{i}", type=mujoco.mjtGeom.mjGEOM_BOX, size=list(g.size),
                          pos=list(g.pos), quat=list(g.quat), material=material, density=density,
                          contype=1, conaffinity=3, condim=4, friction=[1.2, 0.02, 0.002],
                          solref=[0.004, 1.0], solimp=[0.95, 0.99, 0.001, 0.5, 2.0])
    # The base is welded to the world, so MuJoCo's parent filter does not apply: exclude the pair
    # (the joint and its limits keep the parts apart).
    spec.add_exclude(bodyname1=base.name, bodyname2=moving.name)
    return base.name, moving.name, jname
