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
    imports rclpy), every output subscribed, rates up to a 30 Hz camera; with the
    node as its own process also start-up to lifecycle *active* and the
    footprint (:func:`~seg_perception.benchmark.resources.process_tree_footprint`:
    node and worker RSS, torch / Open3D / ONNX Runtime mapped or not).
``learned``
    Learned backends side by side on the same frames: torch fp32, fp16 (CUDA
    only), ONNX Runtime. ``maskrcnn_mobilenet`` and ``unet`` run their shipped
    weights; the others random initialisation (latency meaningful, output not).

Targets from the project's issues are reported as reached or not, never asserted.

Modules: :mod:`.config` (what to run), :mod:`.frames` (rendered input),
:mod:`.resources` (CPU, memory, load), :mod:`.timing` (pipeline, stream),
:mod:`.baselines` (Open3D), :mod:`.learned` (learned models, ONNX export),
:mod:`.targets`, :mod:`.report` (JSON + Markdown), :mod:`.plots`, :mod:`.run`
(the whole run).

Example:
    >>> from seg_perception.benchmark import BenchConfig, run_benchmark  # doctest: +SKIP
    >>> report = run_benchmark(BenchConfig.quick_preset(), "out/bench")  # doctest: +SKIP
    >>> report["pipeline"]["640x480"]["stages"]["end_to_end"]["p50"]  # doctest: +SKIP
    41.7
"""
from __future__ import annotations

from .baselines import BASELINE_STAGES, naive_baseline, time_baseline
from .config import BenchConfig, parse_size
from .frames import BenchFrame, render_bench_frames
from .learned import LEARNED_MODELS, LearnedModel, run_learned, time_learned
from .report import markdown_report, stage_shares, write_report
from .run import NodeRunner, run_benchmark
from .timing import PIPELINE_STAGES, time_pipeline, time_stream

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
    "parse_size",
    "render_bench_frames",
    "run_benchmark",
    "run_learned",
    "stage_shares",
    "time_baseline",
    "time_learned",
    "time_pipeline",
    "time_stream",
    "write_report",
]
