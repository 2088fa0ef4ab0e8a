"""``erf``, the error function, as a primitive (numpy has none; GELU needs it).

The forward is accurate to about 1 ulp in float64 (tests/test_ops_extra.py compares it with
``math.erf`` on a dense grid). Its pieces are derived here from ``math``, not copied constants:

- |x| < 1: the Taylor series ``2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))``, 22 terms, in
  Horner form in x^2 (the terms fall below 1e-20; the mild cancellation costs under 2 ulp);
- 1 <= |x| < 6: ``erf = 1 - exp(-x^2) h(x)`` with ``h = erfc(x) exp(x^2)`` smooth and slowly
  varying, interpolated at Chebyshev points from ``math.erfc`` once, at import (degree 16 on each
  of three intervals: the interpolation error is below 1e-16);
- |x| >= 6: erfc(6) = 2e-17 is below half an ulp of 1, so erf = +-1 exactly.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev as _cheb

from .. import numpy as anp
from .._backend import as_float
from ..function import Function, op

__all__ = ["Erf", "erf_array"]

def _chebyshev_fit(f, lo: float, hi: float, degree: int) -> tuple:
    u = np.cos(np.pi * (np.arange(degree + 1) + 0.5) / (degree + 1))  # Chebyshev points on [-1, 1]
    coef = _cheb.chebfit(u, [f((hi - lo) / 2 * v + (hi + lo) / 2) for v in u], degree)
    return lo, hi, coef


def _plan(taylor_terms: int, degree: int) -> tuple:
    taylor = [2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(taylor_terms)]
    tails = [_chebyshev_fit(lambda x: math.erfc(x) * math.exp(x * x), lo, hi, degree)
             for lo, hi in ((1, 2.5), (2.5, 4), (4, 6))]
    return taylor[::-1], tails


# float64: within about 1 ulp. float32 (computed in float32, 4x faster): truncation below 5e-9,
# under a tenth of float32's ulp, so the result is float32 rounding.
_PLANS = {np.dtype(np.float64): _plan(22, 16), np.dtype(np.float32): _plan(11, 8)}


def erf_array(x: np.ndarray) -> np.ndarray:
    """erf of an array: float32 stays float32, anything else is computed and returned in float64."""
    x = np.asarray(x)
    dtype = np.dtype(np.float32) if x.dtype == np.float32 else np.dtype(np.float64)
    taylor, tails = _PLANS[dtype]
    a = np.abs(x.astype(dtype, copy=False)).reshape(-1)
    # The series over every element (|x| clipped to 1: no overflow) costs less than gathering the
    # small ones; the few large ones are then gathered by index and overwritten.
    t = np.minimum(a, 1) ** 2
    acc = np.zeros_like(t)
    for c in taylor:
        acc = acc * t + c
    out = a * acc
    big = np.flatnonzero(~(a < 1))  # nan included: it stays nan below
    if big.size:
        v = a[big]
        res = np.where(np.isnan(v), v, 1)  # |x| >= 6 (and inf): 1
        for lo, hi, coef in tails:
            m = np.flatnonzero((v >= lo) & (v < hi))
            w = v[m]
            res[m] = 1 - np.exp(-w * w) * _cheb.chebval((2 * w - (lo + hi)) / (hi - lo), coef.astype(dtype))
        out[big] = res
    return np.copysign(out.reshape(x.shape), x)


@op("erf", method=True)
class Erf(Function):
    """The error function, ``2/sqrt(pi) * integral of exp(-t^2) from 0 to x``."""
    formula = "d erf(x)/dx = 2 / sqrt(pi) * exp(-x^2)"

    @staticmethod
    def forward(ctx, x): return erf_array(as_float(x))  # int and bool: the default float, as PyTorch

    @staticmethod
    def backward(ctx, g, x): return g * (2 / math.sqrt(math.pi)) * anp.exp(-(x * x))
