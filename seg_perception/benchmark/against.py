"""Before / after: this checkout's bare pipeline against another source tree's, same frames.

``seg-perception bench --against TREE`` (e.g. ``git worktree add /tmp/old <commit>``):
both trees' default :class:`~seg_perception.pipeline.Pipeline` process the same
rendered frames, each in a fresh Python process with its own tree first on
``sys.path``, in turns (other, this, other, this, ...) so a change in the
machine's load falls on both. Per turn: wall-time p50 of ``Pipeline.process``
(frame conversion left out) and objects found per frame. Only APIs every version
of the package has are used (``RGBDFrame.create``, ``CameraIntrinsics``,
``Pipeline``, ``PipelineConfig``).
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
root, path, iterations, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, root)
import numpy as np
import seg_perception
from seg_perception.config import PipelineConfig
from seg_perception.frames import CameraIntrinsics, RGBDFrame
from seg_perception.pipeline import Pipeline
data = np.load(path)
n = int(data["n"])
def frame(i):
    k = data[f"K{i % n}"]
    intr = CameraIntrinsics(width=int(k[0]), height=int(k[1]), fx=float(k[2]), fy=float(k[3]),
                            cx=float(k[4]), cy=float(k[5]))
    return RGBDFrame.create(data[f"rgb{i % n}"], data[f"depth{i % n}"], intr,
                            stamp_ns=(i + 1) * 33_000_000)
pipe = Pipeline(PipelineConfig(device="cpu"))
for i in range(warmup):
    pipe.process(frame(i))
ms, found = [], []
for i in range(warmup, warmup + iterations):
    f = frame(i)
    t = time.perf_counter()
    scene = pipe.process(f)
    ms.append((time.perf_counter() - t) * 1e3)
    found.append(len(scene.objects))
print(json.dumps({"module": seg_perception.__file__, "ms": ms, "found": found}))
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


def _run_tree(tree: Path, frames_path: Path, iterations: int, warmup: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(tree), str(frames_path),
                           str(iterations), str(warmup)], capture_output=True, text=True)
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
                  iterations: int = 90, warmup: int = 6, progress: bool = True
                  ) -> dict[str, Any]:
    """Time this checkout's pipeline and ``other``'s on ``frames``, ``rounds`` turns each.

    Returns ``{"trees": {"other": ..., "this": ...}, "rounds", "iterations",
    "frames", "ratio_p50"}``: per tree its path, the p50 (ms) of each turn, the
    median of those, and the mean objects found per frame; ``ratio_p50`` is this
    tree's median p50 over the other's.

    Raises:
        FileNotFoundError: ``other`` is not a folder holding ``seg_perception/``.
        RuntimeError: a tree's pipeline failed (its error output is in the message).
    """
    other = Path(other).resolve()
    if not (other / "seg_perception" / "__init__.py").is_file():
        raise FileNotFoundError(f"{other} holds no seg_perception/ package: give the root of "
                                "a checkout (e.g. git worktree add /tmp/old <commit>)")
    trees = {"other": other, "this": _this_tree()}
    out: dict[str, Any] = {name: {"path": str(path), "p50_ms": [], "found_mean": None}
                           for name, path in trees.items()}
    with tempfile.TemporaryDirectory() as tmp:
        frames_path = Path(tmp) / "frames.npz"
        _save_frames(frames, frames_path)
        with progress_bar(rounds * 2, "before/after turns", progress) as bar:
            for _ in range(rounds):
                for name, path in trees.items():
                    result = _run_tree(path, frames_path, iterations, warmup)
                    out[name]["p50_ms"].append(round(float(np.median(result["ms"])), 2))
                    out[name]["found_mean"] = round(float(np.mean(result["found"])), 2)
                    bar.update(1)
    for entry in out.values():
        entry["median_p50_ms"] = round(float(np.median(entry["p50_ms"])), 2)
    true = [f.objects_true for f in frames]
    return {"trees": out, "rounds": rounds, "iterations": iterations,
            "frames": {"count": len(frames), "size": f"{frames[0].size[0]}x{frames[0].size[1]}",
                       "objects_true_mean": round(float(np.mean(true)), 2)
                       if min(true) >= 0 else None},
            "ratio_p50": round(out["this"]["median_p50_ms"] / out["other"]["median_p50_ms"], 3)}


def markdown_against(result: dict[str, Any]) -> str:
    """The before / after table of :func:`compare_trees`."""
    f = result["frames"]
    lines = [f"Bare pipeline on the same {f['count']} {f['size']} frames "
             f"({f['objects_true_mean']} true objects per frame), {result['rounds']} turns "
             f"each of {result['iterations']} frames, in alternation; wall time of "
             "`Pipeline.process`, p50 per turn.", "",
             "| tree | path | p50 per turn (ms) | median | objects found / frame |",
             "|---|---|---|---|---|"]
    for name in ("other", "this"):
        t = result["trees"][name]
        lines.append(f"| {name} | `{t['path']}` | {' / '.join(f'{v:.1f}' for v in t['p50_ms'])} "
                     f"| {t['median_p50_ms']:.1f} | {t['found_mean']:.2f} |")
    lines += ["", f"this / other: {result['ratio_p50']:.2f}x"]
    return "\n".join(lines) + "\n"
