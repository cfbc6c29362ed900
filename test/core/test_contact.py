"""A held object turns with the palm of the hand that touches it (hoi_ros.core.contact.follow_hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hoi_ros.core.contact import PALM_JOINTS, follow_hand, palm_rotation
from hoi_ros.core.metrics import yaw_change

T = 9


def open_hand(seed: int = 0) -> np.ndarray:
    """21 joints ``[21, 3]`` around the origin, a few centimetres apart."""
    return np.random.default_rng(seed).normal(scale=0.04, size=(21, 3))


def turning_hand(total_deg: float, centre: np.ndarray, fingers: float = 0.0) -> np.ndarray:
    """``[T, 21, 3]``: a hand at ``centre`` turning about the vertical by ``total_deg`` over the clip; the
    finger joints (not the palm's) also curl by up to ``fingers`` metres, which the palm ignores."""
    base = open_hand()
    out = []
    curl = np.zeros((21, 3))
    curl[[j for j in range(21) if j not in PALM_JOINTS], 2] = -1.0
    for k in range(T):
        rot = Rotation.from_euler("z", total_deg * k / (T - 1), degrees=True).as_matrix()
        out.append((base + fingers * k / (T - 1) * curl) @ rot.T + centre)
    return np.stack(out)


def box(centre: np.ndarray, n: int = 64, seed: int = 1) -> np.ndarray:
    """``[n, 3]`` points of an elongated box (6 × 2 × 2 cm) around ``centre``."""
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, 3)) * [0.03, 0.01, 0.01] + centre


def still(points: np.ndarray, drift: np.ndarray | None = None) -> np.ndarray:
    """``[T, n, 3]``: ``points`` held still, or moved by ``drift`` per frame (no turn)."""
    d = np.zeros(3) if drift is None else drift
    return np.stack([points + k * d for k in range(T)])


def test_palm_rotation_recovers_the_palms_turn_whatever_the_fingers_do() -> None:
    hand = turning_hand(40.0, np.zeros(3), fingers=0.03)
    rot = Rotation.from_matrix(palm_rotation(hand[0], hand[-1]))
    np.testing.assert_allclose(rot.as_euler("zyx", degrees=True), [40.0, 0.0, 0.0], atol=1e-6)


def test_a_touched_object_turns_with_the_palm_and_keeps_its_generated_path() -> None:
    """The generated points slide without turning; followed, they turn as the palm (45°), and their
    centre is still the generated one in every frame."""
    centre = np.array([0.1, 0.0, 0.05])
    hand = turning_hand(45.0, centre, fingers=0.02)
    obj = still(box(centre), drift=np.array([0.0, 0.002, 0.001]))
    out = follow_hand(hand, obj)
    assert abs(math.degrees(yaw_change(obj))) < 1e-6
    assert math.degrees(yaw_change(out)) == pytest.approx(45.0, abs=1e-6)
    np.testing.assert_allclose(out.mean(1), obj.mean(1), atol=1e-12)
    np.testing.assert_allclose(out[0], obj[0])
    # the shape is kept: distances between points are those of the generated cloud
    d_in, d_out = (np.linalg.norm(x[-1][:, None] - x[-1][None], axis=-1) for x in (obj, out))
    np.testing.assert_allclose(d_out, d_in, atol=1e-9)


def test_an_object_out_of_reach_keeps_its_generated_motion() -> None:
    hand = turning_hand(45.0, np.zeros(3))
    far = np.array([0.5, 0.0, 0.0])
    obj = still(box(far), drift=np.array([0.0, 0.001, 0.0]))
    obj[:, :, 0] += np.linspace(0, 0.01, obj.shape[1])  # some generated deformation, kept as it is
    np.testing.assert_allclose(follow_hand(hand, obj), obj, atol=1e-12)
    # the threshold decides: the box is ~0.45 m from the hand
    assert abs(math.degrees(yaw_change(follow_hand(hand, obj, contact_distance=1.0)))) > 40


def test_only_the_touched_part_turns() -> None:
    centre = np.array([0.0, 0.0, 0.0])
    hand = turning_hand(-30.0, centre)
    held, target = box(centre, 32), box(np.array([0.4, 0.3, 0.0]), 32, seed=2)
    obj = still(np.concatenate([held, target]))
    labels = np.repeat([0, 1], 32)
    out = follow_hand(hand, obj, labels)
    assert math.degrees(yaw_change(out[:, :32])) == pytest.approx(-30.0, abs=1e-6)
    np.testing.assert_allclose(out[:, 32:], obj[:, 32:])


def test_of_two_hands_the_touching_one_turns_the_object() -> None:
    centre = np.array([0.2, 0.0, 0.0])
    right = turning_hand(30.0, np.array([-0.5, 0.0, 0.0]))  # far away, turning the other way
    right = np.stack([r @ Rotation.from_euler("z", -90 * k / (T - 1), degrees=True).as_matrix().T
                      for k, r in enumerate(right)])
    left = turning_hand(30.0, centre)
    out = follow_hand(np.concatenate([right, left], axis=1), still(box(centre)))
    assert math.degrees(yaw_change(out)) == pytest.approx(30.0, abs=1e-6)


def test_contact_is_judged_on_the_followed_points_frame_by_frame() -> None:
    """The hand lets go halfway (moves 0.5 m away): the object turns while held, then keeps the turn and
    follows its generated path."""
    centre = np.zeros(3)
    hand = turning_hand(60.0, centre)
    hand[T // 2 + 1:] += [0.5, 0.0, 0.0]
    out = follow_hand(hand, still(box(centre)))
    held = 60.0 * (T // 2) / (T - 1)  # turned over steps 0 .. T//2 - 1, then the hand is gone
    assert math.degrees(yaw_change(out[: T // 2 + 1])) == pytest.approx(held, abs=1e-6)
    np.testing.assert_allclose(out[T // 2 + 1:], np.broadcast_to(out[T // 2 + 1], out[T // 2 + 1:].shape))


@pytest.mark.parametrize("hand, obj, kw, match", [
    (np.zeros((T, 21, 3)), np.zeros((T - 1, 8, 3)), {}, "expected hand"),
    (np.zeros((T, 21, 2)), np.zeros((T, 8, 3)), {}, "expected hand"),
    (np.zeros((T, 20, 3)), np.zeros((T, 8, 3)), {}, "21 or 42"),
    (np.zeros((T, 21, 3)), np.zeros((T, 8, 3)), {"contact_distance": 0.0}, "contact_distance"),
    (np.zeros((T, 21, 3)), np.zeros((T, 8, 3)), {"labels": np.zeros(7)}, "7 labels for 8 points"),
])
def test_bad_input_is_refused(hand: np.ndarray, obj: np.ndarray, kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        follow_hand(hand, obj, **kw)
