"""A canonical order for an object's surface points, so that index i means the same place on every object.

A sim episode samples its K surface points at random, so point i is a different place in every
episode. A model that reads and writes the K points through one token per frame (SViMo's VID: a
linear head of K·3 outputs) can then only learn each index's average, the object's centre: the
cloud collapses to a blob, and a turn about the vertical axis (the ``rotate`` task) is invisible.

:func:`layered_azimuth_order` sorts the points of frame 0 into ``layers`` equal-count height bands,
and each band by azimuth about the set's centre, so index i is "height band b, angle θ" on every
object; a yaw of the object then shifts every index's angle by the same amount. The same
permutation is applied to every frame, so the per-point trajectories (correspondences) are kept.
Point sets (SViMo's tool/target halves, App. B.2) are ordered separately.

Not in the paper: SViMo §4 samples K = 298 points without saying in which order. Chamfer distance
and every other order-free metric are unchanged by it. So is SViMo's own object loss (Eq. 13, two
Chamfer terms): on its own the order gives the model nothing to learn, and measured alone it changed
neither VID's object loss nor where generated points go (docs/benchmarks.md, "Object points that keep
their place"). It is meant with the per-index term ``train.w_obj_points`` (``hoi_ros.svimo.losses``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

POINT_ORDERS = ("source", "layered_azimuth")


def layered_azimuth_order(points: torch.Tensor, layers: int = 4) -> torch.Tensor:
    """The permutation [K] that sorts ``points [K, 3]`` by height band (low → high), then azimuth
    about their centre (−π → π). ``layers`` is clamped to [1, K]."""
    if points.ndim != 2 or points.shape[-1] != 3:
        raise ValueError(f"points: expected [K, 3], got {tuple(points.shape)}")
    k = points.shape[0]
    layers = max(1, min(int(layers), k))
    p = points.double()
    by_height = torch.argsort(p[:, 2], stable=True)
    centre = p.mean(dim=0)
    order = []
    for band in torch.tensor_split(by_height, layers):
        d = p[band] - centre
        angle = torch.atan2(d[:, 1], d[:, 0])
        order.append(band[torch.argsort(angle, stable=True)])
    return torch.cat(order)


def order_point_sets(obj: torch.Tensor, sets: int = 2, layers: int = 4) -> torch.Tensor:
    """The permutation [K] of an object trajectory ``obj [T, K, 3]`` that orders each of ``sets``
    consecutive index blocks (SViMo's tool/target halves) by :func:`layered_azimuth_order` of frame 0."""
    k = obj.shape[1]
    if k % sets:
        raise ValueError(f"obj: K = {k} points do not split into {sets} sets")
    size = k // sets
    return torch.cat([s * size + layered_azimuth_order(obj[0, s * size:(s + 1) * size], layers)
                      for s in range(sets)])


class OrderedPoints(Dataset):
    """Reorders every sample's object points (``obj [T, K, 3]`` and ``labels [K]``) by :func:`order_point_sets`."""

    def __init__(self, inner: Dataset, sets: int = 2, layers: int = 4) -> None:
        self.inner, self.sets, self.layers = inner, int(sets), int(layers)

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        sample = dict(self.inner[i])
        perm = order_point_sets(sample["obj"], self.sets, self.layers)
        sample["obj"] = sample["obj"][:, perm]
        sample["labels"] = sample["labels"][perm]
        return sample
