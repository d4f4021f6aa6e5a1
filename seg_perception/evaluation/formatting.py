"""How a report writes its numbers and names: JSON-ready values, Markdown cells, file names."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["json_ready", "mm", "num", "pct", "safe_name"]


def json_ready(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays made plain and NaN / inf made None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def pct(v: float) -> str:
    """A fraction as a percentage with one decimal; ``–`` when unknown."""
    return "–" if v is None or not math.isfinite(v) else f"{100.0 * v:.1f}"


def mm(v: float) -> str:
    """Metres as millimetres with one decimal; ``–`` when unknown."""
    return "–" if v is None or not math.isfinite(v) else f"{1000.0 * v:.1f}"


def num(v: float) -> str:
    """A number with one decimal; ``–`` when unknown."""
    return "–" if v is None or not math.isfinite(v) else f"{v:.1f}"


def safe_name(name: str) -> str:
    """``name`` usable as a file name: characters other than ``[A-Za-z0-9-_.]`` become ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
