"""From a video of a real hand to a robot hand: MediaPipe hand landmarks -> retargeting -> side-by-side video.

    python -m hoi_ros.retarget.from_video VIDEO.mp4 [--robot allegro] [--config config/retarget/default.yaml]
        [--out out/from_video] [--max-frames N] [--stride K] [--size 240] [--streaming]
        [--reference KEYPOINTS.npz]

Needs the optional extra ``pip install --no-deps -r requirements/video.txt`` (MediaPipe; its hand
detection and landmark models ship inside the wheel, nothing is downloaded). Every frame goes
through MediaPipe Hands (Zhang et al., *MediaPipe Hands: On-device Real-time Hand Tracking*, 2020:
palm detector + landmark model, tracking between frames); its *world* landmarks (21 points, metres,
about the hand's centre) are the human keypoints. Frames without a detection are filled by linear
interpolation between detected ones (reported). The keypoints are retargeted as a whole sequence
(:class:`SequenceRetargeter`) or frame by frame as they arrive (``--streaming``,
:class:`StreamingRetargeter`); handedness comes from the palm's orientation
(:mod:`.handedness`), not from MediaPipe's label (which assumes a mirrored selfie image).

Writes ``<out>/<stem>_<robot>.mp4`` (the video frame with the detected landmarks | the keypoints in
the palm frame at the robot's size | the robot hand), ``<out>/<stem>_<robot>.npz`` (``keypoints``,
``detected``, ``qpos``, ``full_qpos``, ``joint_names``, ``full_joint_names``, ``wrist_pose``,
``fps``) and, with ``--reference`` (an npz with ``keypoints [T, 21, 3]`` of the same video), the
distance between the detected and the reference keypoints after a rigid alignment per frame.

For a ROS node, :class:`ImageStreamRetargeter` takes one RGB image at a time and returns the
robot joints (``StreamFrame``) or ``None`` when no hand is seen; :func:`retarget_frames` does a
whole list of images at once.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hoi_ros.retarget.config import RetargetConfig
from hoi_ros.retarget.solver import RetargetResult, SequenceRetargeter
from hoi_ros.retarget.streaming import StreamFrame, StreamingRetargeter

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "retarget" / "default.yaml"
STREAMING_CONFIG = Path(__file__).resolve().parents[2] / "config" / "retarget" / "streaming.yaml"


def _mediapipe_hands():  # the mediapipe.python.solutions.hands module (optional dependency)
    try:
        from mediapipe.python.solutions import hands
    except ImportError as exc:
        raise ImportError("from_video needs MediaPipe: pip install --no-deps -r requirements/video.txt "
                          f"({type(exc).__name__}: {exc})") from exc
    return hands


@dataclass
class Detection:
    """One detected hand: world landmarks (metres) and image landmarks (pixels)."""

    world: np.ndarray  # [21, 3]
    image: np.ndarray  # [21, 2] (x, y) pixels
    score: float


class HandLandmarker:
    """MediaPipe Hands on RGB images, one hand; tracks between consecutive frames (video mode)."""

    def __init__(self, video_mode: bool = True, model_complexity: int = 1, min_confidence: float = 0.5) -> None:
        hands = _mediapipe_hands()
        self._hands = hands.Hands(static_image_mode=not video_mode, max_num_hands=1,
                                  model_complexity=model_complexity, min_detection_confidence=min_confidence,
                                  min_tracking_confidence=min_confidence)

    def detect(self, rgb: np.ndarray) -> Detection | None:
        """The hand in an ``[H, W, 3] uint8`` RGB image, or ``None``."""
        rgb = np.ascontiguousarray(rgb)
        if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"image: expected [H, W, 3] uint8 RGB, got {rgb.shape} {rgb.dtype}")
        res = self._hands.process(rgb)
        if not res.multi_hand_world_landmarks:
            return None
        world = np.array([[p.x, p.y, p.z] for p in res.multi_hand_world_landmarks[0].landmark])
        h, w = rgb.shape[:2]
        image = np.array([[p.x * w, p.y * h] for p in res.multi_hand_landmarks[0].landmark])
        score = float(res.multi_handedness[0].classification[0].score) if res.multi_handedness else 1.0
        return Detection(world, image, score)

    def close(self) -> None:
        self._hands.close()

    def __enter__(self) -> HandLandmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_frames(path: str | Path, max_frames: int | None = None, stride: int = 1) -> tuple[Iterator[np.ndarray], float]:
    """(an iterator over the RGB frames ``[H, W, 3] uint8`` of a video, every ``stride``-th, at most
    ``max_frames``; the video's fps). Frames are decoded one at a time (a long video never sits in memory)."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.exists():
        raise ValueError(f"video: {path} does not exist")
    if stride < 1:
        raise ValueError(f"stride: must be a positive integer, got {stride}")
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(reader)
    width, height = meta["size"]

    def frames() -> Iterator[np.ndarray]:
        kept = 0
        try:
            for i, buf in enumerate(reader):
                if i % stride:
                    continue
                if max_frames is not None and kept >= max_frames:
                    break
                kept += 1
                yield np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3)
        finally:
            reader.close()

    return frames(), float(meta["fps"])


@dataclass
class VideoHands:
    """The hand of every frame of a video."""

    keypoints: np.ndarray  # [T, 21, 3] world landmarks, gaps filled by interpolation
    image_points: np.ndarray  # [T, 21, 2] pixels (NaN where not detected)
    detected: np.ndarray  # [T] bool
    fps: float
    thumbnails: np.ndarray  # [T, h, w, 3] uint8 frames scaled for the output video
    scale: float  # thumbnail pixels per video pixel
    detect_seconds: float


def fill_gaps(keypoints: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """Frames without a detection, linearly interpolated between detected ones (held at the ends)."""
    if not detected.any():
        raise ValueError("video: no hand detected in any frame")
    out = keypoints.copy()
    if detected.all():
        return out
    t, good = np.arange(len(keypoints)), np.flatnonzero(detected)
    flat = keypoints[good].reshape(len(good), -1)
    out[~detected] = np.stack([np.interp(t[~detected], good, flat[:, k]) for k in range(flat.shape[1])],
                              axis=1).reshape(-1, *keypoints.shape[1:])
    return out


def detect_video(frames: Iterator[np.ndarray] | list[np.ndarray], fps: float, thumb_height: int = 240,
                 landmarker: HandLandmarker | None = None) -> VideoHands:
    """Run MediaPipe Hands over ``frames``; keeps ``thumb_height``-pixel thumbnails for the output video."""
    from PIL import Image

    own = landmarker is None
    landmarker = landmarker or HandLandmarker()
    world, image, detected, thumbs = [], [], [], []
    scale, seconds = 1.0, 0.0
    try:
        for rgb in frames:
            tic = time.perf_counter()
            det = landmarker.detect(rgb)
            seconds += time.perf_counter() - tic
            detected.append(det is not None)
            world.append(det.world if det else np.full((21, 3), np.nan))
            image.append(det.image if det else np.full((21, 2), np.nan))
            scale = thumb_height / rgb.shape[0]
            size = (max(2, round(rgb.shape[1] * scale)), thumb_height)
            thumbs.append(np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR)))
    finally:
        if own:
            landmarker.close()
    if not world:
        raise ValueError("video: no frames")
    det_arr = np.array(detected)
    return VideoHands(fill_gaps(np.array(world), det_arr), np.array(image), det_arr, fps, np.stack(thumbs),
                      scale, seconds)


def rigid_align_error(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mean joint distance ``[T]`` between ``points`` and ``reference`` (``[T, J, 3]``) after the best
    rotation and translation per frame (Kabsch; no scaling)."""
    a = points - points.mean(axis=1, keepdims=True)
    b = reference - reference.mean(axis=1, keepdims=True)
    u, _, vt = np.linalg.svd(np.swapaxes(a, 1, 2) @ b)
    d = np.sign(np.linalg.det(u @ vt))
    u[:, :, -1] *= d[:, None]
    return np.linalg.norm(a @ (u @ vt) - b, axis=-1).mean(axis=1)


def retarget_frames(frames: list[np.ndarray], fps: float, robot: str | None = None,
                    config: RetargetConfig | None = None, streaming: bool = False) -> tuple[RetargetResult, VideoHands]:
    """Detect the hand in RGB ``frames`` and retarget it (whole sequence, or frame by frame)."""
    hands = detect_video(frames, fps)
    return retarget_hands(hands, robot, config, streaming), hands


def retarget_hands(hands: VideoHands, robot: str | None = None, config: RetargetConfig | None = None,
                   streaming: bool = False) -> RetargetResult:
    """Retarget detected hands (see :func:`retarget_frames`)."""
    if streaming:
        config = config or RetargetConfig.from_yaml(STREAMING_CONFIG)
        return StreamingRetargeter(robot or config.robot, config).run(hands.keypoints, hands.fps)
    config = config or RetargetConfig.from_yaml(DEFAULT_CONFIG)
    return SequenceRetargeter(robot or config.robot, config).retarget(hands.keypoints, hands.fps)


class ImageStreamRetargeter:
    """Images in, robot joints out, one frame at a time (the ROS node's per-image path).

    ``step(rgb)`` detects the hand (MediaPipe, tracking across calls) and streams it through a
    :class:`StreamingRetargeter`; returns ``None`` (state kept) when no hand is seen.
    """

    def __init__(self, robot: str | None = None, config: RetargetConfig | None = None,
                 landmarker: HandLandmarker | None = None) -> None:
        config = config or RetargetConfig.from_yaml(STREAMING_CONFIG)
        self.retargeter = StreamingRetargeter(robot or config.robot, config)
        self.landmarker = landmarker or HandLandmarker(video_mode=True)

    def step(self, rgb: np.ndarray) -> StreamFrame | None:
        det = self.landmarker.detect(rgb)
        return None if det is None else self.retargeter.step(det.world)

    def close(self) -> None:
        self.landmarker.close()


def render_video(rt: SequenceRetargeter, result: RetargetResult, hands: VideoHands, size: int) -> np.ndarray:
    """``[T, H, W, 3]`` frames: video with landmarks | keypoints at the robot's size | robot."""
    from PIL import Image, ImageDraw

    from hoi_ros.core.hand import BONES, FINGER_COLORS, JOINT_FINGER
    from hoi_ros.retarget.visualize import render_result

    local, _ = rt.palm_keypoints(hands.keypoints)
    panels = render_result(rt, result, local, size)
    out = []
    for t in range(result.num_frames):
        img = Image.fromarray(hands.thumbnails[t])
        draw = ImageDraw.Draw(img)
        if hands.detected[t]:
            pts = hands.image_points[t] * hands.scale
            for a, b in BONES:
                color = tuple(int(c) for c in FINGER_COLORS[int(JOINT_FINGER[b])])
                draw.line([tuple(pts[a]), tuple(pts[b])], fill=color, width=2)
        draw.text((6, 4), f"frame {t}" + ("" if hands.detected[t] else " (no hand: interpolated)"),
                  fill=(255, 255, 255))
        thumb = np.asarray(img)
        if thumb.shape[0] != size:
            thumb = np.asarray(img.resize((round(thumb.shape[1] * size / thumb.shape[0]), size)))
        out.append(np.concatenate([thumb, panels[t]], axis=1))
    return np.stack(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", type=Path)
    ap.add_argument("--robot", default=None, help="robot (default: the config's)")
    ap.add_argument("--config", type=Path, default=None,
                    help="parameters (default: config/retarget/default.yaml; streaming.yaml with --streaming)")
    ap.add_argument("--out", type=Path, default=Path("out/from_video"))
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--stride", type=int, default=1, help="use every k-th video frame (fps / k)")
    ap.add_argument("--size", type=int, default=240, help="panel height in pixels")
    ap.add_argument("--streaming", action="store_true", help="retarget frame by frame (StreamingRetargeter)")
    ap.add_argument("--reference", type=Path, default=None,
                    help="npz with reference keypoints [T, 21, 3] of the same video (compared after rigid alignment)")
    args = ap.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, ImportError) as exc:
        print(f"from_video: {exc}")
        return 2


def _run(args: argparse.Namespace) -> int:
    from hoi_ros.core.io import npz_bytes, write_bytes_atomic, write_video

    frames, fps = read_frames(args.video, args.max_frames, args.stride)
    hands = detect_video(frames, fps / args.stride, thumb_height=args.size)
    config = RetargetConfig.from_yaml(args.config or (STREAMING_CONFIG if args.streaming else DEFAULT_CONFIG))
    robot = args.robot or config.robot
    tic = time.perf_counter()
    result = retarget_hands(hands, robot, config, args.streaming)
    seconds = time.perf_counter() - tic
    rt = SequenceRetargeter(robot, config)
    frames_out = render_video(rt, result, hands, args.size)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.video.stem}_{result.robot}"
    video = write_video(args.out / f"{stem}.mp4", frames_out, hands.fps)
    arrays = {"keypoints": hands.keypoints, "detected": hands.detected, "qpos": result.qpos,
              "full_qpos": result.full_qpos, "joint_names": np.array(result.joint_names),
              "full_joint_names": np.array(result.full_joint_names), "wrist_pose": result.wrist_pose,
              "fps": np.array(hands.fps)}
    npz = write_bytes_atomic(args.out / f"{stem}.npz", npz_bytes(arrays))
    t = len(hands.detected)
    print(f"{video}\n{npz}\ndetected {int(hands.detected.sum())} of {t} frames "
          f"({t / max(hands.detect_seconds, 1e-9):.1f} frames/s detection); retargeted in {seconds:.3f} s "
          f"({'streaming' if args.streaming else 'whole sequence'}); mean fingertip error "
          f"{result.fingertip_error.mean() * 1000:.2f} mm; {int(result.collision.sum())} collision frames")
    for w in result.warnings:
        print(f"warning: {w}")
    if args.reference is not None:
        ref = np.load(args.reference)["keypoints"][:: args.stride][:t]
        if len(ref) < t:
            raise ValueError(f"reference: {len(ref)} frames for {t} video frames")
        err = rigid_align_error(hands.keypoints[hands.detected], ref[hands.detected].astype(np.float64))
        print(f"detected vs reference keypoints after rigid alignment per frame: mean {err.mean() * 1000:.2f} mm, "
              f"median {np.median(err) * 1000:.2f} mm, max {err.max() * 1000:.2f} mm over {len(err)} frames")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
