"""Rollout requests from plain values (the SimRollout service's fields): defaults, and errors that
start with the request field at fault."""

from __future__ import annotations

import numpy as np
import pytest

from hoi_ros.sim.request import build_request

UPRIGHT = (1.0, 0.0, 0.0, 0.0)


def test_defaults_put_objects_on_the_table_and_pick_a_target() -> None:
    req = build_request("place", "the green mug")
    assert [o.display_name for o in req.objects] == ["green mug", "cyan bowl"]
    (mug_pos, _), (bowl_pos, _) = req.object_poses
    np.testing.assert_allclose(mug_pos, [0.0, 0.0, req.objects[0].rest_height])
    np.testing.assert_allclose(bowl_pos, [0.25, 0.05, 0.0])
    req = build_request("tool_use", "roller", object_pose=((0.05, -0.02, 0.022), UPRIGHT), target_object="red plate")
    assert req.objects[1].display_name == "red plate"
    np.testing.assert_allclose(req.object_poses[1][0], [0.30, 0.03, req.objects[1].rest_height])
    req = build_request("goto", "ball", target_hand=(((0.1, 0.0, 0.2), UPRIGHT), []), side="left")
    assert req.side == "left" and req.target_hand is not None and req.target_hand.fingers.shape == (20,)


@pytest.mark.parametrize("kwargs, field", [
    ({"task": "fly", "object_name": "box"}, "task:"),
    ({"task": "push", "object_name": "teapot"}, "object: unknown object 'teapot'"),
    ({"task": "push", "object_name": "box", "object_pose": ((0.0, 0.0, 0.0), UPRIGHT)},
     "object_pose.position: the red box would start 2.8 cm inside the table"),
    ({"task": "push", "object_name": "box", "object_pose": ((0.0, np.nan, 0.1), UPRIGHT)},
     "object_pose.position: contains NaN"),
    ({"task": "push", "object_name": "box", "object_pose": ((0.0, 0.0, 0.1), (0.0, 0.0, 0.0, 0.0))},
     "object_pose.orientation: zero quaternion"),
    ({"task": "push", "object_name": "box", "target_object": "bowl"}, "target_object:"),
    ({"task": "place", "object_name": "box", "target_object": "ball"}, "target_object: place needs a bowl"),
    ({"task": "place", "object_name": "box", "target_object_pose": ((0.2, 0.0, np.inf), UPRIGHT)},
     "target_object_pose.position: contains NaN or Inf"),
    ({"task": "goto", "object_name": "box"}, "target_wrist: the goto task needs"),
    ({"task": "goto", "object_name": "box", "target_hand": (((0.0, 2.0, 0.2), UPRIGHT), [])},
     "target_wrist.position: [0.0, 2.0, 0.2] is unreachable"),
    ({"task": "goto", "object_name": "box", "target_hand": (((0.0, 0.0, 0.2), UPRIGHT), [0.1] * 3)},
     "target_fingers: expected 20 values"),
    ({"task": "goto", "object_name": "box", "target_hand": (((0.0, 0.0, 0.2), UPRIGHT), [2.5] * 20)},
     "target_fingers: thumb_cmc_flex=2.500 outside"),
    ({"task": "push", "object_name": "box", "initial_hand": (((0.0, -0.2, -0.3), UPRIGHT), [])},
     "initial_wrist.position:"),
])
def test_bad_fields_are_named(kwargs, field: str) -> None:
    with pytest.raises(ValueError) as err:
        build_request(**kwargs)
    assert str(err.value).startswith(field), str(err.value)
