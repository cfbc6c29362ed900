"""Request validation before any compute: every malformed field is named in the error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from generate_client import make_request
from ros_support import ros_available

pytestmark = pytest.mark.skipif(not ros_available(), reason="rclpy / hoi_ros interfaces not built")

LIMITS_KW = dict(min_frames=2, max_frames=9, default_frames=5, min_steps=1, max_steps=4, default_steps=3,
                 default_guidance=6.0, max_prompt_chars=20, max_image_pixels=32 * 32)


def _limits():
    from hoi_ros.core.generation import GeneratorLimits

    return GeneratorLimits(**LIMITS_KW)


def test_defaults_are_resolved() -> None:
    from hoi_ros.nodes.validation import validate_request

    req = make_request("srv", prompt="lift it", seed=-1, encoding="bgr8")
    v = validate_request(req, _limits())
    g = v.generation
    assert (g.num_frames, g.num_inference_steps, g.guidance_scale) == (5, 3, 6.0)
    assert 0 <= g.seed < 2**31 and len(v.request_id) == 16
    assert g.image.shape == (24, 32, 3) and g.image.dtype == np.uint8
    np.testing.assert_array_equal(
        g.image, np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8))
    v = validate_request(make_request("action", prompt="x", num_frames=9, num_inference_steps=1, seed=7,
                                      guidance_scale=1.0, request_id="run-1.a"), _limits())
    assert (v.generation.num_frames, v.generation.num_inference_steps, v.generation.seed) == (9, 1, 7)
    assert v.generation.guidance_scale == 1.0 and v.request_id == "run-1.a"


def _bad_image(kind: str):
    msg = make_request("srv").image
    if kind == "encoding":
        msg.encoding = "rgb16"
    elif kind == "step":
        msg.step = 10
    elif kind == "data":
        msg.data = bytes(7)
    elif kind == "empty":
        msg.width = msg.height = 0
        msg.step = 0
        msg.data = b""
    return msg


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"prompt": ""}, "prompt: empty"),
        ({"prompt": "   "}, "prompt: empty"),
        ({"prompt": "x" * 21}, "prompt: 21 characters exceeds the limit of 20"),
        ({"num_frames": 1}, "num_frames: 1 is outside the model's range 2..9"),
        ({"num_frames": 10}, "num_frames: 10 is outside"),
        ({"num_inference_steps": 5}, "num_inference_steps: 5 is outside the model's range 1..4"),
        ({"guidance_scale": math.nan}, "guidance_scale: must be a finite number"),
        ({"guidance_scale": math.inf}, "guidance_scale: must be a finite number"),
        ({"guidance_scale": -2.0}, "guidance_scale: must be 0 (the model's default) or >= 1"),
        ({"guidance_scale": 0.5}, "guidance_scale: must be 0 (the model's default) or >= 1"),
        ({"request_id": "../etc"}, "request_id: '../etc' is not a valid folder name"),
        ({"request_id": "a" * 65}, "request_id:"),
        ({"seed": 2**40}, "seed:"),
        ({"image": "encoding"}, "image.encoding: unsupported encoding 'rgb16'"),
        ({"image": "step"}, "image.step: 10 bytes per row"),
        ({"image": "data"}, "image.data: 7 bytes, expected step*height"),
        ({"image": "empty"}, "image: empty image"),
        ({"image": "big"}, "image: 48x40 = 1920 pixels exceeds the limit of 1024"),
    ],
)
def test_each_malformed_field_is_named(fields: dict, expected: str) -> None:
    from hoi_ros.nodes.validation import RequestError, validate_request

    fields = dict(fields)
    kind = fields.pop("image", None)
    image = np.zeros((40, 48, 3), np.uint8) if kind == "big" else None
    req = make_request("srv", image=image, **fields)
    if kind not in (None, "big"):
        req.image = _bad_image(kind)
    with pytest.raises(RequestError) as info:
        validate_request(req, _limits())
    assert str(info.value).startswith(expected), str(info.value)
    assert info.value.field == expected.split(":")[0]


def test_node_pixel_cap_is_below_the_model_limit() -> None:
    from hoi_ros.nodes.validation import RequestError, validate_request

    with pytest.raises(RequestError, match="exceeds the limit of 700"):
        validate_request(make_request("srv", prompt="x"), _limits(), max_image_pixels=700)
