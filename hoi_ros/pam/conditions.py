"""PAM's three conditions: depth, segmentation and hand keypoints (paper, Stage II and Stage III).

Each condition is an ``H × W × 3`` image per frame (the paper's ``D_t``, ``S_t``, ``K_t``), encoded
by the VAE to ``C``-channel latents (16 at the paper's scale) and the three concatenated
channel-wise, in :data:`CONDITIONS` order, into the ControlNet's input. In Stage III training each
condition is masked (its latent zeroed) with p = 0.2, "to prevent over-reliance on any single
modality"; at inference the same mask selects the ablation's condition subsets (:data:`SUBSETS`).

The images are drawn from the sim's fields (:mod:`hoi_ros.data.sim`, ``fields=("depth",
"segmentation", "keypoint_map")``): depth in metres → grey, near bright, over the clip's valid range
(0 = nothing hit stays black); segmentation labels → a fixed palette (0 background black);
the keypoint map is already an RGB image (bones on black).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

CONDITIONS = ("depth", "segmentation", "keypoint_map")

# The paper's ablation (Table "condition combinations"): name → conditions kept.
SUBSETS: dict[str, tuple[str, ...]] = {
    "seg": ("segmentation",),
    "depth": ("depth",),
    "hand": ("keypoint_map",),
    "depth+seg": ("depth", "segmentation"),
    "all": CONDITIONS,
}

# Label → RGB for segmentation images (0 background, 1 hand, 2+ objects / parts); cycles past the end.
PALETTE = torch.tensor(
    [[0, 0, 0], [230, 180, 140], [60, 120, 230], [90, 200, 90], [220, 70, 70], [200, 200, 60],
     [160, 90, 200], [70, 200, 200]], dtype=torch.uint8,
)


def subset_keep(subset: str, batch_size: int = 1) -> torch.Tensor:
    """Bool ``[B, 3]`` keep-mask of a condition subset (one of :data:`SUBSETS`)."""
    if subset not in SUBSETS:
        raise ValueError(f"condition subset: one of {sorted(SUBSETS)}, got {subset!r}")
    row = torch.tensor([c in SUBSETS[subset] for c in CONDITIONS])
    return row.expand(batch_size, -1).clone()


def draw_condition_keep(batch_size: int, p: float, generator: torch.Generator | None = None,
                        num_conditions: int = len(CONDITIONS), device: torch.device | str = "cpu") -> torch.Tensor:
    """Bool ``[B, K]``: each condition of each sample kept with probability ``1 − p`` (independently)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"condition mask probability: must be in [0, 1], got {p}")
    u = torch.rand(batch_size, num_conditions, generator=generator, device=generator.device if generator else "cpu")
    return (u >= p).to(device)


def apply_condition_keep(latents: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Zero the masked conditions of channel-concatenated condition latents.

    ``latents`` is ``[B, F, K·C, h, w]`` (video) or ``[B, K·C, h, w]`` (image), the K conditions
    in equal channel blocks; ``keep`` is bool ``[B, K]``.
    """
    b, k = keep.shape
    channel_dim = 2 if latents.ndim == 5 else 1
    total = latents.shape[channel_dim]
    if latents.shape[0] != b or total % k:
        raise ValueError(f"condition latents {tuple(latents.shape)} do not split into {k} conditions for batch {b}")
    factor = keep.to(latents.dtype).repeat_interleave(total // k, dim=1)  # [B, K·C]
    shape = [b] + [1] * (latents.ndim - 1)
    shape[channel_dim] = total
    return latents * factor.view(shape)


def depth_image(depth: torch.Tensor) -> torch.Tensor:
    """Metric depth ``[..., T, H, W]`` (0 = nothing hit) → uint8 ``[..., T, H, W, 3]``, near bright."""
    d = depth.float()
    valid = d > 0
    if not bool(valid.any()):
        return torch.zeros(*d.shape, 3, dtype=torch.uint8, device=d.device)
    lo, hi = d[valid].min(), d[valid].max()
    x = 1.0 - (d - lo) / (hi - lo).clamp_min(1e-6)
    x = torch.where(valid, 0.2 + 0.8 * x, torch.zeros_like(x))  # hits stay distinguishable from misses
    g = (x * 255.0).round().clamp(0, 255).to(torch.uint8)
    return g[..., None].expand(*g.shape, 3).contiguous()


def segmentation_image(labels: torch.Tensor) -> torch.Tensor:
    """Integer labels ``[..., H, W]`` → uint8 ``[..., H, W, 3]`` colours from :data:`PALETTE`."""
    lab = labels.long()
    idx = torch.where(lab > 0, (lab - 1) % (len(PALETTE) - 1) + 1, torch.zeros_like(lab))
    return PALETTE.to(labels.device)[idx]


def condition_images(item: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The three condition images (uint8 ``[..., T, H, W, 3]``) from a sim item's fields."""
    missing = [c for c in CONDITIONS if c not in item]
    if missing:
        raise ValueError(f"conditions: the item lacks {missing}; load it with fields={CONDITIONS}")
    return {
        "depth": depth_image(item["depth"]),
        "segmentation": segmentation_image(item["segmentation"]),
        "keypoint_map": item["keypoint_map"].to(torch.uint8),
    }


def encode_conditions(images: Mapping[str, torch.Tensor],
                      encode: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Encode each condition video ``[B, T, H, W, 3]`` with ``encode`` (e.g.
    :meth:`hoi_ros.diffusion.vae.VideoVAE.encode` → ``[B, F, C, h, w]``) and concatenate the three
    along channels in :data:`CONDITIONS` order → ``[B, F, 3·C, h, w]``. The three are encoded as one
    batch (the VAE treats samples independently; one call is ≈ 2× faster on a CPU)."""
    b = images[CONDITIONS[0]].shape[0]
    latents = encode(torch.cat([images[c] for c in CONDITIONS], dim=0))  # [3B, F, C, h, w]
    return torch.cat(latents.split(b, dim=0), dim=2)
