"""Write one or several :class:`EvalReport` as ``report.json``, ``report.md`` and plots."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

from .formatting import json_ready, safe_name
from .markdown import COMPARE_COLUMNS, comparison_markdown, report_markdown
from .plots import plot_cases, plot_examples, plot_histogram
from .protocol import protocol_description
from .records import EvalReport

__all__ = ["write_report"]


def write_report(reports: Mapping[str, EvalReport] | EvalReport, out_dir: str | Path, *,
                 dataset: str = "", plots: bool = True,
                 errors: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``plots/*.png`` for one or more backends.

    Args:
        reports: one :class:`EvalReport`, or ``{label: report}`` to compare backends.
        out_dir: output folder (created).
        dataset: what was evaluated, for the headings.
        plots: draw the matplotlib figures (per-case F bars, per-frame F histogram, worst
            frames); with several backends also one per-case bar chart comparing them.
        errors: ``{label: message}`` of backends that could not be evaluated (listed).

    Returns:
        ``{"json": path, "markdown": path, <plot name>: path, ...}``.
    """
    if isinstance(reports, EvalReport):
        reports = {reports.backend: reports}
    reports = dict(reports)
    errors = dict(errors or {})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    plot_links: dict[str, dict[str, str]] = {name: {} for name in reports}
    if plots and reports:
        (out / "plots").mkdir(exist_ok=True)
        for name, r in reports.items():
            stem = safe_name(name)
            for kind, draw in (("case_f", lambda p, r=r, n=name: plot_cases({n: r}, p)),
                               ("frame_f_hist", lambda p, r=r: plot_histogram(r, p)),
                               ("worst_frames", lambda p, r=r: plot_examples(r, p))):
                path = out / "plots" / f"{stem}_{kind}.png"
                if draw(path) is not False:
                    written[f"{stem}_{kind}"] = path
                    plot_links[name][kind.replace("_", " ")] = f"plots/{path.name}"
        if len(reports) > 1:
            path = out / "plots" / "compare_case_f.png"
            plot_cases(reports, path)
            written["compare_case_f"] = path

    summary = {"dataset": dataset, "backends": {n: r.to_dict() for n, r in reports.items()},
               "comparison": {n: json_ready({k: r.overall.get(k, math.nan)
                                              for _, k, _ in COMPARE_COLUMNS})
                              for n, r in reports.items()},
               "errors": errors}
    (out / "report.json").write_text(json.dumps(json_ready(summary), indent=1))
    written["json"] = out / "report.json"

    first = next(iter(reports.values()), None)
    lines = [f"# Segmentation evaluation{': ' + dataset if dataset else ''}", ""]
    if first is not None:
        s = first.settings
        lines += [f"{s.get('num_frames', len(first.frames))} frames; protocol "
                  f"{protocol_description(s)}; 3D matches need "
                  f"mask IoU >= {s.get('match_iou')}; boundary tolerance "
                  f"{s.get('boundary_tolerance_px')} px. Fractions in %, centroid error in mm "
                  "(pipeline centroid vs. mean of the GT mask's depth points), box IoU against "
                  "the whole-object GT box, latencies "
                  + (f"from {s['timing_repeats']} more runs of every frame."
                     if s.get("timing_repeats") else "without the first frame."), ""]
    lines += ["## Per backend", ""]
    if reports:
        lines += [comparison_markdown(reports)]
    for name, message in errors.items():
        lines.append(f"- `{name}` failed: {message}")
    if errors:
        lines.append("")
    if "compare_case_f" in written:
        lines += ["![overlap F per case and backend](plots/compare_case_f.png)", ""]
    for name, r in reports.items():
        lines.append(report_markdown(r, plots=plot_links[name]))
    (out / "report.md").write_text("\n".join(lines))
    written["markdown"] = out / "report.md"
    return written
