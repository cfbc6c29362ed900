"""Dense optical flow and point tracks for ArtHOI's flow-based part segmentation (§3.1, App. A).

The paper tracks with CoTracker (Karaev et al., 2024). Here the default is OpenCV's classical DIS
flow (or Farnebäck), chained frame to frame into point tracks; a learned model plugs in through
the :class:`FlowModel` seam: :class:`TorchScriptFlow` runs any TorchScript flow network (RAFT,
a CoTracker wrapper) from a **local** file, nothing is downloaded.

Conventions: images ``[H, W, 3] uint8`` RGB; a flow ``[H, W, 2]`` float32 holds, at pixel
``(row, col)``, the displacement ``(du, dv)`` in pixels to the next frame; points are ``(u, v)``
= (column, row), as :class:`hoi_ros.core.camera.Camera` projects them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

FLOW_METHODS: tuple[str, ...] = ("dis", "farneback", "torchscript")


class FlowModel(Protocol):
    """Anything that gives the dense flow from one RGB frame to the next."""

    def __call__(self, image0: np.ndarray, image1: np.ndarray) -> np.ndarray:  # [H, W, 2] float32
        ...


def _gray(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image: expected [H, W, 3] uint8, got {img.shape} {img.dtype}")
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


@dataclass
class DISFlow:
    """OpenCV's Dense Inverse Search flow (Kroeger et al., 2016), ``preset`` medium by default."""

    preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM

    def __call__(self, image0: np.ndarray, image1: np.ndarray) -> np.ndarray:
        dis = cv2.DISOpticalFlow_create(self.preset)
        return dis.calc(_gray(image0), _gray(image1), None).astype(np.float32)


@dataclass
class FarnebackFlow:
    """OpenCV's Farnebäck polynomial-expansion flow."""

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 9
    iterations: int = 5

    def __call__(self, image0: np.ndarray, image1: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(_gray(image0), _gray(image1), None, self.pyr_scale, self.levels,
                                            self.winsize, self.iterations, 5, 1.1, 0).astype(np.float32)


class TorchScriptFlow:
    """A learned flow network (e.g. RAFT) saved as TorchScript at a local path.

    The module takes two ``[1, 3, H, W]`` float tensors in [0, 255] and returns the flow
    ``[1, 2, H, W]`` (or a list of refinements, the last one used), RAFT's interface.
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu") -> None:
        import torch

        path = Path(path)
        if not path.is_file():
            raise ValueError(f"flow.weights: no TorchScript flow model at {path} (weights are never downloaded)")
        self._torch = torch
        self.device = device
        self.module = torch.jit.load(str(path), map_location=device).eval()

    def __call__(self, image0: np.ndarray, image1: np.ndarray) -> np.ndarray:
        torch = self._torch

        def tensor(img: np.ndarray):
            _gray(img)
            return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float().to(self.device)

        with torch.no_grad():
            out = self.module(tensor(image0), tensor(image1))
        if isinstance(out, list | tuple):
            out = out[-1]
        flow = out[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)
        if flow.shape != (*image0.shape[:2], 2):
            raise ValueError(f"flow model: returned shape {flow.shape}, expected {(*image0.shape[:2], 2)}")
        return flow


def make_flow_model(method: str = "dis", weights: str | None = None) -> FlowModel:
    """The flow model called ``method`` (:data:`FLOW_METHODS`); ``torchscript`` needs ``weights``."""
    if method == "dis":
        return DISFlow()
    if method == "farneback":
        return FarnebackFlow()
    if method == "torchscript":
        if not weights:
            raise ValueError("flow.weights: the torchscript flow model needs a local weights path")
        return TorchScriptFlow(weights)
    raise ValueError(f"flow.method: expected one of {list(FLOW_METHODS)}, got {method!r}")


def compute_flows(video: np.ndarray, model: FlowModel | None = None) -> np.ndarray:
    """``[T-1, H, W, 2]``: the flow ``F_{t -> t+1}`` between consecutive frames (Eq. 1)."""
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[0] < 2:
        raise ValueError(f"video: expected [T >= 2, H, W, 3], got {video.shape}")
    model = model or DISFlow()
    return np.stack([model(video[t], video[t + 1]) for t in range(video.shape[0] - 1)])


def sample_flow(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear flow ``[N, 2]`` at sub-pixel points ``[N, 2]`` (u, v); points outside are clamped."""
    h, w = flow.shape[:2]
    maps = np.asarray(points, dtype=np.float32).reshape(1, -1, 2)
    out = cv2.remap(flow, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    del h, w
    return out.reshape(-1, 2)


def track_points(flows: np.ndarray, points: np.ndarray, valid_masks: np.ndarray | None = None,
                 back_flows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Chain the flows into tracks: ``([T, N, 2] positions, [T, N] visible)``.

    A track is visible at frame t while it stays inside the image, when ``valid_masks``
    ``[T, H, W]`` bool is given on a valid pixel (e.g. the object, not the hand occluding it), and
    when ``back_flows`` (``[T-1, H, W, 2]``, the flow from t+1 back to t) is given while the
    forward-backward check holds (|f + b|^2 < 0.01 (|f|^2 + |b|^2) + 0.5, Sundaram et al., 2010):
    a point that gets covered (a door swinging over the inside of a cabinet) is lost instead of
    following what covers it. Once lost a track stays lost (its position is then held).
    """
    flows = np.asarray(flows, dtype=np.float32)
    t1, h, w = flows.shape[:3]
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    tracks = np.empty((t1 + 1, len(pts), 2))
    visible = np.zeros((t1 + 1, len(pts)), dtype=bool)
    tracks[0] = pts
    visible[0] = True
    for t in range(t1):
        f = sample_flow(flows[t], tracks[t]).astype(np.float64)
        nxt = tracks[t] + f
        inside = (nxt[:, 0] >= 0) & (nxt[:, 0] <= w - 1) & (nxt[:, 1] >= 0) & (nxt[:, 1] <= h - 1)
        vis = visible[t] & inside
        if valid_masks is not None:
            px = np.clip(np.round(nxt).astype(int), 0, [w - 1, h - 1])
            vis &= np.asarray(valid_masks[t + 1], dtype=bool)[px[:, 1], px[:, 0]]
        if back_flows is not None:
            b = sample_flow(back_flows[t], nxt).astype(np.float64)
            err = ((f + b) ** 2).sum(1)
            vis &= err < 0.01 * ((f**2).sum(1) + (b**2).sum(1)) + 0.5
        tracks[t + 1] = np.where(vis[:, None], nxt, tracks[t])
        visible[t + 1] = vis
    return tracks, visible
