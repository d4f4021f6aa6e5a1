"""The report files: ``bench.json`` and ``bench.md`` (Markdown tables); plots in :mod:`.plots`."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .baselines import BASELINE_STAGES
from .plots import write_plots
from .timing import PIPELINE_STAGES

__all__ = ["markdown_report", "stage_shares", "write_report"]

_STAGE_LABELS = {"conversion": "conversion (driver arrays -> RGBDFrame)",
                 "instance": "instance (geometric segmenter)",
                 "semantic": "semantic (scene layout)",
                 "geometry": "per-object 3D + grasp",
                 "tracking": "tracking"}


def write_report(report: dict[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``bench.json``, ``bench.md`` and the plots; returns the files written."""
    from ..io import write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "bench.json", _jsonable(report))
    (out / "bench.md").write_text(markdown_report(report))
    written = [out / "bench.json", out / "bench.md"]
    written += write_plots(report, out)
    return written


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if value is None or isinstance(value, (str, bool, int)):
        return value
    return str(value)  # anything else (a Path, an enum): its text, never a failed write


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(summary: dict[str, Any] | None, key: str = "p50") -> str:
    if not summary or summary.get(key) is None or not math.isfinite(summary[key]):
        return "-"
    return f"{summary[key]:.1f}"


def stage_shares(pipeline_result: dict[str, Any]) -> list[tuple[str, float, float]]:
    """``(stage, mean ms, share of the end-to-end mean)`` of the default path, largest first.

    Where the layout ran on a second thread alongside the 3D stage (a layout on an
    accelerator), only the time it took beyond the 3D stage is on the critical path,
    and that is what is listed; on the CPU it runs after the 3D stage and counts whole.
    """
    stages = pipeline_result["stages"]
    total = stages["end_to_end"]["mean"]

    def mean(stage: str) -> float:
        return stages[stage]["mean"] if stage in stages else 0.0

    rows = [(s, mean(s), mean(s) / total if total > 0 else 0.0)
            for s in ("conversion", "instance", "geometry", "tracking") if s in stages]
    if "semantic" in stages and pipeline_result.get("layout_thread", True):
        beyond = max(0.0, mean("semantic") - mean("geometry"))
        rows.append(("semantic (beyond the 3D stage it runs alongside)", beyond,
                     beyond / total if total > 0 else 0.0))
    elif "semantic" in stages:
        rows.append(("semantic (layout, after the 3D stage)", mean("semantic"),
                     mean("semantic") / total if total > 0 else 0.0))
    other = total - sum(r[1] for r in rows)
    rows.append(("other (pipeline bookkeeping)", max(other, 0.0),
                 max(other, 0.0) / total if total > 0 else 0.0))
    return sorted(rows, key=lambda r: -r[1])


def markdown_report(report: dict[str, Any]) -> str:
    """The report as Markdown (what ``bench.md`` holds and the tool prints)."""
    meta = report["meta"]
    parts = [f"# seg_perception benchmark ({meta['started']})", "",
             f"{meta['processor']}, {meta['cpus_usable']} usable cores of {meta['cpu_count']}, "
             f"{meta['memory_gb']} GB; Python {meta['python']}; load average "
             f"{meta['load_avg_start']} at start, {meta.get('load_avg_end')} at end "
             "(other processes share the machine). Latencies in ms.", ""]
    if report.get("targets"):
        parts += ["## Targets", "", _table(
            ["target", "measured", "reached"],
            [(t["target"], t["measured"],
              {True: "yes", False: "**no**", None: "n/a"}[t["reached"]])
             for t in report["targets"]]), ""]
    if report["pipeline"]:
        parts += ["## Bare pipeline (default geometric path)", ""]
        rows = []
        for key, r in report["pipeline"].items():
            st = r["stages"]
            rows.append([key] + [f"{_ms(st.get(s))} / {_ms(st.get(s), 'p95')}"
                                 for s in PIPELINE_STAGES]
                        + [f"{r['fps']:.1f}", f"{r['cpu_percent']:.0f}", f"{r['rss_peak_mb']:.0f}",
                           f"{r['objects_found_mean']:.1f} / {r['objects_true_mean']}"])
        parts += [_table(["size"] + [f"{s} p50 / p95" for s in PIPELINE_STAGES]
                         + ["fps", "CPU %", "peak RSS MB", "objects found / true"], rows), ""]
        first_key = next(iter(report["pipeline"]))
        first = report["pipeline"][first_key]
        parts += [f"### Where the time goes ({first_key}, mean per frame)", "",
                  _table(["stage", "ms", "share"],
                         [(_STAGE_LABELS.get(s, s), f"{ms:.1f}", f"{share * 100:.0f} %")
                          for s, ms, share in stage_shares(first)]), ""]
        if first.get("instance_substages"):
            sub = first["instance_substages"]
            parts += ["Inside the instance stage (geometric segmenter):", "",
                      _table(["sub-stage", "p50 ms", "mean ms"],
                             [(k, _ms(v), _ms(v, "mean")) for k, v in
                              sorted(sub.items(), key=lambda kv: -kv[1]["mean"])]), ""]
    if report.get("stream"):
        parts += ["## Stream throughput (ParallelPipeline: frames in worker processes, "
                  "tracked in order)", "",
                  _table(["size", "workers", "fps", "latency p50 / p95", "system CPU %",
                          "objects found"],
                         [(st["size"], st["workers"], f"{st['fps']:.1f}",
                           f"{_ms(st['latency_ms'])} / {_ms(st['latency_ms'], 'p95')}",
                           f"{st['system_cpu_percent']:.0f}", f"{st['objects_found_mean']:.1f}")
                          for st in report["stream"]]),
                  "", "One frame at a time in one process, for comparison: the bare pipeline's "
                  "fps above (1000 / p50). Latency: frame submitted to scene tracked.", ""]
    if report["baseline"]:
        parts += ["## Naive baseline (Open3D RANSAC plane + DBSCAN on the whole cloud)", ""]
        rows = []
        for key, variants in report["baseline"].items():
            for v in variants.values():
                st = v["stages"]
                rows.append([key, v["variant"]]
                            + [_ms(st.get(s)) for s in BASELINE_STAGES]
                            + [f"{_ms(st.get('end_to_end'), 'p95')}", f"{v['fps']:.1f}",
                               f"{v['objects_found_mean']:.1f} / {v['objects_true_mean']}",
                               f"**{v['speedup_of_ours']:.2f}x**"])
        parts += [_table(["size", "variant"] + [f"{s} p50" for s in BASELINE_STAGES]
                         + ["end_to_end p95", "fps", "objects found / true",
                            "speed-up of ours (p50)"], rows), "",
                  "Baseline: every valid pixel back-projected, voxel grid (1 cm, the PCL "
                  "cluster-extraction tutorial's leaf size; the full-cloud row skips it), Open3D "
                  "`segment_plane` (1 cm, 1000 iterations), points 1-50 cm above the plane, "
                  "Open3D `cluster_dbscan` (eps 2 cm, 10 points), centroid + oriented box per "
                  "cluster of >= 20 points (100 on the full cloud). No masks, no layout, "
                  "no tracking. Speed-up = baseline p50 / ours p50, both from the same raw arrays.",
                  ""]
    node = report.get("node")
    if node:
        parts += ["## perception_node over DDS", ""]
        if "error" in node and "steps" not in node:
            parts += [f"failed: {node['error']}", ""]
        else:
            parts += [
                f"{node['size']} frames, {node.get('mode', '?')}; latency = receive time of "
                "`~/objects` - image stamp. " + node.get("note", ""), "",
                _table(["e2e p50 / p95", "at rate", "node's pipeline p50",
                        "overhead per frame p50 / p95", "bare pipeline p50 (bench process)",
                        "e2e p50 - bare p50", "throughput (max output rate)",
                        "highest rate with 0 drops"],
                       [(f"{_ms(node['latency_ms'])} / {_ms(node['latency_ms'], 'p95')}",
                         f"{node['latency_rate_hz']:g} Hz",
                         _ms(node.get("node_pipeline_ms")),
                         f"{_ms(node.get('overhead_per_frame_ms'))} / "
                         f"{_ms(node.get('overhead_per_frame_ms'), 'p95')}",
                         f"{node.get('bare_pipeline_p50_ms', float('nan')):.1f}",
                         f"{node.get('overhead_p50_ms', float('nan')):.1f}",
                         f"{node['throughput_hz']:.1f} Hz",
                         (f"{node['highest_rate_without_drops_hz']:g} Hz"
                          if node.get("highest_rate_without_drops_hz") else "none of the rates"))]),
                "", _table(["camera Hz", "sent", "published Hz", "received", "output Hz",
                            "node dropped", "lost elsewhere", "e2e p50", "e2e p95",
                            "node pipeline p50", "overhead p50", "node CPU %", "node RSS MB",
                            "node + workers RSS MB"],
                           [(f"{s['rate_hz']:g}", s["sent"], f"{s['published_hz']:.1f}",
                             s["received"], f"{s['output_hz']:.1f}", s["node_dropped"],
                             s["lost_other"], _ms(s["latency_ms"]), _ms(s["latency_ms"], "p95"),
                             _ms(s.get("node_pipeline_ms")), _ms(s.get("overhead_ms")),
                             f"{s.get('node_cpu_percent', float('nan')):.0f}",
                             f"{s.get('node_rss_mb', float('nan')):.0f}",
                             "-" if s.get("node_workers_rss_mb") is None
                             else f"{s['node_workers_rss_mb']:.0f}")
                            for s in node["steps"]]),
                "", *_outputs_part(node), *(_overhead_parts(node) or []),
                "Overhead per frame = (receive time - stamp) - the pipeline's own time for "
                    "that frame inside the node: message conversion, synchronisation, hand-over "
                    "to the worker, output messages, DDS both ways. The node's share (the "
                    "target) leaves out the bench camera's own sending of each set. The "
                    "difference of p50s compares runs at different times and drifts with the "
                    "machine's load.", "",
                *_footprint_part(node)]
    learned = report.get("learned")
    if learned:
        parts += [f"## Learned models ({learned['size']}, {learned['device']})", "",
                  learned["note"] + ".", ""]
        rows = []
        for e in learned["models"]:
            runs = e.get("runs", {})
            cells = []
            for key in ("fp32", "fp16", "onnx"):
                run = runs.get(key)
                if isinstance(run, dict) and "latency_ms" in run:
                    cells.append(f"{_ms(run['latency_ms'])} / {_ms(run['latency_ms'], 'p95')}"
                                 f" (n={run['iterations']})")
                elif isinstance(run, dict):
                    cells.append("error: " + run.get("error", "?")[:80])
                else:
                    cells.append(str(run or e.get("error", "-")))
            det = next((r.get("detections_mean") for r in runs.values()
                        if isinstance(r, dict) and "detections_mean" in r), None)
            params = e.get("num_params")
            rows.append([e["name"], e["kind"], e["label"],
                         f"{params / 1e6:.1f} M" if params else "-"] + cells
                        + ["-" if det is None else f"{det:g}"])
        parts += [_table(["model", "kind", "what", "params", "torch fp32 p50 / p95",
                          "torch fp16 p50 / p95", "ONNX Runtime p50 / p95", "detections"], rows),
                  ""]
        parts += _learned_parts(learned["models"])
        if learned["pairs"]:
            parts += ["Instance + semantic together (sum of the two p50s, best precision each; "
                      "3D and tracking not included):", "",
                      _table(["instance", "semantic", "ms", "fps"],
                             [(f"{p['instance']} ({p['instance_run']})",
                               f"{p['semantic']} ({p['semantic_run']})",
                               f"{p['instance_ms'] + p['semantic_ms']:.1f}", f"{p['fps']:.2f}")
                              for p in learned["pairs"]]), ""]
        if learned["skipped"]:
            parts += [f"Skipped: {', '.join(learned['skipped'])}.", ""]
    return "\n".join(parts)


def _learned_parts(models: list[dict[str, Any]]) -> list[str]:
    """Lines for the models whose segmenter reports where its time goes (``yolo_seg``)."""
    lines = []
    for e in models:
        for key, run in (e.get("runs") or {}).items():
            if isinstance(run, dict) and run.get("parts_ms"):
                split = ", ".join(f"{k} {v:.1f}" for k, v in run["parts_ms"].items())
                lines.append(f"- {e['name']} ({key}, {e.get('weights', '?')}): {split} ms "
                             "(median per frame)")
    return ["Where the time goes inside the backend:", "", *lines, ""] if lines else []


def _overhead_parts(node: dict[str, Any]) -> list[str] | None:
    parts = node.get("overhead_parts_ms")
    if not parts:
        return None
    labels = {"input": "stamp -> worker takes the frame (DDS in, sync, waiting)",
              "camera": "of which: the bench's camera sending the set (stamp -> its last "
                        "message sent; rclpy converting Python messages)",
              "convert": "messages -> RGBDFrame",
              "objects": "~/objects built + sent (after the pipeline)",
              "objects_out": "~/objects sent -> listener callback (DDS out, the bench "
                             "process taking it)",
              "other": "rest of the overhead (hand-over not in the pipeline's time)",
              "publish": "every output built + sent (not in the overhead: the other "
                         "outputs go after ~/objects)",
              "output": "listener callback - end of publishing (DDS out; negative when "
                        "~/objects, sent first, arrives before the other outputs are sent)"}
    return [f"Where the node's overhead goes at {node['latency_rate_hz']:g} Hz (per frame, ms):",
            "", _table(["part", "p50", "p95"],
                       [(labels.get(k, k), _ms(v), _ms(v, "p95")) for k, v in parts.items()]),
            ""]


def _outputs_part(node: dict[str, Any]) -> list[str]:
    """Which outputs had a subscriber during the sweep, and the 30 Hz step's latency."""
    lines = []
    topics = node.get("outputs_subscribed")
    if topics:
        counts = node.get("output_counts") or {}
        names = [t.rsplit("/", 1)[-1] + (f" ({counts[t]})" if t in counts else "")
                 for t in topics]
        lines += [f"Subscribed during the sweep ({len(topics)} outputs, messages received): "
                  + ", ".join(f"`{n}`" for n in names) + ".", ""]
    only = node.get("objects_only")
    if only:
        lines += [f"Only `~/objects` subscribed (one {only['rate_hz']:g} Hz step before the "
                  f"others): e2e p50 / p95 {_ms(only['latency_ms'])} / "
                  f"{_ms(only['latency_ms'], 'p95')} ms, overhead per frame p50 / p95 "
                  f"{_ms(only['overhead_ms'])} / {_ms(only['overhead_ms'], 'p95')} ms, "
                  f"building + sending the outputs p50 "
                  f"{_ms((only.get('overhead_parts_ms') or {}).get('publish'))} ms. "
                  "Every table row above has every output subscribed.", ""]
    at30 = node.get("camera_30hz")
    if at30:
        lat = at30["latency_ms"]
        lines += [f"At a 30 Hz camera: image stamp -> `~/objects` p50 {_ms(lat)} ms, "
                  f"p95 {_ms(lat, 'p95')} ms; {at30['received']} of {at30['sent']} frames "
                  f"out ({at30['node_dropped']} replaced by newer ones in the node, "
                  f"{at30['lost_other']} lost elsewhere).", ""]
    return lines


def _footprint_part(node: dict[str, Any]) -> list[str]:
    """Start-up and memory of the node process and its workers, heavy libraries mapped."""
    fp = node.get("footprint")
    lines = ["### Start-up and footprint (node as its own process, default config)", ""]
    startup = []
    if node.get("active_s") is not None:
        startup.append(f"process start -> lifecycle *active*: {node['active_s']:.2f} s")
    if node.get("startup_to_first_output_s") is not None:
        startup.append(f"-> first `~/objects`: {node['startup_to_first_output_s']:.2f} s")
    if startup:
        lines += ["; ".join(startup) + ".", ""]
    if not fp:
        return lines + ["Footprint not measured (node in the bench process).", ""]

    def libs(e: dict[str, Any]) -> str:
        return ", ".join(e["libraries"]) or "none"

    rows = []
    for when, key in (("at active", "at_active"), ("after the sweep", "after_sweep")):
        f = fp[key]
        procs = ([("node", f["node"])] + [(f"worker {i + 1}", w) for i, w in
                                          enumerate(f["workers"])]
                 + [("multiprocessing resource tracker" if "resource_tracker" in o["cmd"]
                     else f"other ({o['cmd'][:40]})", o) for o in f["other"]])
        for who, e in procs:
            rows.append((when, who, e["pid"], f"{e['rss_mb']:.0f}",
                         "-" if e.get("pss_mb") is None else f"{e['pss_mb']:.0f}", libs(e)))
        rows.append((when, "**node + workers**", "", f"**{f['node_workers_rss_mb']:.0f}**",
                     "-" if f.get("node_workers_pss_mb") is None
                     else f"{f['node_workers_pss_mb']:.0f}", libs(f)))
    lines += [_table(["when", "process", "pid", "RSS MB", "PSS MB",
                      "torch / open3d / onnxruntime loaded"], rows), "",
              f"Peak node + workers RSS over the sweep: {fp['peak_node_workers_rss_mb']:.0f} MB. "
              "RSS counts shared pages in every process that maps them (an upper bound); PSS "
              "splits them. Libraries: the process's `/proc/<pid>/maps` (libtorch / libc10, "
              "Open3D's pybind / libOpen3D, libonnxruntime).", ""]
    return lines
