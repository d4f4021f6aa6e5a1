"""Executable ROS 2 nodes (each module has a ``main``)."""
