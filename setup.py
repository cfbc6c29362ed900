"""setuptools shim: metadata lives in pyproject.toml; colcon builds the ROS side via CMakeLists.txt."""

from setuptools import setup

setup()
