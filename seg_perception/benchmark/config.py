"""What a benchmark run does and how long: :class:`BenchConfig`, and ``WxH`` sizes."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["BenchConfig", "parse_size", "size_key"]


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
        yolo_weights: a YOLO-seg ONNX export for the ``yolo_seg`` row (None: a
            stand-in model with random weights and the real output layout).
        node: run the node-over-DDS section (needs a ``node_runner``).
        node_size: image size of the node section.
        node_rates: camera rates of the node rate sweep, Hz, ascending. Issue 21's
            latency target is judged at 30 Hz: the defaults (the quick ones too) include it.
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
    yolo_weights: str | None = None
    node: bool = True
    node_size: tuple[int, int] = (640, 480)
    node_rates: tuple[float, ...] = (5.0, 10.0, 15.0, 20.0, 30.0)
    node_step_s: float = 6.0
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
                   onnx=False, node_rates=(5.0, 15.0, 30.0), node_step_s=2.0, quick=True)
        return replace(base, **changes)


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)``."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r} must look like 640x480") from None
    return w, h


def size_key(size: tuple[int, int]) -> str:
    """``(640, 480)`` -> ``"640x480"`` (the report's keys)."""
    return f"{size[0]}x{size[1]}"
