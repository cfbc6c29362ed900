"""Launch the hoi_ros stack: generator, visualization, simulation and retargeting (+ RViz).

    ros2 launch hoi_ros generate.launch.py                 # nodes only
    ros2 launch hoi_ros generate.launch.py rviz:=true      # and RViz with share/hoi_ros/rviz/hoi.rviz
    ros2 launch hoi_ros generate.launch.py generator_params:=/path/to/my_generator.yaml

Then: ``ros2 action send_goal /hoi/generate hoi_ros/action/Generate ...`` or ``python -m hoi_ros.nodes.demo_client``.
Parameters come from share/hoi_ros/config/ros/*.yaml (see each file's comments).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("hoi_ros")
    config = os.path.join(share, "config", "ros")
    args = [
        DeclareLaunchArgument("rviz", default_value="false", description="start rviz2 with hoi.rviz"),
        DeclareLaunchArgument("generator_params", default_value=os.path.join(config, "generator.yaml"),
                              description="parameter file of hoi_generator"),
        DeclareLaunchArgument("viz_params", default_value=os.path.join(config, "viz.yaml"),
                              description="parameter file of hoi_viz"),
        DeclareLaunchArgument("sim_params", default_value=os.path.join(config, "sim.yaml"),
                              description="parameter file of hoi_sim"),
        DeclareLaunchArgument("retarget_params", default_value=os.path.join(config, "retarget.yaml"),
                              description="parameter file of hoi_retarget"),
    ]
    nodes = [
        Node(package="hoi_ros", executable="hoi_generator", name="hoi_generator", output="screen",
             parameters=[LaunchConfiguration("generator_params")]),
        Node(package="hoi_ros", executable="hoi_viz", name="hoi_viz", output="screen",
             parameters=[LaunchConfiguration("viz_params")]),
        Node(package="hoi_ros", executable="hoi_sim", name="hoi_sim", output="screen",
             parameters=[LaunchConfiguration("sim_params")]),
        Node(package="hoi_ros", executable="hoi_retarget", name="hoi_retarget", output="screen",
             parameters=[LaunchConfiguration("retarget_params")]),
        Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
             arguments=["-d", os.path.join(share, "rviz", "hoi.rviz")],
             condition=IfCondition(LaunchConfiguration("rviz"))),
    ]
    return LaunchDescription(args + nodes)
