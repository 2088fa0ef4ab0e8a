"""``ag.linalg``: linear algebra as ``torch.linalg`` / ``numpy.linalg`` name it, batched over leading axes and
differentiable to any order (the ops are declared in ``autograd_mini/ops/linalg.py``; docs/linalg.md)."""

from __future__ import annotations

from typing import Any

from .ops import linalg as _ops
from .ops.linalg import (
    EighResult,
    LstsqResult,
    QRResult,
    SlogdetResult,
    SVDResult,
    cholesky,
    cond,
    det,
    eigh,
    eigvalsh,
    inv,
    lstsq,
    matrix_exp,
    matrix_norm,
    matrix_power,
    matrix_rank,
    norm,
    pinv,
    qr,
    slogdet,
    solve,
    solve_triangular,
    svd,
    svdvals,
    vector_norm,
)
from .tensor import Tensor

__all__ = ["norm", "vector_norm", "matrix_norm", "inv", "det", "slogdet", "solve", "cholesky", "qr", "svd", "svdvals",
           "eigh", "eigvalsh", "pinv", "matrix_power", "lstsq", "solve_triangular", "matrix_exp", "matrix_rank", "cond",
           "diagonal", "trace", "SVDResult", "EighResult", "QRResult", "SlogdetResult", "LstsqResult"]


def diagonal(A: Any, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """torch.linalg.diagonal / numpy.linalg.diagonal: the diagonals of the last two axes by default
    (``ag.diagonal`` takes numpy's axes 0 and 1)."""
    return _ops.diagonal(A, offset, dim1, dim2)


def trace(x: Any, *, offset: int = 0) -> Tensor:
    """numpy.linalg.trace: the sum of the diagonal of the last two axes (``ag.trace`` takes axes 0 and 1)."""
    return _ops.trace(x, offset, -2, -1)
