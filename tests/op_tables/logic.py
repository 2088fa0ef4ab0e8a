"""The boundary cases of autograd_mini/ops/logic.py: bool or integer results, never differentiated."""

from __future__ import annotations

import numpy as np

from tests.op_tables import ELEMENTWISE, NO_SCALAR, Edges, torch


def _axis(a):
    return 0 if a.ndim else None  # reduce over the first axis (the size-0 one in "empty"); 0-d: over all


def _reduction(name: str) -> Edges:
    return Edges(lambda L, a: getattr(L, name)(a, _axis(a)), scalar=lambda L, a: getattr(L, name)(a, np.int64(0)))


EDGES = {
    "isnan": Edges(lambda L, a: L.isnan(a), **ELEMENTWISE),
    "isinf": Edges(lambda L, a: L.isinf(a), **ELEMENTWISE),
    "isfinite": Edges(lambda L, a: L.isfinite(a), **ELEMENTWISE),
    "isclose": Edges(lambda L, a, b: L.isclose(a, b * (1 + 1e-6)), 2, skip={"np_scalar": "operands are tensors"}),
    "allclose": Edges(lambda L, a, b: L.as_tensor(L.allclose(a, b + 1e-9)), 2,
                      skip={"np_scalar": "operands are tensors", "bool": "bool + float: a float tensor"}),
    "any": _reduction("any"),
    "all": _reduction("all"),
    "logical_and": Edges(lambda L, a, b: L.logical_and(a, b), 2, skip=NO_SCALAR),
    "logical_or": Edges(lambda L, a, b: L.logical_or(a, b), 2, skip=NO_SCALAR),
    "logical_xor": Edges(lambda L, a, b: L.logical_xor(a, b), 2, skip=NO_SCALAR),
    "logical_not": Edges(lambda L, a: L.logical_not(a), **ELEMENTWISE),
    "bitwise_and": Edges(lambda L, a, b: a & b, 2),
    "bitwise_or": Edges(lambda L, a, b: a | b, 2),
    "bitwise_xor": Edges(lambda L, a, b: a ^ b, 2),
    "bitwise_not": Edges(lambda L, a: ~a, **ELEMENTWISE),
    "bitwise_left_shift": Edges(lambda L, a, b: a << b, 2, skip={"bool": "PyTorch refuses bool shifts"}),
    "bitwise_right_shift": Edges(lambda L, a, b: a >> b, 2, skip={"bool": "PyTorch refuses bool shifts"}),
}
TORCH = {  # numpy's axis=None: every axis
    "any": lambda a, axis: torch.any(a) if axis is None else torch.any(a, axis),
    "all": lambda a, axis: torch.all(a) if axis is None else torch.all(a, axis),
}
