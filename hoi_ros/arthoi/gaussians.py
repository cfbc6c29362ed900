"""A differentiable 3D Gaussian renderer in pure torch (colour, silhouette, depth) for the CPU.

ArtHOI renders its object and human as 3D Gaussians (Kerbl et al., 2023) and compares the render
``R(G)`` and silhouette ``S(G)`` with the video and the masks (Eq. 6, 10). This renderer keeps
what those losses need and nothing that costs on a CPU:

- Gaussians are **isotropic** (one standard deviation ``sigma`` in metres each; the object's
  canonical Gaussians are small surface samples, so anisotropy buys little here); the projected
  footprint is the circle of standard deviation ``f * sigma / z`` (plus a 0.3 px blur that keeps
  sub-pixel Gaussians visible, as 3DGS's low-pass filter does);
- front-to-back alpha compositing: ``alpha_i = opacity_i * exp(-|p - mu_i|^2 / (2 s_i^2))``,
  ``T_i = prod_{j<i} (1 - alpha_j)``, colour ``sum_i T_i alpha_i c_i + T_N * background``,
  silhouette ``sum_i T_i alpha_i``, depth ``sum_i T_i alpha_i z_i / silhouette``;
- splatted, not dense: each Gaussian touches the pixels within 3 standard deviations of its
  centre (3DGS's tiles do the same culling), and only the pixels asked for (``pixels [P, 2]``, a
  crop); the per-pixel compositing is a segment cumulative sum over the splats sorted by pixel and
  depth. The sort is not differentiated (as in 3DGS). :func:`render_dense` is the untruncated
  reference.

Everything is differentiable with respect to the means, colours, sigmas and opacities (checked
against finite differences in ``test/arthoi/test_gaussians.py``). ``gsplat`` on CUDA is not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hoi_ros.core.camera import Camera

ALPHA_MAX = 0.99
PIXEL_BLUR = 0.3  # px, added in quadrature to every footprint
MAX_RADIUS_PX = 6  # splat window half-size cap (px)


@dataclass
class Gaussians:
    """Isotropic 3D Gaussians: means ``[G, 3]`` (m), colours ``[G, 3]`` in [0, 1], sigma ``[G]`` (m),
    opacity ``[G]`` in (0, 1)."""

    means: torch.Tensor
    colors: torch.Tensor
    sigma: torch.Tensor
    opacity: torch.Tensor

    def __post_init__(self) -> None:
        g = self.means.shape[0]
        if self.means.shape != (g, 3) or self.colors.shape != (g, 3):
            raise ValueError(f"gaussians: means and colors must be [G, 3], got {tuple(self.means.shape)} and "
                             f"{tuple(self.colors.shape)}")
        if self.sigma.shape != (g,) or self.opacity.shape != (g,):
            raise ValueError(f"gaussians: sigma and opacity must be [G], got {tuple(self.sigma.shape)} and "
                             f"{tuple(self.opacity.shape)}")

    def __len__(self) -> int:
        return int(self.means.shape[0])

    def with_means(self, means: torch.Tensor) -> Gaussians:
        return Gaussians(means, self.colors, self.sigma, self.opacity)


@dataclass
class TorchCamera:
    """A :class:`Camera` as tensors: intrinsics ``K`` and world->camera ``R``, ``t``."""

    K: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    width: int
    height: int

    @classmethod
    def from_camera(cls, camera: Camera, dtype: torch.dtype = torch.float32, scale: float = 1.0) -> TorchCamera:
        """The camera, optionally for an image resized by ``scale`` (pixel centres kept consistent)."""
        k = camera.intrinsics.copy()
        if scale != 1.0:
            k[:2, :2] *= scale
            k[:2, 2] = (k[:2, 2] + 0.5) * scale - 0.5
        ext = camera.extrinsics
        return cls(torch.as_tensor(k, dtype=dtype), torch.as_tensor(ext[:3, :3], dtype=dtype),
                   torch.as_tensor(ext[:3, 3], dtype=dtype), max(1, round(camera.width * scale)),
                   max(1, round(camera.height * scale)))

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels ``[..., 2]`` (u, v) and depth ``[...]`` of world points ``[..., 3]`` (Pi of Eq. 8)."""
        cam = points @ self.R.T + self.t
        z = cam[..., 2]
        zs = z.clamp(min=1e-6)
        u = self.K[0, 0] * cam[..., 0] / zs + self.K[0, 1] * cam[..., 1] / zs + self.K[0, 2]
        v = self.K[1, 1] * cam[..., 1] / zs + self.K[1, 2]
        return torch.stack([u, v], dim=-1), z

    def pixel_grid(self) -> torch.Tensor:
        """``[H * W, 2]`` (u, v) of every pixel centre, row-major."""
        dt = self.K.dtype
        v, u = torch.meshgrid(torch.arange(self.height, dtype=dt), torch.arange(self.width, dtype=dt), indexing="ij")
        return torch.stack([u.reshape(-1), v.reshape(-1)], dim=1)


def render(gaussians: Gaussians, camera: TorchCamera, pixels: torch.Tensor | None = None,
           background: torch.Tensor | tuple[float, float, float] = (0.0, 0.0, 0.0), near: float = 0.01,
           max_radius_px: int = MAX_RADIUS_PX) -> dict[str, torch.Tensor]:
    """Render at distinct integer pixel centres ``pixels`` ``[P, 2]`` (default: the whole image,
    row-major).

    Each Gaussian is splatted onto the ``(2R + 1)^2`` pixels around its centre, ``R`` covering
    3 standard deviations of the largest footprint (at most ``max_radius_px``); the per-pixel
    front-to-back products are segment cumulative sums over the (pixel, depth)-sorted splats.
    Returns ``rgb [P, 3]``, ``silhouette [P]`` (accumulated alpha, ``S(G)`` of Eq. 6) and
    ``depth [P]`` (alpha-weighted, 0 where nothing is drawn).
    """
    pix = camera.pixel_grid() if pixels is None else pixels
    dtype = gaussians.means.dtype
    h, w = camera.height, camera.width
    pix_i = torch.round(pix.detach()).long()
    lookup = torch.full((h * w,), -1, dtype=torch.long)
    lookup[pix_i[:, 1] * w + pix_i[:, 0]] = torch.arange(len(pix))
    uv, z = camera.project(gaussians.means)
    keep = torch.nonzero(z.detach() > near).reshape(-1)
    uv, z = uv[keep], z[keep]
    s2 = (camera.K[1, 1] * gaussians.sigma[keep] / z) ** 2 + PIXEL_BLUR**2  # [G]
    widest = float(s2.detach().max().sqrt()) if len(keep) else 0.0
    radius = min(max_radius_px, max(1, int(np.ceil(3.0 * widest))))
    off = torch.arange(-radius, radius + 1)
    oy, ox = torch.meshgrid(off, off, indexing="ij")
    centre = torch.round(uv.detach()).long()
    px = centre[:, None, 0] + ox.reshape(1, -1)  # [G, K]
    py = centre[:, None, 1] + oy.reshape(1, -1)
    inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    target = torch.where(inside, lookup[(py.clamp(0, h - 1) * w + px.clamp(0, w - 1))], torch.full_like(px, -1))
    g_idx, k_idx = torch.nonzero(target >= 0, as_tuple=True)
    p_idx = target[g_idx, k_idx]
    # Sort the splats by pixel, then front to back.
    rank = torch.empty(len(keep), dtype=torch.long)
    rank[torch.argsort(z.detach())] = torch.arange(len(keep))
    order = torch.argsort(p_idx * (len(keep) + 1) + rank[g_idx])
    g_idx, p_idx = g_idx[order], p_idx[order]
    dx = px[g_idx, k_idx[order]].to(dtype) - uv[g_idx, 0]
    dy = py[g_idx, k_idx[order]].to(dtype) - uv[g_idx, 1]
    alpha = (gaussians.opacity[keep][g_idx] * torch.exp(-0.5 * (dx * dx + dy * dy) / s2[g_idx])).clamp(max=ALPHA_MAX)
    la = torch.log1p(-alpha).double()
    incl = torch.cumsum(la, 0)
    excl = incl - la
    first = torch.ones_like(p_idx, dtype=torch.bool)
    first[1:] = p_idx[1:] != p_idx[:-1]
    seg_id = torch.cumsum(first.long(), 0) - 1
    trans = torch.exp(excl - excl[first][seg_id]).to(dtype)
    wgt = alpha * trans
    n = len(pix)
    sil = torch.zeros(n, dtype=dtype).index_add(0, p_idx, wgt)
    rgb = torch.zeros(n, 3, dtype=dtype).index_add(0, p_idx, wgt[:, None] * gaussians.colors[keep][g_idx])
    dep = torch.zeros(n, dtype=dtype).index_add(0, p_idx, wgt * z[g_idx])
    bg = torch.as_tensor(background, dtype=dtype)
    rgb = rgb + (1.0 - sil)[:, None] * bg
    depth = dep / sil.clamp(min=1e-8)
    return {"rgb": rgb, "silhouette": sil, "depth": torch.where(sil > 1e-6, depth, torch.zeros_like(depth))}


def render_dense(gaussians: Gaussians, camera: TorchCamera, pixels: torch.Tensor | None = None,
                 background: torch.Tensor | tuple[float, float, float] = (0.0, 0.0, 0.0), near: float = 0.01
                 ) -> dict[str, torch.Tensor]:
    """The same image without truncation (every Gaussian on every pixel): the reference
    :func:`render` is tested against; ``O(G * P)`` memory, for small scenes only."""
    pix = camera.pixel_grid() if pixels is None else pixels
    uv, z = camera.project(gaussians.means)
    idx = torch.nonzero(z.detach() > near).reshape(-1)
    order = idx[torch.argsort(z[idx].detach())]
    uv, z = uv[order], z[order]
    s2 = (camera.K[1, 1] * gaussians.sigma[order] / z) ** 2 + PIXEL_BLUR**2
    d2 = ((pix[None, :, :] - uv[:, None, :]) ** 2).sum(-1)
    alpha = (gaussians.opacity[order, None] * torch.exp(-0.5 * d2 / s2[:, None])).clamp(max=ALPHA_MAX)
    log_t = torch.cumsum(torch.log1p(-alpha), dim=0)
    trans = torch.exp(torch.cat([torch.zeros_like(log_t[:1]), log_t[:-1]], dim=0))
    wgt = alpha * trans
    sil = wgt.sum(0)
    bg = torch.as_tensor(background, dtype=pix.dtype)
    rgb = wgt.T @ gaussians.colors[order] + (1.0 - sil)[:, None] * bg
    depth = (wgt.T @ z) / sil.clamp(min=1e-8)
    return {"rgb": rgb, "silhouette": sil, "depth": torch.where(sil > 1e-6, depth, torch.zeros_like(depth))}


def render_image(gaussians: Gaussians, camera: TorchCamera, **kwargs) -> dict[str, torch.Tensor]:
    """:func:`render` over the whole image, reshaped to ``[H, W, ...]``."""
    out = render(gaussians, camera, None, **kwargs)
    h, w = camera.height, camera.width
    return {"rgb": out["rgb"].reshape(h, w, 3), "silhouette": out["silhouette"].reshape(h, w),
            "depth": out["depth"].reshape(h, w)}


def colors_from_image(xyz: np.ndarray, image: np.ndarray, camera: Camera, visible: np.ndarray,
                      k_neighbours: int = 6) -> np.ndarray:
    """``[G, 3]`` colours in [0, 1]: the frame-0 pixel under each visible point (App. A: canonical
    Gaussians initialised from the first frame); hidden points take their visible neighbours' mean."""
    from scipy.spatial import cKDTree

    xyz = np.asarray(xyz, dtype=np.float64)
    uv, _ = camera.project(xyz)
    px = np.round(np.nan_to_num(uv)).astype(int)
    px[:, 0] = np.clip(px[:, 0], 0, camera.width - 1)
    px[:, 1] = np.clip(px[:, 1], 0, camera.height - 1)
    col = np.asarray(image, dtype=np.float64)[px[:, 1], px[:, 0]] / 255.0
    vis = np.asarray(visible, dtype=bool)
    if vis.any() and (~vis).any():
        k = min(k_neighbours, int(vis.sum()))
        _, idx = cKDTree(xyz[vis]).query(xyz[~vis], k=k)
        col[~vis] = col[vis][idx.reshape(int((~vis).sum()), k)].mean(axis=1)
    return col


def surface_sigma(xyz: np.ndarray, spacing_factor: float = 0.7) -> float:
    """A Gaussian size that closes the gaps between surface samples: ``spacing_factor`` times the
    mean distance from each point to its nearest neighbour."""
    from scipy.spatial import cKDTree

    d, _ = cKDTree(np.asarray(xyz, dtype=np.float64)).query(xyz, k=2)
    return float(spacing_factor * d[:, 1].mean())


def canonical_gaussians(xyz0: np.ndarray, colors: np.ndarray, sigma: float | None, opacity: float,
                        dtype: torch.dtype = torch.float32, spacing_factor: float = 0.7) -> Gaussians:
    """The object's canonical Gaussians ``G^o(0)`` at surface points ``xyz0`` (world, frame 0);
    ``sigma`` None: :func:`surface_sigma`."""
    g = len(xyz0)
    if sigma is None:
        sigma = surface_sigma(xyz0, spacing_factor)
    return Gaussians(torch.as_tensor(np.asarray(xyz0), dtype=dtype), torch.as_tensor(np.asarray(colors), dtype=dtype),
                     torch.full((g,), float(sigma), dtype=dtype), torch.full((g,), float(opacity), dtype=dtype))
