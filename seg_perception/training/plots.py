"""The training curve: loss per step with the validation metric per epoch."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["plot_history"]


def plot_history(history: Mapping[str, Any], path: str | os.PathLike[str], *,
                 title: str = "") -> Path:
    """Training loss per step (and its moving average) with the validation metric per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = history.get("steps", [])
    epochs = history.get("epochs", [])
    metric = history.get("metric", "")
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if steps:
        x = np.array([s["step"] for s in steps])
        y = np.array([s["loss"] for s in steps])
        ax.plot(x, y, color="tab:blue", alpha=0.25, lw=0.8, label="loss (step)")
        k = max(1, min(50, len(y) // 10))
        if len(y) >= k:
            smooth = np.convolve(y, np.ones(k) / k, mode="valid")
            ax.plot(x[k - 1:], smooth, color="tab:blue", lw=1.8, label=f"loss ({k}-step mean)")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log" if steps and min(s["loss"] for s in steps) > 0 else "linear")
    ax.grid(alpha=0.3)
    lines, labels = ax.get_legend_handles_labels()
    vals = [(e["end_step"], e["val"][metric]) for e in epochs
            if e.get("val") and metric in e["val"] and np.isfinite(e["val"][metric])]
    if vals:
        ax2 = ax.twinx()
        ax2.plot([v[0] for v in vals], [v[1] for v in vals], "o-", color="tab:orange",
                 label=f"val {metric}")
        ax2.set_ylabel(f"validation {metric}")
        ax2.set_ylim(0, 1)
        more_lines, more_labels = ax2.get_legend_handles_labels()
        lines, labels = lines + more_lines, labels + more_labels
    if lines:
        ax.legend(lines, labels, loc="upper right", fontsize=8)
    ax.set_title(title or "training")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
