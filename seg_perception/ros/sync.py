"""Approximate-time synchronisation of camera topics.

Uses ``message_filters.ApproximateTimeSynchronizer`` when it is importable
(apt ROS 2); otherwise :class:`ApproximateTimeSync`, a small equivalent of the
same algorithm (match one message per topic whose stamps lie within ``slop``),
which the tests exercise directly.
"""
from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, Sequence

__all__ = ["ApproximateTimeSync", "make_synchronizer"]


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
        self._slop_ns = int(slop_s * 1e9)
        self._queue_size = queue_size
        self._lock = threading.Lock()
        self.dropped = 0  # messages discarded without being part of a delivered set

    def add(self, index: int, msg: Any, stamp_ns: int) -> None:
        with self._lock:
            queue = self._queues[index]
            queue[stamp_ns] = msg
            while len(queue) > self._queue_size:
                del queue[min(queue)]
                self.dropped += 1
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


def make_synchronizer(node: Any, msg_types: Sequence[type], topics: Sequence[str], qos: Any,
                      callback: Callable[..., Any], slop_s: float, queue_size: int,
                      callback_group: Any = None, prefer_message_filters: bool = True,
                      on_message: Callable[[int], None] | None = None,
                      ) -> tuple[list[Any], str]:
    """Subscribe to ``topics`` and call ``callback`` with synchronised messages.

    ``on_message(index)`` is called for every message received on input
    ``index`` (before matching), so a caller can tell which input is silent.
    Returns the subscriptions (destroy them to stop) and which implementation
    is used (``"message_filters"`` or ``"seg_perception"``).
    """
    if prefer_message_filters:
        try:
            import message_filters
        except ImportError:
            pass
        else:
            subs = [message_filters.Subscriber(node, t, name, qos_profile=qos)
                    for t, name in zip(msg_types, topics)]
            if on_message is not None:
                for i, sub in enumerate(subs):
                    sub.registerCallback(lambda _msg, i=i: on_message(i))
            sync = message_filters.ApproximateTimeSynchronizer(subs, queue_size, slop_s)
            sync.registerCallback(callback)
            return [s.sub for s in subs], "message_filters"

    sync = ApproximateTimeSync(len(topics), callback, slop_s, queue_size)

    def handler(index: int) -> Callable[[Any], None]:
        def on_msg(msg: Any) -> None:
            if on_message is not None:
                on_message(index)
            stamp = msg.header.stamp
            sync.add(index, msg, stamp.sec * 1_000_000_000 + stamp.nanosec)
        return on_msg

    subs = [node.create_subscription(t, name, handler(i), qos, callback_group=callback_group)
            for i, (t, name) in enumerate(zip(msg_types, topics))]
    return subs, "seg_perception"
