"""Fixtures for the ROS layer tests: an isolated rclpy context, nodes, and waiting.

Isolation: every test module gets its own rclpy context on a ROS domain id
derived from the process id and the module name, and every test its own topic
prefix, so parallel pytest workers, other developers' test runs and live
robots on the same machine neither hear nor disturb each other. Discovery is
kept on this host.
"""
from __future__ import annotations

import os
import time
import uuid
import zlib
from typing import Any, Callable, Iterator

import numpy as np
import pytest

# Before any rclpy context exists: discovery on this host only (Iron+ name; the
# older ROS_LOCALHOST_ONLY for Humble). setdefault leaves a user's choice alone.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402

from seg_perception.frames import CameraIntrinsics, RGBDFrame  # noqa: E402
from seg_perception.results import (  # noqa: E402
    InstanceMasks,
    ObjectGeometry,
    Plane,
    Scene,
    SceneObject,
)

def optional_module(module: str) -> Any:
    """``module`` imported, or None: for the ROS 2 packages PyPI lacks (vision_msgs, ...)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def require_ros2_extra(module: str) -> Any:
    """``module`` imported, when it is one of the ROS 2 packages PyPI lacks (vision_msgs,
    message_filters, launch, ...): an apt ROS 2 has them, ``make test`` installs them
    from ../shared/ros2_extras. Missing: a skip saying so, a failure under ``CI=true``.

    Call it from a test or fixture, never at module level: launch_testing's pytest
    plugin imports a folder's modules while collecting, and a module-level skip there
    drops every test of the folder."""
    found = optional_module(module)
    if found is None:
        reason = (f"{module} is not importable: source an apt ROS 2, or run "
                  "`make test` with ../shared/ros2_extras beside the checkout")
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


# Domain ids 100..199: clear of the default 0 and within FastDDS/Cyclone's
# valid range (0..232) for the default port mapping.
_DOMAIN_BASE, _DOMAIN_SPAN = 100, 100


def unique_domain_id(name: str) -> int:
    """A ROS domain id for this process and ``name`` (stable within a run)."""
    return _DOMAIN_BASE + (os.getpid() * 7919 + zlib.crc32(name.encode())) % _DOMAIN_SPAN


@pytest.fixture(scope="module")
def ros_context(request: pytest.FixtureRequest) -> Iterator[Any]:
    """An initialised ``rclpy.Context`` of its own for the test module, shut down after it."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=unique_domain_id(request.module.__name__))
    yield context
    context.try_shutdown()


@pytest.fixture
def topic_prefix() -> str:
    """A topic namespace unique to this test, e.g. ``/t3f9a2c1b``."""
    return f"/t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def executor(ros_context: Any) -> Iterator[SingleThreadedExecutor]:
    """A single-threaded executor in the module's context (nodes are added by ``make_node``)."""
    ex = SingleThreadedExecutor(context=ros_context)
    yield ex
    ex.shutdown(timeout_sec=1.0)


@pytest.fixture
def make_node(ros_context: Any, executor: SingleThreadedExecutor,
              ) -> Iterator[Callable[..., Node]]:
    """Factory ``make_node(name, **node_kwargs)``: a node spun by ``executor``, destroyed after."""
    nodes: list[Node] = []

    def factory(name: str, **kwargs: Any) -> Node:
        # Fewer entities to discover: tests that need these services ask for them.
        kwargs.setdefault("start_parameter_services", False)
        kwargs.setdefault("enable_rosout", False)
        node = Node(f"{name}_{uuid.uuid4().hex[:6]}", context=ros_context, **kwargs)
        executor.add_node(node)
        nodes.append(node)
        return node

    yield factory
    for node in nodes:
        executor.remove_node(node)
        node.destroy_node()


def spin_executor_until(executor: Any, condition: Callable[[], bool], timeout_sec: float, *,
                        on_tick: Callable[[], None] | None = None, tick_sec: float = 0.1) -> bool:
    """Spin ``executor`` until ``condition()`` is true or ONE overall ``timeout_sec`` passes.

    ``on_tick`` runs first and then every ``tick_sec`` (e.g. publish again until
    discovery has matched the subscription: volatile messages sent before a
    match are lost by design). Returns ``condition()`` at the end.
    """
    deadline = time.monotonic() + timeout_sec
    next_tick = time.monotonic()
    while not condition():
        now = time.monotonic()
        if now >= deadline:
            return condition()
        if on_tick is not None and now >= next_tick:
            on_tick()
            next_tick = now + tick_sec
        executor.spin_once(timeout_sec=min(0.02, max(deadline - now, 0.0)))
    return True


class Collector:
    """Subscription callback that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def __call__(self, msg: Any) -> None:
        self.messages.append(msg)

    def __len__(self) -> int:
        return len(self.messages)


@pytest.fixture
def spin_until(executor: SingleThreadedExecutor) -> Callable[..., bool]:
    """``spin_until(condition, timeout_sec, *, on_tick=None, tick_sec=0.1) -> bool``.

    One overall deadline for the whole wait (see :func:`spin_executor_until`).
    """
    def wait(condition: Callable[[], bool], timeout_sec: float, **kwargs: Any) -> bool:
        return spin_executor_until(executor, condition, timeout_sec, **kwargs)

    return wait


@pytest.fixture
def make_collector() -> Callable[[], Collector]:
    """Factory of :class:`Collector` subscription callbacks."""
    return Collector


def _rotation_z(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


@pytest.fixture
def synthetic_scene() -> Scene:
    """A 64x48 frame with three hand-made objects.

    0: a 10x8 px rectangle with coloured points, a box rotated 30 deg about z and
       a tracked id; 1: an L-shaped mask touching the image corner, points
       without colours; 2: a mask without geometry (3D stage failed).
    """
    h, w = 48, 64
    K = CameraIntrinsics(width=w, height=h, fx=50.0, fy=50.0, cx=31.5, cy=23.5)
    frame = RGBDFrame.create(np.full((h, w, 3), 90, np.uint8), np.full((h, w), 800, np.uint16),
                             K, stamp_ns=1_700_000_000_123_456_789, frame_id="cam_optical")
    masks = np.zeros((3, h, w), bool)
    masks[0, 10:18, 20:30] = True
    masks[1, 40:48, 56:64] = True
    masks[1, 44:48, 50:56] = True
    masks[2, 2:5, 3:9] = True
    instances = InstanceMasks.from_masks(masks, scores=[0.9, 0.75, 0.5], class_ids=[3, 0, 7],
                                         class_names=["cup", "object", "box"])
    rng = np.random.default_rng(0)
    pts0 = (rng.normal(size=(20, 3)) * 0.01 + [0.1, -0.05, 0.8]).astype(np.float32)
    geom0 = ObjectGeometry(
        points=pts0, colors=rng.integers(0, 256, (20, 3), dtype=np.uint8),
        centroid=pts0.mean(axis=0).astype(np.float64), box_center=np.array([0.1, -0.05, 0.8]),
        box_rotation=_rotation_z(30.0), box_extent=np.array([0.06, 0.04, 0.1]),
        principal_axes=np.eye(3), top_normal=np.array([0.0, -1.0, 0.0]))
    pts1 = (rng.normal(size=(7, 3)) * 0.01 + [0.3, 0.2, 0.9]).astype(np.float32)
    geom1 = ObjectGeometry(
        points=pts1, colors=None, centroid=pts1.mean(axis=0).astype(np.float64),
        box_center=np.array([0.3, 0.2, 0.9]), box_rotation=_rotation_z(-120.0),
        box_extent=np.array([0.02, 0.03, 0.05]), principal_axes=np.eye(3),
        top_normal=np.array([0.0, -0.6, -0.8]))
    objects = [
        SceneObject(index=i, class_id=int(instances.class_ids[i]),
                    class_name=instances.class_names[i], score=float(instances.scores[i]),
                    box_2d=instances.boxes[i], mask=instances.masks[i], geometry=g)
        for i, g in enumerate([geom0, geom1, None])
    ]
    objects[0] = objects[0].with_track(track_id=42, age=5)
    return Scene(frame=frame, instances=instances, semantic=None, objects=objects,
                 support_plane=Plane(normal=(0.0, -0.8, -0.6), offset=0.7))


@pytest.fixture(scope="session")
def objects_msgs() -> Any:
    """The generated ``seg_perception.msg`` module (fails, not skips, when it is not built)."""
    try:
        import seg_perception.msg as msgs
        msgs.ObjectInstanceArray()
    except ImportError as exc:
        pytest.fail(f"seg_perception.msg is not importable ({exc}): build the messages with "
                    "`bash scripts/bootstrap.sh` and `source scripts/env.sh`")
    return msgs


@pytest.fixture(scope="module")
def node_scene():
    """The exact analytic scene the perception-node tests publish (3 objects, 160x120)."""
    from seg_perception.sim.synthetic import preset_objects, render_scene

    return render_scene(preset_objects("separated"), width=160, height=120)


@pytest.fixture
def harness(ros_context, node_scene):
    """``harness(**params)`` -> a started :class:`perception_harness.Harness`; closed after."""
    from .perception_harness import Harness

    made = []

    def make(**params):
        made.append(Harness(ros_context, node_scene, **params))
        return made[-1]
    yield make
    for h in made:
        h.close()
