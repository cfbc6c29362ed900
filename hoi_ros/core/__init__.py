"""The ROS-free, torch-free core: data model, camera, geometry, hand conventions, I/O, the
rendered motion video, metrics, config loading, sim episodes on disk, the generator seam and the
request queue. Importing it loads neither torch nor rclpy nor MuJoCo (``test/core/test_imports.py``)."""

from hoi_ros.core.articulation import Articulation, Joint
from hoi_ros.core.camera import Camera, look_at
from hoi_ros.core.generation import (
    STAGES,
    ConditionRequest,
    GenerationCancelled,
    GenerationRequest,
    Generator,
    GeneratorLimits,
    HOIGenerator,
    ReconstructionRequest,
    RequestError,
)
from hoi_ros.core.hand import BONES, FINGERTIPS, HAND_JOINT_NAMES, JOINTS_PER_HAND, joint_names
from hoi_ros.core.metrics import chamfer_distance, motion_smoothness, mpjpe
from hoi_ros.core.render import render_motion_video
from hoi_ros.core.sequence import HOISequence

__all__ = [
    "BONES",
    "FINGERTIPS",
    "HAND_JOINT_NAMES",
    "JOINTS_PER_HAND",
    "STAGES",
    "Articulation",
    "Camera",
    "ConditionRequest",
    "GenerationCancelled",
    "GenerationRequest",
    "Generator",
    "GeneratorLimits",
    "HOIGenerator",
    "HOISequence",
    "Joint",
    "ReconstructionRequest",
    "RequestError",
    "chamfer_distance",
    "joint_names",
    "look_at",
    "motion_smoothness",
    "mpjpe",
    "render_motion_video",
]
