"""A camera stream on several cores: frames analysed in worker processes, tracked in order.

One :class:`~seg_perception.pipeline.Pipeline` runs mostly in Python-driven numpy
and OpenCV calls, so a second thread gains little (the GIL); a second *process*
runs a second frame at the same time. :class:`ParallelPipeline` keeps one
pipeline per worker process, sends each frame to an idle worker and tracks the
results in this process in the order the frames were submitted, so track ids
are those of a single pipeline. Throughput grows with the workers; the latency
of one frame does not shrink (it grows by the transfer, ~1-2 ms at 640x480).

Example:
    >>> from seg_perception.sim.synthetic import render_scene, preset_objects
    >>> frames = [render_scene(preset_objects("separated"), stamp_ns=(i + 1) * 10**8).frame
    ...           for i in range(4)]
    >>> with ParallelPipeline(workers=2) as pipeline:
    ...     scenes = list(pipeline.stream(frames))
    >>> len({s.objects[0].track_id for s in scenes})  # one track through all four
    1
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections import deque
from dataclasses import fields
from multiprocessing import shared_memory
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterable, Iterator

from .config import PipelineConfig
from .errors import ConfigError, SegPerceptionError
from .frames import RGBDFrame
from .pipeline import BUILD_TIME_FIELDS as _BUILD_TIME
from .pipeline import LiveSettings as _Settings
from .pipeline import Pipeline, assemble_scene
from .results import Scene

__all__ = ["ParallelPipeline", "WorkerError", "auto_workers"]

# Settings a worker takes from each frame's message (tracking is done here).
_RUN_TIME = tuple(f.name for f in fields(PipelineConfig)
                  if f.name not in _BUILD_TIME and not f.name.startswith("track"))


def auto_workers(device: str) -> int:
    """Workers for ``workers: 0``: 1 on CUDA (one model copy on the GPU), else one per
    usable CPU core, up to 4 (each worker holds its own pipeline in memory)."""
    if device.startswith("cuda"):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class WorkerError(SegPerceptionError):
    """A worker process failed to start or died; the message says why."""


class _Job:
    """One submitted frame; ``result()`` on :class:`ParallelPipeline` order."""

    def __init__(self, owner: "ParallelPipeline", frame: RGBDFrame, start: float) -> None:
        self._owner, self.frame, self.start = owner, frame, start
        self.reply: tuple[str, Any] | None = None  # ("ok", FrameAnalysis) | ("error", exc)
        self.scene: Scene | None = None
        self.error: BaseException | None = None

    def result(self, timeout: float | None = None) -> Scene:
        """The tracked scene (waits for this frame and every earlier one)."""
        return self._owner._result(self, timeout)


# Large arrays go through shared memory, the pipe carries only the rest of the
# pickle: a 640x480 frame pickled through a pipe costs ~5 ms of CPU on each side here.
_ALIGN = 64  # bytes; each array starts on a cache line
_MIN_SHARED = 16 * 1024  # bytes; smaller arrays stay in the pickle
_KEEP_BYTES = 8 * 1024 * 1024  # a block up to this size is kept however small the objects


class _SharedChannel:
    """One direction of a worker's traffic: objects pickled with protocol 5, their
    contiguous arrays copied into a shared-memory block this side owns (grown as
    needed) and read on the other side straight from it.

    Send the next object only once the last one was read: the block is reused.
    """

    def __init__(self) -> None:
        self._own: shared_memory.SharedMemory | None = None  # written by this side
        self._peer: shared_memory.SharedMemory | None = None  # the other side's, read here

    def send(self, conn: Connection, obj: Any) -> None:
        raws: list[memoryview] = []

        def out_of_band(buffer: pickle.PickleBuffer) -> bool:
            # Small arrays (centroids, boxes) are cheaper inside the pickle.
            raw = buffer.raw()
            if raw.nbytes < _MIN_SHARED:
                return True  # true: pickled in band
            raws.append(raw)
            return False

        data = pickle.dumps(obj, protocol=5, buffer_callback=out_of_band)
        spans, size = [], 0
        for raw in raws:
            spans.append((size, raw.nbytes))
            size += -(-raw.nbytes // _ALIGN) * _ALIGN
        name = None
        if raws:
            # Grown for the largest object so far; shrunk again once objects are much
            # smaller (one 4K frame must not pin its memory for the node's lifetime).
            if (self._own is None or self._own.size < size
                    or self._own.size > max(2 * size, _KEEP_BYTES)):
                self._free_own()
                self._own = shared_memory.SharedMemory(create=True, size=size)
            for raw, (offset, nbytes) in zip(raws, spans):
                self._own.buf[offset:offset + nbytes] = raw
            name = self._own.name
        conn.send((data, name, spans))

    def recv(self, conn: Connection, copy: bool) -> Any:
        """The next object; ``copy=False`` leaves its arrays as views of the block (valid
        until this side asks for the next object)."""
        data, name, spans = conn.recv()
        if name is None:
            return pickle.loads(data)
        if self._peer is None or self._peer.name != name:  # the sender made a new block
            self._close_peer()
            self._peer = shared_memory.SharedMemory(name=name)
        view = self._peer.buf
        buffers = [bytearray(view[o:o + n]) if copy else view[o:o + n] for o, n in spans]
        return pickle.loads(data, buffers=buffers)

    def close(self, peer_dead: bool = False) -> None:
        """Frees this side's block; ``peer_dead``: also unlink the peer's last block, which
        a killed process could not free (it would stay in /dev/shm until this one exits)."""
        self._free_own()
        if peer_dead and self._peer is not None:
            try:
                self._peer.unlink()
            except FileNotFoundError:  # the peer did free it after all
                pass
        self._close_peer()

    def _free_own(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own.unlink()
            self._own = None

    def _close_peer(self) -> None:
        if self._peer is not None:
            try:
                self._peer.close()
            except BufferError:  # a view still alive somewhere: unmapped when it goes
                pass
            self._peer = None


class _Worker:
    """One worker process and this side of its pipe and shared memory."""

    def __init__(self, ctx: Any, config: PipelineConfig, index: int) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, config),
                                   name=f"seg_perception_worker_{index}", daemon=True)
        self.process.start()
        child.close()
        self.job: _Job | None = None
        self.starting = True  # until its "ready" reply is read
        self.channel = _SharedChannel()

    def ready(self, timeout: float) -> tuple[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Waits for the worker's pipeline; returns its device and class names."""
        if not self.conn.poll(timeout):
            raise WorkerError(f"worker process did not start within {timeout:.0f} s")
        return self.take_ready()

    def take_ready(self) -> tuple[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Reads the worker's first reply: its device and class names, or the error that
        stopped it."""
        kind, value = self._recv()
        if kind == "error":
            raise value
        self.starting = False
        return value

    @property
    def idle(self) -> bool:
        return self.job is None and not self.starting

    def _recv(self) -> tuple[str, Any]:
        try:
            return self.channel.recv(self.conn, copy=True)
        except (EOFError, OSError):
            raise WorkerError(f"worker process {self.process.name} died (exit code "
                              f"{self.process.exitcode}); see its output above") from None

    def close(self) -> None:
        try:
            self.channel.send(self.conn, None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=5.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5.0)
        self.conn.close()
        self.channel.close(peer_dead=self.process.exitcode != 0)


class ParallelPipeline:
    """A :class:`~seg_perception.pipeline.Pipeline` spread over worker processes.

    Same use as a pipeline: :meth:`process`, :meth:`update_config`, :meth:`reset`,
    ``config``, ``device``, ``tracker``; plus :meth:`submit` (returns at once when
    a worker is idle) and :meth:`stream`. Results come back in submission order.

    Args:
        config: the pipeline settings (each worker builds its own backends from it).
        workers: worker processes, ``>= 1``; one per CPU core suits the CPU
            backends. Each loads its own copy of any model: with a GPU, 1.
        start_method: ``"spawn"`` (default: safe with DDS and CUDA threads in this
            process) or ``"forkserver"``.
        start_timeout: seconds to wait for each worker to build its pipeline.

    Raises:
        ConfigError: bad ``workers``; any error building the pipeline (unreadable
            weights, unknown backend) is raised here, as by ``Pipeline``.
    """

    def __init__(self, config: PipelineConfig | None = None, workers: int = 2, *,
                 start_method: str = "spawn", start_timeout: float = 120.0) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        config = config or PipelineConfig()
        self._settings = _Settings(config)
        self._idle = threading.Condition()  # guards the workers' jobs and _pending
        self._pending: deque[_Job] = deque()
        self._receiving = threading.RLock()  # submit may replace a dead worker inside
        self._generation = 0
        self._closed = False
        self._last_worker_error = ""
        self._ctx = multiprocessing.get_context(start_method)
        self._start_timeout = start_timeout
        worker_cfg = config.updated(tracking=False)
        self._workers = [_Worker(self._ctx, worker_cfg, i) for i in range(workers)]
        try:
            ready = {w.ready(start_timeout) for w in self._workers}
        except BaseException:
            self.close()
            raise
        self.device, self.class_names = ready.pop()

    # -- the Pipeline interface ---------------------------------------------------------
    @property
    def config(self) -> PipelineConfig:
        return self._settings.config

    @property
    def workers(self) -> int:
        return len(self._workers)

    @property
    def tracker(self):  # noqa: ANN201 - ObjectTracker | None
        return self._settings.tracker

    def update_config(self, **changes: Any) -> PipelineConfig:
        """As :meth:`Pipeline.update_config`; frames submitted afterwards use it."""
        return self._settings.update(**changes)

    def reset(self) -> None:
        """Forget tracks here and each worker's last support plane (before its next frame)."""
        self._settings.reset_tracker()
        with self._idle:
            self._generation += 1

    def process(self, frame: RGBDFrame) -> Scene:
        """Segment one frame (waits for it and every frame submitted before it)."""
        return self.submit(frame).result()

    # -- streams ------------------------------------------------------------------------
    def wait_idle(self, timeout: float | None = None) -> bool:
        """Waits until a worker is free to take a frame; False on timeout.

        Only a thread that collects results (``result()``) frees workers; a
        dispatcher thread waits here, then takes the newest frame, so frames that
        arrive while every worker is busy are dropped, not queued. That is also
        back-pressure: no more frames are started than the collector takes on
        (a dispatcher that read finished workers' replies itself, tried for
        issue 21, let frames queue after the workers while the collector was
        publishing, and with the CPU short the latency tail grew).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._reap()
        while True:
            with self._idle:
                if any(w.idle for w in self._workers):
                    return True
                starting = any(w.starting for w in self._workers)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                # A replacement worker says it is ready on its pipe: look now and then,
                # unless a collector is reading the pipes anyway.
                pause = left if not starting else 0.05 if left is None else min(left, 0.05)
                self._idle.wait(pause)
            if starting and self._receiving.acquire(blocking=False):
                try:
                    self._receive(0.0)
                finally:
                    self._receiving.release()

    def submit(self, frame: RGBDFrame) -> _Job:
        """Sends ``frame`` to an idle worker (waiting for one) and returns its handle;
        ``handle.result()`` gives the tracked scene."""
        with self._idle:
            if self._closed:
                raise WorkerError("the ParallelPipeline is closed")
            while True:
                if not self._workers:
                    raise WorkerError(f"no worker process is left: {self._last_worker_error}")
                worker = next((w for w in self._workers if w.idle), None)
                if worker is not None:
                    break
                self._idle.wait(0.05)
            job = _Job(self, frame, time.perf_counter())
            worker.job = job
            self._pending.append(job)
            cfg = self._settings.config
            settings = {k: getattr(cfg, k) for k in _RUN_TIME}
            generation = self._generation
        try:
            worker.channel.send(worker.conn, (frame, settings, generation))
        except (OSError, ValueError) as exc:  # the worker died since its last frame
            job.reply = ("error", WorkerError(f"cannot send the frame to {worker.process.name}:"
                                              f" {exc}"))
            with self._receiving:
                self._replace(worker)
        return job

    def stream(self, frames: Iterable[RGBDFrame]) -> Iterator[Scene]:
        """Scenes of ``frames`` in order, keeping every worker busy: while waiting for
        the oldest result, a worker that finishes gets the next frame at once."""
        source = iter(frames)
        queued: deque[_Job] = deque()
        exhausted = False

        def refill() -> None:
            nonlocal exhausted
            while not exhausted and self.wait_idle(timeout=0):
                frame = next(source, None)
                if frame is None:
                    exhausted = True
                else:
                    queued.append(self.submit(frame))

        refill()
        while queued or not exhausted:
            if not queued:  # every worker busy starting (a replaced one): wait for it
                self.wait_idle()
                refill()
                continue
            yield self._result(queued.popleft(), None, on_idle=refill)
            refill()

    def _result(self, job: _Job, timeout: float | None,
                on_idle: Callable[[], None] | None = None) -> Scene:
        """``on_idle``: called whenever a reply frees a worker, before tracking."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._receiving:  # one collector at a time; tracking in submission order
            while job.scene is None and job.error is None:
                oldest = self._pending[0]
                while oldest.reply is None:
                    left = None if deadline is None else max(0.0, deadline - time.monotonic())
                    if not self._receive(left) and left == 0.0:
                        raise TimeoutError("no result from the worker processes in time")
                    if on_idle is not None:
                        on_idle()
                self._track(self._pending.popleft())
        if job.error is not None:
            raise job.error
        assert job.scene is not None
        return job.scene

    def _receive(self, timeout: float | None) -> bool:
        """Collects every reply that is ready (waiting up to ``timeout``), and the
        "ready" of replacement workers."""
        busy = {w.conn: w for w in self._workers
                if w.starting or (w.job is not None and w.job.reply is None)}
        if not busy:
            return True
        ready = wait(list(busy), timeout)
        for conn in ready:
            worker = busy[conn]  # type: ignore[index]
            if worker.starting:
                self._take_ready(worker)
                continue
            job = worker.job
            assert job is not None
            try:
                job.reply = worker._recv()
            except WorkerError as exc:
                job.reply = ("error", exc)
                self._replace(worker)
                continue
            with self._idle:
                worker.job = None
                self._idle.notify_all()
        return bool(ready)

    def _reap(self) -> None:
        """Replaces idle workers whose process has died (killed, OOM). Without this, a
        worker killed while idle is noticed only when a frame is sent to it: the pool runs
        one short meanwhile and that frame is lost."""
        if not self._receiving.acquire(blocking=False):
            return  # a collector is busy with the pipes; the next call looks again
        try:
            for worker in [w for w in self._workers if w.idle and not w.process.is_alive()]:
                self._replace(worker)
        finally:
            self._receiving.release()

    def _replace(self, dead: _Worker) -> None:
        """A new process in place of one that died (its frame is lost, not the stream).

        Does not wait for it: the other workers go on taking frames meanwhile, and
        the new one takes frames once its "ready" is read (``_receive``).
        """
        # Callers hold ``_receiving``: two threads that both saw the death (a failed send
        # and a collector reading the closed pipe) replace it once.
        with self._idle:
            if dead not in self._workers:
                return
            slot = self._workers.index(dead)
        dead.close()  # frees the shared memory the dead process held
        self._last_worker_error = (f"{dead.process.name} died (exit code "
                                   f"{dead.process.exitcode})")
        fresh = _Worker(self._ctx, self._settings.config.updated(tracking=False), slot)
        with self._idle:
            self._workers[self._workers.index(dead)] = fresh
            self._idle.notify_all()

    def _take_ready(self, worker: _Worker) -> None:
        """A replacement worker's first reply; one that cannot build its pipeline leaves
        the pool (the others go on; none left: ``submit`` raises)."""
        try:
            worker.take_ready()
        except Exception as exc:  # noqa: BLE001 - any build failure of the replacement
            self._last_worker_error = f"a replacement worker failed to start: {exc}"
            worker.close()
            with self._idle:
                self._workers.remove(worker)
                self._idle.notify_all()
            return
        with self._idle:
            self._idle.notify_all()

    def _track(self, job: _Job) -> None:
        assert job.reply is not None
        kind, value = job.reply
        if kind == "error":
            job.error = value
            return
        job.scene = assemble_scene(job.frame, value, self._settings.current()[1], job.start)

    # -- lifetime -----------------------------------------------------------------------
    def close(self) -> None:
        """Stops the worker processes (also on exit from a ``with`` block)."""
        self._closed = True
        for worker in self._workers:
            worker.close()

    def __enter__(self) -> "ParallelPipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"ParallelPipeline({self.config.instance_backend}, workers={self.workers}, "
                f"device={self.device!r})")


def _serve(conn: Connection, config: PipelineConfig) -> None:
    """A worker process: build the pipeline, then analyse frames until told to stop."""
    # Ctrl-C reaches the whole process group: the parent stops its workers itself
    # (a worker that died of it would print a traceback and lose its frame).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = _SharedChannel()
    try:
        # Each worker is one of several busy processes: no layout thread, and
        # OpenCV single-threaded, so they don't fight over the cores.
        import cv2
        cv2.setNumThreads(1)
        pipeline = Pipeline(config, layout_thread=False)
    except BaseException as exc:  # reported to the parent, which raises it
        channel.send(conn, ("error", _picklable(exc)))
        channel.close()
        return
    channel.send(conn, ("ready", (pipeline.device, pipeline.class_names)))
    generation = 0
    while True:
        try:
            # The frame's arrays are views of the parent's block: results are copies.
            message = channel.recv(conn, copy=False)
        except (EOFError, OSError):  # the parent went away
            break
        if message is None:
            break
        frame, settings, gen = message
        try:
            if gen != generation:
                pipeline.reset()
                generation = gen
            changed = {k: v for k, v in settings.items() if getattr(pipeline.config, k) != v}
            if changed:
                pipeline.update_config(**changed)
            reply: tuple[str, Any] = ("ok", pipeline.analyse(frame))
        except Exception as exc:  # noqa: BLE001 - one bad frame must not end the worker
            reply = ("error", _picklable(exc))
        channel.send(conn, reply)
        frame = message = None  # no view of the block outlives its job
    channel.close()


def _picklable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError naming it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")

