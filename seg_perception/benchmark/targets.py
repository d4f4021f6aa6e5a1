"""The project's performance targets, reported as reached or not (never asserted)."""
from __future__ import annotations

from typing import Any

from .config import BenchConfig

__all__ = ["report_targets"]


def report_targets(report: dict[str, Any], config: BenchConfig) -> list[dict[str, Any]]:
    """``[{"target", "measured", "reached" (True / False / None: not judged)}]`` for ``report``."""
    out = []
    pipe = report["pipeline"].get("640x480")
    cores = report["meta"]["cpus_usable"]
    if pipe is not None:
        fps = pipe["fps"]
        measured = (f"{fps:.1f} fps (p50 {pipe['stages']['end_to_end']['p50']:.1f} ms, "
                    f"one frame at a time)")
        for st in report.get("stream", []):
            if st["size"] == "640x480":
                measured += (f"; stream, {st['workers']} worker processes: {st['fps']:.1f} fps"
                             f" (latency p50 {st['latency_ms']['p50']:.1f} ms)")
                fps = max(fps or 0.0, st["fps"])
        measured += f"; {cores} cores"
        for goal in (15.0, 30.0):  # the benchmark issue's bar, then the real-clutter issue's
            # More cores than the target names would flatter it: not judged then.
            reached = bool(fps is not None and fps >= goal) if (cores or 0) <= 2 else None
            out.append({"target": f"geometric path >= {goal:g} fps at 640x480 on 2 CPU cores "
                                  "(instance + layout + per-object 3D)",
                        "measured": measured, "reached": reached})
        # The baseline is DBSCAN on the full cloud; the 1 cm voxel-grid variant
        # (what a tuned PCL demo does) is reported next to it.
        for variant, what in (("full_cloud", "the full cloud"),
                              ("voxel", "a 1 cm voxel-grid cloud")):
            base = report["baseline"].get("640x480", {}).get(variant)
            if base is not None:
                out.append({"target": "geometric path >= 5x faster than the naive baseline "
                                      f"(RANSAC + DBSCAN on {what})",
                            "measured": f"{base['speedup_of_ours']:.2f}x",
                            "reached": base["speedup_of_ours"] >= 5.0})
    else:
        out.append({"target": "geometric path >= 30 fps at 640x480", "measured": "not run",
                     "reached": None})
    node = report.get("node")
    target = "node overhead <= 10 ms p50 over the bare pipeline"
    if node and ("overhead_paired_p50_ms" in node or "overhead_p50_ms" in node):
        # Per frame (e2e minus the node's own pipeline time for that frame) is immune to the
        # load drifting between the bare and the node runs; the difference of p50s is not.
        paired = node.get("overhead_paired_p50_ms")
        diff = node.get("overhead_p50_ms")
        text = []
        if paired is not None:
            text.append(f"{paired:.1f} ms per frame (e2e - the node's own pipeline time)")
        if diff is not None:
            text.append(f"{diff:.1f} ms as e2e p50 {node['latency_ms']['p50']:.1f} - bare p50 "
                        f"{node['bare_pipeline_p50_ms']:.1f}")
        out.append({"target": target,
                    "measured": "; ".join(text) + f" (at {node['latency_rate_hz']:g} Hz)",
                    "reached": (paired if paired is not None else diff) <= 10.0})
    else:
        out.append({"target": target,
                    "measured": "not run" if not node else f"error: {node.get('error', '?')}",
                    "reached": None})
    learned = report.get("learned")
    if learned and learned["cuda"] and learned["pairs"]:
        best = max(learned["pairs"], key=lambda p: p["fps"])
        out.append({"target": "learned instance + semantic >= 15 fps on GPU",
                    "measured": f"{best['fps']:.1f} fps ({best['instance']} + {best['semantic']})",
                    "reached": best["fps"] >= 15.0})
    else:
        cpu = ""
        if learned and learned["pairs"]:
            best = max(learned["pairs"], key=lambda p: p["fps"])
            cpu = f"; on CPU: {best['fps']:.2f} fps ({best['instance']} + {best['semantic']})"
        out.append({"target": "learned instance + semantic >= 15 fps on GPU",
                    "measured": "not measured: no CUDA device" + cpu, "reached": None})
    return out
