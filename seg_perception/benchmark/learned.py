"""Learned backends side by side: torch fp32, fp16 (CUDA), ONNX Runtime (exported here).

The ``yolo_seg`` row runs a stand-in ONNX model with the real YOLOv8/11-seg
output layout (:mod:`seg_perception.segmenters.yolo_seg_standin`), or a real
export given as ``BenchConfig.yolo_weights``; its pre-processing, inference and
post-processing times are reported apart (``parts_ms``).
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..metrics.timing import latency_summary
from .config import BenchConfig
from .frames import BenchFrame
from .resources import Usage, progress_bar
from .timing import rounded

__all__ = ["LEARNED_MODELS", "LearnedModel", "run_learned", "time_learned"]

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
    "cpu_percent", "rss_peak_mb", ...}``, and ``"parts_ms"`` (median per part) for a
    segmenter that reports its parts in ``last_timings_ms`` (``yolo_seg``: ``preprocess``,
    ``inference``, ``postprocess``).
    """
    n = len(frames)
    inputs = [frames[i % n].to_frame(stamp_ns=i + 1) for i in range(warmup + iterations)]
    for frame in inputs[:warmup]:
        segmenter.segment(frame)
    times, detections = [], []
    parts: dict[str, list[float]] = {}
    usage = Usage()
    with progress_bar(iterations, desc, progress) as bar:
        for frame in inputs[warmup:]:
            start = time.perf_counter()
            out = segmenter.segment(frame)
            times.append((time.perf_counter() - start) * 1e3)
            if kind == "instance":
                detections.append(len(out))
            for part, ms in (getattr(segmenter, "last_timings_ms", None) or {}).items():
                parts.setdefault(part, []).append(float(ms))
            usage.sample()
            bar.update(1)
    lat = rounded(latency_summary(times))
    result: dict[str, Any] = {"latency_ms": lat, "fps": round(1000.0 / lat["p50"], 2),
                              "iterations": iterations, "warmup": warmup}
    if detections:
        result["detections_mean"] = round(float(np.mean(detections)), 1)
    if parts:
        result["parts_ms"] = {k: round(float(np.median(v)), 3) for k, v in parts.items()}
    result.update(usage.finish())
    return result


def _build(kind: str, backend: str, **kwargs: Any) -> Any:
    from ..segmenters import build_instance_segmenter, build_semantic_segmenter

    builder = build_instance_segmenter if kind == "instance" else build_semantic_segmenter
    return builder(backend, **kwargs)


def _export_onnx(model: LearnedModel, segmenter: Any, path: Path,
                 frame: BenchFrame) -> tuple[str, Any]:
    """Export ``segmenter``; returns the ONNX backend name and its builder ``weights``."""
    from ..segmenters.onnx_backend import export_maskrcnn_onnx, export_semantic_onnx

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

    from ..devices import resolve_device

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
            if model.backend == "yolo_seg" and config.yolo_weights:
                kwargs["weights"] = entry["weights"] = str(config.yolo_weights)
            elif model.backend == "yolo_seg":
                from ..segmenters.yolo_seg_standin import make_standin_model
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
