"""Built-in robot hands, authored here from public kinematic facts, and the robot registry.

Nothing is downloaded: each hand is written as a :class:`HandDescription` from published link
lengths and joint limits (values below, with the source named), in the frame convention of
:mod:`hoi_ros.retarget.description`. Where a fact is not published (exact palm offsets, thumb
mounting angles, capsule radii) the value is our own choice and marked "ours".

- ``allegro``: an Allegro-Hand-v4-like right hand, 16 DoF, four fingers. Public facts used (Wonik
  Robotics Allegro Hand v4 right-hand description as shipped in ``allegro_hand_description``):
  finger spacing 43.5 mm; finger link lengths 16.4 / 54.0 / 38.4 / 26.7 mm; thumb link lengths
  17.7 / 51.4 / 42.3 mm; limits joint 0 [-0.47, 0.47], joint 1 [-0.196, 1.61], joint 2
  [-0.174, 1.709], joint 3 [-0.227, 1.618]; thumb [0.263, 1.396], [-0.105, 1.163],
  [-0.189, 1.644], [-0.162, 1.719] rad. Ours: 95 mm wrist-to-finger-base, 15.7 mm fingertip cap,
  thumb base position and mounting yaw, 14 mm finger radius.
- ``inspire``: an Inspire-RH56-like right hand, five fingers, 6 actuated joints and 6 coupled
  ones (12 joints, as the real hand's linkages). Public facts used (Inspire Robots RH56 series
  datasheet and its public URDF): 6 actuators; finger flexion 0..1.47 rad with the
  intermediate joint coupled 1.06399 x proximal - 0.04545; thumb yaw -0.1..1.3 rad, thumb
  pitch 0..0.5 rad with intermediate 1.6 x and distal 2.4 x pitch; hand length about 185 mm.
  Ours: palm offsets, finger segment split (32 + 46 mm), thumb mounting, 8 mm finger radius.

Users register their own hand with a YAML file (see :func:`load_robot_yaml`)::

    name: my_hand
    urdf: my_hand.urdf          # relative to the YAML file, or absolute
    keypoints: {palm: 0, thumb_tip: 4, index_tip: 8, ...}   # robot link -> human index
    side: right                 # optional: the hand it is (right, the default, or left)

``allegro_left`` and ``inspire_left`` are the mirror images of the two
(:meth:`HandDescription.mirrored`), for a left human hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from hoi_ros.retarget.description import Capsule, HandDescription, Joint, from_urdf

_FLEX = (0.0, 1.0, 0.0)  # flexion axis: positive bends towards the palm (-z)


def allegro_right() -> HandDescription:
    """The Allegro-like 16-DoF right hand (see the module docstring for the facts used)."""
    joints: list[Joint] = []
    caps: list[Capsule] = [
        Capsule("palm", (0.015, y, 0.0), (0.085, y, 0.0), 0.018) for y in (0.03, 0.0, -0.03)
    ]
    kp: dict[str, int] = {"palm": 0}
    r = 0.014
    fingers = (("index", 0.0435, 5), ("middle", 0.0, 9), ("ring", -0.0435, 13))
    limits = ((-0.47, 0.47), (-0.196, 1.61), (-0.174, 1.709), (-0.227, 1.618))
    for k, (name, y, h) in enumerate(fingers):
        base = 4 * k
        links = [f"{name}_base", f"{name}_proximal", f"{name}_medial", f"{name}_distal"]
        offsets = ((0.095, y, 0.0), (0.0164, 0.0, 0.0), (0.054, 0.0, 0.0), (0.0384, 0.0, 0.0))
        parent = "palm"
        for i in range(4):
            joints.append(Joint(f"joint_{base + i}", parent, links[i], xyz=offsets[i],
                                axis=(0.0, 0.0, 1.0) if i == 0 else _FLEX,
                                lower=limits[i][0], upper=limits[i][1]))
            parent = links[i]
        joints.append(Joint(f"{name}_tip_joint", links[3], f"{name}_tip", type="fixed", xyz=(0.0424, 0.0, 0.0)))
        caps += [Capsule(links[1], (0.0, 0.0, 0.0), (0.054, 0.0, 0.0), r),
                 Capsule(links[2], (0.0, 0.0, 0.0), (0.0384, 0.0, 0.0), r),
                 Capsule(links[3], (0.0, 0.0, 0.0), (0.0424 - r, 0.0, 0.0), r)]
        kp.update({links[1]: h, links[2]: h + 1, links[3]: h + 2, f"{name}_tip": h + 3})
    # Thumb: joint 12 turns the thumb about the palm's long axis (into opposition), 13 swings it
    # towards the fingers, 14 and 15 flex it.
    joints += [
        Joint("joint_12", "palm", "thumb_base", xyz=(0.045, 0.03, -0.015), axis=(-1.0, 0.0, 0.0),
              lower=0.263, upper=1.396),
        Joint("joint_13", "thumb_base", "thumb_proximal", xyz=(0.005, 0.04, 0.0), rpy=(0.0, 0.0, 0.6),
              axis=(0.0, 0.0, -1.0), lower=-0.105, upper=1.163),
        Joint("joint_14", "thumb_proximal", "thumb_medial", xyz=(0.0177, 0.0, 0.0), axis=_FLEX,
              lower=-0.189, upper=1.644),
        Joint("joint_15", "thumb_medial", "thumb_distal", xyz=(0.0514, 0.0, 0.0), axis=_FLEX,
              lower=-0.162, upper=1.719),
        Joint("thumb_tip_joint", "thumb_distal", "thumb_tip", type="fixed", xyz=(0.0423, 0.0, 0.0)),
    ]
    caps += [Capsule("thumb_medial", (0.0, 0.0, 0.0), (0.0514, 0.0, 0.0), r),
             Capsule("thumb_distal", (0.0, 0.0, 0.0), (0.0423 - r, 0.0, 0.0), r)]
    kp.update({"thumb_medial": 2, "thumb_distal": 3, "thumb_tip": 4})
    return HandDescription("allegro", "palm", joints, caps, kp,
                           notes="Allegro-Hand-v4-like right hand, 16 DoF (hoi_ros.retarget.robots)")


def inspire_right() -> HandDescription:
    """The Inspire-like five-finger right hand with coupled joints (6 actuated, 12 joints)."""
    joints: list[Joint] = []
    caps: list[Capsule] = [
        Capsule("palm", (0.015, y, 0.0), (0.092, y, 0.0), 0.016) for y in (0.022, 0.0, -0.022)
    ]
    kp: dict[str, int] = {"palm": 0}
    r = 0.008
    fingers = (("index", 0.032, 0.105, 0.032, 0.046, 5), ("middle", 0.011, 0.108, 0.032, 0.048, 9),
               ("ring", -0.010, 0.105, 0.032, 0.046, 13), ("little", -0.031, 0.100, 0.028, 0.040, 17))
    mul, off = 1.06399, -0.04545
    for name, y, x0, l1, l2, h in fingers:
        prox, inter = f"{name}_proximal", f"{name}_intermediate"
        joints += [
            Joint(f"{name}_proximal_joint", "palm", prox, xyz=(x0, y, 0.0), axis=_FLEX, lower=0.0, upper=1.47),
            Joint(f"{name}_intermediate_joint", prox, inter, xyz=(l1, 0.0, 0.0), axis=_FLEX,
                  lower=off, upper=1.47 * mul + off, mimic=(f"{name}_proximal_joint", mul, off)),
            Joint(f"{name}_dip_joint", inter, f"{name}_dip", type="fixed", xyz=(0.45 * l2, 0.0, 0.0)),
            Joint(f"{name}_tip_joint", inter, f"{name}_tip", type="fixed", xyz=(l2, 0.0, 0.0)),
        ]
        caps += [Capsule(prox, (0.0, 0.0, 0.0), (l1, 0.0, 0.0), r),
                 Capsule(inter, (0.0, 0.0, 0.0), (l2 - r, 0.0, 0.0), r)]
        kp.update({prox: h, inter: h + 1, f"{name}_dip": h + 2, f"{name}_tip": h + 3})
    joints += [
        Joint("thumb_proximal_yaw_joint", "palm", "thumb_base", xyz=(0.04, 0.025, -0.012),
              axis=(-1.0, 0.0, 0.0), lower=-0.1, upper=1.3),
        Joint("thumb_proximal_pitch_joint", "thumb_base", "thumb_proximal", xyz=(0.01, 0.018, 0.0),
              rpy=(0.0, 0.0, 0.9), axis=_FLEX, lower=0.0, upper=0.5),
        Joint("thumb_intermediate_joint", "thumb_proximal", "thumb_intermediate", xyz=(0.045, 0.0, 0.0),
              axis=_FLEX, lower=0.0, upper=0.8, mimic=("thumb_proximal_pitch_joint", 1.6, 0.0)),
        Joint("thumb_distal_joint", "thumb_intermediate", "thumb_distal", xyz=(0.025, 0.0, 0.0),
              axis=_FLEX, lower=0.0, upper=1.2, mimic=("thumb_proximal_pitch_joint", 2.4, 0.0)),
        Joint("thumb_tip_joint", "thumb_distal", "thumb_tip", type="fixed", xyz=(0.028, 0.0, 0.0)),
    ]
    caps += [Capsule("thumb_proximal", (0.0, 0.0, 0.0), (0.045, 0.0, 0.0), 0.009),
             Capsule("thumb_intermediate", (0.0, 0.0, 0.0), (0.025, 0.0, 0.0), r),
             Capsule("thumb_distal", (0.0, 0.0, 0.0), (0.028 - r, 0.0, 0.0), r)]
    kp.update({"thumb_proximal": 2, "thumb_distal": 3, "thumb_tip": 4})
    return HandDescription("inspire", "palm", joints, caps, kp,
                           notes="Inspire-RH56-like right hand, 6 actuated / 12 joints (hoi_ros.retarget.robots)")


def allegro_left() -> HandDescription:
    """The left Allegro-like hand: the mirror image of :func:`allegro_right` (same joints and limits)."""
    return allegro_right().mirrored("allegro_left")


def inspire_left() -> HandDescription:
    """The left Inspire-like hand: the mirror image of :func:`inspire_right`."""
    return inspire_right().mirrored("inspire_left")


BUILTIN = {"allegro": allegro_right, "inspire": inspire_right, "allegro_left": allegro_left,
           "inspire_left": inspire_left}
_REGISTERED: dict[str, HandDescription] = {}


def load_robot_yaml(path: str | os.PathLike) -> HandDescription:
    """A user robot from YAML: ``name``, ``urdf`` (path, relative to the YAML), ``keypoints``."""
    path = Path(path)
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with name, urdf, keypoints")
    for key in ("name", "urdf", "keypoints"):
        if key not in data:
            raise ValueError(f"{path}: missing field {key!r}")
    if not isinstance(data["keypoints"], dict) or not data["keypoints"]:
        raise ValueError(f"{path}: keypoints must map robot link names to human keypoint indices")
    urdf = Path(data["urdf"])
    if not urdf.is_absolute():
        urdf = path.parent / urdf
    if not urdf.exists():
        raise ValueError(f"{path}: urdf {urdf} does not exist")
    desc = from_urdf(urdf.read_text(), data["keypoints"], name=str(data["name"]))
    side = data.get("side", "right")
    if side not in ("right", "left"):
        raise ValueError(f"{path}: side must be 'right' or 'left', got {side!r}")
    desc.side = side
    return desc


def register_robot(desc: HandDescription) -> None:
    """Make ``desc`` available to :func:`get_robot` (and the node) under ``desc.name``."""
    _REGISTERED[desc.name] = desc


def get_robot(name_or_path: str) -> HandDescription:
    """A built-in (``allegro``, ``inspire``), registered, or YAML-described (path) robot hand."""
    if name_or_path in _REGISTERED:
        return _REGISTERED[name_or_path]
    if name_or_path in BUILTIN:
        return BUILTIN[name_or_path]()
    if name_or_path.endswith((".yaml", ".yml")):
        return load_robot_yaml(name_or_path)
    raise ValueError(f"robot: unknown robot {name_or_path!r}; built-in: {sorted(BUILTIN)}, "
                     f"registered: {sorted(_REGISTERED)}, or a YAML file path")


def write_robot_files(desc: HandDescription, folder: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``<name>.urdf`` and ``<name>.xml`` (MJCF) into ``folder``; returns both paths."""
    from hoi_ros.core.io import write_bytes_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    urdf = write_bytes_atomic(folder / f"{desc.name}.urdf", desc.to_urdf().encode())
    mjcf = write_bytes_atomic(folder / f"{desc.name}.xml", desc.to_mjcf().encode())
    return urdf, mjcf


__all__ = [
    "BUILTIN",
    "allegro_left",
    "allegro_right",
    "get_robot",
    "inspire_left",
    "inspire_right",
    "load_robot_yaml",
    "register_robot",
    "write_robot_files",
]

