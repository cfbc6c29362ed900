"""Launch the hoi_ros stack: generator, PAM, ArtHOI, visualization, simulation, retargeting, the robot model (+ RViz).

    ros2 launch hoi_ros generate.launch.py                          # nodes in /hoi
    ros2 launch hoi_ros generate.launch.py namespace:=robot1/hoi    # the whole stack in /robot1/hoi
    ros2 launch hoi_ros generate.launch.py rviz:=true               # and RViz with share/hoi_ros/rviz/hoi.rviz
    ros2 launch hoi_ros generate.launch.py log_level:=debug mujoco_gl:=osmesa robot:=inspire
    ros2 launch hoi_ros generate.launch.py generator_params:=/path/to/my_generator.yaml

Every node uses relative names, so ``namespace`` moves all topics, services and actions at once and
two stacks run side by side. ``robot_state_publisher`` turns ``hoi_retarget``'s joint states
(``retarget/joint_states``) into the robot hand's TF frames, from ``share/hoi_ros/urdf/<robot>.urdf``.
``mujoco_gl`` sets ``MUJOCO_GL`` for ``hoi_sim`` and ``hoi_pam`` (and ``hoi_articulate``'s sim goals; ``egl`` on
a GPU machine without a display, ``osmesa`` on CPU-only machines, ``glfw`` with a display).

Then: ``ros2 action send_goal /hoi/generate hoi_ros/action/Generate ...`` or ``python -m hoi_ros.nodes.demo_client``;
``ros2 action send_goal /hoi/pam/generate hoi_ros/action/PAMGenerate "{task: grasp_lift, object: mug}"`` (PAM);
``ros2 action send_goal -f /hoi/articulate hoi_ros/action/Articulate "{sim_object: door}"`` (ArtHOI).
Parameters come from share/hoi_ros/config/ros/*.yaml (see each file's comments).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, GroupAction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import Command, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("hoi_ros")
    config = os.path.join(share, "config", "ros")
    log_args = ["--log-level", LaunchConfiguration("log_level")]
    args = [
        DeclareLaunchArgument("namespace", default_value="hoi",
                              description="namespace of every node, topic, service and action"),
        DeclareLaunchArgument("log_level", default_value="info", description="debug, info, warn, error or fatal"),
        DeclareLaunchArgument("mujoco_gl", default_value="egl",
                              description="MUJOCO_GL for hoi_sim and hoi_pam: egl (headless GPU), osmesa (CPU), "
                                          "glfw (display)"),
        DeclareLaunchArgument("robot", default_value="allegro",
                              description="robot hand of hoi_retarget and robot_state_publisher (urdf/<robot>.urdf)"),
        DeclareLaunchArgument("rviz", default_value="false", description="start rviz2 with hoi.rviz"),
        DeclareLaunchArgument("generator_params", default_value=os.path.join(config, "generator.yaml"),
                              description="parameter file of hoi_generator"),
        DeclareLaunchArgument("viz_params", default_value=os.path.join(config, "viz.yaml"),
                              description="parameter file of hoi_viz"),
        DeclareLaunchArgument("sim_params", default_value=os.path.join(config, "sim.yaml"),
                              description="parameter file of hoi_sim"),
        DeclareLaunchArgument("retarget_params", default_value=os.path.join(config, "retarget.yaml"),
                              description="parameter file of hoi_retarget"),
        DeclareLaunchArgument("pam_params", default_value=os.path.join(config, "pam.yaml"),
                              description="parameter file of hoi_pam"),
        DeclareLaunchArgument("articulate_params", default_value=os.path.join(config, "articulate.yaml"),
                              description="parameter file of hoi_articulate"),
    ]
    urdf = ParameterValue(
        Command(["cat ", PathJoinSubstitution([share, "urdf", [LaunchConfiguration("robot"), ".urdf"]])]),
        value_type=str)
    nodes = [
        Node(package="hoi_ros", executable="hoi_generator", name="hoi_generator", output="screen",
             parameters=[LaunchConfiguration("generator_params")], ros_arguments=log_args),
        Node(package="hoi_ros", executable="hoi_viz", name="hoi_viz", output="screen",
             parameters=[LaunchConfiguration("viz_params")], ros_arguments=log_args),
        Node(package="hoi_ros", executable="hoi_sim", name="hoi_sim", output="screen",
             parameters=[LaunchConfiguration("sim_params")], ros_arguments=log_args),
        Node(package="hoi_ros", executable="hoi_pam", name="hoi_pam", output="screen",
             parameters=[LaunchConfiguration("pam_params")], ros_arguments=log_args),
        Node(package="hoi_ros", executable="hoi_articulate", name="hoi_articulate", output="screen",
             parameters=[LaunchConfiguration("articulate_params")], ros_arguments=log_args),
        Node(package="hoi_ros", executable="hoi_retarget", name="hoi_retarget", output="screen",
             parameters=[LaunchConfiguration("retarget_params"), {"robot": LaunchConfiguration("robot"),
                                                                   "link_frames": False}],
             ros_arguments=log_args),
        Node(package="robot_state_publisher", executable="robot_state_publisher", name="robot_state_publisher",
             output="screen", parameters=[{"robot_description": urdf}],
             remappings=[("joint_states", "retarget/joint_states")], ros_arguments=log_args),
        Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
             arguments=["-d", os.path.join(share, "rviz", "hoi.rviz")],
             condition=IfCondition(LaunchConfiguration("rviz"))),
    ]
    stack = GroupAction([PushRosNamespace(LaunchConfiguration("namespace")), *nodes])
    return LaunchDescription([*args, SetEnvironmentVariable("MUJOCO_GL", LaunchConfiguration("mujoco_gl")), stack])
