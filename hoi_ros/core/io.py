"""Atomic file writes and mp4 video I/O (imageio-ffmpeg).

Every writer here writes to a temporary file in the destination folder and renames it into place
(``os.replace``), so a crash never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask is process-wide and not thread-safe


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, else delete it."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=suffix if suffix is not None else final.suffix, dir=final.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual mode
        os.replace(tmp_path, final)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed ``.npz`` of ``arrays`` whose bytes depend on the arrays alone.

    ``numpy.savez_compressed`` stamps every zip member with the current time, so two saves of the
    same arrays differ; here each member carries a fixed timestamp (and no pickles are allowed), so
    equal arrays give equal bytes (datasets: same seed → same bytes). ``numpy.load`` reads it.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def _even_pad(frames: np.ndarray) -> np.ndarray:
    """Pad odd heights/widths by repeating the last row/column (H.264 4:2:0 needs even sizes)."""
    pad_h = frames.shape[1] % 2
    pad_w = frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frames


def write_video(
    path: str | os.PathLike, frames: np.ndarray, fps: float, quality: int = 18, threads: int = 0
) -> Path:
    """Write ``frames`` ``[T, H, W, 3] uint8`` to an H.264 mp4 atomically.

    ``quality`` is x264's CRF (0 = lossless, 18 = visually lossless). Odd sizes are padded by one
    edge row/column; :func:`read_video` with ``size`` crops them back. ``threads``: x264's thread
    count (0 = ffmpeg's choice from the CPUs this process may use). x264's bytes depend on it, so
    pass a fixed number where the same frames must give the same file on any machine.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"video: expected [T, H, W, 3] uint8, got {frames.shape} {frames.dtype}")
    if frames.shape[0] < 1:
        raise ValueError("video: no frames")
    import imageio_ffmpeg

    frames = _even_pad(frames)
    height, width = frames.shape[1:3]
    with atomic_path(path, suffix=".mp4") as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            (width, height),
            fps=float(fps),
            codec="libx264",
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            macro_block_size=1,
            output_params=["-crf", str(int(quality)), "-preset", "fast", "-threads", str(int(threads))],
            ffmpeg_log_level="error",
        )
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
    return Path(path)


def read_video(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an mp4 into ``[T, H, W, 3] uint8``; ``size=(H, W)`` crops encoder padding away."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = reader.__next__()
    width, height = meta["size"]
    frames = [np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3) for buf in reader]
    if not frames:
        raise ValueError(f"video {path}: no frames")
    video = np.stack(frames)
    if size is not None:
        video = video[:, : size[0], : size[1]]
    return video
