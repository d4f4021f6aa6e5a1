"""The Markdown of a report: metric tables, a backend's sections and the backend comparison."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping

from .formatting import mm, num, pct
from .protocol import NO_CASE, protocol_description

if TYPE_CHECKING:
    from .records import EvalReport

__all__ = ["COMPARE_COLUMNS", "comparison_markdown", "report_markdown"]

_TABLE_COLUMNS = (  # (header, key, formatter)
    ("frames", "num_frames", lambda v: f"{int(v)}"),
    ("GT", "num_gt", lambda v: f"{int(v)}"),
    ("pred", "num_pred", lambda v: f"{int(v)}"),
    ("AP", "AP", pct), ("AP50", "AP50", pct), ("AP75", "AP75", pct),
    ("overlap P", "overlap_precision", pct), ("overlap R", "overlap_recall", pct),
    ("overlap F", "overlap_f", pct),
    ("boundary P", "boundary_precision", pct), ("boundary R", "boundary_recall", pct),
    ("boundary F", "boundary_f", pct),
    ("F>0.75", "obj_detected_075_percentage", pct),
    ("obj recall", "object_recall", pct),
    ("centroid err (mm)", "centroid_error_mean_m", mm),
    ("box IoU", "box_iou_mean", pct),
    ("mIoU", "miou", pct),
)


def _metric_table(rows: Mapping[str, Mapping[str, float]], first: str) -> list[str]:
    lines = ["| " + " | ".join([first, *(c[0] for c in _TABLE_COLUMNS)]) + " |",
             "|---|" + "---:|" * len(_TABLE_COLUMNS)]
    for name, m in rows.items():
        cells = [fmt(m.get(key, math.nan)) for _, key, fmt in _TABLE_COLUMNS]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return lines


def _object_table(rows: Mapping[str, Mapping[str, float]], first: str) -> list[str]:
    lines = [f"| {first} | objects | recall @IoU | mean mask IoU (matched) "
             "| centroid err (mm) | box IoU |", "|---|---:|---:|---:|---:|---:|"]
    for name, m in rows.items():
        lines.append(f"| {name} | {int(m['num_objects'])} | {pct(m['recall'])} "
                     f"| {pct(m['mask_iou_matched'])} | {mm(m['centroid_error_mean_m'])} "
                     f"| {pct(m['box_iou_mean'])} |")
    return lines


def report_markdown(report: "EvalReport", *, plots: Mapping[str, str] | None = None,
                    heading_level: int = 2) -> str:
    """One backend's report as Markdown: overall, per case, per object tag / kind, semantic,
    timings, per frame; ``plots`` maps a caption to an image path to link."""
    h = "#" * heading_level
    lines = [f"{h} Backend `{report.backend}` (semantic: `{report.semantic_backend}`)", "",
             f"Protocol: {protocol_description(report.settings)}", ""]
    lines += [f"- {note}" for note in report.notes]
    if report.notes:
        lines.append("")
    lines += [f"{h}# Overall", "", *_metric_table({"all": report.overall}, "set"), ""]
    lines += [f"{h}# Per case", "",
              *_metric_table(report.per_case, "case"), ""]
    lines += [f"{h}# Per object tag", "", *_object_table(report.per_object_tag, "tag"), ""]
    lines += [f"{h}# Per object kind", "", *_object_table(report.per_kind, "kind"), ""]
    if report.semantic_iou is not None:
        lines += [f"{h}# Semantic IoU (%)", "",
                  "| " + " | ".join(["mIoU", *report.semantic_iou]) + " |",
                  "|" + "---:|" * (len(report.semantic_iou) + 1),
                  "| " + " | ".join(pct(v) for v in [report.overall.get("miou", math.nan),
                                                       *report.semantic_iou.values()]) + " |",
                  ""]
    lines += [f"{h}# Timings (ms)", "", "| stage | p50 | p95 | mean | min | max | n |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for stage, t in report.timings_ms.items():
        lines.append(f"| {stage} | {num(t['p50'])} | {num(t['p95'])} | {num(t['mean'])} "
                     f"| {num(t.get('min', math.nan))} | {num(t['max'])} | {t['n']} |")
    lines += ["", f"{h}# Per frame", "",
              "| frame | cases | GT | pred | matched | AP50 | overlap F | boundary F "
              "| F>0.75 | centroid err (mm) | box IoU | total ms |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in report.frames:
        lines.append(
            f"| {f.name} | {', '.join(f.case_tags) or NO_CASE} | {f.num_gt} | {f.num_pred} "
            f"| {f.num_matched} | {pct(f.ap.get('AP50', math.nan))} | {pct(f.osd.overlap_f)} "
            f"| {pct(f.osd.boundary_f)} | {pct(f.osd.obj_detected_075_percentage)} "
            f"| {mm(f.mean_centroid_error_m)} | {pct(f.mean_box_iou)} "
            f"| {num(f.timings_ms.get('total', math.nan))} |")
    if plots:
        lines.append("")
        lines += [f"![{caption}]({path})" for caption, path in plots.items()]
    return "\n".join(lines) + "\n"


COMPARE_COLUMNS = (
    ("AP", "AP", pct), ("AP50", "AP50", pct), ("AP75", "AP75", pct),
    ("overlap F", "overlap_f", pct), ("boundary F", "boundary_f", pct),
    ("F>0.75", "obj_detected_075_percentage", pct), ("obj recall", "object_recall", pct),
    ("centroid err (mm)", "centroid_error_mean_m", mm), ("box IoU", "box_iou_mean", pct),
    ("mIoU", "miou", pct), ("p50 ms", "latency_p50_ms", num), ("p95 ms", "latency_p95_ms", num),
)


def comparison_markdown(reports: Mapping[str, EvalReport]) -> str:
    """Markdown: one row per backend (overall metrics), then overlap F per case and backend."""
    lines = ["| backend | " + " | ".join(c[0] for c in COMPARE_COLUMNS) + " |",
             "|---|" + "---:|" * len(COMPARE_COLUMNS)]
    for name, r in reports.items():
        lines.append(f"| {name} | " + " | ".join(fmt(r.overall.get(key, math.nan))
                                                  for _, key, fmt in COMPARE_COLUMNS) + " |")
    cases = sorted({c for r in reports.values() for c in r.per_case})
    names = list(reports)
    lines += ["", "Overlap F / boundary F (%) per case:", "",
              "| case | frames | " + " | ".join(names) + " |",
              "|---|---:|" + "---:|" * len(names)]
    for case in cases:
        first = next((r.per_case[case] for r in reports.values() if case in r.per_case), {})
        cells = []
        for r in reports.values():
            m = r.per_case.get(case)
            cells.append("–" if m is None
                         else f"{pct(m['overlap_f'])} / {pct(m['boundary_f'])}")
        lines.append(f"| {case} | {int(first.get('num_frames', 0))} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

