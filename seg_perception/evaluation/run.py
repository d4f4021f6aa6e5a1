"""The evaluation run: the pipeline on every sample, each frame scored, the report built."""
from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..metrics.osd import OSD_MIN_SEGMENT_DEPTH
from .aggregate import Accumulator, build_report
from .examples import WorstFrames, example_frame, write_overlay
from .protocol import LEGACY_PROTOCOL, STANDARD_PROTOCOL
from .records import EvalReport
from .scoring import score_frame
from .semantic import SemanticScorer
from .timing import repeat_timings, stage_timings

__all__ = ["evaluate_dataset"]


def evaluate_dataset(pipeline: Any, samples: Iterable[Any], *,
                     ignore_gt_without_depth: bool = False,
                     min_segment_depth: float = OSD_MIN_SEGMENT_DEPTH,
                     progress: bool = True, match_iou: float = 0.5, num_examples: int = 6,
                     max_frames: int | None = None, timing_repeats: int = 0,
                     overlay_dir: str | Path | None = None) -> EvalReport:
    """Run ``pipeline`` on every sample and score it (see :mod:`seg_perception.evaluation`).

    Args:
        pipeline: a :class:`~seg_perception.pipeline.Pipeline` (anything with
            ``process(frame) -> Scene``; ``instance_segmenter`` / ``semantic_segmenter`` /
            ``config`` are read for names when present). Use one with tracking off: the
            frames are independent scenes (tracking changes ids only, not the scores).
        samples: :class:`~seg_perception.sim.dataset.CocoRGBDSample`,
            :class:`~seg_perception.io.LabeledFrame` or anything with their attributes
            (``frame`` and ``instances`` are required).
        ignore_gt_without_depth: the older, lenient scoring: drop pixels without depth from
            GT and predicted masks before scoring. Default False: the published protocol
            (GT in full, segments with too little depth removed; module docstring).
        min_segment_depth: share of a predicted segment's pixels that must have depth for
            it to be scored under the standard protocol (UCN: 0.8 on OSD, 0.5 on OCID;
            0 keeps every segment). Not used with ``ignore_gt_without_depth``.
        progress: show a tqdm progress bar on stderr.
        match_iou: mask IoU a prediction needs to match a GT object for the 3D metrics and
            ``object_recall``.
        num_examples: how many of the worst frames (by overlap F) keep overlays.
        max_frames: stop after this many samples.
        timing_repeats: process every frame this many more times for the timings (each
            run on a new frame object, so no cache hides work); 0 = time the scored run.
        overlay_dir: write ``<frame>.png`` (prediction | ground truth) of every frame here.

    Returns:
        :class:`EvalReport`.

    Raises:
        ValueError: no samples, or ``min_segment_depth`` outside ``[0, 1]``.
    """
    from tqdm import tqdm

    total = None
    with contextlib.suppress(TypeError):
        total = len(samples)  # type: ignore[arg-type]
    if max_frames is not None:
        total = max_frames if total is None else min(total, max_frames)
        samples = itertools.islice(samples, max_frames)  # no sample beyond is even loaded
    if not 0.0 <= min_segment_depth <= 1.0:
        raise ValueError(f"min_segment_depth={min_segment_depth} must be in [0, 1]: the share of "
                         "a predicted segment's pixels that need depth (0.8 = UCN on OSD)")
    if timing_repeats < 0:
        raise ValueError(f"timing_repeats={timing_repeats} must be >= 0")
    acc = Accumulator(worst=WorstFrames(num_examples))
    sem = SemanticScorer()
    if overlay_dir is not None:
        overlay_dir = Path(overlay_dir)
        overlay_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(samples, total=total, desc="evaluating", unit="frame", disable=not progress,
               leave=False)
    for index, sample in enumerate(bar):
        pipeline.reset()  # samples are independent: nothing carries over between them
        scene = pipeline.process(sample.frame)
        timings = _frame_timings(pipeline, sample.frame, scene, index, timing_repeats, acc)
        name = _sample_name(sample, index)
        score = score_frame(sample, scene, index, name, sem,
                            ignore_gt_without_depth=ignore_gt_without_depth,
                            min_segment_depth=min_segment_depth, match_iou=match_iou)
        acc.add(score, timings)
        _keep_example(sample, scene, name, index, score.fields["osd"].overlap_f, acc.worst,
                      overlay_dir)
    bar.close()
    if not acc.frames:
        raise ValueError("evaluate_dataset got no samples: is the dataset empty?")
    if sem.skip_reason:
        acc.notes.append(sem.skip_reason)
    protocol: dict[str, Any] = {
        "protocol": LEGACY_PROTOCOL if ignore_gt_without_depth else STANDARD_PROTOCOL}
    if not ignore_gt_without_depth:
        protocol["min_segment_depth"] = min_segment_depth
    return build_report(pipeline, acc, sem, protocol=protocol, match_iou=match_iou,
                        timing_repeats=timing_repeats)


def _frame_timings(pipeline: Any, frame: Any, scene: Any, index: int, timing_repeats: int,
                   acc: Accumulator) -> dict[str, float]:
    """The frame's stage timings (the median of ``timing_repeats`` more runs when asked);
    the runs that go into the timing summary are added to ``acc.timing_runs``."""
    timings = stage_timings(pipeline, scene)
    if timing_repeats > 0:
        runs = repeat_timings(pipeline, frame, timing_repeats)
        acc.timing_runs += runs
        timings = {k: float(np.median([r[k] for r in runs if k in r])) for k in runs[0]}
    elif index > 0:  # the first frame pays for lazy initialisation
        acc.timing_runs.append(timings)
    return timings


def _keep_example(sample: Any, scene: Any, name: str, index: int, overlap_f: float,
                  worst: WorstFrames, overlay_dir: Path | None) -> None:
    """Draw the frame's overlays when it is among the worst so far or all are written."""
    keep = worst.wants(overlap_f)
    if not keep and overlay_dir is None:
        return
    example = example_frame(scene, sample.instances, name, overlap_f, width=sample.frame.width)
    if overlay_dir is not None:
        write_overlay(overlay_dir, example)
    if keep:
        worst.add(index, example)


def _sample_name(sample: Any, index: int) -> str:
    name = getattr(sample, "name", None)
    if name:
        return str(name)
    image = getattr(sample, "image", None)
    if isinstance(image, Mapping) and image.get("file_name"):
        return str(image["file_name"])
    return f"frame{index:05d}"
