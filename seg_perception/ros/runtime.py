"""Run-time plumbing of the nodes: a latest-frame mailbox and rate/latency statistics."""
from __future__ import annotations

import signal
import threading
import time
from collections import Counter, deque
from typing import Any, Generic, TypeVar

import numpy as np

__all__ = ["LatestSlot", "NodeStats", "ThrottledReporter", "autostart", "run_node"]

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """A one-item mailbox between a subscription callback and a worker thread.

    ``put`` replaces an item the worker has not taken yet (latest wins), so a
    slow model drops stale frames instead of queueing them without bound.

    A *claim* says one thread is handing an item on (at most one at a time):
    ``take(claim=True)`` claims with the item it returns, :meth:`claim` claims an
    empty, unclaimed slot for an item the caller hands on itself, :meth:`release`
    ends either. So a producer may pass its item straight on when nobody else is
    busy with an older one, and items still leave in the order they came.
    """

    def __init__(self) -> None:
        self._item: T | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._claimed = False

    def put(self, item: T) -> bool:
        """Store ``item``; True if it replaced (dropped) an unprocessed one."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None, claim: bool = False) -> T | None:
        """The latest item, waiting up to ``timeout`` s; None on timeout or close.
        ``claim``: an item returned comes with the claim (:meth:`release` it)."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            if claim and item is not None:
                self._claimed = True
            return item

    def claim(self) -> bool:
        """Claim the slot when it is open, empty and unclaimed; False otherwise."""
        with self._cond:
            if self._closed or self._claimed or self._item is not None:
                return False
            self._claimed = True
            return True

    def release(self) -> None:
        """End the claim of :meth:`claim` or ``take(claim=True)``."""
        with self._cond:
            self._claimed = False
            self._cond.notify_all()  # wake wait_released

    @property
    def claimed(self) -> bool:
        return self._claimed

    def wait_released(self, timeout: float | None = None) -> bool:
        """Wait until nobody holds a claim; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._claimed, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False
            self._item = None


class NodeStats:
    """Counts and sliding-window rates for diagnostics (thread safe).

    Counters are totals since start; ``recent_problems`` counts the skipped
    frames and errors of the last ``problem_window_s`` only, so the node's level
    returns to OK once bad input stops.
    """

    def __init__(self, window_s: float = 5.0, problem_window_s: float = 10.0) -> None:
        self._window = window_s
        self._problem_window = problem_window_s
        self._lock = threading.Lock()
        self._inputs: deque[float] = deque()
        self._outputs: deque[float] = deque()
        self._problems: deque[float] = deque()
        self._latency_ms: deque[float] = deque(maxlen=200)
        self.dropped = 0
        self.skipped: Counter[str] = Counter()
        self.errors = 0
        self.processed = 0
        self.inputs = 0  # synchronised input sets taken in, ever
        self.last_problem = ""
        self._last_problem_at: float | None = None

    def _trim(self, q: deque[float], now: float, window: float | None = None) -> None:
        oldest = now - (self._window if window is None else window)
        while q and q[0] < oldest:
            q.popleft()

    def input(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._inputs.append(now)
            self._trim(self._inputs, now)
            self.inputs += 1

    def output(self, latency_ms: float) -> None:
        with self._lock:
            now = time.monotonic()
            self._outputs.append(now)
            self._trim(self._outputs, now)
            self._latency_ms.append(latency_ms)
            self.processed += 1

    def drop(self) -> None:
        with self._lock:
            self.dropped += 1

    def skip(self, category: str, message: str) -> None:
        with self._lock:
            self.skipped[category] += 1
            self._problem(message)

    def error(self, message: str) -> None:
        with self._lock:
            self.errors += 1
            self._problem(message)

    def _problem(self, message: str) -> None:
        now = time.monotonic()
        self.last_problem, self._last_problem_at = message, now
        self._problems.append(now)
        self._trim(self._problems, now, self._problem_window)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            self._trim(self._inputs, now)
            self._trim(self._outputs, now)
            self._trim(self._problems, now, self._problem_window)
            age = -1.0 if self._last_problem_at is None else now - self._last_problem_at
            lat = np.asarray(self._latency_ms) if self._latency_ms else np.zeros(1)
            return {
                "input_rate_hz": len(self._inputs) / self._window,
                "output_rate_hz": len(self._outputs) / self._window,
                "latency_p50_ms": float(np.percentile(lat, 50)),
                "latency_p95_ms": float(np.percentile(lat, 95)),
                "input_frames": self.inputs,
                "processed_frames": self.processed,
                "dropped_frames": self.dropped,
                "skipped_frames": sum(self.skipped.values()),
                "skipped_by_reason": dict(self.skipped),
                "errors": self.errors,
                "last_problem": self.last_problem,
                "last_problem_age_s": age,  # -1: none yet
                "recent_problems": len(self._problems),  # in the last problem_window_s
            }


class ThrottledReporter:
    """Logs each problem category at most once per ``period_s`` (others are counted)."""

    def __init__(self, log: Any, period_s: float = 5.0) -> None:
        self._log = log
        self._period = period_s
        self._last: dict[str, float] = {}

    def __call__(self, category: str, message: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(category, -1e9) < self._period:
            return False
        self._last[category] = now
        self._log(message)
        return True


def autostart(node: Any) -> None:
    """Configure and activate a lifecycle node whose ``autostart`` parameter is true.

    A failed configure leaves the node unconfigured (its diagnostics say why).
    """
    if node.get_parameter("autostart").value:
        node.trigger_configure()
        if node.configured:
            node.trigger_activate()


def run_node(make_node: Any, args: list[str] | None = None, *, lifecycle: bool = False,
             on_exit: Any = None, logger_name: str = "seg_perception") -> int:
    """The ``main()`` of every node: init, build, autostart, spin, clean shutdown.

    SIGINT (Ctrl-C, ``ros2 launch``) and SIGTERM (a supervisor, launch's escalation)
    end the spin here rather than inside rclpy, so ``on_exit`` runs while the
    context is still valid: it can still publish (the MoveIt bridge removes its
    collision objects) and stops threads and worker processes before shutdown.

    Returns 1 when the node cannot be built (the log line says why), else 0.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from ..errors import SegPerceptionError

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            node = make_node()
        except (SegPerceptionError, ModuleNotFoundError) as exc:
            rclpy.logging.get_logger(logger_name).error(str(exc))
            return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        try:
            if lifecycle:
                autostart(node)
            while not stop.is_set() and rclpy.ok():
                # Short waits: the signal handler runs between them.
                executor.spin_once(timeout_sec=0.1)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            if on_exit is not None:
                on_exit(node)
            executor.remove_node(node)
            node.destroy_node()
            executor.shutdown(timeout_sec=1.0)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        rclpy.try_shutdown()
