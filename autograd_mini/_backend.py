"""The bottom of the core: the array module seam and the dtype policy.

Every op reaches numpy through ``xp`` so that an array library with numpy's API (CuPy) could
later run the same op table. The dtype policy (what Python floats become, how integer inputs of
float functions are promoted) lives here, below Tensor and the ops, which both read it.
"""

from __future__ import annotations

from typing import Any

import numpy as xp

__all__ = ["xp", "get_default_dtype", "set_default_dtype", "as_float"]

_default_dtype = xp.dtype(xp.float32)


def get_default_dtype() -> Any:
    """The dtype Python floats (and float lists) become: float32 unless changed."""
    return _default_dtype


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that Python floats (and float lists) become: float32 or float64."""
    global _default_dtype
    d = xp.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_dtype = d


def as_float(x: Any) -> Any:
    """Integer and bool arrays as the default float dtype, as PyTorch's float functions take them
    (numpy's exp would give float64 for int64 and float16 for bool); anything else unchanged."""
    dtype = getattr(x, "dtype", None)  # a Python number passes as it is
    return x if dtype is None or dtype.kind in "fc" else x.astype(_default_dtype)
