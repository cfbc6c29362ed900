"""Capsule-capsule distances between fingers, vectorised over frames and pairs.

The closest points of two segments follow Ericson, *Real-Time Collision Detection* (2005), §5.1.9
(clamped closest points of two segments), written with numpy ``where`` so that every frame and
pair runs at once; MuJoCo's ``mj_geomDistance`` does one pair at a time (the tests check the two
agree).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hoi_ros.retarget.kinematics import FKResult, Kinematics

_EPS = 1e-12


def closest_points(p1: np.ndarray, q1: np.ndarray, p2: np.ndarray, q2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest points ``(c1, c2)`` of segments ``p1-q1`` and ``p2-q2`` (arrays ``[..., 3]``)."""
    c1, c2 = _closest_points_c(*(np.moveaxis(np.asarray(v, np.float64), -1, 0) for v in (p1, q1, p2, q2)))
    return np.moveaxis(c1, 0, -1), np.moveaxis(c2, 0, -1)


def _dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]


def _closest_points_c(p1: np.ndarray, q1: np.ndarray, p2: np.ndarray, q2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`closest_points` on component-first arrays ``[3, ...]`` (fast sums over the first axis)."""
    d1, d2 = q1 - p1, q2 - p2
    return _closest_points_dir(p1, d1, p2, d2, _dot(d1, d1), _dot(d2, d2))


def _closest_points_dir(p1: np.ndarray, d1: np.ndarray, p2: np.ndarray, d2: np.ndarray, a: np.ndarray, e: np.ndarray,
                        degenerate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Closest points of segments ``p1 + s d1`` and ``p2 + t d2`` (``s, t`` in [0, 1]; component-first
    arrays) given their squared lengths ``a`` and ``e``; ``degenerate=False`` when no segment is a point."""
    r = p1 - p2
    f, c, b = _dot(d2, r), _dot(d1, r), _dot(d1, d2)
    denom = a * e - b * b
    safe_a, safe_e = np.maximum(a, _EPS), np.maximum(e, _EPS)
    s = np.where(denom > _EPS, np.clip((b * f - c * e) / np.maximum(denom, _EPS), 0.0, 1.0), 0.0)
    t = (b * s + f) / safe_e
    s = np.where(t < 0.0, np.clip(-c / safe_a, 0.0, 1.0), np.where(t > 1.0, np.clip((b - c) / safe_a, 0.0, 1.0), s))
    t = np.clip(t, 0.0, 1.0)
    if not degenerate:
        return p1 + s * d1, p2 + t * d2
    # Degenerate segments (points).
    s = np.where(a <= _EPS, 0.0, s)
    t = np.where(a <= _EPS, np.clip(f / safe_e, 0.0, 1.0), t)
    s = np.where(e <= _EPS, np.clip(-c / safe_a, 0.0, 1.0), s)
    t = np.where(e <= _EPS, 0.0, t)
    s = np.where((a <= _EPS) & (e <= _EPS), 0.0, s)
    return p1 + s * d1, p2 + t * d2


def _planar_slabs(kin: Kinematics, caps: list) -> list[tuple[np.ndarray, float, float] | None]:
    """Per capsule: ``(axis, lo, hi)`` when every joint moving it turns about one fixed world axis.

    If the joints moving a link all have parallel axes at the zero pose, they stay parallel at every
    pose (each rotation maps that axis onto itself) and the link only moves in planes normal to it:
    ``axis . p`` is the same for all poses for each of its points, so the capsule stays in the slab
    ``lo <= axis . p <= hi`` (its two end points at the zero pose). ``None`` otherwise.
    """
    fk = kin.forward(np.zeros(kin.num_joints) if kin.num_joints else np.zeros((1, 0)))
    out: list[tuple[np.ndarray, float, float] | None] = []
    for c in caps:
        link = kin.link_index[c.link]
        joints = np.flatnonzero(kin.ancestors[link])
        axes = fk.axes[0, joints]
        if len(joints) == 0 or np.abs(np.cross(axes, axes[0])).max() > 1e-9:
            out.append(None)
            continue
        ends = fk.rot[0, link] @ np.array([c.start, c.end], dtype=np.float64).T + fk.pos[0, link, :, None]
        proj = axes[0] @ ends
        out.append((axes[0], float(proj.min()), float(proj.max())))
    return out


def _planar_gap(a: tuple[np.ndarray, float, float] | None, b: tuple[np.ndarray, float, float] | None) -> float:
    """A lower bound of the distance between two capsule axes from their slabs (0 if none applies)."""
    if a is None or b is None or np.abs(np.cross(a[0], b[0])).max() > 1e-9:
        return 0.0
    sign = 1.0 if float(a[0] @ b[0]) > 0 else -1.0
    blo, bhi = sorted((sign * b[1], sign * b[2]))
    return max(0.0, blo - a[2], a[1] - bhi)


@dataclass
class CapsulePairs:
    """The finger-finger capsule pairs of a hand (capsules on different fingers, palm excluded)."""

    cap_link: np.ndarray  # [K] link index of each finger capsule
    cap_seg: np.ndarray  # [K, 3, 2] segment end points (columns) in the link frame
    pair_a: np.ndarray  # [C] capsule index
    pair_b: np.ndarray
    radius: np.ndarray  # [C] r_a + r_b

    @classmethod
    def of(cls, kin: Kinematics, reach: float | None = None) -> CapsulePairs:
        """Capsule pairs on different fingers. With ``reach``, pairs that provably never come closer
        than ``reach`` are left out (see :func:`_planar_gap`)."""
        finger = kin.desc.link_finger()
        caps = [c for c in kin.desc.capsules if finger[c.link] >= 0]
        pairs = [(i, j) for i in range(len(caps)) for j in range(i + 1, len(caps))
                 if finger[caps[i].link] != finger[caps[j].link]]
        if reach is not None:
            slabs = _planar_slabs(kin, caps)
            pairs = [(i, j) for i, j in pairs
                     if _planar_gap(slabs[i], slabs[j]) - caps[i].radius - caps[j].radius <= reach]
        return cls(
            np.array([kin.link_index[c.link] for c in caps], dtype=np.int64),
            np.array([np.array([c.start, c.end], dtype=np.float64).T for c in caps]).reshape(-1, 3, 2),
            np.array([i for i, _ in pairs], dtype=np.int64),
            np.array([j for _, j in pairs], dtype=np.int64),
            np.array([caps[i].radius + caps[j].radius for i, j in pairs], dtype=np.float64),
        )

    def __post_init__(self) -> None:
        # Segments are rigid in their link: start point and direction [K, 3, 2] (the position column
        # only for the start), squared lengths per pair.
        start, end = self.cap_seg[..., 0], self.cap_seg[..., 1]
        self._seg_dir = np.stack([start, end - start], axis=-1)
        self._seg_pos = np.array([1.0, 0.0])
        length2 = ((end - start) ** 2).sum(-1)
        self._len2_a, self._len2_b = length2[self.pair_a], length2[self.pair_b]
        self._degenerate = bool(len(length2) and length2.min() <= _EPS)

    def __len__(self) -> int:
        return len(self.radius)

    @property
    def link_a(self) -> np.ndarray:
        return self.cap_link[self.pair_a]

    @property
    def link_b(self) -> np.ndarray:
        return self.cap_link[self.pair_b]

    def distances(self, fk: FKResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Signed surface distances ``[T, C]`` (negative = penetration) and the closest points ``[T, C, 3]``
        on the two segments."""
        # Start point and direction of every capsule axis, component first: [3, 2, T, K].
        seg = fk.rot[:, self.cap_link] @ self._seg_dir + fk.pos[:, self.cap_link, :, None] * self._seg_pos
        seg = np.ascontiguousarray(seg.transpose(2, 3, 0, 1))
        sa, sb = seg[..., self.pair_a], seg[..., self.pair_b]  # [3, 2, T, C]
        ca, cb = _closest_points_dir(sa[:, 0], sa[:, 1], sb[:, 0], sb[:, 1], self._len2_a, self._len2_b,
                                     self._degenerate)
        diff = ca - cb
        dist = np.sqrt(diff[0] * diff[0] + diff[1] * diff[1] + diff[2] * diff[2]) - self.radius
        return dist, ca.transpose(1, 2, 0), cb.transpose(1, 2, 0)
