"""The rotate diagnosis: a permuted copy of the true cloud has the object's shape and surface but
no index correspondence; a turned copy in the prompt's sense agrees."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hoi_ros.svimo.experiments.evaluate import EvalItem, turned_object
from hoi_ros.svimo.experiments.rotate_points import in_point_order, point_diagnostics, summarize


def _turned(points: torch.Tensor, angles: list[float]) -> torch.Tensor:
    out = []
    for a in angles:
        c, s = np.cos(a), np.sin(a)
        out.append(points @ torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float32).T)
    return torch.stack(out)


def _item(obj: torch.Tensor, prompt: str) -> EvalItem:
    return EvalItem(0, prompt, "rotate", torch.zeros(3, 4, 6, 3, dtype=torch.uint8), torch.zeros(3, 21, 3), obj, None)


def test_a_permuted_still_cloud_has_the_shape_but_no_index_and_no_turn() -> None:
    pts = 0.03 * torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    truth = _turned(pts, [0.0, 0.5, 1.0])
    permuted_still = truth[:1, torch.randperm(32, generator=torch.Generator().manual_seed(1))].expand(3, 32, 3)
    d = point_diagnostics(_item(truth, "grasp the red box and turn it counterclockwise"), permuted_still)
    assert d["surface_error"] < 1e-9 < 0.01 < d["index_error"]
    assert abs(d["true_spread"] - d["generated_spread"]) < 1e-9
    assert abs(d["true_turn"] - np.degrees(1.0)) < 1e-3 and abs(d["generated_turn"]) < 1e-6


def test_a_turn_in_the_prompts_sense_agrees() -> None:
    pts = 0.03 * torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    truth = _turned(pts, [0.0, -0.5, -1.0])
    rows = [point_diagnostics(_item(truth, "grasp the red box and turn it clockwise"), _turned(pts, [0.0, -0.2, -0.4])),
            point_diagnostics(_item(truth, "grasp the red box and turn it clockwise"), _turned(pts, [0.0, 0.1, 0.2]))]
    assert [r["sense_agrees"] for r in rows] == [1.0, 0.0] and rows[0]["index_error"] < 1e-6
    s = summarize(rows)
    assert s["episodes"] == 2 and s["sense_agrees"] == 0.5 and s["turn_correlation"] is None  # one true turn
    assert abs(s["true_turn_abs_deg"] - np.degrees(1.0)) < 1e-3


def test_the_truth_in_canonical_order_is_a_permutation_that_keeps_the_halves() -> None:
    pts = 0.03 * torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.cat([torch.zeros(16, dtype=torch.long), torch.ones(16, dtype=torch.long)])
    item = EvalItem(0, "p", "rotate", torch.zeros(3, 4, 6, 3, dtype=torch.uint8), torch.zeros(3, 21, 3),
                    _turned(pts, [0.0, 0.3, 0.6]), labels)
    ordered = in_point_order(item, "layered_azimuth")
    assert in_point_order(item, "source") is item
    assert torch.equal(ordered.labels, labels)  # each half is ordered within itself
    first = {tuple(p.tolist()) for p in item.obj[0, :16]}
    assert {tuple(p.tolist()) for p in ordered.obj[0, :16]} == first
    before, after = point_diagnostics(item, item.obj), point_diagnostics(ordered, ordered.obj)
    assert abs(before["true_turn"] - after["true_turn"]) < 1e-9  # the turn does not depend on the order
    assert turned_object(ordered, ordered.obj)[0].shape == (3, 16, 3)
    with pytest.raises(ValueError, match="point order"):
        in_point_order(item, "random")


def test_the_hands_turn_is_measured_against_the_objects() -> None:
    """With the generated hand, its turn about the vertical and how far it is from the object's true turn."""
    pts = 0.03 * torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    joints = 0.05 * torch.randn(21, 3, generator=torch.Generator().manual_seed(2))
    rows = []
    for true in (-0.5, -1.0, 0.8):
        item = _item(_turned(pts, [0.0, true / 2, true]), "grasp the red box and turn it clockwise")
        rows.append(point_diagnostics(item, _turned(pts, [0.0, 0.0, 0.0]), _turned(joints, [0.0, 0.0, true + 0.1])))
    assert [r["hand_turn"] - r["true_turn"] for r in rows] == pytest.approx([np.degrees(0.1)] * 3, abs=1e-4)
    s = summarize(rows)
    assert abs(s["hand_minus_true_turn_abs_deg"] - np.degrees(0.1)) < 1e-4
    assert s["hand_turn_correlation"] == pytest.approx(1.0) and s["turn_correlation"] is None  # the points stay
    without = [point_diagnostics(item, item.obj)]
    assert "hand_turn" not in without[0] and "hand_turn_abs_deg" not in summarize(without)
