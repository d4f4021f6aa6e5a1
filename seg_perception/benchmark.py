"""Latency and throughput benchmark: the pipeline, a naive baseline, learned backends.

What :func:`run_benchmark` measures, on frames rendered once and reused (each
pass builds a fresh :class:`~seg_perception.frames.RGBDFrame` with a new stamp,
so no per-frame cache is hit):

``pipeline``
    The bare :class:`~seg_perception.pipeline.Pipeline` (default geometric
    path: geometric instances, geometric scene layout, per-object 3D, tracking)
    per image size. Stages in milliseconds: ``conversion`` (raw ``uint8`` RGB +
    ``uint16`` millimetre depth, what a driver publishes, to an ``RGBDFrame``),
    ``instance``, ``semantic``, ``geometry`` (per-object 3D and grasps),
    ``tracking``, ``total`` (the pipeline's own) and ``end_to_end``
    (conversion + total). Also fps, process CPU % and resident memory.
``baseline``
    :func:`naive_baseline`, the classic PCL/Open3D tabletop demo on the whole
    cloud: back-project every valid pixel, voxel-grid downsample (1 cm, as the
    PCL cluster-extraction tutorial does; ``full_cloud`` repeats it without
    downsampling), RANSAC plane (Open3D ``segment_plane``), keep points 1-50 cm
    above it, Open3D DBSCAN (2 cm), centroid + oriented box per cluster.
``node``
    perception_node over DDS, measured by a runner passed in (the ROS layer's
    :func:`seg_perception.ros.node_bench.run_rate_sweep`; this module never
    imports rclpy).
``learned``
    Learned backends side by side on the same frames: torch fp32, fp16 (CUDA
    only), ONNX Runtime. ``maskrcnn_mobilenet`` and ``unet`` run their shipped
    weights; the others random initialisation (latency meaningful, output not).

Targets from the project's issues are reported as reached or not, never asserted.

Example:
    >>> from seg_perception.benchmark import BenchConfig, run_benchmark  # doctest: +SKIP
    >>> report = run_benchmark(BenchConfig.quick_preset(), "out/bench")  # doctest: +SKIP
    >>> report["pipeline"]["640x480"]["stages"]["end_to_end"]["p50"]  # doctest: +SKIP
    41.7
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from .config import PipelineConfig
from .frames import CameraIntrinsics, RGBDFrame, depth_to_millimetres
from .metrics.timing import StageTimer, latency_summary

__all__ = [
    "BASELINE_STAGES",
    "LEARNED_MODELS",
    "PIPELINE_STAGES",
    "BenchConfig",
    "BenchFrame",
    "LearnedModel",
    "NodeRunner",
    "markdown_report",
    "naive_baseline",
    "render_bench_frames",
    "run_benchmark",
    "time_baseline",
    "time_learned",
    "time_pipeline",
]

PIPELINE_STAGES: tuple[str, ...] = ("conversion", "instance", "semantic", "geometry", "tracking",
                                    "total", "end_to_end")
"""Stage names of ``report["pipeline"][size]["stages"]`` (see the module docstring)."""
BASELINE_STAGES: tuple[str, ...] = ("conversion", "cloud", "downsample", "plane", "crop",
                                    "cluster", "describe", "end_to_end")
"""Stage names of ``report["baseline"][size]["stages"]``."""

_STAGE_LABELS = {"conversion": "conversion (driver arrays -> RGBDFrame)",
                 "instance": "instance (geometric segmenter)",
                 "semantic": "semantic (scene layout)",
                 "geometry": "per-object 3D + grasp",
                 "tracking": "tracking"}
_MB = 1024.0 * 1024.0
_CAMERA_PERIOD_NS = 66_666_667  # stamps as from a 15 Hz camera

NodeRunner = Callable[..., dict]
"""``runner(frames, *, rates, step_s, progress, log_path) -> dict`` (see ros/node_bench.py)."""


# --------------------------------------------------------------------------- config

@dataclass(frozen=True)
class BenchConfig:
    """What to run and how long.

    Attributes:
        sizes: ``(width, height)`` image sizes of the pipeline and baseline runs.
        frames: timed pipeline frames per size (after ``warmup`` untimed ones).
        warmup: untimed frames first (imports, caches, allocator).
        baseline_frames: timed frames of the voxel-grid baseline per size.
        baseline_full_frames: timed frames of the full-cloud baseline (first size
            only; seconds per frame); 0 skips it.
        baseline_voxel_m: voxel size of the baseline's downsampling, metres.
        scenes, frames_per_scene: rendered frames per size: scenes x frames per
            scene with objects moved a little between frames (tracking sees motion).
        frame_source: ``"tabletop"`` (pybullet :class:`~seg_perception.sim.scenes.TabletopSim`,
            realistic clutter and sensor noise) or ``"synthetic"`` (numpy ray casting, fast).
        seed: scene seed.
        learned: run the learned backends.
        learned_models: names from :data:`LEARNED_MODELS` (None: all; the
            ``slow`` ones are skipped with ``quick``).
        learned_frames: timed frames per learned model (slow models: one fewer, at least 1).
        onnx: also time the ONNX Runtime export of the models that have one.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` for the learned models.
        node: run the node-over-DDS section (needs a ``node_runner``).
        node_size: image size of the node section.
        node_rates: camera rates of the node rate sweep, Hz, ascending.
        node_step_s: seconds per rate step.
        stream_workers: worker-process counts of the stream throughput section
            (:func:`time_stream`, first size only; empty = skip it).
        quick: the reduced CI configuration (see :meth:`quick_preset`).
    """

    sizes: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720))
    frames: int = 60
    warmup: int = 3
    baseline_frames: int = 20
    baseline_full_frames: int = 2
    baseline_voxel_m: float = 0.01
    scenes: int = 2
    frames_per_scene: int = 3
    frame_source: str = "tabletop"
    seed: int = 0
    learned: bool = True
    learned_models: tuple[str, ...] | None = None
    learned_frames: int = 3
    onnx: bool = True
    device: str = "cpu"
    node: bool = True
    node_size: tuple[int, int] = (640, 480)
    node_rates: tuple[float, ...] = (5.0, 10.0, 15.0, 20.0, 30.0)
    node_step_s: float = 4.0
    stream_workers: tuple[int, ...] = (2,)
    quick: bool = False

    def __post_init__(self) -> None:
        if not self.sizes or any(w < 16 or h < 16 for w, h in self.sizes):
            raise ValueError(f"sizes {self.sizes}: give at least one size of 16x16 or more")
        if self.frames < 1 or self.warmup < 0 or self.learned_frames < 1:
            raise ValueError("frames and learned_frames must be >= 1, warmup >= 0")
        if self.frame_source not in ("tabletop", "synthetic"):
            raise ValueError(f"frame_source={self.frame_source!r}: use 'tabletop' or 'synthetic'")
        if list(self.node_rates) != sorted(self.node_rates) or not self.node_rates:
            raise ValueError(f"node_rates {self.node_rates} must be non-empty and ascending")

    @classmethod
    def quick_preset(cls, **changes: Any) -> "BenchConfig":
        """The CI configuration: 640x480 only, few frames, no slow learned models, short node steps."""
        base = cls(sizes=((640, 480),), frames=10, warmup=2, baseline_frames=5,
                   baseline_full_frames=0, scenes=1, frames_per_scene=2, learned_frames=1,
                   onnx=False, node_rates=(5.0, 10.0, 15.0), node_step_s=2.0, quick=True)
        return replace(base, **changes)


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)``."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r} must look like 640x480") from None
    return w, h


def _size_key(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


# --------------------------------------------------------------------------- frames

@dataclass(frozen=True, eq=False)
class BenchFrame:
    """One rendered frame as a camera driver delivers it.

    Attributes:
        rgb: ``uint8[H, W, 3]`` RGB.
        depth_mm: ``uint16[H, W]`` depth in millimetres, 0 = no measurement (16UC1).
        intrinsics: pinhole model of the colour camera, ``W x H``.
        objects_true: visible objects in the frame (-1 when unknown).
    """

    rgb: np.ndarray
    depth_mm: np.ndarray
    intrinsics: CameraIntrinsics
    objects_true: int = -1

    @property
    def size(self) -> tuple[int, int]:
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    def to_frame(self, stamp_ns: int = 0) -> RGBDFrame:
        """A fresh :class:`RGBDFrame` (depth converted to metres, validated)."""
        return RGBDFrame.create(self.rgb, self.depth_mm, self.intrinsics, stamp_ns=stamp_ns)


def render_bench_frames(width: int, height: int, *, scenes: int = 2, frames_per_scene: int = 3,
                        source: str = "tabletop", seed: int = 0,
                        progress: Any = None) -> list[BenchFrame]:
    """Render ``scenes * frames_per_scene`` frames once, for reuse in every timed pass.

    ``"tabletop"``: random cluttered tables (3-8 objects, hard cases, shadows,
    sensor depth noise) with objects nudged between the frames of a scene
    (0.2-0.5 s per 640x480 frame on 2 cores). ``"synthetic"``: the numpy
    ray-cast presets of :mod:`seg_perception.sim.synthetic` (milliseconds).
    ``progress`` is called once per rendered frame.
    """
    out: list[BenchFrame] = []
    if source == "synthetic":
        from .sim.synthetic import preset_objects, render_scene

        presets = ("separated", "touching", "stacked", "flat", "textured")
        for k in range(scenes * frames_per_scene):
            scene = render_scene(preset_objects(presets[k % len(presets)]), width=width,
                                 height=height)
            f = scene.frame
            out.append(BenchFrame(f.rgb, depth_to_millimetres(f.depth), f.intrinsics,
                                  len(scene.objects)))
            if progress:
                progress()
        return out
    if source != "tabletop":
        raise ValueError(f"source={source!r}: use 'tabletop' or 'synthetic'")
    from .sim.scenes import SceneConfig, TabletopSim

    cfg = SceneConfig(width=width, height=height, depth_noise=True)
    for s in range(scenes):
        with TabletopSim(cfg, seed=seed + s) as sim:
            for sf in sim.frames(frames_per_scene, move=True):
                visible = sum(1 for p in sf.object_poses if p.visible_pixels > 0)
                out.append(BenchFrame(np.ascontiguousarray(sf.rgb), depth_to_millimetres(sf.depth),
                                      sf.intrinsics, visible))
                if progress:
                    progress()
    return out


# --------------------------------------------------------------------------- measuring helpers

class _Usage:
    """Process CPU % (psutil, 100 = one core busy) and resident memory over a section."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self._proc.cpu_percent(None)
        self._system = psutil.cpu_percent(None)
        self.peak_rss = self._proc.memory_info().rss
        self.start_rss = self.peak_rss
        self._t0 = time.perf_counter()
        self._load0 = _loadavg()

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, self._proc.memory_info().rss)

    def finish(self) -> dict[str, Any]:
        import psutil

        self.sample()
        return {"wall_s": round(time.perf_counter() - self._t0, 3),
                "cpu_percent": round(self._proc.cpu_percent(None), 1),
                "system_cpu_percent": round(psutil.cpu_percent(None), 1),
                "rss_start_mb": round(self.start_rss / _MB, 1),
                "rss_peak_mb": round(self.peak_rss / _MB, 1),
                "load_avg_start": self._load0, "load_avg_end": _loadavg()}


def _loadavg() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return []


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", leave=False, disable=not enabled,
                dynamic_ncols=True)


def _rounded(summary: dict[str, float]) -> dict[str, float]:
    return {k: (round(v, 3) if isinstance(v, float) and math.isfinite(v) else v)
            for k, v in summary.items()}


# --------------------------------------------------------------------------- pipeline

def time_pipeline(frames: Sequence[BenchFrame], *, iterations: int, warmup: int = 3,
                  config: PipelineConfig | None = None, pipeline: Any = None,
                  progress: bool = False, desc: str = "pipeline") -> dict[str, Any]:
    """Time ``Pipeline.process`` (plus the frame conversion) over ``frames``, cycled.

    Returns ``{"stages": {stage: latency_summary}, "instance_substages": {...},
    "fps": frames per second at the p50 end-to-end latency, "fps_mean": frames /
    wall time, "objects_found_mean", "objects_true_mean", "cpu_percent",
    "rss_peak_mb", ...}``; latencies in milliseconds.
    """
    from .pipeline import Pipeline

    pipe = pipeline or Pipeline(config or PipelineConfig(device="cpu"))
    n = len(frames)
    for i in range(warmup):
        pipe.process(frames[i % n].to_frame(stamp_ns=(i + 1) * _CAMERA_PERIOD_NS))
    timer = StageTimer()
    sub = StageTimer()
    found, true = [], []
    usage = _Usage()
    t0 = time.perf_counter()
    with _bar(iterations, desc, progress) as bar:
        for i in range(iterations):
            bf = frames[i % n]
            stamp = (warmup + i + 1) * _CAMERA_PERIOD_NS
            with timer("conversion"):
                frame = bf.to_frame(stamp_ns=stamp)
            scene = pipe.process(frame)
            for stage in ("instance", "semantic", "geometry", "tracking", "total"):
                timer.record(stage, scene.timings_ms.get(stage, 0.0))
            timer.record("end_to_end", timer.last_ms["conversion"] + scene.timings_ms["total"])
            for name, ms in _instance_substages(frame).items():
                sub.record(name, ms)
            found.append(len(scene.objects))
            true.append(bf.objects_true)
            usage.sample()
            bar.update(1)
    wall = time.perf_counter() - t0
    stages = {k: _rounded(v) for k, v in timer.summary().items()}
    p50 = stages["end_to_end"]["p50"]
    result = {
        "backends": {"instance": pipe.config.instance_backend,
                     "semantic": pipe.config.semantic_backend},
        "iterations": iterations, "warmup": warmup,
        "stages": stages,
        "instance_substages": {k: _rounded(v) for k, v in sub.summary().items()},
        "fps": round(1000.0 / p50, 2) if p50 > 0 else None,
        "fps_mean": round(iterations / wall, 2),
        "objects_found_mean": round(float(np.mean(found)), 2),
        "objects_true_mean": round(float(np.mean(true)), 2) if min(true) >= 0 else None,
        "per_frame_ms": [round(v, 2) for v in timer.samples_ms["end_to_end"]],
    }
    result.update(usage.finish())
    return result


def time_stream(frames: Sequence[BenchFrame], *, iterations: int, workers: int,
                warmup: int = 3, config: PipelineConfig | None = None,
                progress: bool = False) -> dict[str, Any]:
    """Throughput on a camera stream: frames fed as fast as they are taken, through a
    :class:`~seg_perception.parallel.ParallelPipeline` of ``workers`` processes
    (frame conversion included, tracking in order).

    Returns ``{"workers", "fps": frames / wall time, "latency_ms": summary of each
    frame's submit-to-tracked time, "objects_found_mean", "cpu_percent", ...}``.
    """
    from .parallel import ParallelPipeline

    n = len(frames)
    stamps = iter(range(1, warmup + iterations + 1))

    def feed(count: int) -> Iterator[RGBDFrame]:
        for _ in range(count):
            i = next(stamps)
            yield frames[i % n].to_frame(stamp_ns=i * _CAMERA_PERIOD_NS)

    with ParallelPipeline(config or PipelineConfig(device="cpu"), workers=workers) as pipe:
        for _ in pipe.stream(feed(warmup)):
            pass
        latency, found = [], []
        usage = _Usage()
        t0 = time.perf_counter()
        with _bar(iterations, f"stream, {workers} workers", progress) as bar:
            for scene in pipe.stream(feed(iterations)):
                latency.append(scene.timings_ms["total"])
                found.append(len(scene.objects))
                usage.sample()
                bar.update(1)
        wall = time.perf_counter() - t0
    result = {"workers": workers, "iterations": iterations,
              "fps": round(iterations / wall, 2),
              "latency_ms": _rounded(latency_summary(latency)),
              "objects_found_mean": round(float(np.mean(found)), 2)}
    result.update(usage.finish())
    return result


def _instance_substages(frame: RGBDFrame) -> dict[str, float]:
    # The geometric segmenter caches its analysis (with stage timings) on the frame.
    from .segmenters.geometric import cached_analysis

    analysis = cached_analysis(frame)
    return dict(getattr(analysis, "timings_ms", {}) or {}) if analysis is not None else {}


# --------------------------------------------------------------------------- naive baseline

def naive_baseline(frame: RGBDFrame, *, voxel_size: float = 0.01, plane_threshold: float = 0.01,
                   ransac_iterations: int = 1000, cluster_tolerance: float = 0.02,
                   dbscan_min_points: int = 10, min_object_points: int | None = None,
                   min_height: float = 0.01, max_height: float = 0.5,
                   timer: StageTimer | None = None) -> list[dict[str, Any]]:
    """The classic tabletop pipeline on the whole cloud, in Open3D (the comparison baseline).

    Steps (each timed into ``timer`` when given): ``cloud`` back-projects every
    valid pixel (``x = (u - cx) z / fx``, ``y = (v - cy) z / fy``);
    ``downsample`` is a voxel grid of ``voxel_size`` metres (0 = keep every
    point); ``plane`` is Open3D RANSAC (``segment_plane``, ``plane_threshold``
    metres, ``ransac_iterations``); ``crop`` keeps points between ``min_height``
    and ``max_height`` metres above the plane on the camera's side (PCL's
    polygonal-prism step, without the hull); ``cluster`` is Open3D DBSCAN
    (``eps = cluster_tolerance`` metres); ``describe`` gives each cluster of at
    least ``min_object_points`` points (default 20 downsampled, 100 full) its
    centroid and oriented bounding box.

    Args:
        frame: the RGB-D frame (only depth and intrinsics are used).

    Returns:
        One dict per object: ``centroid`` (metres, camera optical frame),
        ``extent`` (metres, box axes), ``num_points``; largest first.
    """
    import open3d as o3d

    from .geometry.projection import depth_to_points

    t = timer or StageTimer()
    min_pts = min_object_points if min_object_points is not None else (20 if voxel_size > 0 else 100)
    with t("cloud"):
        points, _ = depth_to_points(frame.depth, frame.intrinsics)
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(
            np.asarray(points, np.float64)))
    with t("downsample"):
        if voxel_size > 0:
            cloud = cloud.voxel_down_sample(float(voxel_size))
    with t("plane"):
        if len(cloud.points) < 3:
            return []
        model, _ = cloud.segment_plane(float(plane_threshold), 3, int(ransac_iterations))
    with t("crop"):
        normal, offset = np.asarray(model[:3], np.float64), float(model[3])
        if offset < 0:  # orient the normal towards the camera (the origin)
            normal, offset = -normal, -offset
        pts = np.asarray(cloud.points)
        height = pts @ normal + offset
        keep = np.flatnonzero((height > min_height) & (height < max_height))
        above = cloud.select_by_index(keep.tolist())
    with t("cluster"):
        labels = (np.asarray(above.cluster_dbscan(eps=float(cluster_tolerance),
                                                  min_points=int(dbscan_min_points)))
                  if len(above.points) else np.zeros(0, np.int64))
    objects: list[dict[str, Any]] = []
    with t("describe"):
        if labels.size and labels.max() >= 0:
            counts = np.bincount(labels[labels >= 0])
            for k in np.argsort(-counts):
                if counts[k] < min_pts:
                    break
                part = above.select_by_index(np.flatnonzero(labels == k).tolist())
                try:
                    box = part.get_oriented_bounding_box()
                    extent = np.asarray(box.extent).tolist()
                except RuntimeError:  # degenerate (flat) cluster: Qhull fails
                    extent = (part.get_max_bound() - part.get_min_bound()).tolist()
                objects.append({"centroid": np.asarray(part.get_center()).tolist(),
                                "extent": extent, "num_points": int(counts[k])})
    return objects


def time_baseline(frames: Sequence[BenchFrame], *, iterations: int, warmup: int = 1,
                  voxel_size: float = 0.01, progress: bool = False,
                  desc: str = "baseline") -> dict[str, Any]:
    """Time :func:`naive_baseline` (plus the same frame conversion as ours) over ``frames``."""
    n = len(frames)
    for i in range(warmup):
        naive_baseline(frames[i % n].to_frame(), voxel_size=voxel_size)
    timer = StageTimer()
    found, true = [], []
    usage = _Usage()
    with _bar(iterations, desc, progress) as bar:
        for i in range(iterations):
            bf = frames[i % n]
            start = time.perf_counter()
            with timer("conversion"):
                frame = bf.to_frame(stamp_ns=(i + 1) * _CAMERA_PERIOD_NS)
            found.append(len(naive_baseline(frame, voxel_size=voxel_size, timer=timer)))
            timer.record("end_to_end", (time.perf_counter() - start) * 1e3)
            true.append(bf.objects_true)
            usage.sample()
            bar.update(1)
    stages = {k: _rounded(v) for k, v in timer.summary().items()}
    p50 = stages["end_to_end"]["p50"]
    result = {
        "variant": (f"voxel grid {voxel_size * 100:g} cm" if voxel_size > 0
                    else "full cloud (no downsampling)"),
        "voxel_size_m": voxel_size, "iterations": iterations,
        "stages": stages,
        "fps": round(1000.0 / p50, 2) if p50 > 0 else None,
        "objects_found_mean": round(float(np.mean(found)), 2),
        "objects_true_mean": round(float(np.mean(true)), 2) if min(true) >= 0 else None,
        "per_frame_ms": [round(v, 2) for v in timer.samples_ms["end_to_end"]],
    }
    result.update(usage.finish())
    return result


# --------------------------------------------------------------------------- learned models

@dataclass(frozen=True)
class LearnedModel:
    """A learned backend to time.

    Attributes:
        name: the entry's name in the report.
        kind: ``"instance"`` or ``"semantic"``.
        backend: registered backend name.
        label: what the model is, for the tables.
        onnx: how to export it for ONNX Runtime: ``"maskrcnn"``, ``"semantic"``,
            ``"native"`` (already an ONNX model) or ``""`` (no export).
        slow: skipped in quick mode; timed with one frame fewer.
        kwargs: extra builder arguments.
    """

    name: str
    kind: str
    backend: str
    label: str
    onnx: str = ""
    slow: bool = False
    kwargs: dict[str, Any] = field(default_factory=dict)


LEARNED_MODELS: tuple[LearnedModel, ...] = (
    LearnedModel("maskrcnn", "instance", "maskrcnn", "Mask R-CNN ResNet-50-FPN v1 (800 px)",
                 slow=True),
    LearnedModel("maskrcnn_mobilenet", "instance", "maskrcnn_mobilenet",
                 "Mask R-CNN MobileNetV3-FPN, RGB-D (shipped sim weights, 240 px)",
                 onnx="maskrcnn", slow=True, kwargs={"weights": "DEFAULT"}),
    LearnedModel("yolo_seg", "instance", "yolo_seg",
                 "YOLOv8-seg layout, 640 px (stand-in conv net)", onnx="native"),
    LearnedModel("unet", "semantic", "unet",
                 "scene-layout U-Net, RGB-D (shipped sim weights, 240 px)", onnx="semantic",
                 kwargs={"weights": "DEFAULT"}),
    LearnedModel("lraspp", "semantic", "lraspp", "LR-ASPP MobileNetV3-Large", onnx="semantic"),
    LearnedModel("deeplabv3", "semantic", "deeplabv3", "DeepLabV3 MobileNetV3-Large",
                 slow=True),
)
"""The learned backends :func:`run_benchmark` times (``BenchConfig.learned_models`` picks)."""

# Instance + semantic pairings whose combined rate is reported (fps from the sum of p50s).
_PAIRS = (("maskrcnn_mobilenet", "lraspp"), ("yolo_seg", "unet"), ("maskrcnn", "deeplabv3"))


def time_learned(segmenter: Any, frames: Sequence[BenchFrame], *, iterations: int,
                 warmup: int = 1, kind: str = "instance", progress: bool = False,
                 desc: str = "model") -> dict[str, Any]:
    """Time ``segmenter.segment`` (the conversion excluded) over ``frames``, cycled.

    Returns ``{"latency_ms": latency_summary, "fps", "detections_mean" (instance),
    "cpu_percent", "rss_peak_mb", ...}``.
    """
    n = len(frames)
    inputs = [frames[i % n].to_frame(stamp_ns=i + 1) for i in range(warmup + iterations)]
    for frame in inputs[:warmup]:
        segmenter.segment(frame)
    times, detections = [], []
    usage = _Usage()
    with _bar(iterations, desc, progress) as bar:
        for frame in inputs[warmup:]:
            start = time.perf_counter()
            out = segmenter.segment(frame)
            times.append((time.perf_counter() - start) * 1e3)
            if kind == "instance":
                detections.append(len(out))
            usage.sample()
            bar.update(1)
    lat = _rounded(latency_summary(times))
    result: dict[str, Any] = {"latency_ms": lat, "fps": round(1000.0 / lat["p50"], 2),
                              "iterations": iterations, "warmup": warmup}
    if detections:
        result["detections_mean"] = round(float(np.mean(detections)), 1)
    result.update(usage.finish())
    return result


def _build(kind: str, backend: str, **kwargs: Any) -> Any:
    from .segmenters import build_instance_segmenter, build_semantic_segmenter

    builder = build_instance_segmenter if kind == "instance" else build_semantic_segmenter
    return builder(backend, **kwargs)


def _export_onnx(model: LearnedModel, segmenter: Any, path: Path,
                 frame: BenchFrame) -> tuple[str, Any]:
    """Export ``segmenter``; returns the ONNX backend name and its builder ``weights``."""
    from .segmenters.onnx_backend import export_maskrcnn_onnx, export_semantic_onnx

    w, h = frame.size
    if model.onnx == "maskrcnn":
        export_maskrcnn_onnx(segmenter, path, height=h, width=w)
        return "onnx", str(path)
    export_semantic_onnx(segmenter, path, height=h, width=w)
    return "onnx_semantic", str(path)


def run_learned(frames: Sequence[BenchFrame], config: BenchConfig, *,
                progress: bool = False) -> dict[str, Any]:
    """Time every selected learned model in fp32 (torch), fp16 (CUDA) and ONNX Runtime."""
    import logging

    from .devices import resolve_device

    device = resolve_device(config.device)
    cuda = device.startswith("cuda")
    chosen = [m for m in LEARNED_MODELS
              if (config.learned_models is None or m.name in config.learned_models)
              and not (config.quick and m.slow and config.learned_models is None)]
    unknown = set(config.learned_models or ()) - {m.name for m in LEARNED_MODELS}
    if unknown:
        raise ValueError(f"unknown learned models {sorted(unknown)}; choose from "
                         f"{[m.name for m in LEARNED_MODELS]}")
    skipped = [m.name for m in LEARNED_MODELS if m not in chosen]
    # Random-init warnings once per model are noise here; the report says it once.
    package_log = logging.getLogger("seg_perception")
    level = package_log.level
    package_log.setLevel(logging.ERROR)
    try:
        return _time_learned_models(frames, config, chosen, skipped, device, cuda, progress)
    finally:
        package_log.setLevel(level)


def _time_learned_models(frames: Sequence[BenchFrame], config: BenchConfig,
                         chosen: list[LearnedModel], skipped: list[str], device: str,
                         cuda: bool, progress: bool) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="seg_bench_") as tmp:
        for model in chosen:
            iters = max(1, config.learned_frames - 1) if model.slow else config.learned_frames
            entry: dict[str, Any] = {"name": model.name, "kind": model.kind,
                                     "backend": model.backend, "label": model.label,
                                     "weights": model.kwargs.get("weights", "random init"),
                                     "device": device}
            kwargs = dict(model.kwargs)
            if model.backend == "yolo_seg":
                from .segmenters.yolo_seg_standin import make_standin_model
                try:
                    kwargs["weights"] = str(make_standin_model(Path(tmp) / "yolo_seg_standin.onnx"))
                    entry["weights"] = "stand-in ONNX (random weights, YOLOv8-seg output layout)"
                except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                    entry["error"] = f"{type(exc).__name__}: {exc}"
                    entries.append(entry)
                    continue
            runs: dict[str, Any] = {}
            segmenter = None
            start = time.perf_counter()
            try:
                segmenter = _build(model.kind, model.backend, device=device, **kwargs)
                entry["build_s"] = round(time.perf_counter() - start, 2)
                entry["num_params"] = _num_params(segmenter)
                fp32_key = "onnx" if model.onnx == "native" else "fp32"
                runs[fp32_key] = time_learned(segmenter, frames, iterations=iters,
                                              kind=model.kind, progress=progress,
                                              desc=f"{model.name} {fp32_key}")
            except Exception as exc:  # noqa: BLE001 - one failing model must not end the bench
                runs["onnx" if model.onnx == "native" else "fp32"] = {
                    "error": f"{type(exc).__name__}: {exc}"}
            if model.onnx == "native":
                runs["fp32"] = "n/a (ONNX model: timed under onnx)"
            if cuda:
                try:
                    seg16 = _build(model.kind, model.backend, device=device, fp16=True, **kwargs)
                    runs["fp16"] = time_learned(seg16, frames, iterations=iters, kind=model.kind,
                                                progress=progress, desc=f"{model.name} fp16")
                    del seg16
                except Exception as exc:  # noqa: BLE001
                    runs["fp16"] = {"error": f"{type(exc).__name__}: {exc}"}
            else:
                runs["fp16"] = "n/a (CPU: fp16 runs on CUDA only)"
            if model.onnx in ("maskrcnn", "semantic"):
                if not config.onnx:
                    runs["onnx"] = "not run (--quick or onnx disabled)"
                elif segmenter is None:
                    runs["onnx"] = "not run (the torch model failed to build)"
                else:
                    try:
                        t = time.perf_counter()
                        backend, weights = _export_onnx(model, segmenter,
                                                        Path(tmp) / f"{model.name}.onnx", frames[0])
                        export_s = round(time.perf_counter() - t, 2)
                        seg_onnx = _build(model.kind, backend, weights=weights, device=device)
                        runs["onnx"] = time_learned(seg_onnx, frames, iterations=iters,
                                                    kind=model.kind, progress=progress,
                                                    desc=f"{model.name} onnx")
                        runs["onnx"]["export_s"] = export_s
                        del seg_onnx
                    except Exception as exc:  # noqa: BLE001
                        runs["onnx"] = {"error": f"{type(exc).__name__}: {exc}"}
            elif model.onnx == "":
                runs["onnx"] = ("not exported: the R50 export takes minutes on a CPU; "
                                "maskrcnn_mobilenet's export runs the same code"
                                if model.backend == "maskrcnn" else "not exported")
            entry["runs"] = runs
            entries.append(entry)
            del segmenter
    pairs = []
    by_name = {e["name"]: e for e in entries}
    for inst, sem in _PAIRS:
        if inst in by_name and sem in by_name:
            pi, ps = _best_p50(by_name[inst]), _best_p50(by_name[sem])
            if pi is not None and ps is not None:
                pairs.append({"instance": inst, "semantic": sem, "instance_ms": pi[1],
                              "instance_run": pi[0], "semantic_ms": ps[1], "semantic_run": ps[0],
                              "fps": round(1000.0 / (pi[1] + ps[1]), 2)})
    return {"device": device, "cuda": cuda, "models": entries, "skipped": skipped,
            "pairs": pairs,
            "note": "maskrcnn_mobilenet and unet run their shipped weights (DEFAULT); the "
                    "others run with random initialisation: their latency is meaningful, their "
                    "outputs are not (random Mask R-CNN heads keep up to 100 detections, more "
                    "mask pasting than a trained model does)"}


def _num_params(segmenter: Any) -> int | None:
    meta = getattr(segmenter, "meta", None) or {}
    if "num_params" in meta:
        return int(meta["num_params"])
    model = getattr(segmenter, "model", None)
    if model is not None and hasattr(model, "parameters"):
        return int(sum(p.numel() for p in model.parameters()))
    return None


def _best_p50(entry: dict[str, Any]) -> tuple[str, float] | None:
    best = None
    for key, run in (entry.get("runs") or {}).items():
        if isinstance(run, dict) and "latency_ms" in run:
            p50 = run["latency_ms"]["p50"]
            if best is None or p50 < best[1]:
                best = (key, p50)
    return best


# --------------------------------------------------------------------------- the whole run

def run_benchmark(config: BenchConfig, out_dir: str | os.PathLike[str] | None = None, *,
                  frames: dict[tuple[int, int], Sequence[BenchFrame]] | None = None,
                  node_runner: NodeRunner | None = None, progress: bool = True,
                  log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Run every selected section and (with ``out_dir``) write the report files.

    Args:
        config: what to run.
        out_dir: folder for ``bench.json``, ``bench.md`` and the ``*.png`` plots
            (None: write nothing).
        frames: pre-rendered frames per ``(width, height)``; sizes not given are
            rendered with :func:`render_bench_frames`.
        node_runner: runs the node-over-DDS section (ROS layer); None skips it.
        progress: tqdm progress bars.
        log: one-line status messages (None: silent).

    Returns:
        The report dict (what ``bench.json`` holds).
    """
    say = log or (lambda _msg: None)
    frames = dict(frames or {})
    report: dict[str, Any] = {"meta": _meta(config), "frames": {}, "pipeline": {},
                              "stream": [], "baseline": {}, "node": None, "learned": None}

    def frames_for(size: tuple[int, int]) -> Sequence[BenchFrame]:
        if size not in frames:
            count = config.scenes * config.frames_per_scene
            say(f"rendering {count} {_size_key(size)} frames ({config.frame_source})")
            with _bar(count, f"render {_size_key(size)}", progress) as bar:
                frames[size] = render_bench_frames(
                    size[0], size[1], scenes=config.scenes,
                    frames_per_scene=config.frames_per_scene, source=config.frame_source,
                    seed=config.seed, progress=lambda: bar.update(1))
        fs = frames[size]
        report["frames"][_size_key(size)] = {
            "count": len(fs), "source": config.frame_source,
            "objects_true_mean": round(float(np.mean([f.objects_true for f in fs])), 2)}
        return fs

    for size in config.sizes:
        key = _size_key(size)
        fs = frames_for(size)
        say(f"pipeline {key}: {config.frames} frames")
        report["pipeline"][key] = time_pipeline(
            fs, iterations=config.frames, warmup=config.warmup, progress=progress,
            desc=f"pipeline {key}")
        for workers in config.stream_workers if size == config.sizes[0] else ():
            say(f"stream {key}: {config.frames} frames, {workers} worker processes")
            entry = time_stream(fs, iterations=config.frames, workers=workers,
                                warmup=config.warmup, progress=progress)
            report["stream"].append({"size": key, **entry})
        say(f"baseline {key}: {config.baseline_frames} frames")
        base = {"voxel": time_baseline(fs, iterations=config.baseline_frames,
                                       voxel_size=config.baseline_voxel_m, progress=progress,
                                       desc=f"baseline {key}")}
        if config.baseline_full_frames > 0 and size == config.sizes[0]:
            say(f"baseline {key} full cloud: {config.baseline_full_frames} frames")
            base["full_cloud"] = time_baseline(fs, iterations=config.baseline_full_frames,
                                               warmup=0, voxel_size=0.0, progress=progress,
                                               desc=f"baseline {key} full")
        ours = report["pipeline"][key]["stages"]["end_to_end"]["p50"]
        for variant in base.values():
            variant["speedup_of_ours"] = round(variant["stages"]["end_to_end"]["p50"] / ours, 2)
        report["baseline"][key] = base

    if config.node and node_runner is not None:
        size = config.node_size
        fs = frames_for(size)
        say(f"node over DDS at {_size_key(size)}: rates {list(config.node_rates)} Hz, "
            f"{config.node_step_s:g} s each")
        log_path = Path(out_dir) / "node.log" if out_dir is not None else None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            node = node_runner(fs, rates=config.node_rates, step_s=config.node_step_s,
                               progress=progress, log_path=log_path)
        except Exception as exc:  # noqa: BLE001 - the other sections still get reported
            node = {"error": f"{type(exc).__name__}: {exc}"}
        node["size"] = _size_key(size)
        bare = report["pipeline"].get(_size_key(size))
        e2e = (node.get("latency_ms") or {}).get("p50")
        if bare is not None and e2e is not None and math.isfinite(e2e):
            node["bare_pipeline_p50_ms"] = bare["stages"]["end_to_end"]["p50"]
            node["overhead_p50_ms"] = round(e2e - node["bare_pipeline_p50_ms"], 2)
        paired = (node.get("overhead_per_frame_ms") or {}).get("p50")
        if paired is not None and math.isfinite(paired):
            node["overhead_paired_p50_ms"] = round(paired, 2)
        report["node"] = node

    if config.learned:
        size = config.sizes[0]
        fs = frames_for(size)
        say(f"learned models at {_size_key(size)} on {config.device}")
        report["learned"] = run_learned(fs, config, progress=progress)
        report["learned"]["size"] = _size_key(size)

    report["targets"] = _targets(report, config)
    report["meta"]["load_avg_end"] = _loadavg()
    report["meta"]["rss_peak_mb_process"] = _peak_rss_mb()
    report["meta"]["finished"] = _dt.datetime.now().isoformat(timespec="seconds")
    if out_dir is not None:
        write_report(report, out_dir)
    return report


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # pragma: no cover
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return round(peak / 1024.0 if sys.platform != "darwin" else peak / _MB, 1)


def _meta(config: BenchConfig) -> dict[str, Any]:
    import psutil

    from . import __version__

    try:
        affinity = len(psutil.Process().cpu_affinity())
    except (AttributeError, OSError):  # pragma: no cover - macOS
        affinity = os.cpu_count()
    cfg = asdict(config)
    return {"seg_perception": __version__,
            "started": _dt.datetime.now().isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "cpus_usable": affinity,
            "memory_gb": round(psutil.virtual_memory().total / 1024 ** 3, 1),
            "load_avg_start": _loadavg(), "config": cfg,
            "notes": ["latencies in milliseconds; p50/p95 over the timed frames",
                      "fps = 1000 / p50 end-to-end latency (one frame at a time)",
                      "cpu_percent: 100 = one core fully busy (psutil)",
                      "other processes share the machine: see load_avg_* (1/5/15-minute)"]}


# --------------------------------------------------------------------------- targets

def _targets(report: dict[str, Any], config: BenchConfig) -> list[dict[str, Any]]:
    out = []
    pipe = report["pipeline"].get("640x480")
    cores = report["meta"]["cpus_usable"]
    if pipe is not None:
        fps = pipe["fps"]
        measured = (f"{fps:.1f} fps (p50 {pipe['stages']['end_to_end']['p50']:.1f} ms, "
                    f"one frame at a time)")
        for st in report.get("stream", []):
            if st["size"] == "640x480":
                measured += (f"; stream, {st['workers']} worker processes: {st['fps']:.1f} fps"
                             f" (latency p50 {st['latency_ms']['p50']:.1f} ms)")
                fps = max(fps or 0.0, st["fps"])
        measured += f"; {cores} cores"
        for goal in (15.0, 30.0):  # the benchmark issue's bar, then the real-clutter issue's
            # More cores than the target names would flatter it: not judged then.
            reached = bool(fps is not None and fps >= goal) if (cores or 0) <= 2 else None
            out.append({"target": f"geometric path >= {goal:g} fps at 640x480 on 2 CPU cores "
                                  "(instance + layout + per-object 3D)",
                        "measured": measured, "reached": reached})
        # The baseline is DBSCAN on the full cloud; the 1 cm voxel-grid variant
        # (what a tuned PCL demo does) is reported next to it.
        for variant, what in (("full_cloud", "the full cloud"),
                              ("voxel", "a 1 cm voxel-grid cloud")):
            base = report["baseline"].get("640x480", {}).get(variant)
            if base is not None:
                out.append({"target": "geometric path >= 5x faster than the naive baseline "
                                      f"(RANSAC + DBSCAN on {what})",
                            "measured": f"{base['speedup_of_ours']:.2f}x",
                            "reached": base["speedup_of_ours"] >= 5.0})
    else:
        out.append({"target": "geometric path >= 30 fps at 640x480", "measured": "not run",
                     "reached": None})
    node = report.get("node")
    target = "node overhead <= 10 ms p50 over the bare pipeline"
    if node and ("overhead_paired_p50_ms" in node or "overhead_p50_ms" in node):
        # Per frame (e2e minus the node's own pipeline time for that frame) is immune to the
        # load drifting between the bare and the node runs; the difference of p50s is not.
        paired = node.get("overhead_paired_p50_ms")
        diff = node.get("overhead_p50_ms")
        text = []
        if paired is not None:
            text.append(f"{paired:.1f} ms per frame (e2e - the node's own pipeline time)")
        if diff is not None:
            text.append(f"{diff:.1f} ms as e2e p50 {node['latency_ms']['p50']:.1f} - bare p50 "
                        f"{node['bare_pipeline_p50_ms']:.1f}")
        out.append({"target": target,
                    "measured": "; ".join(text) + f" (at {node['latency_rate_hz']:g} Hz)",
                    "reached": (paired if paired is not None else diff) <= 10.0})
    else:
        out.append({"target": target,
                    "measured": "not run" if not node else f"error: {node.get('error', '?')}",
                    "reached": None})
    learned = report.get("learned")
    if learned and learned["cuda"] and learned["pairs"]:
        best = max(learned["pairs"], key=lambda p: p["fps"])
        out.append({"target": "learned instance + semantic >= 15 fps on GPU",
                    "measured": f"{best['fps']:.1f} fps ({best['instance']} + {best['semantic']})",
                    "reached": best["fps"] >= 15.0})
    else:
        cpu = ""
        if learned and learned["pairs"]:
            best = max(learned["pairs"], key=lambda p: p["fps"])
            cpu = f"; on CPU: {best['fps']:.2f} fps ({best['instance']} + {best['semantic']})"
        out.append({"target": "learned instance + semantic >= 15 fps on GPU",
                    "measured": "not measured: no CUDA device" + cpu, "reached": None})
    return out


# --------------------------------------------------------------------------- report files

def write_report(report: dict[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``bench.json``, ``bench.md`` and the plots; returns the files written."""
    from .io import write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "bench.json", _jsonable(report))
    (out / "bench.md").write_text(markdown_report(report))
    written = [out / "bench.json", out / "bench.md"]
    written += _plots(report, out)
    return written


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if value is None or isinstance(value, (str, bool, int)):
        return value
    return str(value)  # anything else (a Path, an enum): its text, never a failed write


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(summary: dict[str, Any] | None, key: str = "p50") -> str:
    if not summary or summary.get(key) is None or not math.isfinite(summary[key]):
        return "-"
    return f"{summary[key]:.1f}"


def stage_shares(pipeline_result: dict[str, Any]) -> list[tuple[str, float, float]]:
    """``(stage, mean ms, share of the end-to-end mean)`` of the default path, largest first.

    The layout runs on a second thread alongside the 3D stage: only the time it
    takes beyond the 3D stage is on the critical path, and that is what is listed.
    """
    stages = pipeline_result["stages"]
    total = stages["end_to_end"]["mean"]

    def mean(stage: str) -> float:
        return stages[stage]["mean"] if stage in stages else 0.0

    rows = [(s, mean(s), mean(s) / total if total > 0 else 0.0)
            for s in ("conversion", "instance", "geometry", "tracking") if s in stages]
    if "semantic" in stages:
        beyond = max(0.0, mean("semantic") - mean("geometry"))
        rows.append(("semantic (beyond the 3D stage it runs alongside)", beyond,
                     beyond / total if total > 0 else 0.0))
    other = total - sum(r[1] for r in rows)
    rows.append(("other (pipeline bookkeeping)", max(other, 0.0),
                 max(other, 0.0) / total if total > 0 else 0.0))
    return sorted(rows, key=lambda r: -r[1])


def markdown_report(report: dict[str, Any]) -> str:
    """The report as Markdown (what ``bench.md`` holds and the tool prints)."""
    meta = report["meta"]
    parts = [f"# seg_perception benchmark ({meta['started']})", "",
             f"{meta['processor']}, {meta['cpus_usable']} usable cores of {meta['cpu_count']}, "
             f"{meta['memory_gb']} GB; Python {meta['python']}; load average "
             f"{meta['load_avg_start']} at start, {meta.get('load_avg_end')} at end "
             "(other processes share the machine). Latencies in ms.", ""]
    if report.get("targets"):
        parts += ["## Targets", "", _table(
            ["target", "measured", "reached"],
            [(t["target"], t["measured"],
              {True: "yes", False: "**no**", None: "n/a"}[t["reached"]])
             for t in report["targets"]]), ""]
    if report["pipeline"]:
        parts += ["## Bare pipeline (default geometric path)", ""]
        rows = []
        for key, r in report["pipeline"].items():
            st = r["stages"]
            rows.append([key] + [f"{_ms(st.get(s))} / {_ms(st.get(s), 'p95')}"
                                 for s in PIPELINE_STAGES]
                        + [f"{r['fps']:.1f}", f"{r['cpu_percent']:.0f}", f"{r['rss_peak_mb']:.0f}",
                           f"{r['objects_found_mean']:.1f} / {r['objects_true_mean']}"])
        parts += [_table(["size"] + [f"{s} p50 / p95" for s in PIPELINE_STAGES]
                         + ["fps", "CPU %", "peak RSS MB", "objects found / true"], rows), ""]
        first_key = next(iter(report["pipeline"]))
        first = report["pipeline"][first_key]
        parts += [f"### Where the time goes ({first_key}, mean per frame)", "",
                  _table(["stage", "ms", "share"],
                         [(_STAGE_LABELS.get(s, s), f"{ms:.1f}", f"{share * 100:.0f} %")
                          for s, ms, share in stage_shares(first)]), ""]
        if first.get("instance_substages"):
            sub = first["instance_substages"]
            parts += ["Inside the instance stage (geometric segmenter):", "",
                      _table(["sub-stage", "p50 ms", "mean ms"],
                             [(k, _ms(v), _ms(v, "mean")) for k, v in
                              sorted(sub.items(), key=lambda kv: -kv[1]["mean"])]), ""]
    if report.get("stream"):
        parts += ["## Stream throughput (ParallelPipeline: frames in worker processes, "
                  "tracked in order)", "",
                  _table(["size", "workers", "fps", "latency p50 / p95", "system CPU %",
                          "objects found"],
                         [(st["size"], st["workers"], f"{st['fps']:.1f}",
                           f"{_ms(st['latency_ms'])} / {_ms(st['latency_ms'], 'p95')}",
                           f"{st['system_cpu_percent']:.0f}", f"{st['objects_found_mean']:.1f}")
                          for st in report["stream"]]),
                  "", "One frame at a time in one process, for comparison: the bare pipeline's "
                  "fps above (1000 / p50). Latency: frame submitted to scene tracked.", ""]
    if report["baseline"]:
        parts += ["## Naive baseline (Open3D RANSAC plane + DBSCAN on the whole cloud)", ""]
        rows = []
        for key, variants in report["baseline"].items():
            for v in variants.values():
                st = v["stages"]
                rows.append([key, v["variant"]]
                            + [_ms(st.get(s)) for s in BASELINE_STAGES]
                            + [f"{_ms(st.get('end_to_end'), 'p95')}", f"{v['fps']:.1f}",
                               f"{v['objects_found_mean']:.1f} / {v['objects_true_mean']}",
                               f"**{v['speedup_of_ours']:.2f}x**"])
        parts += [_table(["size", "variant"] + [f"{s} p50" for s in BASELINE_STAGES]
                         + ["end_to_end p95", "fps", "objects found / true",
                            "speed-up of ours (p50)"], rows), "",
                  "Baseline: every valid pixel back-projected, voxel grid (1 cm, the PCL "
                  "cluster-extraction tutorial's leaf size; the full-cloud row skips it), Open3D "
                  "`segment_plane` (1 cm, 1000 iterations), points 1-50 cm above the plane, "
                  "Open3D `cluster_dbscan` (eps 2 cm, 10 points), centroid + oriented box per "
                  "cluster of >= 20 points (100 on the full cloud). No masks, no layout, "
                  "no tracking. Speed-up = baseline p50 / ours p50, both from the same raw arrays.",
                  ""]
    node = report.get("node")
    if node:
        parts += ["## perception_node over DDS", ""]
        if "error" in node and "steps" not in node:
            parts += [f"failed: {node['error']}", ""]
        else:
            parts += [
                f"{node['size']} frames, {node.get('mode', '?')}; latency = receive time of "
                "`~/objects` - image stamp. " + node.get("note", ""), "",
                _table(["e2e p50 / p95", "at rate", "node's pipeline p50",
                        "overhead per frame p50 / p95", "bare pipeline p50 (bench process)",
                        "e2e p50 - bare p50", "throughput (max output rate)",
                        "highest rate with 0 drops"],
                       [(f"{_ms(node['latency_ms'])} / {_ms(node['latency_ms'], 'p95')}",
                         f"{node['latency_rate_hz']:g} Hz",
                         _ms(node.get("node_pipeline_ms")),
                         f"{_ms(node.get('overhead_per_frame_ms'))} / "
                         f"{_ms(node.get('overhead_per_frame_ms'), 'p95')}",
                         f"{node.get('bare_pipeline_p50_ms', float('nan')):.1f}",
                         f"{node.get('overhead_p50_ms', float('nan')):.1f}",
                         f"{node['throughput_hz']:.1f} Hz",
                         (f"{node['highest_rate_without_drops_hz']:g} Hz"
                          if node.get("highest_rate_without_drops_hz") else "none of the rates"))]),
                "", _table(["camera Hz", "sent", "published Hz", "received", "output Hz",
                            "node dropped", "lost elsewhere", "e2e p50", "e2e p95",
                            "node pipeline p50", "overhead p50", "node CPU %", "node RSS MB"],
                           [(f"{s['rate_hz']:g}", s["sent"], f"{s['published_hz']:.1f}",
                             s["received"], f"{s['output_hz']:.1f}", s["node_dropped"],
                             s["lost_other"], _ms(s["latency_ms"]), _ms(s["latency_ms"], "p95"),
                             _ms(s.get("node_pipeline_ms")), _ms(s.get("overhead_ms")),
                             f"{s.get('node_cpu_percent', float('nan')):.0f}",
                             f"{s.get('node_rss_mb', float('nan')):.0f}")
                            for s in node["steps"]]),
                "", *(_overhead_parts(node) or []),
                "Overhead per frame = (receive time - stamp) - the pipeline's own time for "
                    "that frame inside the node: message conversion, synchronisation, hand-over "
                    "to the worker, output messages, DDS both ways. The difference of p50s "
                    "compares runs at different times and drifts with the machine's load.", ""]
    learned = report.get("learned")
    if learned:
        parts += [f"## Learned models ({learned['size']}, {learned['device']})", "",
                  learned["note"] + ".", ""]
        rows = []
        for e in learned["models"]:
            runs = e.get("runs", {})
            cells = []
            for key in ("fp32", "fp16", "onnx"):
                run = runs.get(key)
                if isinstance(run, dict) and "latency_ms" in run:
                    cells.append(f"{_ms(run['latency_ms'])} / {_ms(run['latency_ms'], 'p95')}"
                                 f" (n={run['iterations']})")
                elif isinstance(run, dict):
                    cells.append("error: " + run.get("error", "?")[:80])
                else:
                    cells.append(str(run or e.get("error", "-")))
            det = next((r.get("detections_mean") for r in runs.values()
                        if isinstance(r, dict) and "detections_mean" in r), None)
            params = e.get("num_params")
            rows.append([e["name"], e["kind"], e["label"],
                         f"{params / 1e6:.1f} M" if params else "-"] + cells
                        + ["-" if det is None else f"{det:g}"])
        parts += [_table(["model", "kind", "what", "params", "torch fp32 p50 / p95",
                          "torch fp16 p50 / p95", "ONNX Runtime p50 / p95", "detections"], rows),
                  ""]
        if learned["pairs"]:
            parts += ["Instance + semantic together (sum of the two p50s, best precision each; "
                      "3D and tracking not included):", "",
                      _table(["instance", "semantic", "ms", "fps"],
                             [(f"{p['instance']} ({p['instance_run']})",
                               f"{p['semantic']} ({p['semantic_run']})",
                               f"{p['instance_ms'] + p['semantic_ms']:.1f}", f"{p['fps']:.2f}")
                              for p in learned["pairs"]]), ""]
        if learned["skipped"]:
            parts += [f"Skipped: {', '.join(learned['skipped'])}.", ""]
    return "\n".join(parts)


def _overhead_parts(node: dict[str, Any]) -> list[str] | None:
    parts = node.get("overhead_parts_ms")
    if not parts:
        return None
    labels = {"input": "stamp -> worker takes the frame (DDS in, sync, waiting)",
              "convert": "messages -> RGBDFrame", "publish": "building + sending the outputs",
              "output": "listener callback - end of publishing (DDS out; negative when "
                        "~/objects, sent first, arrives before the other outputs are sent)"}
    return [f"Where the node's overhead goes at {node['latency_rate_hz']:g} Hz (per frame, ms):",
            "", _table(["part", "p50", "p95"],
                       [(labels.get(k, k), _ms(v), _ms(v, "p95")) for k, v in parts.items()]),
            ""]


def _plots(report: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    colours = plt.get_cmap("tab10")
    stage_colours = plt.get_cmap("tab20")
    # 1. stage p50s, ours vs baseline, per size
    rows = []
    for key, r in report["pipeline"].items():
        rows.append((f"ours {key}", [(s, r["stages"][s]["p50"]) for s in
                                     ("conversion", "instance", "semantic", "geometry",
                                      "tracking") if s in r["stages"]]))
        for v in report["baseline"].get(key, {}).values():
            rows.append((f"baseline {key}\n{v['variant']}",
                         [(s, v["stages"][s]["p50"]) for s in BASELINE_STAGES[:-1]
                          if s in v["stages"]]))
    if rows:
        names = list(dict.fromkeys(s for _, st in rows for s, _ in st))
        fig, ax = plt.subplots(figsize=(10, 0.7 * len(rows) + 1.8))
        for y, (_label, stages) in enumerate(rows):
            left = 0.0
            for s, ms in stages:
                ax.barh(y, ms, left=left, color=stage_colours(names.index(s) % 20),
                        label=s if y == 0 or s not in [n for _, st in rows[:y] for n, _ in st]
                        else None)
                left += ms
            ax.text(left, y, f" {left:.0f} ms", va="center", fontsize=8)
        ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("p50 latency per stage, ms (bars: sum of stage p50s)")
        ax.set_xlim(0, max(sum(ms for _, ms in st) for _, st in rows) * 1.15)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title("Per-stage latency: ours (default geometric path) vs naive baseline")
        fig.tight_layout()
        written.append(out / "stages.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
        # 2. per-frame end-to-end latency
        fig, ax = plt.subplots(figsize=(9, 3.5))
        k = 0
        for key, r in report["pipeline"].items():
            ax.plot(r["per_frame_ms"], ".-", ms=3, color=colours(k), label=f"ours {key}")
            k += 1
            for v in report["baseline"].get(key, {}).values():
                ax.plot(v["per_frame_ms"], "x--", ms=4, color=colours(k),
                        label=f"baseline {key} ({v['variant']})")
                k += 1
        ax.set_yscale("log")
        ax.set_xlabel("timed frame")
        ax.set_ylabel("end-to-end latency, ms")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        written.append(out / "frame_latency.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    node = report.get("node")
    if node and node.get("steps"):
        steps = node["steps"]
        rates = [s["rate_hz"] for s in steps]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
        a1.plot(rates, rates, "k:", label="camera rate")
        a1.plot(rates, [s["published_hz"] for s in steps], "s-", label="published")
        a1.plot(rates, [s["output_hz"] for s in steps], "o-", label="~/objects received")
        a1.bar(rates, [s["node_dropped"] + s["lost_other"] for s in steps], width=1.5,
               alpha=0.3, color="red", label="frames without output (count)")
        a1.set_xlabel("camera rate, Hz")
        a1.set_ylabel("Hz / frames")
        a1.legend(fontsize=7)
        a1.grid(alpha=0.3)
        a2.plot(rates, [s["latency_ms"]["p50"] for s in steps], "o-", label="e2e p50")
        a2.plot(rates, [s["latency_ms"]["p95"] for s in steps], "^--", label="e2e p95")
        if all((s.get("node_pipeline_ms") or {}).get("n") for s in steps):
            a2.plot(rates, [s["node_pipeline_ms"]["p50"] for s in steps], "s-.",
                    label="pipeline p50 inside the node")
        if node.get("bare_pipeline_p50_ms"):
            a2.axhline(node["bare_pipeline_p50_ms"], color="grey", ls=":",
                       label="bare pipeline p50")
        a2.set_xlabel("camera rate, Hz")
        a2.set_ylabel("latency, ms")
        a2.legend(fontsize=7)
        a2.grid(alpha=0.3)
        fig.suptitle(f"perception_node over DDS ({node['size']})")
        fig.tight_layout()
        written.append(out / "node_rates.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    learned = report.get("learned")
    if learned and learned["models"]:
        labels, values, kinds = [], [], []
        for e in learned["models"]:
            for key in ("fp32", "fp16", "onnx"):
                run = (e.get("runs") or {}).get(key)
                if isinstance(run, dict) and "latency_ms" in run:
                    labels.append(f"{e['name']} {key}")
                    values.append(run["latency_ms"]["p50"])
                    kinds.append(e["kind"])
        if values:
            fig, ax = plt.subplots(figsize=(9, 0.35 * len(values) + 1.5))
            ax.barh(range(len(values)), values,
                    color=[colours(0) if k == "instance" else colours(1) for k in kinds])
            for y, v in enumerate(values):
                ax.text(v, y, f" {v:.0f}", va="center", fontsize=8)
            ax.set_yticks(range(len(values)), labels, fontsize=8)
            ax.invert_yaxis()
            ax.set_xscale("log")
            ax.set_xlabel(f"p50 latency per frame, ms ({learned['device']}; "
                          "blue instance, orange semantic)")
            fig.tight_layout()
            written.append(out / "learned.png")
            fig.savefig(written[-1], dpi=110)
            plt.close(fig)
    return written
