"""Flow-based part segmentation (ArtHOI §3.1, Fig. 3a-b, App. A).

1. **Flow and tracks.** Dense flow between consecutive frames (:mod:`hoi_ros.arthoi.flow`; DIS by
   default, the paper's CoTracker through the flow seam), chained into tracks of query points on
   the object (every ``grid_stride_px``-th pixel of the object mask ``M^o(0)``).
2. **Dynamic / static points (Eq. 1).** A point is dynamic when it moves more than ``dynamic_px``
   (5 px) and static when it moves at most ``static_px`` (2 px); points in between prompt nothing.
   Eq. 1 thresholds one flow ``F_{t->t+1}``: :func:`pairwise_point_classes` does exactly that; the
   pipeline thresholds each track's largest displacement from frame 0 instead (the paper's
   tracker is CoTracker, whose tracks span the sequence), so slow parts still count as dynamic.
3. **Part mask (Eq. 2).** ``M^d = SAM(I, P^d, P^s)``; SAM runs from a local checkpoint
   (:class:`SamSegmenter`); the classical substitute :class:`GrabCutSegmenter` seeds OpenCV's
   GrabCut with the points (dynamic: foreground, static: background) inside the object mask.
4. **Back projection (Fig. 3a).** Each canonical Gaussian visible at frame 0 takes ``w^d = 1`` in
   ``M^d`` and ``w^s = 1`` elsewhere on the object; hidden ones (see :func:`backproject_weights`)
   are static unless right behind a moving one (default) or take their neighbours' weights.
   ``G^d = {w^d > w^s}``, ``G^s = {w^s >= w^d}``. Tracks use a forward-backward flow check so
   that covered points are lost rather than dragged along by what covers them.
5. **Quasi-static points and binding pairs (Eq. 3).** ``P^qs``: dynamic points whose motion is at
   most the 10th percentile of the dynamic points' motion (but at least 1.0 px); a dynamic
   Gaussian projecting within ``qs_pixel_radius`` of one is quasi-static and is bound to every
   static Gaussian within ``r = 0.05 m``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from scipy.spatial import cKDTree

from hoi_ros.arthoi.config import SegmentationConfig
from hoi_ros.arthoi.flow import FlowModel, compute_flows, make_flow_model, track_points
from hoi_ros.core.camera import Camera


# --------------------------------------------------------------------------- Eq. 1 and App. A
def pairwise_point_classes(flow: np.ndarray, object_mask: np.ndarray, dynamic_px: float = 5.0,
                           static_px: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 1 on one flow ``F_{t->t+1}`` ``[H, W, 2]``: ``(P^d, P^s)`` as ``[H, W]`` bool masks inside
    ``M^o`` (dynamic: ``|F| > dynamic_px``; static: ``|F| <= static_px``)."""
    mag = np.linalg.norm(np.asarray(flow, dtype=np.float64), axis=-1)
    mask = np.asarray(object_mask, dtype=bool)
    return mask & (mag > dynamic_px), mask & (mag <= static_px)


@dataclass
class PointClasses:
    """Query points and what their motion says (all ``[N]`` unless noted)."""

    points: np.ndarray  # [N, 2] (u, v) at frame 0
    tracks: np.ndarray  # [T, N, 2]
    visible: np.ndarray  # [T, N] bool
    motion: np.ndarray  # largest displacement from frame 0 while visible (px)
    dynamic: np.ndarray  # bool
    static: np.ndarray  # bool
    quasi_static: np.ndarray  # bool, a subset of dynamic
    quasi_static_px: float  # the threshold used for P^qs


def classify_tracks(tracks: np.ndarray, visible: np.ndarray, cfg: SegmentationConfig) -> PointClasses:
    """Dynamic (> 5 px), static (<= 2 px) and quasi-static points of tracks ``[T, N, 2]`` (App. A).

    Every class needs its track kept through ``min_track_fraction`` of the frames."""
    tracks = np.asarray(tracks, dtype=np.float64)
    disp = np.linalg.norm(tracks - tracks[:1], axis=-1)
    motion = np.where(visible, disp, 0.0).max(axis=0)
    # A track lost early (covered, dragged off the object by the flow) has not shown its motion
    # F_{0->T}: it prompts nothing.
    tracked = np.asarray(visible).mean(axis=0) >= cfg.min_track_fraction
    dynamic = (motion > cfg.dynamic_px) & tracked
    static = (motion <= cfg.static_px) & tracked
    thr = cfg.quasi_static_min_px
    full = dynamic & tracked
    if full.any():
        thr = max(float(np.percentile(motion[full], cfg.quasi_static_percentile)), cfg.quasi_static_min_px)
    quasi = full & (motion <= thr)
    return PointClasses(tracks[0].copy(), tracks, np.asarray(visible, bool), motion, dynamic, static, quasi, thr)


# --------------------------------------------------------------------------- Eq. 2: part masks
class Segmenter(Protocol):
    """Eq. 2: a binary mask of the moving part from the image and the point prompts."""

    def __call__(self, image: np.ndarray, object_mask: np.ndarray, dynamic_points: np.ndarray,
                 static_points: np.ndarray) -> np.ndarray:  # [H, W] bool
        ...


@dataclass
class GrabCutSegmenter:
    """Classical substitute for SAM: GrabCut initialised from the point prompts.

    Outside the object mask is background for certain; inside it a pixel starts as probable
    foreground when its nearest prompt is dynamic and at most ``prompt_radius_px`` away, as
    probable background otherwise (what no prompt shows moving is taken as still until its colour
    says otherwise); the prompts themselves are certain (a disk of ``seed_radius`` px). The result
    is kept inside the object mask.
    """

    iterations: int = 5
    seed_radius: int = 1
    prompt_radius_px: float = 3.0
    seed: int = 0

    def __call__(self, image: np.ndarray, object_mask: np.ndarray, dynamic_points: np.ndarray,
                 static_points: np.ndarray) -> np.ndarray:
        obj = np.asarray(object_mask, dtype=bool)
        dyn = np.asarray(dynamic_points, dtype=np.float64).reshape(-1, 2)
        sta = np.asarray(static_points, dtype=np.float64).reshape(-1, 2)
        if len(dyn) == 0:
            return np.zeros_like(obj)
        if len(sta) == 0:
            return obj.copy()
        h, w = obj.shape
        rows, cols = np.nonzero(obj)
        seeds = np.concatenate([dyn, sta])
        is_dyn = np.concatenate([np.ones(len(dyn), bool), np.zeros(len(sta), bool)])
        dist, nearest = cKDTree(seeds).query(np.stack([cols, rows], axis=1))
        gc = np.full((h, w), cv2.GC_BGD, dtype=np.uint8)
        near_dyn = is_dyn[nearest] & (dist <= self.prompt_radius_px)
        gc[rows, cols] = np.where(near_dyn, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
        for pts, label in ((sta, cv2.GC_BGD), (dyn, cv2.GC_FGD)):
            for u, v in np.round(pts).astype(int):
                cv2.circle(gc, (int(u), int(v)), self.seed_radius, int(label), -1)
        gc[~obj] = cv2.GC_BGD
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(self.seed)  # GrabCut's GMM initialisation draws from OpenCV's RNG
        try:
            cv2.grabCut(np.ascontiguousarray(image[..., ::-1]), gc, None, bgd, fgd, self.iterations,
                        cv2.GC_INIT_WITH_MASK)
        except cv2.error:  # degenerate colour models (e.g. one colour): keep the nearest-prompt split
            pass
        return obj & ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD))


class SamSegmenter:
    """SAM (Kirillov et al., 2023) from a local checkpoint, prompted with the points (Eq. 2).

    Needs the ``segment_anything`` package and the weights file; neither ships with hoi_ros and
    nothing is downloaded. ``max_prompts`` points of each kind are used (evenly subsampled).
    """

    def __init__(self, checkpoint: str | os.PathLike, model_type: str = "vit_h", max_prompts: int = 16) -> None:
        path = Path(checkpoint)
        if not path.is_file():
            raise ValueError(f"segmentation.sam_checkpoint: no SAM weights at {path} (weights are never downloaded)")
        try:
            from segment_anything import SamPredictor, sam_model_registry  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ValueError("segmentation.segmenter: 'sam' needs the segment_anything package") from exc
        self.predictor = SamPredictor(sam_model_registry[model_type](checkpoint=str(path)))
        self.max_prompts = max_prompts

    def __call__(self, image: np.ndarray, object_mask: np.ndarray, dynamic_points: np.ndarray,
                 static_points: np.ndarray) -> np.ndarray:
        def pick(p: np.ndarray) -> np.ndarray:
            p = np.asarray(p, dtype=np.float32).reshape(-1, 2)
            return p[np.linspace(0, len(p) - 1, min(len(p), self.max_prompts)).astype(int)] if len(p) else p

        dyn, sta = pick(dynamic_points), pick(static_points)
        if len(dyn) == 0:
            return np.zeros(np.shape(object_mask), dtype=bool)
        self.predictor.set_image(np.ascontiguousarray(image))
        masks, _, _ = self.predictor.predict(point_coords=np.concatenate([dyn, sta]),
                                             point_labels=np.r_[np.ones(len(dyn)), np.zeros(len(sta))],
                                             multimask_output=False)
        return np.asarray(masks[0], dtype=bool) & np.asarray(object_mask, dtype=bool)


def make_segmenter(cfg: SegmentationConfig) -> Segmenter:
    if cfg.segmenter == "grabcut":
        return GrabCutSegmenter(iterations=cfg.grabcut_iterations)
    if cfg.segmenter == "sam":
        if not cfg.sam_checkpoint:
            raise ValueError("segmentation.sam_checkpoint: the sam segmenter needs a local checkpoint path")
        return SamSegmenter(cfg.sam_checkpoint, cfg.sam_model_type)
    raise ValueError(f"segmentation.segmenter: expected 'grabcut' or 'sam', got {cfg.segmenter!r}")


# --------------------------------------------------------------------------- Fig. 3a, Eq. 3
def visible_points(xyz: np.ndarray, camera: Camera, tolerance_m: float = 0.006) -> np.ndarray:
    """``[G]`` bool: which 3D points are in front. The points are rendered as the object's
    Gaussians (:func:`hoi_ros.arthoi.gaussians.render`, sized to close the gaps between them) and a
    point is visible when it lies within ``tolerance_m`` of the rendered depth at its pixel: a
    hole-free front surface, also on surfaces seen at a slant (no depth sensor is needed)."""
    import torch

    from hoi_ros.arthoi.gaussians import TorchCamera, canonical_gaussians, render

    xyz = np.asarray(xyz, dtype=np.float64)
    uv, depth = camera.project(xyz)
    h, w = camera.height, camera.width
    ok = np.isfinite(uv).all(axis=1) & (depth > 0)
    px = np.round(np.nan_to_num(uv)).astype(int)
    ok &= (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
    vis = np.zeros(len(xyz), dtype=bool)
    if not ok.any():
        return vis
    g = canonical_gaussians(xyz, np.zeros((len(xyz), 3)), None, 0.95, dtype=torch.float64)
    tcam = TorchCamera.from_camera(camera, torch.float64)
    unique, inverse = np.unique(px[ok], axis=0, return_inverse=True)  # render each pixel once
    with torch.no_grad():
        out = render(g, tcam, torch.as_tensor(unique, dtype=torch.float64))
    front = out["depth"].numpy()[inverse.reshape(-1)]
    vis[np.flatnonzero(ok)] = (front > 0) & (depth[ok] <= front + tolerance_m)
    return vis


def backproject_weights(xyz: np.ndarray, camera: Camera, part_mask: np.ndarray, object_mask: np.ndarray,
                        k_neighbours: int = 8, hidden: str = "neighbours", part_thickness_m: float = 0.02
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fig. 3a: ``(w^d, w^s, seen)`` ``[G]`` each from the frame-0 masks.

    A Gaussian seen at frame 0 (in front, on the object) takes ``w^d = 1`` on the part mask and
    ``w^s = 1`` elsewhere. A hidden one (the paper's Gaussians come from the first frame, so it
    has none; the geometry here has them): ``hidden="neighbours"`` gives it the mean weights of its
    ``k_neighbours`` nearest seen Gaussians; ``hidden="static"`` makes it static unless it lies
    within ``part_thickness_m`` of a seen moving Gaussian, and nearer to it than to any seen still
    one (the part's own hidden side): what was not seen moving is taken as still (the inside of a
    cabinet behind its door).
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if hidden not in ("neighbours", "static"):
        raise ValueError(f"segmentation.hidden_gaussians: expected 'neighbours' or 'static', got {hidden!r}")
    vis = visible_points(xyz, camera)
    uv, _ = camera.project(xyz)
    px = np.round(np.nan_to_num(uv)).astype(int)
    px[:, 0] = np.clip(px[:, 0], 0, camera.width - 1)
    px[:, 1] = np.clip(px[:, 1], 0, camera.height - 1)
    in_part = np.asarray(part_mask, bool)[px[:, 1], px[:, 0]]
    in_obj = np.asarray(object_mask, bool)[px[:, 1], px[:, 0]]
    seen = vis & in_obj
    wd = np.zeros(len(xyz))
    ws = np.zeros(len(xyz))
    wd[seen] = in_part[seen].astype(float)
    ws[seen] = 1.0 - wd[seen]
    rest = ~seen
    if not rest.any():
        return wd, ws, seen
    if hidden == "static":
        moving, still = seen & (wd > ws), seen & (wd <= ws)
        near = np.zeros(int(rest.sum()), dtype=bool)
        if moving.any():
            dist, _ = cKDTree(xyz[moving]).query(xyz[rest], k=1)
            near = dist <= part_thickness_m
            if still.any():  # nearer to a seen moving Gaussian than to any seen still one
                dist_still, _ = cKDTree(xyz[still]).query(xyz[rest], k=1)
                near &= dist < dist_still
        wd[rest], ws[rest] = near.astype(float), (~near).astype(float)
    elif seen.any():
        k = min(k_neighbours, int(seen.sum()))
        _, idx = cKDTree(xyz[seen]).query(xyz[rest], k=k)
        idx = idx.reshape(int(rest.sum()), k)
        wd[rest] = wd[seen][idx].mean(axis=1)
        ws[rest] = ws[seen][idx].mean(axis=1)
    return wd, ws, seen


def quasi_static_gaussians(xyz: np.ndarray, camera: Camera, dynamic: np.ndarray, visible: np.ndarray,
                           qs_points: np.ndarray, radius_px: float) -> np.ndarray:
    """``[G]`` bool: dynamic Gaussians visible at frame 0 that project within ``radius_px`` of a
    quasi-static point (``Pi(g^qs) in P^qs`` of Eq. 3)."""
    out = np.zeros(len(xyz), dtype=bool)
    qs = np.asarray(qs_points, dtype=np.float64).reshape(-1, 2)
    cand = np.flatnonzero(np.asarray(dynamic, bool) & np.asarray(visible, bool))
    if len(qs) == 0 or len(cand) == 0:
        return out
    uv, _ = camera.project(np.asarray(xyz, dtype=np.float64)[cand])
    dist, _ = cKDTree(qs).query(np.nan_to_num(uv, nan=-1e6))
    out[cand[dist <= radius_px]] = True
    return out


def binding_pairs(xyz: np.ndarray, quasi_static: np.ndarray, static: np.ndarray, radius_m: float,
                  max_pairs: int | None = 4096, seed: int = 0) -> np.ndarray:
    """Eq. 3: ``[E, 2]`` index pairs (quasi-static dynamic Gaussian, static Gaussian) closer than
    ``radius_m``; at most ``max_pairs`` (a random subset, for the loss's cost)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    qi = np.flatnonzero(quasi_static)
    si = np.flatnonzero(static)
    if len(qi) == 0 or len(si) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    near = cKDTree(xyz[si]).query_ball_point(xyz[qi], r=radius_m)
    pairs = np.array([(q, si[j]) for q, js in zip(qi, near) for j in js], dtype=np.int64).reshape(-1, 2)
    if max_pairs is not None and len(pairs) > max_pairs:
        pairs = pairs[np.sort(np.random.default_rng(seed).choice(len(pairs), max_pairs, replace=False))]
    return pairs


# --------------------------------------------------------------------------- the whole of §3.1
@dataclass
class PartSegmentation:
    """What §3.1 gives Stage I."""

    flows: np.ndarray  # [T-1, H, W, 2], F_{t -> t+1}
    back_flows: np.ndarray | None  # [T-1, H, W, 2], F_{t+1 -> t} (forward-backward check)
    points: PointClasses
    part_mask: np.ndarray  # [H, W] bool, M^d(0)
    object_mask: np.ndarray  # [H, W] bool, M^o(0)
    w_dynamic: np.ndarray  # [G]
    w_static: np.ndarray  # [G]
    visible0: np.ndarray  # [G] bool, seen at frame 0
    quasi_static: np.ndarray  # [G] bool
    pairs: np.ndarray  # [E, 2] (dynamic, static) Gaussian indices

    @property
    def dynamic(self) -> np.ndarray:
        """``[G]`` bool: G^d (``w^d > w^s``)."""
        return self.w_dynamic > self.w_static

    @property
    def static(self) -> np.ndarray:
        return ~self.dynamic


def query_points(object_mask: np.ndarray, stride: int) -> np.ndarray:
    """``[N, 2]`` (u, v): every ``stride``-th pixel (in both directions) of the mask."""
    mask = np.asarray(object_mask, dtype=bool)
    grid = np.zeros_like(mask)
    grid[::stride, ::stride] = True
    rows, cols = np.nonzero(mask & grid)
    return np.stack([cols, rows], axis=1).astype(np.float64)


def segment_parts(video: np.ndarray, object_masks: np.ndarray, camera: Camera, xyz0: np.ndarray,
                  cfg: SegmentationConfig | None = None, flow_model: FlowModel | None = None,
                  segmenter: Segmenter | None = None, flows: np.ndarray | None = None) -> PartSegmentation:
    """§3.1 on a video ``[T, H, W, 3]`` with object masks ``M^o(t)`` ``[T, H, W]`` (the object's
    pixels not covered by the hand) and the canonical Gaussians' centres ``xyz0`` ``[G, 3]``."""
    cfg = cfg or SegmentationConfig()
    masks = np.asarray(object_masks, dtype=bool)
    model = flow_model or make_flow_model(cfg.flow_method, cfg.flow_weights)
    if flows is None:
        flows = compute_flows(video, model)
    back = compute_flows(video[::-1], model)[::-1] if cfg.forward_backward_check else None  # F_{t+1 -> t}
    pts = query_points(masks[0], cfg.grid_stride_px)
    tracks, visible = track_points(flows, pts, masks, back)
    classes = classify_tracks(tracks, visible, cfg)
    seg = segmenter or make_segmenter(cfg)
    part = seg(video[0], masks[0], classes.points[classes.dynamic], classes.points[classes.static])
    wd, ws, vis0 = backproject_weights(xyz0, camera, part, masks[0], hidden=cfg.hidden_gaussians,
                                       part_thickness_m=cfg.part_thickness_m)
    dyn = wd > ws
    qs = quasi_static_gaussians(xyz0, camera, dyn, vis0, classes.points[classes.quasi_static], cfg.qs_pixel_radius)
    pairs = binding_pairs(xyz0, qs, ~dyn, cfg.binding_radius_m)
    return PartSegmentation(flows, back, classes, part, masks[0], wd, ws, vis0, qs, pairs)
