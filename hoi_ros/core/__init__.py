"""The ROS-free core: data model, camera, rendered motion video, metrics, I/O, pictures."""

from hoi_ros.core.camera import Camera, look_at
from hoi_ros.core.generation import GenerationCancelled, GenerationRequest, GeneratorLimits, HOIGenerator
from hoi_ros.core.hand import BONES, FINGERTIPS, HAND_JOINT_NAMES, JOINTS_PER_HAND, joint_names
from hoi_ros.core.metrics import chamfer_distance, motion_smoothness, mpjpe
from hoi_ros.core.render import render_motion_video
from hoi_ros.core.sequence import HOISequence

__all__ = [
    "BONES",
    "FINGERTIPS",
    "HAND_JOINT_NAMES",
    "JOINTS_PER_HAND",
    "Camera",
    "GenerationCancelled",
    "GenerationRequest",
    "GeneratorLimits",
    "HOIGenerator",
    "HOISequence",
    "chamfer_distance",
    "joint_names",
    "look_at",
    "motion_smoothness",
    "mpjpe",
    "render_motion_video",
]
