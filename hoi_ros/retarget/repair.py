"""Last-resort collision repair: move a penetrating pose towards a collision-free one.

The collision term of :mod:`.objective` is a soft penalty, so an iterative solve can end with
fingers still penetrating where the human fingers overlap more than the robot's can. The solvers
first give such frames more iterations; :func:`backoff` is what makes the result collision-free
whatever happens there: on the straight path in joint space from the penetrating pose ``q`` to a
collision-free pose ``q_free`` it finds, by bisection, a point no deeper than the tolerance that is
as close to ``q`` as the bisection resolves (``2^-steps`` of the path). The function along the path
need not be monotone: the bisection keeps its upper end collision-free, so the returned pose is
collision-free by construction (given a collision-free ``q_free``).
"""

from __future__ import annotations

import numpy as np

from hoi_ros.retarget.collision import CapsulePairs
from hoi_ros.retarget.kinematics import Kinematics


def min_distances(kin: Kinematics, pairs: CapsulePairs, q: np.ndarray) -> np.ndarray:
    """Smallest finger-finger capsule distance ``[T]`` of poses ``q [T, n]`` (inf without pairs)."""
    if not len(pairs):
        return np.full(len(q), np.inf)
    return pairs.distances(kin.forward(q))[0].min(axis=1)


def backoff(kin: Kinematics, pairs: CapsulePairs, q: np.ndarray, q_free: np.ndarray, tolerance: float,
            steps: int = 20) -> np.ndarray:
    """Poses ``[T, n]`` on the segments ``q -> q_free`` (both ``[T, n]``), each the point nearest
    ``q`` found by bisection whose penetration is at most ``tolerance``. Frames of ``q`` already
    within the tolerance are returned unchanged. Raises ``ValueError`` if a ``q_free`` penetrates."""
    q, q_free = np.asarray(q, np.float64), np.asarray(q_free, np.float64)
    ok = min_distances(kin, pairs, q) >= -tolerance
    if ok.all():
        return q
    if (min_distances(kin, pairs, q_free[~ok]) < -tolerance).any():
        raise ValueError("backoff: the collision-free reference pose penetrates")
    bad = np.flatnonzero(~ok)
    lo, hi = np.zeros(len(bad)), np.ones(len(bad))  # hi: always collision-free
    a, b = q[bad], q_free[bad]
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        free = min_distances(kin, pairs, a + mid[:, None] * (b - a)) >= -tolerance
        hi = np.where(free, mid, hi)
        lo = np.where(free, lo, mid)
    out = q.copy()
    out[bad] = a + hi[:, None] * (b - a)
    return out


__all__ = ["backoff", "min_distances"]
