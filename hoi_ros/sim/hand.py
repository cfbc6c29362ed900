"""A MANO-like hand authored in MJCF (PAM Stage I substitute: GraspXL's MANO hand in RaiSim).

PAM §Stage I drives a MANO hand with GraspXL's RL policy; GraspXL needs RaiSim and a licence, so
hoi_ros simulates its own MANO-like hand in MuJoCo. Palm (box) and five fingers (capsules); the
metacarpal lengths (wrist -> MCP) and the thumb's CMC offset are the medians of the real human
keypoints in ``/work/shared/data/real_hand`` (MediaPipe world landmarks; within 3 %), the phalanges
follow anatomical proportions with each finger's total length within 10 % of the real median (the
landmarks' per-phalanx split is too noisy to copy; ``test/sim/test_hand.py`` checks both). 20
finger joints with anatomical limits (MCP flexion and abduction, PIP, DIP; thumb CMC flexion and
abduction, MCP, IP), each driven by a position actuator, and a 6-DoF wrist: a free joint welded to
a mocap body that the controller moves.

21 keypoint sites follow :data:`hoi_ros.core.hand.HAND_JOINT_NAMES` (wrist, thumb cmc/mcp/ip/tip,
index..little mcp/pip/dip/tip).

Hand frame (right hand): origin at the wrist keypoint, +y towards the fingers, -z out of the palm,
thumb on the -x side. The left hand is the mirror image (x -> -x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hoi_ros.core.hand import HAND_JOINT_NAMES

SIDES = ("right", "left")

# Metacarpal (wrist -> MCP) lengths in metres: medians of the real human keypoints
# (human_joint_right.npz), rounded; phalanges in anatomical proportion; the thumb's CMC sits 4 cm
# from the wrist.
FINGER_LAYOUT: dict[str, dict[str, float]] = {
    # x: MCP position across the palm (thumb side negative); lengths of proximal, middle, distal.
    "index": {"x": -0.024, "meta": 0.097, "l1": 0.040, "l2": 0.024, "l3": 0.022, "r": 0.0095},
    "middle": {"x": -0.004, "meta": 0.095, "l1": 0.043, "l2": 0.027, "l3": 0.023, "r": 0.0095},
    "ring": {"x": 0.015, "meta": 0.091, "l1": 0.039, "l2": 0.026, "l3": 0.022, "r": 0.009},
    "little": {"x": 0.032, "meta": 0.083, "l1": 0.031, "l2": 0.020, "l3": 0.019, "r": 0.008},
}
THUMB_CMC = np.array([-0.024, 0.032, -0.010])
THUMB_LENGTHS = (0.040, 0.034, 0.030)  # CMC->MCP, MCP->IP, IP->tip
THUMB_RADIUS = 0.0105
# The thumb's rest direction (sideways, forward, a little palmar) and the direction it flexes to
# (under the palm, towards the fingers): CMC flexion rotates the first into the second.
THUMB_REST_DIR = np.array([-0.55, 0.78, -0.30])
THUMB_FLEX_DIR = np.array([0.45, 0.12, -0.88])

PALM_HALF = (0.036, 0.046, 0.0125)  # box half-sizes
PALM_CENTER = (0.002, 0.050, 0.0)


@dataclass(frozen=True)
class JointSpec:
    """One finger joint: name (without side prefix), range (rad), actuator gain (N m / rad)."""

    name: str
    lower: float
    upper: float
    kp: float


def finger_joint_specs() -> list[JointSpec]:
    """The 20 actuated finger joints in a fixed order (thumb first, then index..little)."""
    specs = [
        JointSpec("thumb_cmc_flex", -0.3, 1.3, 3.0),
        JointSpec("thumb_cmc_abd", -0.6, 0.6, 3.0),
        JointSpec("thumb_mcp", -0.1, 1.0, 2.0),
        JointSpec("thumb_ip", -0.1, 1.3, 1.5),
    ]
    for finger in ("index", "middle", "ring", "little"):
        specs += [
            JointSpec(f"{finger}_mcp_abd", -0.35, 0.35, 2.0),
            JointSpec(f"{finger}_mcp_flex", -0.3, 1.6, 3.0),
            JointSpec(f"{finger}_pip", 0.0, 1.9, 2.0),
            JointSpec(f"{finger}_dip", 0.0, 1.4, 1.5),
        ]
    return specs


FINGER_JOINTS: tuple[JointSpec, ...] = tuple(finger_joint_specs())
NUM_FINGER_JOINTS = len(FINGER_JOINTS)  # 20


def finger_joint_names(side: str) -> list[str]:
    """Prefixed finger joint names, e.g. ``right_index_pip`` (the JointState names)."""
    check_side(side)
    return [f"{side}_{j.name}" for j in FINGER_JOINTS]


def check_side(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"hand_side: expected 'right' or 'left', got {side!r}")
    return side


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _fmt(v: np.ndarray | tuple[float, ...]) -> str:
    return " ".join(f"{float(x):.6g}" for x in v)


class _Mirror:
    """Positions and rotation axes of the right hand mapped to the requested side."""

    def __init__(self, side: str) -> None:
        self.s = 1.0 if check_side(side) == "right" else -1.0

    def pos(self, p: np.ndarray | tuple[float, ...]) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        return np.array([self.s * p[0], p[1], p[2]])

    def axis(self, a: np.ndarray | tuple[float, ...]) -> np.ndarray:
        # A rotation axis is a pseudovector: under x -> -x it becomes (a0, -a1, -a2).
        a = np.asarray(a, dtype=np.float64)
        return a if self.s > 0 else np.array([a[0], -a[1], -a[2]])


def _spec_by_name() -> dict[str, JointSpec]:
    return {j.name: j for j in FINGER_JOINTS}


def hand_body_xml(side: str, rgba: str = "0.93 0.76 0.65 1") -> str:
    """MJCF ``<body>`` of the hand (free joint at the wrist; the scene adds the mocap weld).

    Geoms use contype 2 / conaffinity 1, so the hand collides with objects and the table but not
    with itself.
    """
    m = _Mirror(side)
    spec = _spec_by_name()
    p = side

    def joint(name: str, axis: np.ndarray) -> str:
        js = spec[name]
        return (
            f'<joint name="{p}_{name}" type="hinge" axis="{_fmt(m.axis(axis))}" '
            f'range="{js.lower} {js.upper}" class="finger"/>'
        )

    def capsule(name: str, a: np.ndarray, b: np.ndarray, r: float) -> str:
        return (
            f'<geom name="{p}_{name}" type="capsule" fromto="{_fmt(m.pos(a))} {_fmt(m.pos(b))}" '
            f'size="{r}" class="hand"/>'
        )

    def site(name: str, pos: np.ndarray) -> str:
        return f'<site name="{p}_kp_{name}" pos="{_fmt(m.pos(pos))}" class="keypoint"/>'

    parts = [f'<body name="{p}_hand" pos="0 0 0.2" gravcomp="1">', f'<freejoint name="{p}_wrist"/>']
    parts.append(
        f'<geom name="{p}_palm" type="box" pos="{_fmt(m.pos(PALM_CENTER))}" size="{_fmt(PALM_HALF)}" '
        f'class="hand"/>'
    )
    parts.append(capsule("heel", (-0.022, 0.012, 0.0), (0.026, 0.012, 0.0), 0.014))
    parts.append(site("wrist", (0.0, 0.0, 0.0)))
    # Thumb: joint axes in the hand frame; CMC flexion turns the rest direction into the flexed one.
    d0, d1 = _unit(THUMB_REST_DIR), _unit(THUMB_FLEX_DIR)
    flex = _unit(np.cross(d0, d1))
    abd = _unit(np.cross(d0, flex))
    l1, l2, l3 = THUMB_LENGTHS
    parts.append(f'<body name="{p}_thumb_cmc" pos="{_fmt(m.pos(THUMB_CMC))}" gravcomp="1">')
    parts += [joint("thumb_cmc_flex", flex), joint("thumb_cmc_abd", abd), site("thumb_cmc", (0, 0, 0))]
    parts.append(capsule("thumb_meta", np.zeros(3), d0 * l1, THUMB_RADIUS))
    parts.append(f'<body name="{p}_thumb_mcp" pos="{_fmt(m.pos(d0 * l1))}" gravcomp="1">')
    parts += [joint("thumb_mcp", flex), site("thumb_mcp", (0, 0, 0))]
    parts.append(capsule("thumb_prox", np.zeros(3), d0 * l2, THUMB_RADIUS * 0.95))
    parts.append(f'<body name="{p}_thumb_ip" pos="{_fmt(m.pos(d0 * l2))}" gravcomp="1">')
    parts += [joint("thumb_ip", flex), site("thumb_ip", (0, 0, 0))]
    parts.append(capsule("thumb_dist", np.zeros(3), d0 * l3, THUMB_RADIUS * 0.9))
    parts.append(site("thumb_tip", d0 * l3))
    parts.append("</body></body></body>")
    # Fingers along +y, flexing towards -z (the palm side).
    flex_axis = np.array([-1.0, 0.0, 0.0])
    abd_axis = np.array([0.0, 0.0, 1.0])
    for finger, lay in FINGER_LAYOUT.items():
        x, r = lay["x"], lay["r"]
        mcp = np.array([x, np.sqrt(lay["meta"] ** 2 - x**2), 0.0])
        parts.append(f'<body name="{p}_{finger}_mcp" pos="{_fmt(m.pos(mcp))}" gravcomp="1">')
        parts += [joint(f"{finger}_mcp_abd", abd_axis), joint(f"{finger}_mcp_flex", flex_axis)]
        parts.append(site(f"{finger}_mcp", (0, 0, 0)))
        for k, (seg, nxt) in enumerate((("l1", "pip"), ("l2", "dip"), ("l3", "tip"))):
            end = np.array([0.0, lay[seg], 0.0])
            parts.append(capsule(f"{finger}_{seg}", np.zeros(3), end, r * (1.0 - 0.06 * k)))
            if nxt == "tip":
                parts.append(site(f"{finger}_tip", end))
            else:
                parts.append(f'<body name="{p}_{finger}_{nxt}" pos="{_fmt(m.pos(end))}" gravcomp="1">')
                parts += [joint(f"{finger}_{nxt}", flex_axis), site(f"{finger}_{nxt}", (0, 0, 0))]
        parts.append("</body></body></body>")
    parts.append("</body>")
    return "\n".join(parts)


def hand_actuators_xml(side: str) -> str:
    """Position actuators (one per finger joint, gain ``kp``) in :data:`FINGER_JOINTS` order."""
    check_side(side)
    lines = []
    for js in FINGER_JOINTS:
        lines.append(
            f'<position name="{side}_act_{js.name}" joint="{side}_{js.name}" kp="{js.kp}" '
            f'ctrlrange="{js.lower} {js.upper}" forcerange="-{2.0 * js.kp} {2.0 * js.kp}"/>'
        )
    return "\n".join(lines)


def hand_defaults_xml() -> str:
    """MJCF default classes used by :func:`hand_body_xml`."""
    return """
<default class="finger"><joint damping="0.05" armature="0.002" limited="true"/></default>
<default class="hand"><geom contype="2" conaffinity="1" condim="4" friction="1.5 0.02 0.002"
  density="1000" rgba="0.93 0.76 0.65 1" solref="0.004 1" solimp="0.95 0.99 0.001"/></default>
<default class="keypoint"><site size="0.004" rgba="1 0 0 1" group="4"/></default>
"""


def keypoint_site_names(side: str) -> list[str]:
    """The 21 keypoint site names in :data:`hoi_ros.core.hand.HAND_JOINT_NAMES` order."""
    check_side(side)
    return [f"{side}_kp_{name}" for name in HAND_JOINT_NAMES]


def open_hand_pose() -> np.ndarray:
    """Finger joint targets of a relaxed open hand (20 values, :data:`FINGER_JOINTS` order)."""
    q = np.zeros(NUM_FINGER_JOINTS)
    names = [j.name for j in FINGER_JOINTS]
    q[names.index("thumb_cmc_flex")] = 0.1
    return q


def finger_limits() -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper limits of the 20 finger joints."""
    return (np.array([j.lower for j in FINGER_JOINTS]), np.array([j.upper for j in FINGER_JOINTS]))
