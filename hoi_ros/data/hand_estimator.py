"""A small 2D hand estimator for sim-rendered frames: 21 keypoints (pixels) and the hand's mask.

PAM's evaluation measures the hand in generated video by running a hand-keypoint estimator on the
frames (paper, Table 1's MPJPE). MediaPipe's landmark model is the instrument for photo-like video;
the sim's flat-shaded hand is outside what it was trained on, so this estimator is trained on sim
frames (ground truth from the renderer: projected joints, segmentation label 1) and measured on
held-out sim frames before it is trusted on generated ones. Written here because no pretrained
estimator for this renderer's hand exists.

Architecture: a four-level U-Net-like CNN; keypoints by soft-argmax over 21 heat maps at half
resolution (sub-pixel, differentiable), the mask as logits at full resolution. Loss: L1 on the
in-frame keypoints (pixels) + binary cross-entropy of the mask.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hoi_ros.core.camera import Camera

NUM_JOINTS = 21


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU())


@dataclass
class EstimatorConfig:
    """Widths of the four levels."""

    widths: tuple[int, int, int, int] = (8, 16, 32, 48)


class HandEstimator(nn.Module):
    """uint8-range frames ``[B, H, W, 3]`` (H, W multiples of 8) → keypoints ``[B, 21, 2]`` (u, v
    pixels) and mask logits ``[B, H, W]``."""

    def __init__(self, cfg: EstimatorConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or EstimatorConfig()
        w = self.cfg.widths
        self.enc = nn.ModuleList([_block(3, w[0]), _block(w[0], w[1]), _block(w[1], w[2]), _block(w[2], w[3])])
        self.dec2 = _block(w[3] + w[2], w[2])
        self.dec1 = _block(w[2] + w[1], w[1])
        self.dec0 = _block(w[1] + w[0], w[0])
        self.heat = nn.Conv2d(w[1], NUM_JOINTS, 1)
        self.mask = nn.Conv2d(w[0], 1, 1)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = frames.float().permute(0, 3, 1, 2) / 127.5 - 1.0
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x if i == 0 else F.avg_pool2d(x, 2))
            skips.append(x)
        up = lambda z: F.interpolate(z, scale_factor=2.0, mode="nearest")  # noqa: E731
        x = self.dec2(torch.cat([up(skips[3]), skips[2]], 1))
        x1 = self.dec1(torch.cat([up(x), skips[1]], 1))  # half resolution
        x0 = self.dec0(torch.cat([up(x1), skips[0]], 1))
        return soft_argmax(self.heat(x1), scale=2.0), self.mask(x0)[:, 0]


def soft_argmax(heat: torch.Tensor, scale: float) -> torch.Tensor:
    """Expected pixel (u, v) of each softmaxed heat map ``[B, J, h, w]`` at ``scale`` × its resolution
    (pixel-centre convention: centre of cell i is at (i + 0.5)·scale − 0.5)."""
    b, j, h, w = heat.shape
    p = heat.flatten(2).softmax(-1).view(b, j, h, w)
    us = (torch.arange(w, dtype=p.dtype) + 0.5) * scale - 0.5
    vs = (torch.arange(h, dtype=p.dtype) + 0.5) * scale - 0.5
    return torch.stack([(p.sum(2) * us).sum(-1), (p.sum(3) * vs).sum(-1)], dim=-1)


def item_keypoints(item: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """A dataset item's hand joints in its video's pixels: keypoints ``[T, 21, 2]`` float32 and
    ``visible [T, 21]`` (inside the image), through the item's camera."""
    h, w = int(item["video"].shape[1]), int(item["video"].shape[2])
    cam = Camera(w, h, item["intrinsics"].numpy(), item["extrinsics"].numpy())
    kp, _ = cam.project(item["hand"].numpy().astype(np.float64))
    with np.errstate(invalid="ignore"):  # NaN behind the camera: not visible
        visible = (kp[..., 0] >= 0) & (kp[..., 0] <= w - 1) & (kp[..., 1] >= 0) & (kp[..., 1] <= h - 1)
    return kp.astype(np.float32), visible


def frames_from_dataset(root: str | Path, size: tuple[int, int], num_frames: int, fps: float,
                        limit: int | None = None) -> dict[str, np.ndarray]:
    """Every frame of a sim dataset with its truth: ``frames [N, H, W, 3]``, ``keypoints [N, 21, 2]``,
    ``visible [N, 21]`` (inside the image), ``mask [N, H, W]`` (segmentation label 1, the hand)."""
    from hoi_ros.data.sim import SimHOIDataset

    ds = SimHOIDataset(root, num_frames=num_frames, fps=fps, size=size, fields=("segmentation",))
    out: dict[str, list[np.ndarray]] = {"frames": [], "keypoints": [], "visible": [], "mask": []}
    for i in range(len(ds) if limit is None else min(limit, len(ds))):
        item = ds[i]
        kp, visible = item_keypoints(item)
        out["frames"].append(item["video"].numpy())
        out["keypoints"].append(kp)
        out["visible"].append(visible)
        out["mask"].append(item["segmentation"].numpy() == 1)
    return {k: np.concatenate(v) for k, v in out.items()}


def estimator_loss(model: HandEstimator, frames: torch.Tensor, keypoints: torch.Tensor, visible: torch.Tensor,
                   mask: torch.Tensor) -> torch.Tensor:
    """Mean L1 (pixels) over visible keypoints + BCE of the hand mask."""
    pred_kp, logits = model(frames)
    vis = visible.float()[..., None]
    kp = ((pred_kp - keypoints).abs() * vis).sum() / vis.sum().clamp(min=1.0) / 2.0
    return kp + F.binary_cross_entropy_with_logits(logits, mask.float())


def train_estimator(data: dict[str, np.ndarray], steps: int = 3000, batch_size: int = 32, lr: float = 2e-3,
                    seed: int = 0, progress: bool = True, cfg: EstimatorConfig | None = None) -> HandEstimator:
    """Adam with cosine decay on random frames of ``data`` (:func:`frames_from_dataset`); frames with
    no visible keypoint are kept for the mask."""
    from tqdm.auto import tqdm

    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HandEstimator(cfg)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in data.items()}
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    n = tensors["frames"].shape[0]
    bar = tqdm(range(steps), desc="hand estimator", disable=not progress)
    for _ in bar:
        idx = torch.randint(0, n, (batch_size,), generator=g)
        batch = {k: v[idx] for k, v in tensors.items()}
        loss = estimator_loss(model, batch["frames"], batch["keypoints"], batch["visible"], batch["mask"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


@torch.no_grad()
def predict(model: HandEstimator, frames: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints ``[N, 21, 2]`` and boolean masks ``[N, H, W]`` of uint8 frames ``[N, H, W, 3]``."""
    kps, masks = [], []
    for i in range(0, len(frames), batch_size):
        kp, logits = model(torch.from_numpy(np.ascontiguousarray(frames[i:i + batch_size])))
        kps.append(kp.numpy())
        masks.append((logits > 0).numpy())
    return np.concatenate(kps), np.concatenate(masks)


def keypoint_error(pred: np.ndarray, truth: np.ndarray, visible: np.ndarray) -> float:
    """Mean pixel distance over visible joints (MPJPE in pixels)."""
    d = np.linalg.norm(pred - truth, axis=-1)
    return float(d[visible].mean()) if visible.any() else float("nan")


def mask_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean mask stacks (over all frames; 1 when both are empty)."""
    union = np.logical_or(pred, truth).sum()
    return float(np.logical_and(pred, truth).sum() / union) if union else 1.0


def save_estimator(model: HandEstimator, folder: str | Path, info: dict[str, Any] | None = None) -> Path:
    """``folder/model.safetensors`` + ``config.json`` (architecture and ``info``, e.g. held-out scores)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"widths": list(model.cfg.widths), **(info or {})}, indent=2))
    return folder


def load_estimator(folder: str | Path) -> HandEstimator:
    """The estimator saved by :func:`save_estimator` (safetensors only)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg = json.loads((folder / "config.json").read_text())
    model = HandEstimator(EstimatorConfig(tuple(cfg["widths"])))
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    return model.eval()
