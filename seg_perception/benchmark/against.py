"""Before / after: this checkout's bare pipeline against another source tree's, same frames.

``seg-perception bench --against TREE`` (e.g. ``git worktree add /tmp/old <commit>``):
both trees' default :class:`~seg_perception.pipeline.Pipeline` process the same
rendered frames, each in a fresh Python process with its own tree first on
``sys.path``, in turns (other, this, other, this, ...) so a change in the
machine's load falls on both. Per turn: wall-time p50 and mean of
``Pipeline.process`` (frame conversion left out), each frame's median, objects found
per frame, and the stream rate through the tree's own 2 worker processes
(:class:`~seg_perception.parallel.ParallelPipeline`, frame conversion included, as
``seg-perception bench``'s stream). Only APIs every version of the package has are
used (``RGBDFrame.create``, ``CameraIntrinsics``, ``Pipeline``, ``PipelineConfig``,
``ParallelPipeline``).

The p50 of frames from scenes of different sizes falls between the scenes' times
(the bench frames: 8 objects and 4), so it moves with small changes of either; the
mean and each frame's own median are steadier, and the table gives all three.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .frames import BenchFrame
from .resources import progress_bar

__all__ = ["compare_trees", "markdown_against"]

# Run in the child process: argv = tree, frames .npz, iterations, warm-up frames.
_CHILD = r"""
import json, sys, time


def main():
    root, path, iterations, warmup, stream = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                              int(sys.argv[4]), int(sys.argv[5]))
    sys.path.insert(0, root)  # (spawned workers get this sys.path too)
    import numpy as np
    import seg_perception
    from seg_perception.config import PipelineConfig
    from seg_perception.frames import CameraIntrinsics, RGBDFrame
    from seg_perception.pipeline import Pipeline
    data = np.load(path)
    n = int(data["n"])

    def frame(i):
        k = data[f"K{i % n}"]
        intr = CameraIntrinsics(width=int(k[0]), height=int(k[1]), fx=float(k[2]),
                                fy=float(k[3]), cx=float(k[4]), cy=float(k[5]))
        return RGBDFrame.create(data[f"rgb{i % n}"], data[f"depth{i % n}"], intr,
                                stamp_ns=(i + 1) * 33_000_000)

    pipe = Pipeline(PipelineConfig(device="cpu"))
    for i in range(warmup):
        pipe.process(frame(i))
    ms, found, index = [], [], []
    for i in range(warmup, warmup + iterations):
        f = frame(i)
        t = time.perf_counter()
        scene = pipe.process(f)
        ms.append((time.perf_counter() - t) * 1e3)
        found.append(len(scene.objects))
        index.append(i % n)
    fps = None
    if stream:
        from seg_perception.parallel import ParallelPipeline
        with ParallelPipeline(PipelineConfig(device="cpu"), workers=2) as par:
            for _ in par.stream(frame(i) for i in range(warmup)):
                pass
            t = time.perf_counter()
            for _ in par.stream(frame(i) for i in range(stream)):
                pass
            fps = stream / (time.perf_counter() - t)
    print(json.dumps({"module": seg_perception.__file__, "ms": ms, "found": found,
                      "index": index, "fps": fps}))


if __name__ == "__main__":  # spawned worker processes import this file too
    main()
"""


def _this_tree() -> Path:
    import seg_perception

    return Path(seg_perception.__file__).resolve().parents[1]


def _save_frames(frames: Sequence[BenchFrame], path: Path) -> None:
    arrays: dict[str, Any] = {"n": len(frames)}
    for i, bf in enumerate(frames):
        k = bf.intrinsics
        arrays[f"rgb{i}"], arrays[f"depth{i}"] = bf.rgb, bf.depth_mm
        arrays[f"K{i}"] = np.array([k.width, k.height, k.fx, k.fy, k.cx, k.cy], np.float64)
    np.savez(path, **arrays)


def _run_tree(tree: Path, frames_path: Path, iterations: int, warmup: int,
              stream: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "against_turn.py"  # a file: spawned workers re-import it
        script.write_text(_CHILD)
        done = subprocess.run([sys.executable, str(script), str(tree), str(frames_path),
                               str(iterations), str(warmup), str(stream)],
                              capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the pipeline of {tree} failed (exit {done.returncode}): "
                           f"{done.stderr.strip()[-800:]}")
    result = json.loads(lines[-1])
    if not Path(result["module"]).resolve().is_relative_to(tree):
        raise RuntimeError(f"{tree} has no seg_perception package: {result['module']} was "
                           "imported instead (give the root of a checkout)")
    return result


def compare_trees(frames: Sequence[BenchFrame], other: str | Path, *, rounds: int = 3,
                  iterations: int = 90, warmup: int = 6, stream: int = 120,
                  progress: bool = True) -> dict[str, Any]:
    """Time this checkout's pipeline and ``other``'s on ``frames``, ``rounds`` turns each.

    ``stream``: frames per turn through each tree's 2 worker processes (0: none).
    Returns ``{"trees": {"other": ..., "this": ...}, "rounds", "iterations",
    "frames", "ratio_p50", "ratio_mean", "ratio_per_frame", "ratio_fps"}``: per tree
    its path, the p50 and the mean (ms) of each turn and their medians, each frame's
    median over all turns (``per_frame_ms``), the mean objects found per frame and
    the stream rate of each turn (``fps``) and its median; the ratios are this tree's
    over the other's (``ratio_per_frame``: the geometric mean of the frames' ratios;
    ``ratio_fps``: of the median rates, None without a stream).

    Raises:
        FileNotFoundError: ``other`` is not a folder holding ``seg_perception/``.
        RuntimeError: a tree's pipeline failed (its error output is in the message).
    """
    other = Path(other).resolve()
    if not (other / "seg_perception" / "__init__.py").is_file():
        raise FileNotFoundError(f"{other} holds no seg_perception/ package: give the root of "
                                "a checkout (e.g. git worktree add /tmp/old <commit>)")
    trees = {"other": other, "this": _this_tree()}
    out: dict[str, Any] = {name: {"path": str(path), "p50_ms": [], "mean_ms": [], "fps": [],
                                  "found_mean": None}
                           for name, path in trees.items()}
    per_frame: dict[str, list[list[float]]] = {name: [[] for _ in frames] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        frames_path = Path(tmp) / "frames.npz"
        _save_frames(frames, frames_path)
        with progress_bar(rounds * 2, "before/after turns", progress) as bar:
            for _ in range(rounds):
                for name, path in trees.items():
                    result = _run_tree(path, frames_path, iterations, warmup, stream)
                    entry = out[name]
                    entry["p50_ms"].append(round(float(np.median(result["ms"])), 2))
                    entry["mean_ms"].append(round(float(np.mean(result["ms"])), 2))
                    entry["found_mean"] = round(float(np.mean(result["found"])), 2)
                    if result["fps"] is not None:
                        entry["fps"].append(round(float(result["fps"]), 1))
                    for i, ms in zip(result["index"], result["ms"], strict=True):
                        per_frame[name][i].append(ms)
                    bar.update(1)
    for name, entry in out.items():
        entry["median_p50_ms"] = round(float(np.median(entry["p50_ms"])), 2)
        entry["median_mean_ms"] = round(float(np.median(entry["mean_ms"])), 2)
        entry["median_fps"] = round(float(np.median(entry["fps"])), 1) if entry["fps"] else None
        entry["per_frame_ms"] = [round(float(np.median(v)), 2) if v else None
                                 for v in per_frame[name]]
    pairs = [(t, o) for t, o in zip(out["this"]["per_frame_ms"], out["other"]["per_frame_ms"],
                                    strict=True) if t and o]
    true = [f.objects_true for f in frames]
    fps_this, fps_other = out["this"]["median_fps"], out["other"]["median_fps"]
    return {"trees": out, "rounds": rounds, "iterations": iterations, "stream": stream,
            "frames": {"count": len(frames), "size": f"{frames[0].size[0]}x{frames[0].size[1]}",
                       "objects_true_mean": round(float(np.mean(true)), 2)
                       if min(true) >= 0 else None},
            "ratio_p50": round(out["this"]["median_p50_ms"] / out["other"]["median_p50_ms"], 3),
            "ratio_mean": round(out["this"]["median_mean_ms"] / out["other"]["median_mean_ms"],
                                3),
            "ratio_per_frame": round(float(np.exp(np.mean([np.log(t / o) for t, o in pairs]))),
                                     3) if pairs else None,
            "ratio_fps": round(fps_this / fps_other, 3) if fps_this and fps_other else None}


def markdown_against(result: dict[str, Any]) -> str:
    """The before / after tables of :func:`compare_trees`."""
    f = result["frames"]
    lines = [f"Bare pipeline on the same {f['count']} {f['size']} frames "
             f"({f['objects_true_mean']} true objects per frame), {result['rounds']} turns "
             f"each of {result['iterations']} frames, in alternation; wall time of "
             "`Pipeline.process` per turn; stream: "
             + (f"{result['stream']} frames through the tree's 2 worker processes."
                if result["stream"] else "not run."), "",
             "| tree | path | p50 per turn (ms) | mean per turn (ms) | median p50 / mean "
             "| stream fps per turn | objects found / frame |",
             "|---|---|---|---|---|---|---|"]
    for name in ("other", "this"):
        t = result["trees"][name]
        fps = " / ".join(f"{v:.1f}" for v in t["fps"]) or "-"
        lines.append(f"| {name} | `{t['path']}` | {' / '.join(f'{v:.1f}' for v in t['p50_ms'])} "
                     f"| {' / '.join(f'{v:.1f}' for v in t['mean_ms'])} "
                     f"| {t['median_p50_ms']:.1f} / {t['median_mean_ms']:.1f} | {fps} "
                     f"| {t['found_mean']:.2f} |")
    lines += ["", "Each frame's median (ms), other -> this: " + ", ".join(
        f"{o:.1f} -> {t:.1f}" if o and t else "-" for o, t in zip(
            result["trees"]["other"]["per_frame_ms"], result["trees"]["this"]["per_frame_ms"],
            strict=True)), ""]
    ratios = [f"p50 {result['ratio_p50']:.2f}x", f"mean {result['ratio_mean']:.2f}x"]
    if result["ratio_per_frame"] is not None:
        ratios.append(f"per frame (geometric mean) {result['ratio_per_frame']:.2f}x")
    if result["ratio_fps"] is not None:
        ratios.append(f"stream rate {result['ratio_fps']:.2f}x")
    lines.append("this / other: " + ", ".join(ratios))
    return "\n".join(lines) + "\n"
