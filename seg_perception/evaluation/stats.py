"""Means and medians over the finite values only (NaN = not measured)."""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

__all__ = ["nanmean", "nanmedian"]


def nanmean(values: Iterable[float]) -> float:
    """Mean of the finite values; NaN when there is none."""
    v = np.asarray(list(values), np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def nanmedian(values: Iterable[float]) -> float:
    """Median of the finite values; NaN when there is none."""
    v = np.asarray(list(values), np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else math.nan
