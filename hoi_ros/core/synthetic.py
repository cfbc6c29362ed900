"""A procedural, kinematic reach-grasp-lift sequence built from the core alone.

No physics and no learning: a 21-joint hand skeleton with adult-sized phalanges (index
40/25/20 mm etc.) whose fingers flex by prescribed angles while the wrist moves to a sphere,
closes, and lifts it. It is the embedded example for the README demo and a deterministic fixture
for tests; the MuJoCo simulation (``hoi_ros.sim``) is the physically simulated source of data.
"""

from __future__ import annotations

import numpy as np

from hoi_ros.core.camera import Camera, look_at
from hoi_ros.core.sequence import HOISequence

# Hand frame: x from wrist to fingers, y towards the thumb, z out of the back of the hand.
_MCP = np.array([[0.090, 0.026, 0.0], [0.094, 0.006, 0.0], [0.088, -0.013, 0.0], [0.080, -0.030, 0.0]])
_PHALANGES = np.array(
    [[0.040, 0.025, 0.020], [0.045, 0.028, 0.022], [0.042, 0.027, 0.021], [0.033, 0.020, 0.018]]
)
_THUMB_CMC = np.array([0.022, 0.018, -0.008])
_THUMB_LENGTHS = np.array([0.042, 0.032, 0.028])


def fibonacci_sphere(num_points: int, radius: float) -> np.ndarray:
    """``[K, 3]`` points spread evenly over a sphere of ``radius`` (golden-angle spiral)."""
    i = np.arange(num_points) + 0.5
    z = 1.0 - 2.0 * i / num_points
    r = np.sqrt(1.0 - z * z)
    phi = np.pi * (3.0 - np.sqrt(5.0)) * i
    return radius * np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=-1)


def hand_skeleton(flexion: np.ndarray) -> np.ndarray:
    """Joints ``[T, 21, 3]`` in the hand frame for finger flexion ``[T]`` in 0 (open) .. 1 (closed)."""
    f = np.asarray(flexion, dtype=np.float64)[:, None]  # [T, 1]
    t = f.shape[0]
    joints = np.zeros((t, 21, 3))
    # Fingers: three joints flex about the hand's y axis, curling towards -z (the palm side).
    angles = f * np.array([1.1, 1.4, 0.9])[None]  # [T, 3] rad at full closure
    cumulative = np.cumsum(angles, axis=-1)
    for finger in range(4):
        base = 5 + 4 * finger
        pos = np.repeat(_MCP[finger][None], t, axis=0)
        joints[:, base] = pos
        for k in range(3):
            direction = np.stack([np.cos(cumulative[:, k]), np.zeros(t), -np.sin(cumulative[:, k])], -1)
            pos = pos + _PHALANGES[finger, k] * direction
            joints[:, base + 1 + k] = pos
    # Thumb: swings from abducted (towards +y) to opposed (under the palm) as it closes.
    open_dir = np.array([0.55, 0.8, -0.2])
    closed_dir = np.array([0.75, -0.15, -0.65])
    pos = np.repeat(_THUMB_CMC[None], t, axis=0)
    joints[:, 1] = pos
    for k in range(3):
        mix = np.clip(f * (1.0 + 0.3 * k), 0.0, 1.0)
        d = (1 - mix) * open_dir + mix * closed_dir
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        pos = pos + _THUMB_LENGTHS[k] * d
        joints[:, 2 + k] = pos
    return joints


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def reach_grasp_lift(
    num_frames: int = 49,
    fps: float = 8.0,
    image_size: tuple[int, int] = (416, 624),
    num_object_points: int = 298,
    object_radius: float = 0.035,
    lift_height: float = 0.12,
) -> HOISequence:
    """A sequence (no video) of a right hand reaching a ball, closing on it and lifting it.

    Phases over the normalised time s in [0, 1]: reach (0-0.45), close (0.35-0.6), lift (0.6-1).
    World frame: z up, the ball starts resting on the table (z = radius) at the origin.
    """
    if num_frames < 2:
        raise ValueError(f"num_frames: need at least 2, got {num_frames}")
    s = np.linspace(0.0, 1.0, num_frames)
    reach = _smoothstep(s / 0.45)
    close = _smoothstep((s - 0.35) / 0.25)
    lift = _smoothstep((s - 0.6) / 0.4)
    # Hand frame -> world: fingers along world +x, back of the hand up (+z), thumb towards +y.
    grasp_wrist = np.array([-0.085, 0.0, object_radius + 0.045])
    start_wrist = grasp_wrist + np.array([-0.18, -0.10, 0.12])
    wrist = start_wrist[None] + reach[:, None] * (grasp_wrist - start_wrist)[None]
    wrist[:, 2] += lift * lift_height
    flexion = 0.15 + 0.55 * close
    joints = hand_skeleton(flexion) + wrist[:, None, :]
    ball = fibonacci_sphere(num_object_points, object_radius)
    centre = np.zeros((num_frames, 3))
    centre[:, 2] = object_radius + lift * lift_height
    points = ball[None] + centre[:, None, :]
    height, width = image_size
    camera = Camera.from_fov(width, height, 50.0, look_at([0.02, -0.32, 0.24], [-0.09, 0.0, 0.09]))
    return HOISequence(
        hand_joints=joints,
        object_points=points,
        camera=camera,
        fps=fps,
        prompt="grasp the ball and lift it",
        metadata={"source": "hoi_ros.core.synthetic.reach_grasp_lift", "kinematic_only": True},
    )
