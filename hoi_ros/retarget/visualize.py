"""The visual check: human keypoints and the retargeted robot hand side by side (MuJoCo offscreen).

    python -m hoi_ros.retarget.visualize INPUT [--robot allegro] [--config config/retarget/default.yaml]
        [--out out/retarget] [--size 320] [--stride 1] [--name STEM]

``INPUT`` is a saved ``HOISequence`` (``.npz``), an ``.npz`` with a ``keypoints [T, 21, 3]``
array (e.g. ``/work/shared/data/real_hand/human_joint_right.npz``, 30 fps) or ``synthetic`` (the
core's reach-grasp-lift). Writes ``<out>/<stem>.mp4`` (stem: ``--name`` or ``<input name>_<robot>``;
left: the human keypoints in the palm frame at the robot's size, coloured per finger; right: the
robot hand, with the human fingertip targets as small spheres) and ``<out>/<stem>.png`` (a contact
sheet of both rows).
Both panels use the same camera in the palm frame (fingers along +x, thumb towards +y).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from hoi_ros.core.hand import BONES, FINGER_COLORS, JOINT_FINGER
from hoi_ros.retarget.config import RetargetConfig
from hoi_ros.retarget.human import hand_of
from hoi_ros.retarget.solver import RetargetResult, SequenceRetargeter

_GREY = np.array([0.85, 0.85, 0.85, 1.0])


def _rgba(finger: int, alpha: float = 1.0) -> np.ndarray:
    rgb = FINGER_COLORS[finger] / 255.0 if finger >= 0 else _GREY[:3]
    return np.array([*rgb, alpha], dtype=np.float32)


class SideBySideRenderer:
    """Renders frames of a retargeting result; ``close()`` (or ``with``) frees the GL context."""

    def __init__(self, retargeter: SequenceRetargeter, size: int = 320, distance: float = 0.38,
                 azimuth: float = 120.0, elevation: float = -40.0) -> None:
        os.environ.setdefault("MUJOCO_GL", "osmesa")
        import mujoco

        self.mujoco = mujoco
        self.rt = retargeter
        xml = retargeter.desc.to_mjcf()
        xml = xml.replace("<asset>", '<asset><texture type="skybox" builtin="gradient" rgb1="0.95 0.95 0.97" '
                          'rgb2="0.7 0.72 0.78" width="64" height="64"/>', 1)
        xml = xml.replace("<worldbody>", f'<visual><global offwidth="{size}" offheight="{size}"/></visual>\n'
                          '<worldbody><light pos="0.1 0.3 0.5" dir="0 -0.5 -1" diffuse="0.6 0.6 0.6"/>', 1)
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.data = mujoco.MjData(self.model)
        self.renderer = mujoco.Renderer(self.model, height=size, width=size)
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.lookat[:] = (0.11, 0.0, -0.02)
        self.camera.distance, self.camera.azimuth, self.camera.elevation = distance, azimuth, elevation
        kin = retargeter.kin
        self.qpos_index = [int(self.model.joint(n).qposadr[0]) for n in kin.full_joint_names]

    def __enter__(self) -> SideBySideRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.renderer.close()

    def _add(self, kind: int, size: tuple[float, float, float], pos: np.ndarray, rgba: np.ndarray) -> int:
        scene = self.renderer.scene
        if scene.ngeom >= scene.maxgeom:
            raise RuntimeError("visualize: MuJoCo scene is full")
        i = scene.ngeom
        self.mujoco.mjv_initGeom(scene.geoms[i], kind, np.asarray(size, float), np.asarray(pos, float),
                                 np.eye(3).reshape(-1), rgba)
        scene.ngeom += 1
        return i

    def _bone(self, a: np.ndarray, b: np.ndarray, width: float, rgba: np.ndarray) -> None:
        mj = self.mujoco
        i = self._add(mj.mjtGeom.mjGEOM_CAPSULE, (width, 0.0, 0.0), a, rgba)
        mj.mjv_connector(self.renderer.scene.geoms[i], mj.mjtGeom.mjGEOM_CAPSULE, width, np.asarray(a, float),
                         np.asarray(b, float))

    def frame(self, qfull: np.ndarray, human: np.ndarray) -> np.ndarray:
        """``[H, 2W, 3]``: the human keypoints ``human [21, 3]`` (palm frame, robot size) | the robot."""
        mj = self.mujoco
        self.data.qpos[self.qpos_index] = qfull
        mj.mj_kinematics(self.model, self.data)
        # Human panel: the robot's geoms are dropped from the scene, the skeleton drawn instead.
        self.renderer.update_scene(self.data, camera=self.camera)
        self.renderer.scene.ngeom = 0
        for j in range(human.shape[0]):
            self._add(mj.mjtGeom.mjGEOM_SPHERE, (0.008, 0, 0), human[j], _rgba(int(JOINT_FINGER[j])))
        for (a, b), finger in zip(BONES, JOINT_FINGER[[b for _, b in BONES]]):
            self._bone(human[a], human[b], 0.0055, _rgba(int(finger)))
        left = self.renderer.render().copy()
        # Robot panel, with the human fingertip targets it aimed for.
        self.renderer.update_scene(self.data, camera=self.camera)
        for tip in self.rt.objective.tip_human:
            self._add(mj.mjtGeom.mjGEOM_SPHERE, (0.005, 0, 0), human[tip], _rgba(int(JOINT_FINGER[tip]), 0.5))
        right = self.renderer.render().copy()
        return np.concatenate([left, right], axis=1)


def render_result(retargeter: SequenceRetargeter, result: RetargetResult, local: np.ndarray, size: int = 320,
                  labels: bool = True) -> np.ndarray:
    """``[T, size, 2 size, 3] uint8`` side-by-side frames; ``local``: palm-frame human keypoints."""
    human = local * result.scale
    with SideBySideRenderer(retargeter, size) as renderer:
        frames = np.stack([renderer.frame(result.full_qpos[t], human[t]) for t in range(result.num_frames)])
    if labels:
        from PIL import Image, ImageDraw

        for t in range(len(frames)):
            img = Image.fromarray(frames[t])
            draw = ImageDraw.Draw(img)
            draw.text((6, 4), "human (robot size)", fill=(20, 20, 20))
            draw.text((size + 6, 4), f"{result.robot}  tip err {result.fingertip_error[t].mean() * 1000:.1f} mm",
                      fill=(20, 20, 20))
            frames[t] = np.asarray(img)
    return frames


def load_keypoints(source: str) -> tuple[str, np.ndarray, float]:
    """(name, keypoints [T, J, 3], fps) of a saved HOISequence, a ``keypoints`` npz, or ``synthetic``."""
    if source == "synthetic":
        from hoi_ros.core.synthetic import reach_grasp_lift

        seq = reach_grasp_lift(num_frames=60, fps=30.0)
        return "synthetic", seq.hand_joints, seq.fps
    path = Path(source)
    if not path.exists():
        raise ValueError(f"input: {source!r} does not exist (a .npz sequence, a keypoints .npz or 'synthetic')")
    with np.load(path, allow_pickle=False) as data:
        if "keypoints" in data:
            return path.stem, np.asarray(data["keypoints"]), float(data["fps"]) if "fps" in data else 30.0
    from hoi_ros.core.sequence import HOISequence

    seq = HOISequence.load(path, load_video=False)
    return path.stem, hand_of(seq.hand_joints, seq.hand_sides), seq.fps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--robot", default=None, help="robot (default: the config's)")
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[2] / "config/retarget/default.yaml"))
    ap.add_argument("--out", default="out/retarget")
    ap.add_argument("--size", type=int, default=320, help="panel size in pixels")
    ap.add_argument("--stride", type=int, default=1, help="render every k-th frame (the video plays at fps / k)")
    ap.add_argument("--columns", type=int, default=8, help="contact sheet columns")
    ap.add_argument("--name", default=None, help="output file stem (default: <input name>_<robot>)")
    args = ap.parse_args(argv)
    from hoi_ros.core.io import write_video
    from hoi_ros.core.visualize import contact_sheet, save_png

    name, keypoints, fps = load_keypoints(args.input)
    config = RetargetConfig.from_yaml(args.config)
    rt = SequenceRetargeter(args.robot or config.robot, config)
    result = rt.retarget(keypoints, fps=fps)
    local, _ = rt.palm_keypoints(keypoints)
    if args.stride < 1:
        raise ValueError(f"stride: must be a positive integer, got {args.stride}")
    if args.stride > 1:
        keep = np.arange(0, result.num_frames, args.stride)
        result = _take(result, keep)
        local = local[keep]
    frames = render_result(rt, result, local, args.size)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.name or f"{name}_{result.robot}"
    video = write_video(out / f"{stem}.mp4", frames, fps / args.stride)
    half = frames.shape[2] // 2
    sheet = contact_sheet([frames[:, :, :half], frames[:, :, half:]], labels=["human", result.robot],
                          columns=args.columns)
    png = save_png(out / f"{stem}.png", sheet)
    print(f"{video}\n{png}\nmean fingertip error {result.fingertip_error.mean() * 1000:.2f} mm, "
          f"{int(result.collision.sum())} collision frames, {result.num_frames} frames")
    return 0


def _take(res: RetargetResult, idx: np.ndarray) -> RetargetResult:
    """The frames ``idx`` of a result (for rendering a prefix)."""
    from dataclasses import replace

    return replace(res, qpos=res.qpos[idx], full_qpos=res.full_qpos[idx], wrist_pose=res.wrist_pose[idx],
                   fingertip_error=res.fingertip_error[idx], collision=res.collision[idx],
                   min_distance=res.min_distance[idx])


if __name__ == "__main__":
    raise SystemExit(main())
