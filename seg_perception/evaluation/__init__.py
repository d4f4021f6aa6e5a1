"""Evaluate a :class:`~seg_perception.pipeline.Pipeline` on a labelled RGB-D dataset.

:func:`evaluate_dataset` runs the pipeline on every sample and scores it with the
metrics of :mod:`seg_perception.metrics`, per frame, over the whole set and per case
type, so a regression on one hard case (``stacked``, ``occluded``, ...) shows even
when the average hardly moves. :func:`write_report` turns one or several reports
(one per instance backend) into ``report.json``, ``report.md`` and plots.

Samples are anything with the attributes of
:class:`~seg_perception.sim.dataset.CocoRGBDSample`: ``frame``, ``instances`` (GT
masks), optionally ``instance_labels``, ``semantic``, ``depth_gt``, ``case_tags``,
``kinds``, ``annotations`` and a name (``name`` or ``image["file_name"]``);
:func:`seg_perception.io.iter_labeled_folder` yields such samples for real data.

Metrics and conventions:

* **Protocol.** By default the published OSD / OCID protocol (UOIS-Net, UCN): the
  ground truth is scored in full, pixels without depth included, and predicted
  segments with too little depth are removed first, as UCN's evaluation code does
  (``filter_labels_depth``: a segment goes when under ``min_segment_depth`` of its
  pixels have depth; UCN uses 0.8 on OSD, 0.5 on OCID). A prediction that misses or
  spills into pixels without depth is penalised. ``ignore_gt_without_depth=True`` is
  the older, more lenient scoring: pixels without depth are removed from GT and
  predicted masks (and the semantic maps) before any metric, a GT object left with no
  pixel is not scored, and no segment is filtered. Every report names its protocol.
* **Mask AP** -- COCO ``segm`` AP, AP50, AP75, AR100, class agnostic, pycocotools.
* **OSD** -- overlap and boundary P/R/F and the share of GT objects whose Hungarian
  match has F > 0.75 (:func:`~seg_perception.metrics.osd.osd_metrics`, the reference
  code's strict ``>``), averaged over frames as in the UOIS / UCN papers.
* **Semantic** -- per-class IoU and mIoU from the confusion matrix summed over frames,
  when the samples carry GT semantic labels and the pipeline has a semantic stage whose
  class names overlap the GT's. GT ``unknown`` pixels are void (ignored) and ``unknown``
  is not part of the mIoU; predicted classes the GT lacks count as errors.
* **3D** -- GT and predicted objects are matched one-to-one by mask IoU (Hungarian,
  IoU >= ``match_iou``). *Centroid error* is the distance between the pipeline's
  centroid (mean of its cleaned, eroded, voxelised object cloud) and the GT *visible
  surface* centroid: the mean of the back-projected pixels of the GT mask that have
  depth, using the exact depth (``depth_gt``) when the sample has one, else the sensor
  depth. Both describe the seen surface, so the error measures segmentation and 3D
  cleaning, not shape completion. *Box IoU* is the exact oriented-box IoU between the
  pipeline's box and the GT box of the whole object (``box_center_camera``,
  ``quaternion_camera``, ``extents`` of the annotation); it is NaN without GT boxes.
  A box fitted to a partial view is smaller than the full object, so it is below 1
  even for perfect masks.
* **Timings** -- p50 / p95 / mean / min / max of :attr:`Scene.timings_ms` per stage,
  milliseconds, plus the stages of the geometric scene analysis (``analysis.<stage>``,
  shared by the geometric instance and layout segmenters) when it ran; the first frame
  (lazy initialisation) is left out when there are more. With ``timing_repeats`` every
  frame is processed that many more times, each on a new frame object so no per-frame
  cache hides work, and the timings come from those runs.

Fractions are in ``[0, 1]`` in the report objects and ``report.json``; ``report.md``
prints them as percentages (like the papers) and distances in millimetres.

Example:
    >>> from seg_perception.pipeline import Pipeline
    >>> from seg_perception.io import iter_labeled_folder
    >>> frames = iter_labeled_folder("../shared/data/osd_dev")                 # doctest: +SKIP
    >>> report = evaluate_dataset(Pipeline(), frames)                         # doctest: +SKIP
    >>> report.overall["overlap_f"], report.per_case["occluded"]["overlap_f"]  # doctest: +SKIP

Modules, each with one job: :mod:`.run` (the loop over the samples), :mod:`.scoring`
(one frame against its ground truth), :mod:`.geometry3d` (GT centroids and boxes),
:mod:`.semantic` (confusion by class name), :mod:`.coco_ap` (COCO mask AP),
:mod:`.timing` (stage timings), :mod:`.examples` (overlays, worst frames),
:mod:`.aggregate` (pooling into an :class:`EvalReport`), :mod:`.records` (the result
types), :mod:`.protocol` (protocols and shared names), :mod:`.markdown`, :mod:`.plots`,
:mod:`.formatting` and :mod:`.report` (``report.json`` / ``report.md`` / plots).
"""
from __future__ import annotations

from .markdown import comparison_markdown
from .protocol import protocol_description
from .records import EvalReport, ExampleFrame, FrameResult, ObjectResult
from .report import write_report
from .run import evaluate_dataset

__all__ = [
    "EvalReport",
    "ExampleFrame",
    "FrameResult",
    "ObjectResult",
    "comparison_markdown",
    "evaluate_dataset",
    "protocol_description",
    "write_report",
]
