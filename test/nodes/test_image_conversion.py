"""Strict sensor_msgs/Image <-> numpy conversion: every accepted encoding, malformed messages."""

from __future__ import annotations

import re

import numpy as np
import pytest
from ros_support import ros_available

pytestmark = pytest.mark.skipif(not ros_available(), reason="rclpy / hoi_ros interfaces not built")


def _rgb(h: int = 5, w: int = 7) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _raw(pixels: np.ndarray, encoding: str, pad: int = 0):
    """A hand-built message (independent of image_to_msg) with ``pad`` bytes after each row."""
    from sensor_msgs.msg import Image

    h, w = pixels.shape[:2]
    rows = pixels.reshape(h, -1)
    rows = np.concatenate([rows, np.full((h, pad), 77, np.uint8)], axis=1)
    msg = Image(height=h, width=w, encoding=encoding, step=rows.shape[1])
    msg.data = rows.tobytes()
    return msg


def test_every_encoding_decodes_to_rgb() -> None:
    from hoi_ros.nodes.image_conversion import msg_to_rgb

    rgb = _rgb()
    alpha = np.full((*rgb.shape[:2], 1), 9, np.uint8)
    np.testing.assert_array_equal(msg_to_rgb(_raw(rgb, "rgb8")), rgb)
    np.testing.assert_array_equal(msg_to_rgb(_raw(rgb[..., ::-1], "bgr8")), rgb)
    np.testing.assert_array_equal(msg_to_rgb(_raw(np.concatenate([rgb, alpha], 2), "rgba8")), rgb)
    grey = rgb[..., :1]
    out = msg_to_rgb(_raw(grey, "mono8"))
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.repeat(grey, 3, axis=2))


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "mono8"])
def test_row_padding_is_skipped(encoding: str) -> None:
    from hoi_ros.nodes.image_conversion import ENCODING_CHANNELS, msg_to_rgb

    pixels = _rgb()[..., : 1 if encoding == "mono8" else 3]
    if encoding == "rgba8":
        pixels = np.concatenate([pixels, pixels[..., :1]], axis=2)
    assert pixels.shape[2] == ENCODING_CHANNELS[encoding]
    np.testing.assert_array_equal(msg_to_rgb(_raw(pixels, encoding, pad=3)),
                                  msg_to_rgb(_raw(pixels, encoding, pad=0)))


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "mono8"])
def test_image_to_msg_round_trip(encoding: str) -> None:
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image

    from hoi_ros.nodes.image_conversion import image_to_msg, msg_to_rgb

    rgb = _rgb(6, 9)
    msg = image_to_msg(rgb, encoding=encoding, frame_id="camera")
    assert msg.encoding == encoding and msg.header.frame_id == "camera"
    assert (msg.height, msg.width) == (6, 9)
    back = msg_to_rgb(deserialize_message(serialize_message(msg), Image))
    if encoding == "mono8":
        luma = np.rint(rgb.astype(np.float64) @ [0.299, 0.587, 0.114])
        np.testing.assert_allclose(back[..., 0], luma, atol=1)
        assert (back == back[..., :1]).all()
    else:
        np.testing.assert_array_equal(back, rgb)


@pytest.mark.parametrize(
    "encoding", ["rgb16", "bgra8", "16UC1", "32FC1", "yuv422", "bayer_rggb8", "", "RGB8"]
)
def test_other_encodings_are_rejected_by_name(encoding: str) -> None:
    from hoi_ros.nodes.image_conversion import ImageConversionError, msg_to_rgb

    msg = _raw(_rgb(), "rgb8")
    msg.encoding = encoding
    expected = r"image\.encoding: unsupported encoding " + re.escape(repr(encoding))
    with pytest.raises(ImageConversionError, match=expected):
        msg_to_rgb(msg)


def test_malformed_geometry_names_the_field() -> None:
    from hoi_ros.nodes.image_conversion import ImageConversionError, msg_to_rgb

    msg = _raw(_rgb(), "rgb8")
    msg.step = 20  # < 7 * 3
    with pytest.raises(ImageConversionError, match=r"image\.step"):
        msg_to_rgb(msg)
    msg = _raw(_rgb(), "rgb8")
    msg.data = bytes(len(msg.data) - 1)
    with pytest.raises(ImageConversionError, match=r"image\.data: 104 bytes, expected step\*height"):
        msg_to_rgb(msg)
    msg = _raw(_rgb(), "rgb8")
    msg.height = 6  # data no longer matches
    with pytest.raises(ImageConversionError, match=r"image\.data"):
        msg_to_rgb(msg)
    from sensor_msgs.msg import Image

    with pytest.raises(ImageConversionError, match="image: empty image"):
        msg_to_rgb(Image(encoding="rgb8"))
    with pytest.raises(ImageConversionError, match="exceeds the limit of 34"):
        msg_to_rgb(_raw(_rgb(), "rgb8"), max_pixels=34)
    assert msg_to_rgb(_raw(_rgb(), "rgb8"), max_pixels=35).shape == (5, 7, 3)


def test_image_to_msg_rejects_bad_input() -> None:
    from hoi_ros.nodes.image_conversion import ImageConversionError, image_to_msg

    with pytest.raises(ImageConversionError, match="unsupported encoding 'rgb16'"):
        image_to_msg(_rgb(), encoding="rgb16")
    with pytest.raises(ImageConversionError, match="uint8"):
        image_to_msg(_rgb().astype(np.float32))
    with pytest.raises(ImageConversionError, match="empty"):
        image_to_msg(np.zeros((0, 4, 3), np.uint8))


def test_camera_info_of_a_pinhole_camera() -> None:
    from hoi_ros.core.camera import Camera
    from hoi_ros.nodes.image_conversion import camera_info_msg

    cam = Camera.from_fov(64, 48, 45.0)
    msg = camera_info_msg(cam, "hoi_camera")
    assert (msg.width, msg.height, msg.header.frame_id) == (64, 48, "hoi_camera")
    np.testing.assert_allclose(np.reshape(msg.k, (3, 3)), cam.intrinsics)
    np.testing.assert_allclose(np.reshape(msg.p, (3, 4))[:, :3], cam.intrinsics)
    np.testing.assert_allclose(np.reshape(msg.r, (3, 3)), np.eye(3))
    assert msg.distortion_model == "plumb_bob" and list(msg.d) == [0.0] * 5
