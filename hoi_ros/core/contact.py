"""A held object turns with the hand that holds it: an optional refinement of generated 3D motion.

Not in SViMo. The VID (§3.4) generates the hand joints and the object points side by side, and a small
model can get one right and not the other: on the embedded default's validation rotate episodes the
generated hand turns with the true object (correlation 0.97) while the generated object points barely
turn (docs/benchmarks.md, "The object turns with the hand"). A rigid object in a firm grasp turns as
the palm does, so :func:`follow_hand` gives each object part, at every step where a hand touches it,
the rotation of that hand's palm over the step, about the part's centre; the part's centre keeps the
generated path, and steps without contact keep the generated motion of every point.

Per step k → k+1 and per object part P (points sharing a label), with the refined points o′ (o′₀ = o₀):

- contact: ``min ‖h_k[j] − o′_k[p]‖ < contact_distance`` over the joints j of a hand and the points p of
  P (the closest hand when there are two);
- in contact: ``o′_{k+1}[P] = R_k (o′_k[P] − c′_k) + c′_k + (c_{k+1} − c_k)``, where R_k is the least-squares
  rotation (Kabsch, :meth:`scipy.spatial.transform.Rotation.align_vectors`) taking the palm joints
  (:data:`PALM_JOINTS`: wrist and the four finger MCPs, rigid in a real hand) of frame k to those of
  frame k + 1, c′ the refined centre and c the generated one;
- otherwise: ``o′_{k+1}[P] = o′_k[P] + (o_{k+1}[P] − o_k[P])``, the generated step.

numpy and scipy only (layer 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hoi_ros.core.hand import JOINTS_PER_HAND, num_hands_for

# Wrist and the index, middle, ring and little MCPs (the 21-joint order of hoi_ros.core.hand): the
# joints whose relative positions finger motion does not change.
PALM_JOINTS: tuple[int, ...] = (0, 5, 9, 13, 17)


def palm_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 3×3 least-squares rotation taking the centred palm joints ``a`` ``[J, 3]`` (one hand, 21
    joints) to those of ``b``."""
    from scipy.spatial.transform import Rotation

    palm = list(PALM_JOINTS)
    pa = a[palm] - a[palm].mean(0)
    pb = b[palm] - b[palm].mean(0)
    rot, _ = Rotation.align_vectors(pb, pa)
    return rot.as_matrix()


def follow_hand(hand: Any, obj: Any, labels: Any | None = None, contact_distance: float = 0.03) -> np.ndarray:
    """Object points ``[T, K, 3]`` whose parts turn with the hand touching them (module docstring).

    ``hand``: joints ``[T, 21·H, 3]`` (H = 1 or 2); ``obj``: points ``[T, K, 3]``; ``labels``: ``[K]``
    part of each point (None: one part); ``contact_distance`` in the input's unit (metres in hoi_ros).
    """
    h = np.asarray(hand, dtype=np.float64)
    o = np.asarray(obj, dtype=np.float64)
    if h.ndim != 3 or h.shape[-1] != 3 or o.ndim != 3 or o.shape[-1] != 3 or h.shape[0] != o.shape[0]:
        raise ValueError(f"follow_hand: expected hand [T, J, 3] and obj [T, K, 3], got {h.shape} and {o.shape}")
    hands = num_hands_for(h.shape[1])
    if not float(contact_distance) > 0:
        raise ValueError(f"follow_hand: contact_distance must be positive, got {contact_distance}")
    lab = np.zeros(o.shape[1], dtype=np.int64) if labels is None else np.asarray(labels).reshape(-1)
    if lab.shape[0] != o.shape[1]:
        raise ValueError(f"follow_hand: {lab.shape[0]} labels for {o.shape[1]} points")
    out = o.copy()
    parts = [lab == v for v in np.unique(lab)]
    for k in range(o.shape[0] - 1):
        for part in parts:
            step = o[k + 1, part] - o[k, part]
            cur = out[k, part]
            dist = [np.linalg.norm(h[k, s * JOINTS_PER_HAND:(s + 1) * JOINTS_PER_HAND, None] - cur[None], axis=-1).min()
                    for s in range(hands)]
            s = int(np.argmin(dist))
            if dist[s] >= contact_distance:
                out[k + 1, part] = cur + step
                continue
            sl = slice(s * JOINTS_PER_HAND, (s + 1) * JOINTS_PER_HAND)
            rot = palm_rotation(h[k, sl], h[k + 1, sl])
            centre = cur.mean(0)
            out[k + 1, part] = (cur - centre) @ rot.T + centre + step.mean(0)
    return out
