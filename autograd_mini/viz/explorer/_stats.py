"""Summaries of arrays for the page: statistics and a small histogram, never the array itself."""

from __future__ import annotations

import math
from typing import Any

from ..._backend import xp

BINS = 16


def num(x: float) -> float | str:
    """A JSON-safe number: 4 significant digits, non-finite values as the strings "NaN", "inf", "-inf"."""
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(f"{x:.4g}")


def summary(a: Any) -> dict | None:
    """min, max, mean, std (of the finite elements), NaN and inf counts, and a histogram; None for no array."""
    if a is None:
        return None
    a = xp.asarray(a)
    out: dict = {"size": int(a.size)}
    if a.dtype.kind not in "biuf" or a.size == 0:
        return out
    a = a.astype(xp.float64, copy=False).ravel() if a.dtype.kind != "f" else a.ravel()
    with xp.errstate(all="ignore"):
        finite = xp.isfinite(a)
        n_nan = int(xp.isnan(a).sum())
        out["nan"], out["inf"] = n_nan, int(a.size - finite.sum()) - n_nan
        f = a if out["nan"] + out["inf"] == 0 else a[finite]
        if f.size == 0:
            return out
        lo, hi = float(f.min()), float(f.max())
        out.update(min=num(lo), max=num(hi), mean=num(f.mean(dtype=xp.float64)), std=num(f.std(dtype=xp.float64)))
        out["hist"] = [int(f.size)]
        if f.size > 1 and hi > lo and math.isfinite(hi - lo):
            try:
                out["hist"] = [int(c) for c in xp.histogram(f, bins=BINS, range=(lo, hi))[0]]
            except ValueError:  # a range too narrow for 16 bins at this magnitude: one bar
                pass
    return out
