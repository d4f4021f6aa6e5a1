"""``history.json`` and its plot, rewritten after every epoch (atomically)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from .plots import plot_history

__all__ = ["write_history"]


def write_history(history: Mapping[str, Any], out: Path, *, title: str) -> None:
    """``out/history.json`` and ``out/loss_curve.png``."""
    tmp = out / "history.json.tmp"
    tmp.write_text(json.dumps(history, indent=1, allow_nan=True) + "\n", encoding="utf-8")
    os.replace(tmp, out / "history.json")
    plot_history(history, out / "loss_curve.png", title=title)
