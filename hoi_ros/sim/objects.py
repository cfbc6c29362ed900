"""Object library: rigid objects with physical properties, their MJCF and their surface points.

PAM §Stage I takes an object mesh ``m`` and pose ``o_0``; SViMo (§4, TACO) uses tool-action-target
triplets with K = 298 object points split between tool and target. The library holds graspable
objects (box, cylinder, ball, mug, block), two elongated tools as in TACO (spatula, rolling pin)
and two targets (bowl, plate), built from MuJoCo primitives (boxes, cylinders, capsules, spheres);
sizes (a uniform ``scale``), colours, mass and friction are parameters so prompts can name them
("the red mug").

Every object's body frame has z up; ``rest_height`` is the height of the body origin when the
object rests upright on the table (table top at z = 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from hoi_ros.core.geometry import quat_to_matrix

COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.10),
    "green": (0.15, 0.65, 0.20),
    "blue": (0.12, 0.30, 0.85),
    "yellow": (0.95, 0.80, 0.10),
    "orange": (0.95, 0.50, 0.08),
    "purple": (0.55, 0.20, 0.70),
    "white": (0.92, 0.92, 0.90),
    "black": (0.10, 0.10, 0.10),
    "gray": (0.50, 0.50, 0.52),
    "brown": (0.50, 0.32, 0.16),
    "pink": (0.95, 0.50, 0.70),
    "cyan": (0.10, 0.75, 0.80),
}

ROLE_GRASPABLE = "graspable"
ROLE_TOOL = "tool"
ROLE_TARGET = "target"


@dataclass(frozen=True)
class GeomSpec:
    """A primitive in the object's body frame (MuJoCo size semantics; quat is w, x, y, z)."""

    type: str  # box | sphere | cylinder | capsule
    size: tuple[float, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    density_scale: float = 1.0  # relative density (e.g. a steel blade on a wooden handle)

    def scaled(self, s: float) -> GeomSpec:
        return replace(self, size=tuple(v * s for v in self.size), pos=tuple(v * s for v in self.pos))


@dataclass(frozen=True)
class ObjectSpec:
    """One object instance: library name, colour, geometry, mass (kg) and sliding friction."""

    name: str
    noun: str
    role: str
    color: str
    geoms: tuple[GeomSpec, ...]
    rest_height: float
    mass: float
    friction: float = 1.2
    grasp_height: float = 0.0  # height above the body origin where the hand should close
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """Name used in prompts, e.g. ``red mug``."""
        return f"{self.color} {self.noun}"

    @property
    def rgba(self) -> tuple[float, float, float, float]:
        return (*COLORS[self.color], 1.0)


_Q_X90 = (float(np.cos(np.pi / 4)), 0.0, float(np.sin(np.pi / 4)), 0.0)  # capsule/cylinder axis z -> x


def capsule_between(a: tuple[float, float, float], b: tuple[float, float, float], r: float) -> GeomSpec:
    """A capsule of radius ``r`` from point ``a`` to point ``b`` (body frame)."""
    pa, pb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    axis = pb - pa
    half = float(np.linalg.norm(axis)) / 2
    z = axis / (2 * half)
    v = np.cross([0.0, 0.0, 1.0], z)
    if np.linalg.norm(v) < 1e-12:
        quat = (1.0, 0.0, 0.0, 0.0)
    else:
        ang = float(np.arccos(np.clip(z[2], -1, 1)))
        v = v / np.linalg.norm(v) * np.sin(ang / 2)
        quat = (float(np.cos(ang / 2)), float(v[0]), float(v[1]), float(v[2]))
    return GeomSpec("capsule", (r, half), tuple(float(c) for c in (pa + pb) / 2), quat)


# Point near which a hand grasps each object, and the tool's working tip (body frame).
GRASP_POINTS: dict[str, tuple[float, float, float]] = {"spatula": (-0.075, 0.0, 0.022)}
TOOL_TIPS: dict[str, tuple[float, float, float]] = {"spatula": (0.075, 0.0, -0.007), "roller": (0.0, 0.0, -0.022)}


def _library() -> dict[str, dict]:
    """Base geometry of each library object at scale 1 (metres)."""
    lib: dict[str, dict] = {}
    lib["box"] = dict(noun="box", role=ROLE_GRASPABLE, color="red", mass=0.12, rest=0.0275,
                      geoms=(GeomSpec("box", (0.0275, 0.0275, 0.0275)),))
    lib["block"] = dict(noun="block", role=ROLE_GRASPABLE, color="yellow", mass=0.10, rest=0.025,
                        geoms=(GeomSpec("box", (0.022, 0.045, 0.025)),))
    lib["cylinder"] = dict(noun="can", role=ROLE_GRASPABLE, color="blue", mass=0.15, rest=0.055,
                           geoms=(GeomSpec("cylinder", (0.030, 0.055)),))
    lib["ball"] = dict(noun="ball", role=ROLE_GRASPABLE, color="green", mass=0.08, rest=0.034,
                       geoms=(GeomSpec("sphere", (0.034,)),))
    # Mug: a solid cup body and a handle of three capsules on its +x side.
    h = 0.046
    lib["mug"] = dict(noun="mug", role=ROLE_GRASPABLE, color="white", mass=0.16, rest=h, geoms=(
        GeomSpec("cylinder", (0.036, h)),
        GeomSpec("capsule", (0.006, 0.012), (0.046, 0.0, 0.025), _Q_X90),
        GeomSpec("capsule", (0.006, 0.012), (0.046, 0.0, -0.020), _Q_X90),
        GeomSpec("capsule", (0.006, 0.0225), (0.058, 0.0, 0.0025)),
    ))
    # Spatula (TACO-like tool): a flat steel blade at +x (10x the handle's density, so the
    # spatula rests on its blade) and a handle angled up by ~12 degrees, so its far end stands
    # 4 cm above the table and a hand can close around it.
    r = 0.011
    lib["spatula"] = dict(noun="spatula", role=ROLE_TOOL, color="orange", mass=0.09, rest=r, geoms=(
        capsule_between((-0.13, 0.0, 0.034), (0.03, 0.0, 0.0), r),
        GeomSpec("box", (0.035, 0.030, 0.004), (0.07, 0.0, -r + 0.004), density_scale=10.0),
    ))
    # Rolling pin (TACO-like tool): a cylinder along x with two capsule handles.
    lib["roller"] = dict(noun="rolling pin", role=ROLE_TOOL, color="brown", mass=0.14, rest=0.022, geoms=(
        GeomSpec("cylinder", (0.022, 0.085), quat=_Q_X90),
        GeomSpec("capsule", (0.011, 0.03), (0.115, 0.0, 0.0), _Q_X90),
        GeomSpec("capsule", (0.011, 0.03), (-0.115, 0.0, 0.0), _Q_X90),
    ))
    # Bowl (target): a flat base and a ring of wall segments; origin at the bottom centre.
    walls = []
    n = 14
    for k in range(n):
        a = 2 * np.pi * k / n
        q = (float(np.cos(a / 2)), 0.0, 0.0, float(np.sin(a / 2)))
        walls.append(GeomSpec("box", (0.005, 0.018, 0.022), (0.072 * np.cos(a), 0.072 * np.sin(a), 0.026), q))
    lib["bowl"] = dict(noun="bowl", role=ROLE_TARGET, color="cyan", mass=0.4, rest=0.0,
                       geoms=(GeomSpec("cylinder", (0.07, 0.005), (0.0, 0.0, 0.005)), *walls))
    lib["plate"] = dict(noun="plate", role=ROLE_TARGET, color="white", mass=0.35, rest=0.006,
                        geoms=(GeomSpec("cylinder", (0.095, 0.006)),))
    return lib


LIBRARY: dict[str, dict] = _library()
OBJECT_NAMES: tuple[str, ...] = tuple(LIBRARY)


def make_object(name: str, color: str | None = None, scale: float = 1.0, mass: float | None = None,
                friction: float = 1.2) -> ObjectSpec:
    """An object of the library, optionally recoloured, uniformly scaled, re-weighed."""
    if name not in LIBRARY:
        raise ValueError(f"object: unknown object {name!r}; known: {', '.join(OBJECT_NAMES)}")
    base = LIBRARY[name]
    color = base["color"] if color in (None, "") else color
    if color not in COLORS:
        raise ValueError(f"color: unknown colour {color!r}; known: {', '.join(COLORS)}")
    if not np.isfinite(scale) or not 0.5 <= scale <= 1.6:
        raise ValueError(f"scale: must be within [0.5, 1.6], got {scale}")
    m = base["mass"] * scale**3 if mass is None else float(mass)
    if not np.isfinite(m) or m <= 0:
        raise ValueError(f"mass: must be positive, got {m}")
    if not np.isfinite(friction) or friction <= 0:
        raise ValueError(f"friction: must be positive, got {friction}")
    return ObjectSpec(
        name=name, noun=base["noun"], role=base["role"], color=color,
        geoms=tuple(g.scaled(scale) for g in base["geoms"]), rest_height=base["rest"] * scale,
        mass=m, friction=float(friction),
    )


def parse_object(text: str) -> ObjectSpec:
    """An object from a phrase such as ``"red mug"``, ``"mug"`` or ``"the blue rolling pin"``."""
    words = [w for w in str(text).strip().lower().replace("_", " ").split() if w not in ("the", "a", "an")]
    if not words:
        raise ValueError("object: empty object name")
    color = words[0] if words[0] in COLORS else None
    rest = " ".join(words[1:] if color else words)
    nouns = {v["noun"]: k for k, v in LIBRARY.items()}
    name = rest if rest in LIBRARY else nouns.get(rest)
    if name is None:
        raise ValueError(f"object: unknown object {text!r}; known: {', '.join(OBJECT_NAMES)}")
    return make_object(name, color)


# --------------------------------------------------------------------------- geometry helpers
def geom_volume(g: GeomSpec) -> float:
    s = g.size
    if g.type == "box":
        return 8.0 * s[0] * s[1] * s[2]
    if g.type == "sphere":
        return 4.0 / 3.0 * np.pi * s[0] ** 3
    if g.type == "cylinder":
        return np.pi * s[0] ** 2 * 2 * s[1]
    if g.type == "capsule":
        return np.pi * s[0] ** 2 * 2 * s[1] + 4.0 / 3.0 * np.pi * s[0] ** 3
    raise ValueError(f"geom.type: unknown primitive {g.type!r}")


def geom_area(g: GeomSpec) -> float:
    s = g.size
    if g.type == "box":
        return 8.0 * (s[0] * s[1] + s[1] * s[2] + s[0] * s[2])
    if g.type == "sphere":
        return 4.0 * np.pi * s[0] ** 2
    if g.type == "cylinder":
        return 2 * np.pi * s[0] * 2 * s[1] + 2 * np.pi * s[0] ** 2
    if g.type == "capsule":
        return 2 * np.pi * s[0] * 2 * s[1] + 4 * np.pi * s[0] ** 2
    raise ValueError(f"geom.type: unknown primitive {g.type!r}")


def _unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _sample_geom(g: GeomSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniformly on the surface of one primitive, in its own frame."""
    s = g.size
    if g.type == "sphere":
        return _unit_vectors(rng, n) * s[0]
    if g.type == "box":
        hx, hy, hz = s
        areas = np.array([hy * hz, hx * hz, hx * hy])
        axis = rng.choice(3, size=n, p=areas / areas.sum())
        pts = rng.uniform(-1, 1, size=(n, 3)) * np.array(s)
        sign = rng.choice([-1.0, 1.0], size=n)
        pts[np.arange(n), axis] = sign * np.array(s)[axis]
        return pts
    r, h = s[0], s[1]
    side_area = 2 * np.pi * r * 2 * h
    end_area = 2 * np.pi * r**2 if g.type == "cylinder" else 4 * np.pi * r**2
    on_side = rng.uniform(size=n) < side_area / (side_area + end_area)
    pts = np.empty((n, 3))
    ang = rng.uniform(0, 2 * np.pi, size=n)
    ns = int(on_side.sum())
    pts[on_side] = np.stack([r * np.cos(ang[on_side]), r * np.sin(ang[on_side]), rng.uniform(-h, h, ns)], -1)
    ne = n - ns
    sign = rng.choice([-1.0, 1.0], size=ne)
    if g.type == "cylinder":
        rad = r * np.sqrt(rng.uniform(size=ne))
        pts[~on_side] = np.stack([rad * np.cos(ang[~on_side]), rad * np.sin(ang[~on_side]), sign * h], -1)
    else:
        d = _unit_vectors(rng, ne)
        d[:, 2] = np.abs(d[:, 2]) * sign
        pts[~on_side] = d * r + np.stack([np.zeros(ne), np.zeros(ne), sign * h], -1)
    return pts


def sample_surface_points(obj: ObjectSpec, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` points on the object's surface (area-weighted over its primitives), body frame [k, 3]."""
    if k < 0:
        raise ValueError(f"num_object_points: must be >= 0, got {k}")
    areas = np.array([geom_area(g) for g in obj.geoms])
    counts = rng.multinomial(k, areas / areas.sum())
    out = []
    for g, c in zip(obj.geoms, counts):
        if c:
            out.append(_sample_geom(g, int(c), rng) @ quat_to_matrix(g.quat).T + np.asarray(g.pos))
    return np.concatenate(out, axis=0) if out else np.zeros((0, 3))


def object_body_xml(obj: ObjectSpec, body_name: str, pos: np.ndarray, quat: np.ndarray) -> str:
    """MJCF ``<body>`` with a free joint; geom density chosen so the total mass is ``obj.mass``."""
    density = obj.mass / sum(geom_volume(g) * g.density_scale for g in obj.geoms)
    rgba = " ".join(f"{v:.3g}" for v in obj.rgba)
    lines = [
        f'<body name="{body_name}" pos="{" ".join(f"{v:.6g}" for v in pos)}" '
        f'quat="{" ".join(f"{v:.6g}" for v in quat)}">',
        f'<freejoint name="{body_name}_free"/>',
    ]
    for i, g in enumerate(obj.geoms):
        lines.append(
            f'<geom name="{body_name}_g{i}" type="{g.type}" size="{" ".join(f"{v:.6g}" for v in g.size)}" '
            f'pos="{" ".join(f"{v:.6g}" for v in g.pos)}" quat="{" ".join(f"{v:.6g}" for v in g.quat)}" '
            f'rgba="{rgba}" density="{density * g.density_scale:.10g}" '
            f'friction="{obj.friction} 0.02 0.002" class="object"/>'
        )
    lines.append("</body>")
    return "\n".join(lines)
