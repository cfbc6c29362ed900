"""The canonical point order: index i is the same place on every object, correspondences kept."""

from __future__ import annotations

import math

import pytest
import torch

from hoi_ros.data.point_order import OrderedPoints, layered_azimuth_order, order_point_sets


def _box_points(k: int, seed: int) -> torch.Tensor:
    """``k`` random points on a 4 x 2 x 1 cm box surface (sides and top), in a random order."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(k, 3, generator=g) * torch.tensor([0.04, 0.02, 0.01]) - torch.tensor([0.02, 0.01, 0.0])
    face = torch.randint(0, 3, (k,), generator=g)
    u[face == 0, 0] = torch.where(u[face == 0, 0] > 0, 0.02, -0.02)
    u[face == 1, 1] = torch.where(u[face == 1, 1] > 0, 0.01, -0.01)
    u[face == 2, 2] = 0.01
    return u


def _yaw(points: torch.Tensor, angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    r = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return points @ r.T


def test_order_is_a_permutation_sorted_by_band_then_angle() -> None:
    pts = _box_points(64, 0)
    perm = layered_azimuth_order(pts, layers=4)
    assert sorted(perm.tolist()) == list(range(64))
    ordered = pts[perm].double()
    centre = pts.double().mean(0)
    for band in ordered.split(16):
        angle = torch.atan2(band[:, 1] - centre[1], band[:, 0] - centre[0])
        assert bool((angle[1:] >= angle[:-1]).all())
    bands = ordered[:, 2].reshape(4, 16)
    assert bool((bands[:-1].max(1).values <= bands[1:].min(1).values).all())  # low band first


def test_index_means_the_same_place_on_two_samplings_of_one_object() -> None:
    """Two random samplings of the same box: after ordering, point i of one lies near point i of the
    other (far nearer than in the sampled order), which is what a per-index head can learn."""
    a, b = _box_points(128, 1), _box_points(128, 2)
    raw = (a - b).norm(dim=1).mean()
    pa, pb = a[layered_azimuth_order(a)], b[layered_azimuth_order(b)]
    assert (pa - pb).norm(dim=1).mean() < 0.5 * raw


def test_a_yawed_object_keeps_its_order_shifted_not_scrambled() -> None:
    """The order of a turned object is that of the unturned one with the angles shifted: ordering each
    frame of a turn would scramble correspondences, so the permutation of frame 0 is used for all."""
    pts = _box_points(64, 3)
    traj = torch.stack([_yaw(pts, a) for a in (0.0, 0.3, 0.8)])  # [T, K, 3], same index = same point
    perm = order_point_sets(traj, sets=2)
    ordered = traj[:, perm]
    # Correspondences kept: every frame is the frame-0 cloud rigidly turned.
    for t, a in enumerate((0.0, 0.3, 0.8)):
        assert torch.allclose(ordered[t], _yaw(ordered[0], a), atol=1e-6)
    # Each half is ordered on its own.
    assert set(perm[:32].tolist()) == set(range(32)) and set(perm[32:].tolist()) == set(range(32, 64))


def test_ordered_points_dataset_reorders_points_and_labels_together() -> None:
    obj = torch.stack([_box_points(8, 4)] * 3)
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    (item,) = OrderedPoints([{"obj": obj, "labels": labels, "hand": torch.zeros(3, 21, 3)}], sets=2, layers=2)
    perm = order_point_sets(obj, sets=2, layers=2)
    assert torch.equal(item["obj"], obj[:, perm]) and torch.equal(item["labels"], labels[perm])
    assert not torch.equal(perm, torch.arange(8))


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="points"):
        layered_azimuth_order(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="split"):
        order_point_sets(torch.zeros(2, 5, 3), sets=2)
