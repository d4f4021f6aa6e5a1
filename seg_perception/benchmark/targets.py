"""The project's performance targets, reported as reached or not (never asserted).

Issue 21's rows: one frame in one process, node overhead, image stamp ->
``~/objects`` at a 30 Hz camera with every output subscribed, node + workers
memory, start-up to *active*, and no torch / Open3D / ONNX Runtime in the
node or its workers on the default path.
"""
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
    if pipe is not None:
        p50 = pipe["stages"]["end_to_end"]["p50"]
        out.append({"target": "one frame in one process <= 30 ms p50 at 640x480 on 2 CPU "
                              "cores (instance + layout + 3D + tracking)",
                    "measured": f"{p50:.1f} ms p50; {cores} cores",
                    "reached": bool(p50 <= 30.0) if (cores or 0) <= 2 else None})
    out += _node_targets(report.get("node"))
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


NODE_OVERHEAD_MS = 5.0
STAMP_TO_OBJECTS_P95_MS = 100.0
NODE_WORKERS_RSS_MB = 800.0
ACTIVE_S = 3.0
HEAVY = ("torch", "open3d", "onnxruntime")


def _node_targets(node: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 21's node rows: overhead, latency at 30 Hz, memory, start-up, no heavy imports."""
    names = [f"node overhead <= {NODE_OVERHEAD_MS:g} ms p50 per frame over the pipeline",
             "over DDS at a 30 Hz camera, all outputs subscribed: image stamp -> ~/objects "
             f"p95 <= {STAMP_TO_OBJECTS_P95_MS:g} ms",
             f"node + workers <= {NODE_WORKERS_RSS_MB:g} MB RSS (default config)",
             f"node active <= {ACTIVE_S:g} s after process start",
             "no torch / open3d / onnxruntime loaded in the node or its workers (default path)"]
    if not node or ("error" in node and "steps" not in node):
        why = "not run" if not node else f"error: {node.get('error', '?')}"
        return [{"target": n, "measured": why, "reached": None} for n in names]
    rows = []
    own = node.get("node_overhead_p50_ms")
    paired, diff = node.get("overhead_paired_p50_ms"), node.get("overhead_p50_ms")
    if own is not None or paired is not None or diff is not None:
        # Per frame (e2e minus the node's own pipeline time for that frame) is immune to the
        # load drifting between the bare and the node runs; the difference of p50s is not.
        # The node's share leaves out the bench camera's own sending (Python messages
        # converted by rclpy in the bench process: not the node's work).
        text = []
        if own is not None:
            text.append(f"{own:.1f} ms per frame (e2e - the node's own pipeline time - the "
                        "bench camera sending the frame)")
        if paired is not None:
            text.append(f"{paired:.1f} ms per frame with the camera's sending "
                        "(e2e - the node's own pipeline time)")
        if diff is not None:
            text.append(f"{diff:.1f} ms as e2e p50 {node['latency_ms']['p50']:.1f} - bare p50 "
                        f"{node['bare_pipeline_p50_ms']:.1f}")
        only = (node.get("objects_only") or {}).get("overhead_ms") or {}
        if only.get("p50") is not None:
            text.append(f"{only['p50']:.1f} ms per frame with only ~/objects subscribed")
        rows.append({"target": names[0],
                     "measured": "; ".join(text) + f" (at {node['latency_rate_hz']:g} Hz; "
                                 "judged with every output subscribed)",
                     "reached": next(v for v in (own, paired, diff) if v is not None)
                     <= NODE_OVERHEAD_MS})
    else:
        rows.append({"target": names[0], "measured": "not measured", "reached": None})
    at30 = node.get("camera_30hz")
    if at30 and at30["latency_ms"].get("p95") is not None:
        lat = at30["latency_ms"]
        subscribed = len(node.get("outputs_subscribed") or [])
        rows.append({"target": names[1],
                     "measured": f"p95 {lat['p95']:.1f} ms, p50 {lat['p50']:.1f} ms; "
                                 f"{at30['received']} of {at30['sent']} frames out "
                                 f"({at30['node_dropped']} replaced by newer ones in the node); "
                                 f"{subscribed} output topics subscribed",
                     "reached": lat["p95"] <= STAMP_TO_OBJECTS_P95_MS})
    else:
        rows.append({"target": names[1], "measured": "no 30 Hz step (--node-rates)",
                     "reached": None})
    fp = node.get("footprint")
    if fp:
        end = fp["after_sweep"]
        parts = ", ".join([f"node {end['node']['rss_mb']:.0f}"]
                          + [f"worker {w['rss_mb']:.0f}" for w in end["workers"]])
        rows.append({"target": names[2],
                     "measured": f"peak {fp['peak_node_workers_rss_mb']:.0f} MB over the sweep; "
                                 f"after it: {parts} MB ({end['workers_count']} workers)",
                     "reached": fp["peak_node_workers_rss_mb"] <= NODE_WORKERS_RSS_MB})
    else:
        rows.append({"target": names[2], "measured": "not measured (node in-process)",
                     "reached": None})
    active = node.get("active_s")
    rows.append({"target": names[3],
                 "measured": "not measured" if active is None else f"{active:.2f} s",
                 "reached": None if active is None else active <= ACTIVE_S})
    if fp:
        per = [("node", fp["at_active"]["node"]["libraries"]
                + fp["after_sweep"]["node"]["libraries"])]
        per += [(f"worker {i + 1}", w["libraries"])
                for i, w in enumerate(fp["after_sweep"]["workers"])]
        loaded = [f"{who}: {', '.join(sorted(set(libs)))}" for who, libs in per
                  if set(libs) & set(HEAVY)]
        rows.append({"target": names[4],
                     "measured": "; ".join(loaded) if loaded else
                     f"none in the node nor its {fp['after_sweep']['workers_count']} workers "
                     "(/proc/<pid>/maps)",
                     "reached": not loaded})
    else:
        rows.append({"target": names[4], "measured": "not measured (node in-process)",
                     "reached": None})
    return rows
