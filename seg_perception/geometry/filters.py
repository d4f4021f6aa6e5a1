"""Point and mask filters for per-object clouds (numpy, OpenCV, SciPy).

Open3D is used only for the nearest-neighbour search of the outlier filter,
when it is installed, imported on first use (see :func:`load_neighbor_backend`).

Filters that select return a boolean mask or indices, so the caller chooses
what to copy; :func:`voxel_downsample` builds new points (voxel means).

Example:
    >>> import numpy as np
    >>> pts = np.random.default_rng(0).uniform(0, 0.1, (1000, 3)).astype(np.float32)
    >>> keep = depth_range(pts, 0.02, 0.08)
    >>> down, _ = voxel_downsample(pts[keep], 0.01)
    >>> bool(down.shape[0] <= keep.sum())
    True
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "depth_range",
    "erode_mask",
    "erode_mask_at_depth_edges",
    "knn_mean_distances",
    "load_neighbor_backend",
    "remove_statistical_outliers",
    "voxel_downsample",
]


def erode_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Shrink a mask by ``pixels`` (square structuring element of side ``2 * pixels + 1``).

    Depth sensors average foreground and background at object outlines, which
    gives "flying pixels" floating between the two; dropping a thin rim of the
    mask removes them (and most mask/depth misalignment) at little cost.

    Args:
        mask: ``bool[H, W]`` or ``bool[N, H, W]``.
        pixels: rim width in pixels, ``>= 0``; 0 returns the mask unchanged.

    Returns:
        ``bool`` array of the input's shape. Pixels outside the image count as
        background, so masks touching the border are eroded there too.
    """
    if pixels < 0:
        raise ValueError(f"erode_mask: pixels must be >= 0, got {pixels}")
    mask = np.asarray(mask, dtype=bool)
    if pixels == 0:
        return mask
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    if mask.ndim == 2:
        return _erode2d(mask, kernel)
    if mask.ndim == 3:
        return np.stack([_erode2d(m, kernel) for m in mask]) if len(mask) else mask.copy()
    raise ValueError(f"erode_mask: mask must be HxW or NxHxW, got shape {mask.shape}")


def _erode2d(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    import cv2

    out = cv2.erode(np.ascontiguousarray(mask).view(np.uint8), kernel,
                    borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return out.view(bool)


def erode_mask_at_depth_edges(mask: np.ndarray, depth: np.ndarray, pixels: int,
                              tolerance: float) -> np.ndarray:
    """Erode ``mask`` by ``pixels``, then give back rim pixels whose depth agrees with the interior.

    A rim pixel (in ``mask`` but not in the eroded mask) is kept when its depth
    lies within ``tolerance`` metres of the depth range of the eroded interior
    in its ``(2 * pixels + 1)``-square neighbourhood. Flying pixels, which
    sensors put between an object's edge and the background behind it, jump
    away from the interior and are dropped; the true outline, which plain
    erosion would also remove (shrinking boxes and grasp widths by
    ``pixels * z / f`` per side), is kept.

    Args:
        mask: ``bool[H, W]`` object pixels.
        depth: ``float32[H, W]`` metres, 0 = invalid (never kept).
        pixels: rim width, ``>= 0`` (0 returns ``mask & (depth > 0)``).
        tolerance: metres, ``>= 0``; 0 behaves like :func:`erode_mask`
            except on rim pixels exactly at an interior depth.

    Returns:
        ``bool[H, W]``, a subset of ``mask``.
    """
    import cv2

    mask = np.asarray(mask, dtype=bool)
    valid = mask & (depth > 0)
    if pixels == 0:
        return valid
    if tolerance < 0:
        raise ValueError(f"erode_mask_at_depth_edges: tolerance must be >= 0, got {tolerance}")
    inner = erode_mask(mask, pixels) & valid
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    d = depth.astype(np.float32, copy=False)
    # Min / max filters of the interior's depth (inf / -inf elsewhere); cv2's
    # default border value leaves pixels outside the image neutral.
    lo = cv2.erode(np.where(inner, d, np.float32(np.inf)), kernel)
    hi = cv2.dilate(np.where(inner, d, np.float32(-np.inf)), kernel)
    rim = valid & ~inner & (d >= lo - tolerance) & (d <= hi + tolerance)
    return inner | rim


def depth_range(points: np.ndarray, min_z: float, max_z: float) -> np.ndarray:
    """``bool[M]``: points with ``min_z <= z <= max_z`` (metres, camera optical frame).

    Args:
        points: ``float[M, 3]`` camera-frame points.
    """
    z = points[:, 2]
    return (z >= min_z) & (z <= max_z)


def voxel_downsample(points: np.ndarray, voxel_size: float,
                     colors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Replace the points of each occupied voxel by their mean (and mean colour).

    Voxels are the cubes ``floor(p / voxel_size)``; output is ordered by voxel
    (x slowest, z fastest), so it is deterministic. An object's cloud spans few
    voxels, so counting is done with ``bincount`` on a dense voxel index (no
    sort); large sparse clouds fall back to ``np.unique``. On par with Open3D's
    ``voxel_down_sample`` with the conversion to an Open3D cloud (1.1 ms each
    on 10k points with colours), without the dependency.

    Args:
        points: ``float[M, 3]`` metres.
        voxel_size: cube side in metres; ``<= 0`` returns the inputs unchanged.
        colors: optional ``uint8[M, 3]`` (or float) per point.

    Returns:
        ``(points float32[K, 3], colors[K, 3] | None)`` with ``K <= M``;
        colours keep their dtype (rounded means for integer colours).
    """
    points = np.asarray(points)
    if voxel_size <= 0 or points.shape[0] == 0:
        return points.astype(np.float32, copy=False), colors
    keys = np.floor(points * (1.0 / voxel_size)).astype(np.int64)
    keys -= keys.min(axis=0)
    dims = keys.max(axis=0) + 1
    flat = (keys[:, 0] * dims[1] + keys[:, 1]) * dims[2] + keys[:, 2]
    n_cells = int(dims[0]) * int(dims[1]) * int(dims[2])
    if n_cells <= max(16 * flat.shape[0], 1 << 20):
        cell_counts = np.bincount(flat, minlength=n_cells)
        occupied = np.flatnonzero(cell_counts)
        lookup = np.empty(n_cells, np.int64)
        lookup[occupied] = np.arange(occupied.shape[0])
        inverse = lookup[flat]
        counts = cell_counts[occupied]
    else:  # sparse cloud over a large volume: sort instead of a dense table
        _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    k = counts.shape[0]

    def mean(values: np.ndarray) -> np.ndarray:
        out = np.empty((k, values.shape[1]), np.float64)
        for c in range(values.shape[1]):
            out[:, c] = np.bincount(inverse, values[:, c], minlength=k)
        return out / counts[:, None]

    out_points = mean(points).astype(np.float32)
    out_colors = None
    if colors is not None:
        colors = np.asarray(colors)
        avg = mean(colors)
        if np.issubdtype(colors.dtype, np.integer):
            avg = np.rint(avg)
        out_colors = avg.astype(colors.dtype)
    return out_points, out_colors


def remove_statistical_outliers(points: np.ndarray, nb_neighbors: int, std_ratio: float, *,
                                floor_ratio: float = 0.0, backend: str = "auto") -> np.ndarray:
    """``bool[M]`` inliers of the statistical outlier filter (PCL's definition).

    For each point take the mean distance to its ``nb_neighbors`` nearest
    other points; keep points whose mean is at most ``mu + std_ratio * sigma``
    of those means over the cloud (``sigma`` with ``ddof=1``).

    On a clean cloud that test alone still rejects about 5 % of the points, all
    on its edges and corners (their neighbours lie on one side), which shrinks
    boxes and grasp widths. ``floor_ratio > 0`` also keeps every point whose
    mean is at most ``floor_ratio`` times the median mean: on clean voxelised
    surfaces edge and corner points stay below 2x the median, while real
    outliers (stray pixels centimetres away) are many times above it.

    The k-nearest-neighbour search is the only costly step. Backends return
    identical distances: ``"open3d"`` (nanoflann through
    ``open3d.core.nns``; 16 neighbours on one thread: 1.5 ms vs 2.4 ms for
    1,000 points, 5.6 ms vs 10.8 ms for 3,000), ``"scipy"`` (``cKDTree``) and ``"auto"``, Open3D when it is
    installed (imported on first use, about 2 s once), else SciPy.

    Args:
        points: ``float[M, 3]`` metres.
        nb_neighbors: neighbours per point, the point itself not counted;
            ``<= 0``, or a cloud of at most ``nb_neighbors`` points, keeps everything.
        std_ratio: threshold in standard deviations, ``> 0``.
        floor_ratio: see above; 0 = PCL's filter unchanged.
        backend: ``"auto"``, ``"open3d"`` or ``"scipy"``.
    """
    n = points.shape[0]
    if nb_neighbors <= 0 or n <= nb_neighbors:
        return np.ones(n, bool)
    if std_ratio <= 0:
        raise ValueError(f"remove_statistical_outliers: std_ratio must be > 0, got {std_ratio}")
    mean_dist = knn_mean_distances(points, nb_neighbors, backend=backend)
    threshold = mean_dist.mean() + std_ratio * mean_dist.std(ddof=1)
    if floor_ratio > 0:
        threshold = max(threshold, floor_ratio * float(np.median(mean_dist)))
    return mean_dist <= threshold


def knn_mean_distances(points: np.ndarray, k: int, backend: str = "auto") -> np.ndarray:
    """``float64[M]`` mean distance (metres) of each point to its ``k`` nearest other points.

    Needs ``M > k``. ``backend`` as in :func:`remove_statistical_outliers`.
    """
    backend = _resolve_backend(backend)
    pts = np.ascontiguousarray(points, dtype=np.float64)
    if backend == "open3d":
        import open3d as o3d

        data = o3d.core.Tensor(pts)
        search = o3d.core.nns.NearestNeighborSearch(data)
        search.knn_index()
        _, sq_dist = search.knn_search(data, k + 1)
        dist = np.sqrt(sq_dist.numpy().astype(np.float64))
    else:
        from scipy.spatial import cKDTree

        dist, _ = cKDTree(pts).query(pts, k=k + 1)
    return dist[:, 1:].mean(axis=1)  # column 0 is the point itself


def load_neighbor_backend(backend: str = "auto") -> str:
    """Import the nearest-neighbour backend now and return its name (``"open3d"``/``"scipy"``).

    Open3D takes about 2 s to import; call this when a node is configured so the
    first frame does not pay it.
    """
    backend = _resolve_backend(backend)
    if backend == "open3d":
        import open3d  # noqa: F401
    else:
        import scipy.spatial  # noqa: F401
    return backend


def _resolve_backend(backend: str) -> str:
    if backend not in ("auto", "open3d", "scipy"):
        raise ValueError(f"unknown nearest-neighbour backend {backend!r}; "
                         "use 'auto', 'open3d' or 'scipy'")
    if backend == "auto":
        return "open3d" if _have_open3d() else "scipy"
    return backend


_OPEN3D_AVAILABLE: bool | None = None


def _have_open3d() -> bool:
    global _OPEN3D_AVAILABLE
    if _OPEN3D_AVAILABLE is None:
        import importlib.util

        _OPEN3D_AVAILABLE = importlib.util.find_spec("open3d") is not None
    return _OPEN3D_AVAILABLE
