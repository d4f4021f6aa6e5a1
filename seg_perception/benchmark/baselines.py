"""The comparison baseline: the classic Open3D tabletop pipeline on the whole cloud, timed."""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from ..frames import RGBDFrame
from ..metrics.timing import StageTimer
from .frames import CAMERA_PERIOD_NS, BenchFrame
from .resources import Usage, progress_bar
from .timing import rounded

__all__ = ["BASELINE_STAGES", "naive_baseline", "time_baseline"]

BASELINE_STAGES: tuple[str, ...] = ("conversion", "cloud", "downsample", "plane", "crop",
                                    "cluster", "describe", "end_to_end")
"""Stage names of ``report["baseline"][size]["stages"]``."""


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

    from ..geometry.projection import depth_to_points

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
    usage = Usage()
    with progress_bar(iterations, desc, progress) as bar:
        for i in range(iterations):
            bf = frames[i % n]
            start = time.perf_counter()
            with timer("conversion"):
                frame = bf.to_frame(stamp_ns=(i + 1) * CAMERA_PERIOD_NS)
            found.append(len(naive_baseline(frame, voxel_size=voxel_size, timer=timer)))
            timer.record("end_to_end", (time.perf_counter() - start) * 1e3)
            true.append(bf.objects_true)
            usage.sample()
            bar.update(1)
    stages = {k: rounded(v) for k, v in timer.summary().items()}
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
