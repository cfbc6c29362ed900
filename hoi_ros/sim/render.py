"""Per-frame rendering of PAM's condition channels (PAM §Stage II/III): RGB, metric depth,
segmentation (background / hand / each object) and the 2D hand-keypoint map.

Cost: RGB and depth come from one MuJoCo render pass (the colour and depth buffers of the same
pass are read together); segmentation needs one extra flat-shaded pass (``mjRND_SEGMENT``). The
keypoint map is drawn by :func:`hoi_ros.core.render.render_motion_video` (bones on black).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from hoi_ros.core.camera import Camera
from hoi_ros.core.render import render_motion_video
from hoi_ros.sim.scene import SimScene

# Colours of the segmentation condition image: background, hand, object 0, object 1, ...
SEG_PALETTE = np.array(
    [[0, 0, 0], [255, 255, 255], [230, 60, 60], [60, 120, 240], [60, 200, 90], [240, 200, 40]], dtype=np.uint8
)


@dataclass
class Frames:
    """Rendered channels of T frames."""

    rgb: np.ndarray  # [T, H, W, 3] uint8
    depth: np.ndarray  # [T, H, W] float32 metres along the optical axis; 0 = no geometry
    segmentation: np.ndarray  # [T, H, W] uint8 labels (0 background, 1 hand, 2 + i object i)


def segmentation_image(labels: np.ndarray) -> np.ndarray:
    """``[..., H, W, 3] uint8`` colour image of segmentation labels (PAM's mask condition)."""
    return SEG_PALETTE[np.minimum(labels, len(SEG_PALETTE) - 1)]


def depth_image(depth: np.ndarray, near: float = 0.2, far: float = 1.2) -> np.ndarray:
    """``[..., H, W, 3] uint8`` depth condition: near = bright, far and empty = black."""
    d = np.asarray(depth, dtype=np.float32)
    v = np.clip((far - d) / (far - near), 0.0, 1.0)
    v[d <= 0] = 0.0
    g = (v * 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def keypoint_maps(hand_joints: np.ndarray, camera: Camera) -> np.ndarray:
    """PAM's 2D hand-keypoint condition: bones drawn on black (the core motion-video drawing)."""
    return render_motion_video(hand_joints, None, camera)


class SimRenderer:
    """Offscreen renderer of one :class:`SimScene` from its ``render`` camera."""

    def __init__(self, scene: SimScene, camera: Camera) -> None:
        self.scene = scene
        m = scene.model
        if camera.width > m.vis.global_.offwidth or camera.height > m.vis.global_.offheight:
            raise ValueError(
                f"camera: {camera.width}x{camera.height} exceeds the scene's offscreen buffer "
                f"{m.vis.global_.offwidth}x{m.vis.global_.offheight}"
            )
        self.camera = camera
        scene.set_camera(camera)
        self.width, self.height = camera.width, camera.height
        self._gl = mujoco.GLContext(self.width, self.height)
        self._gl.make_current()
        self._con = mujoco.MjrContext(m, mujoco.mjtFontScale.mjFONTSCALE_100)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._con)
        self._con.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self._scn = mujoco.MjvScene(m, maxgeom=2000)
        self._opt = mujoco.MjvOption()
        self._cam = mujoco.MjvCamera()
        self._cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._cam.fixedcamid = scene.camera_id
        self._rect = mujoco.MjrRect(0, 0, self.width, self.height)
        near = np.float32(m.vis.map.znear * m.stat.extent)
        far = np.float32(m.vis.map.zfar * m.stat.extent)
        # Reverse-Z depth buffer -> metric depth (as mujoco.Renderer does).
        c = -(far + near) / (far - near)
        d = -(np.float32(2) * far * near) / (far - near)
        self._c, self._d = np.float32(-0.5) * c - np.float32(0.5), np.float32(-0.5) * d
        self._rgb = np.empty((self.height, self.width, 3), dtype=np.uint8)
        self._zbuf = np.empty((self.height, self.width), dtype=np.float32)
        self._ids = np.empty((self.height, self.width, 3), dtype=np.uint8)

    def close(self) -> None:
        if self._con is not None:
            self._gl.make_current()
            self._con.free()
            self._con = None
            self._gl.free()

    def __enter__(self) -> SimRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _update(self) -> None:
        mujoco.mjv_updateScene(self.scene.model, self.scene.data, self._opt, None, self._cam,
                               mujoco.mjtCatBit.mjCAT_ALL, self._scn)

    def render_rgb(self) -> np.ndarray:
        """RGB only (one pass); the reference cost for the benchmark."""
        self._gl.make_current()
        self._update()
        mujoco.mjr_render(self._rect, self._scn, self._con)
        mujoco.mjr_readPixels(self._rgb, None, self._rect, self._con)
        return self._rgb[::-1].copy()

    def render(self, depth: bool = True, segmentation: bool = True) -> tuple[np.ndarray, np.ndarray | None,
                                                                              np.ndarray | None]:
        """RGB ``[H, W, 3]``, depth ``[H, W]`` (m, 0 = empty) and labels ``[H, W]`` of the current state."""
        self._gl.make_current()
        self._update()
        mujoco.mjr_render(self._rect, self._scn, self._con)
        mujoco.mjr_readPixels(self._rgb, self._zbuf if depth else None, self._rect, self._con)
        rgb = self._rgb[::-1].copy()
        dep = None
        if depth:
            z = self._zbuf[::-1].astype(np.float64)
            with np.errstate(divide="ignore"):
                dep = (self._d / (z + self._c)).astype(np.float32)
            dep[z <= 0] = 0.0
        seg = None
        if segmentation:
            flags = self._scn.flags
            flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = 1
            flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 1
            try:
                mujoco.mjr_render(self._rect, self._scn, self._con)
                mujoco.mjr_readPixels(self._ids, None, self._rect, self._con)
            finally:
                flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = 0
                flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 0
            seg = self._labels(self._ids[::-1])
        return rgb, dep, seg

    def _labels(self, ids: np.ndarray) -> np.ndarray:
        ngeom = self._scn.ngeom
        lut = np.zeros(ngeom + 1, dtype=np.uint8)
        geoms = self._scn.geoms
        for i in range(ngeom):
            g = geoms[i]
            if g.objtype == mujoco.mjtObj.mjOBJ_GEOM and g.segid >= 0:
                lut[g.segid + 1] = self.scene.geom_label[g.objid]
        segid = ids[..., 0].astype(np.int32) | (ids[..., 1].astype(np.int32) << 8) | (
            ids[..., 2].astype(np.int32) << 16)
        return lut[np.minimum(segid, ngeom)]
