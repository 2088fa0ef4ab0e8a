"""The bottom of the core: the array module seam and the dtype policy.

Every op reaches numpy through ``xp`` so that an array library with numpy's API (CuPy) could
later run the same op table. The dtype policy (what Python floats become, how integer inputs of
float functions are promoted) lives here, below Tensor and the ops, which both read it.
"""

from __future__ import annotations

from typing import Any

import numpy as xp

__all__ = ["xp", "get_default_dtype", "set_default_dtype", "as_float", "promote_types", "result_type"]

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


# ---- type promotion: PyTorch's rule, with the default dtype for Python floats -----------------------------
def promote_types(a: Any, b: Any) -> Any:
    """The dtype holding both: numpy's, except that an integer or bool with a float gives the float
    (numpy's int64 + float32 is float64; PyTorch's, and ours, float32)."""
    float_a, float_b = a.kind in "fc", b.kind in "fc"
    if float_a != float_b:
        return a if float_a else b
    return xp.promote_types(a, b)


def _combine(higher: Any, lower: Any) -> Any:
    """A lower-priority operand group changes the result only with a higher kind (bool < int < float)."""
    if higher is None or lower is None:
        return lower if higher is None else higher
    if higher.kind in "fc":
        return higher
    if higher.kind == "b" or lower.kind in "fc":
        return promote_types(higher, lower)
    return higher


_PYTHON_KINDS = {bool: xp.dtype(bool), int: xp.dtype(xp.int64), complex: xp.dtype(xp.complex128)}


def result_type(*operands: Any) -> Any:
    """The dtype of an elementwise op on ``operands`` (arrays, Tensors, Python numbers), PyTorch's rule:
    dimensioned operands decide; a 0-d array or tensor counts only if its kind (bool < int < float) is
    higher, and a Python number only if its kind is higher than both (a float then gives the default
    dtype). So ``int64 tensor * 2.5`` is float32, ``float32 tensor * float64 0-d tensor`` float32,
    ``int64 tensor / int64 tensor``'s operands stay int64 (true division then gives the default float)."""
    dims = zeros = numbers = None
    for x in operands:
        dtype = getattr(x, "dtype", None)
        if dtype is None:
            if x is None:
                continue
            dtype = _default_dtype if isinstance(x, float) else _PYTHON_KINDS[type(x) if type(x) in _PYTHON_KINDS
                                                                             else int]
            numbers = dtype if numbers is None else promote_types(numbers, dtype)
        elif x.ndim:
            dims = dtype if dims is None else promote_types(dims, dtype)
        else:
            zeros = dtype if zeros is None else promote_types(zeros, dtype)
    return _combine(dims, _combine(zeros, numbers))
