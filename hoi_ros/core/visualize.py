"""Pictures for people: contact sheets of videos, saved as PNG (Pillow)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from hoi_ros.core.io import atomic_path


def pick_frames(num_frames: int, count: int) -> np.ndarray:
    """``count`` evenly spaced frame indices from ``0`` to ``num_frames - 1`` (first and last kept)."""
    count = max(1, min(int(count), int(num_frames)))
    return np.unique(np.round(np.linspace(0, num_frames - 1, count)).astype(np.int64))


def contact_sheet(
    rows: list[np.ndarray],
    labels: list[str] | None = None,
    columns: int = 8,
    label_width: int = 0,
    gap: int = 2,
) -> np.ndarray:
    """Tile evenly spaced frames of each video ``[T, H, W, 3]`` in a row of its own.

    All rows are resized to the first row's frame height. ``labels`` (one per row) are written
    in a left margin of ``label_width`` pixels (computed from the text when 0).
    """
    if not rows:
        raise ValueError("contact_sheet: no rows")
    height = rows[0].shape[1]
    tiles: list[list[Image.Image]] = []
    for video in rows:
        video = np.asarray(video)
        if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
            raise ValueError(f"contact_sheet: expected [T, H, W, 3] uint8 rows, got {video.shape} {video.dtype}")
        row = []
        for idx in pick_frames(video.shape[0], columns):
            img = Image.fromarray(video[idx])
            if img.height != height:
                img = img.resize((max(1, round(img.width * height / img.height)), height), Image.BILINEAR)
            row.append(img)
        tiles.append(row)
    if labels is not None and len(labels) != len(rows):
        raise ValueError("contact_sheet: one label per row")
    if labels and label_width == 0:
        label_width = 8 + 6 * max(len(s) for s in labels)
    widths = [sum(im.width for im in row) + gap * (len(row) - 1) for row in tiles]
    sheet = Image.new("RGB", (label_width + max(widths), len(tiles) * height + gap * (len(tiles) - 1)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(tiles):
        y = r * (height + gap)
        if labels:
            draw.text((4, y + height // 2 - 5), labels[r], fill=(230, 230, 230))
        x = label_width
        for im in row:
            sheet.paste(im, (x, y))
            x += im.width + gap
    return np.asarray(sheet)


def save_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an ``[H, W, 3] uint8`` image as PNG, atomically."""
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(tmp, format="PNG")
    return Path(path)
