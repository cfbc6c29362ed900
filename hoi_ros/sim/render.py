"""Per-frame rendering of PAM's condition channels (PAM §Stage II/III): RGB, metric depth,
segmentation (background / hand / each object) and the 2D hand-keypoint map.

Two MuJoCo passes per frame from one scene update:

1. the **shaded pass** (lights, shadows, multisampling) gives the RGB frame only;
2. the **id pass** (``mjRND_SEGMENT | mjRND_IDCOLOR``: flat colours = geom ids, no lighting, no
   shadows, no skybox) into a second, *single-sample* framebuffer gives segmentation **and** metric
   depth, read back together by one ``mjr_readPixels``.

Why depth comes from the id pass: the shaded pass's depth buffer is offset from the true surface
(measured against the analytic table plane: median 1.2 mm, up to 4.6 mm too near at 320x240; the
shaded pass draws geoms again for the shadowed light), while the flat single-sample pass agrees
with the camera model to float precision (``test/sim/test_render.py``). Why a second framebuffer:
with multisampling the resolve blends the id colours of neighbouring geoms at edges into ids of
unrelated geoms; a single-sample buffer gives one exact id per pixel centre. The id pass is also
the cheap one (no lighting, no shadow map, one sample); see ``docs/benchmarks.md``.

The keypoint map is drawn by :func:`hoi_ros.core.render.render_motion_video` (bones on black).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from hoi_ros.core.camera import Camera
from hoi_ros.sim.scene import SimScene

# Colours of the segmentation condition image: background, hand, object 0, object 1, ...
SEG_PALETTE = np.array(
    [[0, 0, 0], [255, 255, 255], [230, 60, 60], [60, 120, 240], [60, 200, 90], [240, 200, 40]], dtype=np.uint8
)


@dataclass
class Frames:
    """Rendered channels of T frames."""

    rgb: np.ndarray  # [T, H, W, 3] uint8
    depth: np.ndarray | None  # [T, H, W] float32 metres along the optical axis; 0 = no geometry
    segmentation: np.ndarray | None  # [T, H, W] uint8 labels (0 background, 1 hand, 2 + i object i)


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


def _context(model: mujoco.MjModel, samples: int) -> mujoco.MjrContext:
    """An ``MjrContext`` whose offscreen framebuffer has ``samples`` samples per pixel."""
    saved = model.vis.quality.offsamples
    model.vis.quality.offsamples = samples
    try:
        con = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100)
    finally:
        model.vis.quality.offsamples = saved
    mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, con)
    con.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
    return con


class SimRenderer:
    """Offscreen renderer of one :class:`SimScene` from its ``render`` camera (see module doc).

    ``samples`` is the multisampling of the shaded RGB pass (default: the scene's
    ``visual/quality/offsamples``); the id pass is always single-sample.
    """

    def __init__(self, scene: SimScene, camera: Camera, samples: int | None = None) -> None:
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
        self._con_rgb = _context(m, m.vis.quality.offsamples if samples is None else int(samples))
        self._con_id = _context(m, 0)
        self._scn = mujoco.MjvScene(m, maxgeom=2000)
        self._opt = mujoco.MjvOption()
        self._cam = mujoco.MjvCamera()
        self._cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._cam.fixedcamid = scene.camera_id
        self._rect = mujoco.MjrRect(0, 0, self.width, self.height)
        near = np.float32(m.vis.map.znear * m.stat.extent)
        far = np.float32(m.vis.map.zfar * m.stat.extent)
        # Reverse-Z window depth -> metric depth along the optical axis (glFrustum's terms in
        # float32, as mujoco.Renderer computes them).
        c = -(far + near) / (far - near)
        d = -(np.float32(2) * far * near) / (far - near)
        self._c, self._d = np.float32(np.float32(-0.5) * c - np.float32(0.5)), np.float32(np.float32(-0.5) * d)
        self._rgb = np.empty((self.height, self.width, 3), dtype=np.uint8)
        self._zbuf = np.empty((self.height, self.width), dtype=np.float32)
        self._ids = np.empty((self.height, self.width, 3), dtype=np.uint8)
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._gl.make_current()
            self._con_rgb.free()
            self._con_id.free()
            self._gl.free()
            self._closed = True

    def __enter__(self) -> SimRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self) -> None:
        """Take the scene's current state (call after ``mj_kinematics``/``mj_step``)."""
        if self._closed:
            raise RuntimeError("SimRenderer: render after close")
        self._gl.make_current()
        mujoco.mjv_updateScene(self.scene.model, self.scene.data, self._opt, None, self._cam,
                               mujoco.mjtCatBit.mjCAT_ALL, self._scn)

    def _rgb_pass(self) -> np.ndarray:
        con = self._con_rgb
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, con)
        mujoco.mjr_render(self._rect, self._scn, con)
        mujoco.mjr_readPixels(self._rgb, None, self._rect, con)
        return self._rgb[::-1].copy()

    def _id_pass(self, depth: bool, segmentation: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
        con = self._con_id
        flags = self._scn.flags
        flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = 1
        flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 1
        try:
            mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, con)
            mujoco.mjr_render(self._rect, self._scn, con)
            mujoco.mjr_readPixels(self._ids if segmentation else None, self._zbuf if depth else None,
                                  self._rect, con)
        finally:
            flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = 0
            flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 0
        dep = self._metric_depth(self._zbuf[::-1]) if depth else None
        seg = self._labels(self._ids[::-1]) if segmentation else None
        return dep, seg

    def _metric_depth(self, z: np.ndarray) -> np.ndarray:
        """Metres along the optical axis from reverse-Z window depth; 0 where nothing was drawn."""
        with np.errstate(divide="ignore"):
            dep = self._d / (z + self._c)
        dep[z <= 0] = 0.0
        return dep.astype(np.float32, copy=False)

    def _labels(self, ids: np.ndarray) -> np.ndarray:
        """Segmentation labels from the id colours (``segid + 1`` in 24-bit RGB, 0 = nothing)."""
        ngeom = self._scn.ngeom
        lut = np.zeros(max(ngeom + 1, 256), dtype=np.uint8)
        geoms = self._scn.geoms
        for i in range(ngeom):
            g = geoms[i]
            if g.objtype == mujoco.mjtObj.mjOBJ_GEOM and g.segid >= 0:
                lut[g.segid + 1] = self.scene.geom_label[g.objid]
        if ngeom < 255:  # every id fits the red channel
            return lut[ids[..., 0]]
        segid = ids[..., 0].astype(np.int32) | (ids[..., 1].astype(np.int32) << 8) | (
            ids[..., 2].astype(np.int32) << 16)
        return lut[np.minimum(segid, ngeom)]

    # ----------------------------------------------------------------- public
    def render_rgb(self) -> np.ndarray:
        """RGB ``[H, W, 3]`` of the current state: the shaded pass alone (the benchmark's reference)."""
        self.update()
        return self._rgb_pass()

    def render(self, depth: bool = True, segmentation: bool = True) -> tuple[np.ndarray, np.ndarray | None,
                                                                              np.ndarray | None]:
        """RGB ``[H, W, 3]``, depth ``[H, W]`` (m, 0 = empty) and labels ``[H, W]`` of the current state."""
        self.update()
        rgb = self._rgb_pass()
        dep, seg = self._id_pass(depth, segmentation) if (depth or segmentation) else (None, None)
        return rgb, dep, seg
