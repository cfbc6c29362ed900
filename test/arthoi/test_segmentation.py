"""Flow-based part segmentation (ArtHOI §3.1) on a hand-made two-part scene."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hoi_ros.arthoi.config import SegmentationConfig
from hoi_ros.arthoi.flow import DISFlow, FarnebackFlow, TorchScriptFlow, compute_flows, make_flow_model, track_points
from hoi_ros.arthoi.segmentation import (
    GrabCutSegmenter,
    backproject_weights,
    binding_pairs,
    classify_tracks,
    make_segmenter,
    pairwise_point_classes,
    segment_parts,
    visible_points,
)
from hoi_ros.core.camera import Camera

H, W = 96, 112
PIVOT = (56.0, 40.0)  # (u, v) of the hinge, the moving part's top-left corner
STEP_DEG = 6.0


def _texture(rng: np.random.Generator, color: tuple[int, int, int]) -> np.ndarray:
    base = np.broadcast_to(np.array(color, np.float64), (H, W, 3)).copy()
    speck = cv2.resize(rng.uniform(size=(H // 3, W // 3)), (W, H), interpolation=cv2.INTER_NEAREST) < 0.3
    base[speck] *= 0.45
    return base.astype(np.uint8)


def two_part_scene(frames: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A static block (cols 10-55) and a block beside it hinged at its top-left corner, turning
    STEP_DEG per frame in the image plane away from the static one (nothing overlaps).
    Returns video [T,H,W,3], object masks [T,H,W] and moving masks [T,H,W]."""
    rng = np.random.default_rng(0)
    tex_s, tex_m = _texture(rng, (60, 90, 220)), _texture(rng, (235, 140, 40))
    static = np.zeros((H, W), bool)
    static[40:76, 10:56] = True
    moving0 = np.zeros((H, W), np.uint8)
    moving0[40:76, 56:96] = 1
    video, objs, movs = [], [], []
    for t in range(frames):
        rot = cv2.getRotationMatrix2D(PIVOT, STEP_DEG * t, 1.0)
        mov = cv2.warpAffine(moving0, rot, (W, H), flags=cv2.INTER_NEAREST).astype(bool)
        tex = cv2.warpAffine(tex_m, rot, (W, H), flags=cv2.INTER_LINEAR)
        img = np.full((H, W, 3), 128, np.uint8)
        img[static] = tex_s[static]
        img[mov] = tex[mov]
        video.append(img)
        objs.append(static | mov)
        movs.append(mov)
    return np.stack(video), np.stack(objs), np.stack(movs)


def test_thresholds_are_five_and_two_pixels_and_quasi_static_the_tenth_percentile() -> None:
    cfg = SegmentationConfig()
    motion = np.array([0.0, 1.9, 2.0, 2.1, 4.9, 5.0, 5.01, *np.linspace(6.0, 50.0, 20)])
    tracks = np.zeros((3, len(motion), 2))
    tracks[2, :, 0] = motion
    pc = classify_tracks(tracks, np.ones((3, len(motion)), bool), cfg)
    np.testing.assert_array_equal(pc.static, motion <= 2.0)
    np.testing.assert_array_equal(pc.dynamic, motion > 5.0)
    dyn = motion[motion > 5.0]
    assert pc.quasi_static_px == pytest.approx(np.percentile(dyn, 10))
    np.testing.assert_array_equal(pc.quasi_static, (motion > 5.0) & (motion <= np.percentile(dyn, 10)))
    # The 1.0 px floor: with a lower dynamic threshold the percentile (0.3 px) is lifted to 1.0 px.
    low = classify_tracks(np.stack([np.zeros((3, 2)), np.array([[0.3, 0], [0.8, 0], [9.0, 0]])]),
                          np.ones((2, 3), bool), SegmentationConfig(dynamic_px=0.2))
    assert low.quasi_static_px == 1.0 and low.quasi_static.tolist() == [True, True, False]
    # Eq. 1 on a single flow.
    flow = np.zeros((2, 3, 2), np.float32)
    flow[0, 0] = (6.0, 0.0)
    flow[0, 1] = (1.0, 1.0)
    flow[1, 2] = (3.0, 0.0)
    dyn_mask, sta_mask = pairwise_point_classes(flow, np.ones((2, 3), bool))
    assert dyn_mask.sum() == 1 and dyn_mask[0, 0]
    assert sta_mask.sum() == 4 and not sta_mask[1, 2] and not sta_mask[0, 0]


@pytest.mark.parametrize("model", [DISFlow(), FarnebackFlow()], ids=["dis", "farneback"])
def test_flow_tracks_follow_the_hinged_part(model) -> None:
    video, objs, _ = two_part_scene()
    flows = compute_flows(video, model)
    assert flows.shape == (9, H, W, 2)
    # Points on the moving part, away from its edges, and where the truth takes them.
    pts = np.array([[85.0, 55.0], [75.0, 65.0], [30.0, 55.0]])
    tracks, vis = track_points(flows, pts, objs)
    rot = cv2.getRotationMatrix2D(PIVOT, STEP_DEG * 9, 1.0)  # the scene's own warp of frame 9
    truth = np.concatenate([pts[:2] @ rot[:, :2].T + rot[:, 2], pts[2:]])
    err = np.linalg.norm(tracks[-1] - truth, axis=1)
    assert vis[-1].all() and err.max() < 2.0, err


def test_part_mask_gaussian_weights_and_binding_pairs_on_the_two_part_scene() -> None:
    video, objs, movs = two_part_scene()
    cfg = SegmentationConfig()
    cam = Camera.from_fov(W, H, 2 * np.rad2deg(np.arctan(H / 2 / 200.0)))  # f = 200 px: 1 px = 5 mm at 1 m
    rows, cols = np.nonzero(objs[0])
    xyz0 = cam.backproject(np.stack([cols, rows], 1).astype(float), np.ones(len(rows)))
    seg = segment_parts(video, objs, cam, xyz0, cfg)
    pc = seg.points
    on_moving = movs[0][pc.points[:, 1].astype(int), pc.points[:, 0].astype(int)]
    # Dynamic points are on the moving part; static ones on the static part or within 7 px of the
    # hinge, where the moving part travels at most 2 px over its 54 degrees.
    near_hinge = np.linalg.norm(pc.points - PIVOT, axis=1) < 7.5
    assert np.mean(on_moving[pc.dynamic]) > 0.97 and np.mean(~on_moving[pc.static] | near_hinge[pc.static]) > 0.97
    assert pc.dynamic.sum() > 100 and pc.static.sum() > 200
    # Quasi-static points lie near the hinge (within the 10th percentile of the dynamic motion).
    qs_u = pc.points[pc.quasi_static, 0]
    assert len(qs_u) > 0 and qs_u.max() < PIVOT[0] + 25
    # GrabCut from the prompts: the part mask matches the moving block.
    inter = (seg.part_mask & movs[0]).sum()
    iou = inter / (seg.part_mask | movs[0]).sum()
    assert iou > 0.85, iou
    # Back projection: Gaussians get the part of the pixel they come from.
    truth = movs[0][rows, cols]
    assert np.mean(seg.dynamic == truth) > 0.9
    # Eq. 3: every pair binds a quasi-static dynamic Gaussian to a static one within r = 0.05 m.
    assert len(seg.pairs) > 0
    d = np.linalg.norm(xyz0[seg.pairs[:, 0]] - xyz0[seg.pairs[:, 1]], axis=1)
    assert d.max() <= cfg.binding_radius_m + 1e-12
    assert seg.quasi_static[seg.pairs[:, 0]].all() and seg.static[seg.pairs[:, 1]].all()
    assert np.all(cols[seg.pairs[:, 0]] >= PIVOT[0] - 2) and np.all(cols[seg.pairs[:, 1]] < PIVOT[0] + 2)


def test_binding_pairs_match_brute_force() -> None:
    rng = np.random.default_rng(1)
    xyz = rng.uniform(-0.1, 0.1, size=(300, 3))
    qs = rng.uniform(size=300) < 0.1
    static = ~qs & (rng.uniform(size=300) < 0.5)
    pairs = binding_pairs(xyz, qs, static, 0.05, max_pairs=None)
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
    expected = {(i, j) for i in np.flatnonzero(qs) for j in np.flatnonzero(static) if d[i, j] <= 0.05}
    assert {tuple(p) for p in pairs.tolist()} == expected and expected
    assert len(binding_pairs(xyz, qs, static, 0.05, max_pairs=10)) == 10


def test_hidden_gaussians_take_their_neighbours_weights() -> None:
    cam = Camera.from_fov(40, 30, 60.0)
    u, v = np.meshgrid(np.arange(5, 35, 2.0), np.arange(5, 25, 2.0))
    uv = np.stack([u.ravel(), v.ravel()], 1)
    front = cam.backproject(uv, np.full(len(uv), 1.0))
    back = cam.backproject(uv, np.full(len(uv), 1.02))  # right behind the front ones
    xyz = np.concatenate([front, back])
    vis = visible_points(xyz, cam)
    assert vis[: len(uv)].all() and not vis[len(uv):].any()
    part = np.zeros((30, 40), bool)
    part[:, 20:] = True
    wd, ws, _ = backproject_weights(xyz, cam, part, np.ones((30, 40), bool))
    right = uv[:, 0] >= 20
    assert (wd[len(uv):][right] > ws[len(uv):][right]).all() and (wd[len(uv):][~right] < ws[len(uv):][~right]).all()


def test_grabcut_without_prompts_and_seams_refuse_missing_weights(tmp_path) -> None:
    img = np.zeros((10, 10, 3), np.uint8)
    assert not GrabCutSegmenter()(img, np.ones((10, 10), bool), np.zeros((0, 2)), np.zeros((0, 2))).any()
    with pytest.raises(ValueError, match="sam_checkpoint"):
        make_segmenter(SegmentationConfig(segmenter="sam"))
    with pytest.raises(ValueError, match="sam_checkpoint"):
        make_segmenter(SegmentationConfig(segmenter="sam", sam_checkpoint=str(tmp_path / "sam.pth")))
    with pytest.raises(ValueError, match=r"flow\.weights"):
        make_flow_model("torchscript", str(tmp_path / "raft.pt"))
    with pytest.raises(ValueError, match=r"flow\.method"):
        make_flow_model("optical-magic")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script/load
def test_torchscript_flow_seam_runs_a_local_model(tmp_path) -> None:
    torch = pytest.importorskip("torch")

    class ConstantFlow(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> list[torch.Tensor]:
            out = torch.zeros(a.shape[0], 2, a.shape[2], a.shape[3])
            out[:, 0] = 3.0
            return [out * 0.5, out]

    path = tmp_path / "flow.pt"
    torch.jit.script(ConstantFlow()).save(str(path))
    flow = TorchScriptFlow(path)(np.zeros((6, 8, 3), np.uint8), np.zeros((6, 8, 3), np.uint8))
    assert flow.shape == (6, 8, 2) and np.all(flow[..., 0] == 3.0) and np.all(flow[..., 1] == 0.0)
