"""Retargeting human hand motion to robot hands (ROS-free; docs/retarget.md).

- :mod:`.description`: robot hands as data (URDF-shaped), exported to URDF and MJCF;
- :mod:`.robots`: the built-in ``allegro`` and ``inspire`` hands (and their ``_left`` mirror images), user
  robots from YAML + URDF;
- :mod:`.kinematics`: batched forward kinematics and point Jacobians;
- :mod:`.collision`: finger capsule distances;
- :mod:`.human`: keypoint validation, the palm frame, chain lengths;
- :mod:`.config`, :mod:`.objective`, :mod:`.solver`: whole-sequence retargeting (:class:`SequenceRetargeter`);
- :mod:`.streaming`: frame-by-frame retargeting with state (:class:`StreamingRetargeter`);
- :mod:`.handedness`: which hand keypoints are (palm orientation), mirroring; :mod:`.repair`: collision back-off;
- :mod:`.visualize`: the side-by-side human / robot check (MuJoCo offscreen);
- :mod:`.from_video`: a real hand video (MediaPipe, optional extra) to the robot, images in, joints out;
- :mod:`.export`: writes the built-in hands' URDF/MJCF into ``urdf/``.
"""

from hoi_ros.retarget.config import RetargetConfig
from hoi_ros.retarget.description import Capsule, HandDescription, Joint, from_urdf
from hoi_ros.retarget.kinematics import Kinematics
from hoi_ros.retarget.robots import get_robot, load_robot_yaml, register_robot, write_robot_files
from hoi_ros.retarget.solver import RetargetResult, SequenceRetargeter, retarget_sequence
from hoi_ros.retarget.streaming import StreamFrame, StreamingRetargeter

__all__ = [
    "Capsule", "HandDescription", "Joint", "Kinematics", "RetargetConfig", "RetargetResult",
    "SequenceRetargeter", "StreamFrame", "StreamingRetargeter", "from_urdf", "get_robot", "load_robot_yaml",
    "register_robot",
    "retarget_sequence", "write_robot_files",
]
