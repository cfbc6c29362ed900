"""Strict ``sensor_msgs/Image`` <-> numpy conversion (no cv_bridge).

Accepted encodings: ``rgb8``, ``bgr8``, ``rgba8`` and ``mono8``; every one is converted to an RGB
``[H, W, 3] uint8`` array (alpha dropped, grey replicated). Anything else is rejected by name.
The message's geometry is checked before any pixel is touched: positive width and height, a
``step`` of at least ``width * channels``, ``len(data) == step * height``, and at most
``max_pixels`` pixels. Every failure raises :class:`ImageConversionError` naming the field.

:func:`camera_info_msg` gives the ``sensor_msgs/CameraInfo`` published beside every image.
"""

from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image

from hoi_ros.core.camera import Camera

# encoding -> channels of the message; all of them are 8 bits per channel.
ENCODING_CHANNELS: dict[str, int] = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "mono8": 1}
DEFAULT_MAX_PIXELS = 4096 * 4096


class ImageConversionError(ValueError):
    """A ``sensor_msgs/Image`` that cannot be converted; the message names the field."""


def _data_buffer(data: object) -> memoryview:
    if isinstance(data, array.array | bytes | bytearray | memoryview):
        return memoryview(data).cast("B")
    return memoryview(np.asarray(data, dtype=np.uint8).tobytes())


def msg_to_rgb(msg: Image, max_pixels: int = DEFAULT_MAX_PIXELS, field: str = "image") -> np.ndarray:
    """RGB ``[H, W, 3] uint8`` of a ``sensor_msgs/Image``; ``field`` prefixes error messages."""
    encoding = str(msg.encoding)
    if encoding not in ENCODING_CHANNELS:
        accepted = ", ".join(ENCODING_CHANNELS)
        raise ImageConversionError(
            f"{field}.encoding: unsupported encoding {encoding!r} (accepted: {accepted})"
        )
    channels = ENCODING_CHANNELS[encoding]
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    if width == 0 or height == 0:
        raise ImageConversionError(f"{field}: empty image ({width}x{height})")
    if width * height > max_pixels:
        raise ImageConversionError(
            f"{field}: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}"
        )
    if step < width * channels:
        raise ImageConversionError(
            f"{field}.step: {step} bytes per row is less than width*channels = {width * channels} "
            f"for {encoding}"
        )
    buf = _data_buffer(msg.data)
    if len(buf) != step * height:
        raise ImageConversionError(
            f"{field}.data: {len(buf)} bytes, expected step*height = {step}*{height} = {step * height}"
        )
    if int(msg.is_bigendian) not in (0, 1):
        raise ImageConversionError(f"{field}.is_bigendian: must be 0 or 1, got {msg.is_bigendian}")
    rows = np.frombuffer(buf, dtype=np.uint8).reshape(height, step)
    pixels = rows[:, : width * channels].reshape(height, width, channels)
    if encoding == "rgb8":
        rgb = pixels
    elif encoding == "bgr8":
        rgb = pixels[..., ::-1]
    elif encoding == "rgba8":
        rgb = pixels[..., :3]
    else:  # mono8
        rgb = np.repeat(pixels, 3, axis=2)
    return np.array(rgb, dtype=np.uint8, order="C", copy=True)  # never a view of the message


def image_to_msg(
    rgb: np.ndarray, encoding: str = "rgb8", frame_id: str = "", stamp: Time | None = None
) -> Image:
    """A ``sensor_msgs/Image`` of an RGB ``[H, W, 3] uint8`` array in ``encoding``.

    ``mono8`` stores the luma (ITU-R BT.601); ``rgba8`` adds an opaque alpha channel.
    """
    if encoding not in ENCODING_CHANNELS:
        raise ImageConversionError(
            f"encoding: unsupported encoding {encoding!r} (accepted: {', '.join(ENCODING_CHANNELS)})"
        )
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageConversionError(
            f"image: expected an RGB [H, W, 3] uint8 array, got {rgb.shape} {rgb.dtype}"
        )
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageConversionError(f"image: empty image ({rgb.shape[1]}x{rgb.shape[0]})")
    if encoding == "rgb8":
        pixels = rgb
    elif encoding == "bgr8":
        pixels = rgb[..., ::-1]
    elif encoding == "rgba8":
        pixels = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
    else:
        luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        pixels = np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
    msg = Image()
    msg.header.frame_id = str(frame_id)
    if stamp is not None:
        msg.header.stamp = stamp
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(rgb.shape[1] * pixels.shape[2])
    msg.data = array.array("B", np.ascontiguousarray(pixels).tobytes())
    return msg


def camera_info_msg(camera: Camera, frame_id: str, stamp: Time | None = None) -> CameraInfo:
    """``sensor_msgs/CameraInfo`` of a pinhole :class:`~hoi_ros.core.camera.Camera` (no distortion):
    ``k`` = the intrinsics, ``p`` = ``[K | 0]``, ``r`` = identity, for the images in ``frame_id``."""
    msg = CameraInfo()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    msg.height, msg.width = int(camera.height), int(camera.width)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    k = np.asarray(camera.intrinsics, dtype=float)
    msg.k = k.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    msg.p = np.hstack([k, np.zeros((3, 1))]).reshape(-1).tolist()
    return msg
