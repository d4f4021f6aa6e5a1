"""Per-region numbers on the grid that the merge rules compare (:class:`RegionStats`)."""
from __future__ import annotations

import numpy as np

from .grid import GridScene, labelled_pixels

__all__ = ["RegionStats", "distinct"]


class RegionStats:
    """Per-region numbers for the merge rules, computed in one pass over the labels.

    ``count``, ``top`` (95th percentile height above the support, metres),
    ``depth`` (median z, metres), ``box`` (grid bounding box), colour histograms
    (8 x 8 bins of CIELAB a*b*), and for 4-adjacent regions the shared outline
    length and how often one is behind the other across it.
    """

    def __init__(self, g: GridScene, labels: np.ndarray,
                 window: tuple[slice, slice] | None = None) -> None:
        """``window``: grid rows and columns holding every labelled pixel (the work is
        done there only)."""
        n = self.n = int(labels.max())
        window = window or (slice(0, labels.shape[0]), slice(0, labels.shape[1]))
        crop, sel_c, sel = labelled_pixels(labels, window)
        lab = crop.ravel()[sel_c]
        self.count = np.bincount(lab, minlength=n + 1)
        heights, zs = g.height.ravel()[sel], g.z.ravel()[sel]
        starts = np.concatenate([[0], np.cumsum(self.count)])[:-1]
        has = self.count > 0
        cnt = np.maximum(self.count, 1)
        # 95th percentile height and median depth: the pixels at those ranks of each
        # region, selected (not sorted).
        top = ranked_within(lab, heights, starts + (0.95 * (cnt - 1)).astype(int))
        low, high = np.split(ranked_within(lab, zs, np.concatenate(
            [starts + (cnt - 1) // 2, starts + cnt // 2])), 2)
        self.top = np.where(has, heights[top], 0.0)
        self.depth = np.where(has, 0.5 * (zs[low] + zs[high]), 0.0)
        # Pixels grouped by region (a radix sort of small labels).
        by_region = np.argsort(lab.astype(np.uint16) if n < 2 ** 16 else lab, kind="stable")
        # a*b* histogram bin of every grid pixel, then of the selected ones (one
        # flat index into a 1-byte image: much cheaper than picking [M, 3] rows).
        ab = g.lab_of(slice(None), slice(None))
        abw = ab[window]
        key = ((abw[:, :, 1] >> 5) * 8 + (abw[:, :, 2] >> 5)).ravel()[sel_c].astype(np.int64)
        hist = np.bincount(lab.astype(np.int64) * 64 + key,
                           minlength=(n + 1) * 64).reshape(n + 1, 64)
        self.hist = hist / np.maximum(hist.sum(axis=1, keepdims=True), 1)
        self._ab, self._sel, self._lab = ab, sel, lab  # for ab_mean, on demand
        self._ab_mean: np.ndarray | None = None
        self._ab_cache: dict[int, np.ndarray] = {}
        # 3D centroid and size (sqrt(12 var) along the major axis: a uniform extent).
        safe = np.maximum(self.count, 1)
        coords = [c.ravel()[sel] for c in (g.x, g.y, g.z)]
        self.centroid = np.stack([np.bincount(lab, weights=c, minlength=n + 1) / safe
                                  for c in coords], axis=1)
        second = sum(np.bincount(lab, weights=c * c, minlength=n + 1) / safe for c in coords)
        self.size = np.sqrt(12.0 * np.clip(second - (self.centroid ** 2).sum(axis=1), 0, None))
        self._members, self._starts = sel[by_region], starts  # flat indices by region
        rows, cols = np.divmod(self._members, labels.shape[1])  # grouped by region
        first = starts[has]
        y_min, y_max = np.minimum.reduceat(rows, first), np.maximum.reduceat(rows, first)
        x_min, x_max = np.minimum.reduceat(cols, first), np.maximum.reduceat(cols, first)
        self.box = {int(i): (int(y_min[k]), int(y_max[k]) + 1, int(x_min[k]), int(x_max[k]) + 1)
                    for k, i in enumerate(np.flatnonzero(has)) if i > 0}
        self._pairs(crop, g.z[window], g.jump[window])

    def _pairs(self, labels: np.ndarray, z: np.ndarray, jump: np.ndarray) -> None:
        n1 = self.n + 1
        outline: list[np.ndarray] = []
        touch: list[np.ndarray] = []
        behind: list[np.ndarray] = []
        for sa, sb in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                       ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
            la, lb = labels[sa], labels[sb]
            diff = (la != lb) & (la > 0) & (lb > 0)
            a, b = la[diff].astype(np.int64), lb[diff].astype(np.int64)
            za, zb = z[sa][diff], z[sb][diff]
            outline.append(np.minimum(a, b) * n1 + np.maximum(a, b))
            # Key (back, front): one entry per neighbouring pixel pair, both ways.
            touch += [a * n1 + b, b * n1 + a]
            behind += [(za - zb) > jump[sa][diff], (zb - za) > jump[sb][diff]]
        keys, counts = distinct(np.concatenate(outline), n1 * n1)
        self.outline = {(int(k // n1), int(k % n1)): int(c)
                        for k, c in zip(keys, counts, strict=True)}
        t = np.concatenate(touch)
        self._touch = np.bincount(t, minlength=n1 * n1)
        self._behind = np.bincount(t, weights=np.concatenate(behind), minlength=n1 * n1)

    def behind(self, front: int, back: int) -> float:
        """Fraction of neighbouring pixel pairs across the outline where ``back`` is farther
        than ``front`` by more than a depth step."""
        k = back * (self.n + 1) + front
        return float(self._behind[k] / self._touch[k]) if self._touch[k] else 0.0

    def seam_step(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``float64[K]``: for region pairs ``a[k], b[k]`` the larger of :meth:`behind`
        both ways (0 for regions that do not touch)."""
        n1 = self.n + 1
        step = np.zeros(len(a))
        for back, front in ((a, b), (b, a)):
            k = back * n1 + front
            touch = self._touch[k]
            step = np.maximum(step, self._behind[k] / np.maximum(touch, 1))
        return step

    def pixels(self, r: int) -> np.ndarray:
        """Flat grid indices of region ``r``'s pixels."""
        return self._members[self._starts[r]:self._starts[r] + self.count[r]]

    @property
    def ab_mean(self) -> np.ndarray:
        """``float64[n + 1, 2]`` mean a*, b* of each region, centred on grey."""
        if self._ab_mean is None:
            safe = np.maximum(self.count, 1)
            self._ab_mean = np.stack([
                np.bincount(self._lab, weights=self._ab[:, :, c].ravel()[self._sel],
                            minlength=self.n + 1) / safe - 128.0 for c in (1, 2)], axis=1)
        return self._ab_mean

    def same_hue(self, a: int, b: int, min_chroma: float, max_degrees: float,
                 of_pixels: bool = False) -> bool:
        """Both regions coloured (mean a*b* chroma >= ``min_chroma``) with hues within
        ``max_degrees``: one colour lit differently (shade lowers chroma, not hue).
        ``of_pixels``: the two means from their own pixels, not all regions' at once
        (cheaper for a few pairs)."""
        if of_pixels and self._ab_mean is None:
            ca, cb = self._ab_mean_of(a), self._ab_mean_of(b)
        else:
            ca, cb = self.ab_mean[a], self.ab_mean[b]
        ra, rb = float(np.hypot(*ca)), float(np.hypot(*cb))
        if min(ra, rb) < min_chroma:
            return False
        cos = float(ca @ cb) / (ra * rb)
        return cos >= float(np.cos(np.radians(max_degrees)))

    def _ab_mean_of(self, r: int) -> np.ndarray:
        if r not in self._ab_cache:
            ab = self._ab.reshape(-1, 3)[self.pixels(r), 1:]
            self._ab_cache[r] = (ab.mean(axis=0) - 128.0 if len(ab) else np.zeros(2))
        return self._ab_cache[r]

    def shifted_similarity(self, a: int, b: int) -> float:
        """The largest histogram intersection of the regions' a*b* colours on the 8 x 8
        bins shifted by half a bin along a*, b* or both: a colour spread across a bin
        edge of :attr:`hist` is judged on bins that hold it whole."""
        flat = self._ab.reshape(-1, 3)
        hists = []
        for r in (a, b):
            x = flat[self.pixels(r), 1:].astype(np.int32) + 16  # half of a 32-wide bin
            ka, kb = x[:, 0] >> 5, x[:, 1] >> 5  # 0..8 on the shifted bins
            unshifted_a, unshifted_b = (x[:, 0] - 16) >> 5, (x[:, 1] - 16) >> 5
            n = max(len(x), 1)
            hists.append([np.bincount(p * 9 + q, minlength=81) / n
                          for p, q in ((ka, unshifted_b), (unshifted_a, kb), (ka, kb))])
        return max(float(np.minimum(ha, hb).sum()) for ha, hb in zip(*hists, strict=True))

    def colour_similarity(self, a: int, b: int) -> float:
        """Histogram intersection in [0, 1] of the regions' a*b* colours."""
        return float(np.minimum(self.hist[a], self.hist[b]).sum())


def distinct(keys: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_counts=True)`` of non-negative integer keys below
    ``bound``: by one count per key (no sort) where ``bound`` is small next to the
    number of keys, by ``np.unique`` otherwise; the same result either way."""
    if bound > 4 * keys.size + 4096:
        return np.unique(keys, return_counts=True)
    counts = np.bincount(keys, minlength=bound)
    found = np.flatnonzero(counts)
    return found, counts[found]


def ranked_within(groups: np.ndarray, values: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Positions of the elements at ``ranks`` of ``values`` (metres) ordered by group,
    then by value to 10 um, then by position (a stable sort's ranks; negative values,
    a few reassigned pixels just below the support, rank as 0).

    The three keys packed into one unique integer and only the ranks asked for
    selected (``np.partition``), several times cheaper than arg-sorting; a stable
    ``argsort`` where the keys do not fit in 63 bits.
    """
    quantised = np.clip(values * 1e5, 0, 2 ** 31 - 1).astype(np.int64)
    n = len(values)
    pos_bits = max(1, (n - 1).bit_length())
    value_bits = int(quantised.max(initial=0)).bit_length()
    group_bits = int(groups.max(initial=0)).bit_length()
    if pos_bits + value_bits + group_bits > 63:
        order = np.argsort((groups.astype(np.int64) << 32) | quantised, kind="stable")
        return order[ranks]
    key = groups.astype(np.int64) << (value_bits + pos_bits)
    quantised <<= pos_bits
    key |= quantised
    key |= np.arange(n, dtype=np.int64)
    key = np.partition(key, np.unique(ranks))
    return key[ranks] & ((1 << pos_bits) - 1)
