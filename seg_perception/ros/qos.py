"""QoS profiles chosen by the role of a topic, and overridable per topic.

=======================  ============  ==========  ==================  =====
profile                  reliability   history     durability          depth
=======================  ============  ==========  ==================  =====
``SENSOR_QOS``           best effort   keep last   volatile            5
``RELIABLE_OUTPUT_QOS``  reliable      keep last   volatile            10
``LATCHED_QOS``          reliable      keep last   transient local     1
=======================  ============  ==========  ==================  =====

* Camera inputs use ``SENSOR_QOS`` (rclpy's ``qos_profile_sensor_data``): a late
  frame is worth less than a fresh one, and a best-effort subscription also
  matches reliable camera drivers.
* Planner-facing outputs (objects, clouds, label images) use
  ``RELIABLE_OUTPUT_QOS``, so a planner never silently misses the objects of a frame.
* Slow-changing descriptions (class lists, layout) use ``LATCHED_QOS``, so a node
  started later still gets the last value (as vision_msgs' ``LabelInfo`` asks).

Pass :func:`qos_overriding_options` to ``create_publisher`` /
``create_subscription`` so users can change a topic's policies at launch with
parameters such as ``qos_overrides./camera/color/image_raw.subscription.reliability``.
"""
from __future__ import annotations

import copy
from typing import Any

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

__all__ = ["LATCHED_QOS", "RELIABLE_OUTPUT_QOS", "SENSOR_QOS", "own_profile",
           "qos_overriding_options"]

SENSOR_QOS: QoSProfile = qos_profile_sensor_data
"""Camera inputs: best effort, keep last 5, volatile."""

RELIABLE_OUTPUT_QOS: QoSProfile = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
"""Outputs for planners and tools: reliable, keep last 10, volatile."""

LATCHED_QOS: QoSProfile = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""Latched descriptions: reliable, transient local, keep last 1 (late joiners get it)."""

_DEFAULT_POLICIES = ("history", "depth", "reliability", "durability")


def qos_overriding_options(*policies: str, entity_id: str | None = None) -> Any | None:
    """``QoSOverridingOptions`` letting parameters override ``policies`` of one topic.

    Args:
        policies: names of ``rclpy.qos.QoSPolicyKind`` members, lower case
            (``"reliability"``, ``"depth"``, ...); default history, depth,
            reliability and durability.
        entity_id: distinguishes two publishers/subscriptions of one topic in
            the parameter names (``qos_overrides.<topic>.publisher_<id>.<policy>``).

    Returns:
        The options, or None on an rclpy without QoS overrides (Foxy and
        older), which ``create_publisher(..., qos_overriding_options=None)`` accepts.

    Raises:
        ValueError: an unknown policy name (the message lists the valid ones).
    """
    try:
        from rclpy.qos import QoSPolicyKind
        from rclpy.qos_overriding_options import QoSOverridingOptions
    except ImportError:  # rclpy before Galactic
        return None
    valid = {k.name.lower(): k for k in QoSPolicyKind if k.name != "INVALID"}
    kinds = []
    for name in policies or _DEFAULT_POLICIES:
        if name.lower() not in valid:
            raise ValueError(f"unknown QoS policy '{name}'; valid: {', '.join(valid)}")
        kinds.append(valid[name.lower()])
    return QoSOverridingOptions(kinds, entity_id=entity_id)


def own_profile(profile: QoSProfile) -> QoSProfile:
    """A copy of ``profile`` for one publisher or subscription created with
    :func:`qos_overriding_options`: rclpy writes the overrides into the profile it is
    given, so the shared constant (rclpy's own ``qos_profile_sensor_data`` for
    ``SENSOR_QOS``) would carry one topic's override to every later topic."""
    return copy.copy(profile)
