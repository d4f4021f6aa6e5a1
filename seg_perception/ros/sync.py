"""Approximate-time synchronisation of camera topics, guarded against bad input.

Uses ``message_filters.ApproximateTimeSynchronizer`` when it is importable
(apt ROS 2); otherwise :class:`ApproximateTimeSync`, a small equivalent of the
same algorithm (match one message per topic whose stamps lie within ``slop``).
Both behave the same through :func:`make_synchronizer`: a stamp difference of
exactly ``slop`` still matches, each input keeps ``queue_size`` messages, and
when a set matches every older message is discarded (so a late message never
brings back a frame older than one already delivered).

Every subscription callback is guarded: a message the synchroniser cannot take
(negative stamp, ``nanosec >= 1e9``, no header, anything the library raises on)
and a frame callback that raises are reported through ``on_bad_message`` and
dropped; they never reach the executor, which would end the node.
"""
from __future__ import annotations

import itertools
import threading
import time
from numbers import Integral
from typing import Any, Callable, Sequence

from .qos import own_profile

__all__ = ["ApproximateTimeSync", "BadMessage", "make_synchronizer", "stamp_ns_of"]

_NS_PER_S = 1_000_000_000
_STAMP_FIX = ("Fix the publisher: stamp messages with the ROS clock or the camera's time "
              "(sec >= 0, 0 <= nanosec < 1e9), e.g. node.get_clock().now().to_msg().")


class ApproximateTimeSync:
    """Calls ``callback(*msgs)`` with one message per input whose stamps are within ``slop``.

    Each input keeps at most ``queue_size`` unmatched messages (the oldest is
    dropped), so a silent topic never makes memory grow. When a set matches,
    it and every older message are discarded: frames are never delivered twice
    or out of order.

    ``add(index, msg, stamp_ns)`` is thread safe.
    """

    def __init__(self, num_inputs: int, callback: Callable[..., Any], slop_s: float = 0.02,
                 queue_size: int = 10) -> None:
        if num_inputs < 1 or queue_size < 1 or slop_s < 0:
            raise ValueError("need num_inputs >= 1, queue_size >= 1, slop_s >= 0")
        self._queues: list[dict[int, Any]] = [{} for _ in range(num_inputs)]
        self._callback = callback
        self._slop_ns = round(slop_s * _NS_PER_S)
        self._queue_size = queue_size
        self._lock = threading.Lock()
        self.dropped = 0  # messages discarded without being part of a delivered set

    def add(self, index: int, msg: Any, stamp_ns: int) -> None:
        with self._lock:
            queue = self._queues[index]
            queue[stamp_ns] = msg
            self.dropped += _evict_by_arrival(queue, self._queue_size)
            match = self._find_match(index, stamp_ns)
            if match is None:
                return
            msgs = [self._queues[i][t] for i, t in enumerate(match)]
            newest = max(match)
            for q in self._queues:
                for t in [t for t in q if t <= newest]:
                    del q[t]
                    self.dropped += 1
            self.dropped -= len(match)
        self._callback(*msgs)

    def _find_match(self, index: int, stamp_ns: int) -> tuple[int, ...] | None:
        candidates: list[list[int]] = []
        for i, q in enumerate(self._queues):
            if i == index:
                candidates.append([stamp_ns])
            else:
                near = sorted((t for t in q if abs(t - stamp_ns) <= self._slop_ns),
                              key=lambda t: abs(t - stamp_ns))
                if not near:
                    return None
                candidates.append(near)
        best = None
        for combo in itertools.product(*candidates):
            spread = max(combo) - min(combo)
            if spread <= self._slop_ns and (best is None or spread < best[0]):
                best = (spread, combo)
        return None if best is None else best[1]


def _evict_by_arrival(queue: dict[int, Any], keep: int) -> int:
    """Drops the earliest-arrived messages of ``queue`` (stamp -> message; dicts keep
    insertion order) until ``keep`` are left; returns how many. By arrival, not by
    smallest stamp: a few stray far-future stamps would otherwise stay for good and
    push out every newer message, stalling the input until the clock passes them."""
    dropped = 0
    while len(queue) > keep:
        del queue[next(iter(queue))]
        dropped += 1
    return dropped


class BadMessage(ValueError):
    """A message the synchroniser cannot take; ``category`` names the kind of problem."""

    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category


def stamp_ns_of(msg: Any) -> int:
    """``msg.header.stamp`` in nanoseconds, or :class:`BadMessage` saying what is wrong."""
    try:
        sec, nanosec = msg.header.stamp.sec, msg.header.stamp.nanosec
    except AttributeError as exc:
        raise BadMessage("bad_header", f"it has no header.stamp ({exc}); the synchroniser "
                         "pairs topics by header.stamp: publish a message type with a "
                         "std_msgs/Header") from None
    if not isinstance(sec, Integral) or not isinstance(nanosec, Integral):
        raise BadMessage("bad_header", f"header.stamp holds {type(sec).__name__} / "
                         f"{type(nanosec).__name__}, not integers. {_STAMP_FIX}")
    sec, nanosec = int(sec), int(nanosec)
    if sec < 0:
        raise BadMessage("bad_stamp", f"header.stamp.sec = {sec} is negative. {_STAMP_FIX}")
    if not 0 <= nanosec < _NS_PER_S:
        raise BadMessage("bad_stamp", f"header.stamp.nanosec = {nanosec} is not in "
                         f"[0, 1e9) (whole seconds belong in sec). {_STAMP_FIX}")
    return sec * _NS_PER_S + nanosec


class _Guard:
    """Turns exceptions on a message's way through the synchroniser into reports."""

    LOG_EVERY_S = 5.0  # without on_bad_message: one log line per category this often

    def __init__(self, node: Any, on_bad_message: Callable[[str, str], None] | None) -> None:
        self._node = node
        self._on_bad_message = on_bad_message
        self._last_log: dict[str, float] = {}

    def report(self, category: str, message: str) -> None:
        if self._on_bad_message is not None:
            try:
                self._on_bad_message(category, message)
                return
            except Exception as exc:  # noqa: BLE001 - the reporter must not end the node
                message = f"{message} (and on_bad_message raised {type(exc).__name__}: {exc})"
        now = time.monotonic()
        if now - self._last_log.get(category, -self.LOG_EVERY_S) >= self.LOG_EVERY_S:
            self._last_log[category] = now
            try:
                self._node.get_logger().warning(f"[{category}] {message}")
            except Exception:  # noqa: BLE001 - no logger (node destroyed): nothing to tell
                pass

    def frame_callback(self, callback: Callable[..., Any]) -> Callable[..., None]:
        def guarded(*msgs: Any) -> None:
            try:
                callback(*msgs)
            except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the input
                self.report("callback_error", f"dropped a synchronised set: the frame "
                            f"callback raised {type(exc).__name__}: {exc} (a bug in that "
                            "callback; the next sets are still delivered)")
        return guarded


def _message_filters_sync(callback: Callable[..., Any], num_inputs: int, slop_s: float,
                          queue_size: int, guard: _Guard) -> Callable[[int, Any, int], None]:
    """``add(index, msg, stamp_ns)`` feeding ``message_filters.ApproximateTimeSynchronizer``."""
    import message_filters
    from rclpy.duration import Duration

    inputs = [message_filters.SimpleFilter() for _ in range(num_inputs)]
    sync = message_filters.ApproximateTimeSynchronizer(inputs, queue_size, slop_s)
    # Its test is `spread < slop`; one nanosecond more makes it `<= slop` like ours.
    sync.slop = Duration(nanoseconds=round(slop_s * _NS_PER_S) + 1)
    # Every add passes this lock, so message_filters' own lock, when an add raised
    # while holding it (it is not released in a finally), is known to be ours.
    outer = threading.Lock()
    delivered = guard.frame_callback(callback)

    def on_set(*msgs: Any) -> None:
        # Called by message_filters while it holds its lock: discard what is older
        # than this set (as ApproximateTimeSync does); it removes the set itself.
        keys = [stamp_ns_of(m) for m in msgs]
        newest = max(keys)
        for queue, key in zip(sync.queues, keys):
            for t in [t for t in queue if t <= newest and t != key]:
                del queue[t]
        delivered(*msgs)

    sync.registerCallback(on_set)

    def add(index: int, msg: Any, stamp_ns: int) -> None:
        with outer:
            # Room made here, by arrival: message_filters would evict the smallest stamp.
            queue = sync.queues[index]
            if stamp_ns not in queue:
                _evict_by_arrival(queue, queue_size - 1)
            try:
                inputs[index].signalMessage(msg)
            finally:
                if sync.lock.locked():
                    sync.lock.release()
    return add


def _own_sync(callback: Callable[..., Any], num_inputs: int, slop_s: float, queue_size: int,
              guard: _Guard) -> Callable[[int, Any, int], None]:
    return ApproximateTimeSync(num_inputs, guard.frame_callback(callback), slop_s,
                               queue_size).add


def make_synchronizer(node: Any, msg_types: Sequence[type], topics: Sequence[str], qos: Any,
                      callback: Callable[..., Any], slop_s: float, queue_size: int,
                      callback_group: Any = None, prefer_message_filters: bool = True,
                      on_message: Callable[[int], None] | None = None,
                      on_bad_message: Callable[[str, str], None] | None = None,
                      qos_overriding_options: Any = None,
                      ) -> tuple[list[Any], str]:
    """Subscribe to ``topics`` and call ``callback`` with synchronised messages.

    ``on_message(index)`` is called for every message received on input
    ``index`` (before matching, bad ones included), so a caller can tell which
    input is silent. ``on_bad_message(category, message)`` is called for each
    message dropped because the synchroniser cannot take it (category
    ``bad_stamp``, ``bad_header`` or ``sync_error``) and for each set dropped
    because ``callback`` (or ``on_message``) raised (``callback_error``); the
    message names the topic, the problem and the fix. Without it, these are
    logged as warnings (at most one per category every 5 s).
    ``prefer_message_filters=False`` uses the package's own synchroniser even
    where ``message_filters`` is importable. ``qos_overriding_options`` is passed
    to every subscription (``qos_overrides.<topic>.subscription.<policy>``).

    Returns the subscriptions (destroy them to stop) and which implementation
    is used (``"message_filters"`` or ``"seg_perception"``).
    """
    if len(msg_types) != len(topics):
        raise ValueError(f"{len(msg_types)} message types for {len(topics)} topics")
    guard = _Guard(node, on_bad_message)
    impl, build = "seg_perception", _own_sync
    if prefer_message_filters:
        try:
            import message_filters  # noqa: F401
        except ImportError:
            pass
        else:
            impl, build = "message_filters", _message_filters_sync
    add = build(callback, len(topics), slop_s, queue_size, guard)

    def handler(index: int, topic: str) -> Callable[[Any], None]:
        def on_msg(msg: Any) -> None:
            try:
                if on_message is not None:
                    on_message(index)
            except Exception as exc:  # noqa: BLE001 - the message itself may still be good
                guard.report("callback_error", f"on_message({index}) raised "
                             f"{type(exc).__name__}: {exc} (a bug in that callback)")
            try:
                add(index, msg, stamp_ns_of(msg))
            except BadMessage as exc:
                guard.report(exc.category, f"dropped a message on {topic}: {exc}")
            except Exception as exc:  # noqa: BLE001 - whatever a library raises on
                guard.report("sync_error", f"dropped a message on {topic}: the synchroniser "
                             f"({impl}) raised {type(exc).__name__}: {exc}; the next "
                             "messages are still used (report it if it repeats)")
        return on_msg

    # own_profile: rclpy writes qos_overrides into the profile it is given.
    subs = [node.create_subscription(t, name, handler(i, name), own_profile(qos),
                                     callback_group=callback_group,
                                     qos_overriding_options=qos_overriding_options)
            for i, (t, name) in enumerate(zip(msg_types, topics))]
    return subs, impl
