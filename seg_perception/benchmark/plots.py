"""The report's plots: stages.png, frame_latency.png, node_rates.png, learned.png."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .baselines import BASELINE_STAGES

__all__ = ["write_plots"]


def write_plots(report: dict[str, Any], out: Path) -> list[Path]:
    """Write the plots the report has data for into ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    colours = plt.get_cmap("tab10")
    stage_colours = plt.get_cmap("tab20")
    # 1. stage p50s, ours vs baseline, per size
    rows = []
    for key, r in report["pipeline"].items():
        rows.append((f"ours {key}", [(s, r["stages"][s]["p50"]) for s in
                                     ("conversion", "instance", "semantic", "geometry",
                                      "tracking") if s in r["stages"]]))
        for v in report["baseline"].get(key, {}).values():
            rows.append((f"baseline {key}\n{v['variant']}",
                         [(s, v["stages"][s]["p50"]) for s in BASELINE_STAGES[:-1]
                          if s in v["stages"]]))
    if rows:
        names = list(dict.fromkeys(s for _, st in rows for s, _ in st))
        fig, ax = plt.subplots(figsize=(10, 0.7 * len(rows) + 1.8))
        for y, (_label, stages) in enumerate(rows):
            left = 0.0
            for s, ms in stages:
                ax.barh(y, ms, left=left, color=stage_colours(names.index(s) % 20),
                        label=s if y == 0 or s not in [n for _, st in rows[:y] for n, _ in st]
                        else None)
                left += ms
            ax.text(left, y, f" {left:.0f} ms", va="center", fontsize=8)
        ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("p50 latency per stage, ms (bars: sum of stage p50s)")
        ax.set_xlim(0, max(sum(ms for _, ms in st) for _, st in rows) * 1.15)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title("Per-stage latency: ours (default geometric path) vs naive baseline")
        fig.tight_layout()
        written.append(out / "stages.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
        # 2. per-frame end-to-end latency
        fig, ax = plt.subplots(figsize=(9, 3.5))
        k = 0
        for key, r in report["pipeline"].items():
            ax.plot(r["per_frame_ms"], ".-", ms=3, color=colours(k), label=f"ours {key}")
            k += 1
            for v in report["baseline"].get(key, {}).values():
                ax.plot(v["per_frame_ms"], "x--", ms=4, color=colours(k),
                        label=f"baseline {key} ({v['variant']})")
                k += 1
        ax.set_yscale("log")
        ax.set_xlabel("timed frame")
        ax.set_ylabel("end-to-end latency, ms")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        written.append(out / "frame_latency.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    node = report.get("node")
    if node and node.get("steps"):
        steps = node["steps"]
        rates = [s["rate_hz"] for s in steps]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
        a1.plot(rates, rates, "k:", label="camera rate")
        a1.plot(rates, [s["published_hz"] for s in steps], "s-", label="published")
        a1.plot(rates, [s["output_hz"] for s in steps], "o-", label="~/objects received")
        a1.bar(rates, [s["node_dropped"] + s["lost_other"] for s in steps], width=1.5,
               alpha=0.3, color="red", label="frames without output (count)")
        a1.set_xlabel("camera rate, Hz")
        a1.set_ylabel("Hz / frames")
        a1.legend(fontsize=7)
        a1.grid(alpha=0.3)
        a2.plot(rates, [s["latency_ms"]["p50"] for s in steps], "o-", label="e2e p50")
        a2.plot(rates, [s["latency_ms"]["p95"] for s in steps], "^--", label="e2e p95")
        if all((s.get("node_pipeline_ms") or {}).get("n") for s in steps):
            a2.plot(rates, [s["node_pipeline_ms"]["p50"] for s in steps], "s-.",
                    label="pipeline p50 inside the node")
        if node.get("bare_pipeline_p50_ms"):
            a2.axhline(node["bare_pipeline_p50_ms"], color="grey", ls=":",
                       label="bare pipeline p50")
        a2.set_xlabel("camera rate, Hz")
        a2.set_ylabel("latency, ms")
        a2.legend(fontsize=7)
        a2.grid(alpha=0.3)
        fig.suptitle(f"perception_node over DDS ({node['size']})")
        fig.tight_layout()
        written.append(out / "node_rates.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    learned = report.get("learned")
    if learned and learned["models"]:
        labels, values, kinds = [], [], []
        for e in learned["models"]:
            for key in ("fp32", "fp16", "onnx"):
                run = (e.get("runs") or {}).get(key)
                if isinstance(run, dict) and "latency_ms" in run:
                    labels.append(f"{e['name']} {key}")
                    values.append(run["latency_ms"]["p50"])
                    kinds.append(e["kind"])
        if values:
            fig, ax = plt.subplots(figsize=(9, 0.35 * len(values) + 1.5))
            ax.barh(range(len(values)), values,
                    color=[colours(0) if k == "instance" else colours(1) for k in kinds])
            for y, v in enumerate(values):
                ax.text(v, y, f" {v:.0f}", va="center", fontsize=8)
            ax.set_yticks(range(len(values)), labels, fontsize=8)
            ax.invert_yaxis()
            ax.set_xscale("log")
            ax.set_xlabel(f"p50 latency per frame, ms ({learned['device']}; "
                          "blue instance, orange semantic)")
            fig.tight_layout()
            written.append(out / "learned.png")
            fig.savefig(written[-1], dpi=110)
            plt.close(fig)
    return written
