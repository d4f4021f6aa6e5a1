"""The report's figures: F-measure per case (and backend), per-frame F histogram, worst frames.

Drawn on explicit Agg canvases (no pyplot, no global backend switch), so they work headless.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:
    from .records import EvalReport

__all__ = ["plot_cases", "plot_examples", "plot_histogram"]


def _figure(width: float, height: float):  # noqa: ANN202 - matplotlib Figure
    # An explicit Agg canvas: no pyplot, no global backend switch, works headless.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_cases(reports: Mapping[str, EvalReport], path: Path) -> None:
    """Bars of F per case: overlap and boundary F of one backend, or overlap F of several."""
    cases = sorted({c for r in reports.values() for c in r.per_case})
    names = list(reports)
    fig = _figure(max(6.0, 1.2 * len(cases) * max(1, len(names)) ** 0.5 + 2), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(cases))
    if len(names) == 1:  # one backend: overlap and boundary F side by side
        r = reports[names[0]]
        series = [("overlap F", [r.per_case[c]["overlap_f"] for c in cases]),
                  ("boundary F", [r.per_case[c]["boundary_f"] for c in cases])]
    else:  # several: overlap F per backend
        series = [(n, [reports[n].per_case.get(c, {}).get("overlap_f", math.nan) for c in cases])
                  for n in names]
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series):
        v = 100 * np.nan_to_num(np.asarray(values, np.float64), nan=0.0)
        bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, v, width, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    counts = [int(next(r.per_case[c]["num_frames"] for r in reports.values() if c in r.per_case))
              for c in cases]
    ax.set_xticks(x, [f"{c}\n(n={n})" for c, n in zip(cases, counts)], fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("F-measure (%)")
    ax.set_title("Overlap F per case and backend" if len(names) > 1
                 else f"F-measure per case - {names[0]}")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def plot_histogram(report: EvalReport, path: Path) -> None:
    """Histogram of the per-frame overlap and boundary F of one backend."""
    fig = _figure(6.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    bins = np.linspace(0, 1, 21)
    ax.hist([f.osd.overlap_f for f in report.frames], bins=bins, alpha=0.7, label="overlap F")
    ax.hist([f.osd.boundary_f for f in report.frames], bins=bins, alpha=0.5, label="boundary F")
    ax.set_xlabel("per-frame F-measure")
    ax.set_ylabel("frames")
    ax.set_title(f"Per-frame F - {report.backend} ({len(report.frames)} frames)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def plot_examples(report: EvalReport, path: Path) -> bool:
    """Prediction | ground truth of the worst frames; False (nothing drawn) without any."""
    if not report.examples:
        return False
    n = len(report.examples)
    h, w = report.examples[0].prediction.shape[:2]
    fig = _figure(8.0, 8.0 * n * h / (2 * w) + 0.4 * n)
    for row, ex in enumerate(report.examples):
        for col, (image, title) in enumerate(((ex.prediction, f"{ex.name}: prediction, "
                                               f"overlap F {100 * ex.overlap_f:.1f}%"),
                                              (ex.ground_truth, "ground truth"))):
            ax = fig.add_subplot(n, 2, 2 * row + col + 1)
            ax.imshow(image)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    return True
