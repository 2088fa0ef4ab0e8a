"""Boundary and gradcheck cases for ops/sorting.py (sort argsort median nonzero masked_select)."""

import numpy as np

import autograd_mini as ag
from tests.op_tables import NO_SCALAR, Edges, T, torch

GRADCHECK = {
    "sort": (lambda x: ag.sort(x, 0, descending=True).values * ag.sort(x, 1).values, lambda: [T(3, 3)]),
    "median": (lambda x: ag.median(x, 1).values.sin() + ag.median(x) ** 2, lambda: [T(3, 4)]),
    "masked_select": (lambda x: ag.masked_select(x, np.array([True, False, True])).sin(), lambda: [T(2, 3)]),
}

MEDIAN_TIE = {"tie": "PyTorch's median over a dim picks a tied element by its own order (nth_element), ours the "
                     "stable order: the index may differ, the value agrees (test_index_scans.py)"}
EDGES = {
    "sort": Edges(lambda L, a: L.sort(a, 0, stable=True)[0] * a, scalar=lambda L, a: L.sort(a, np.int64(-1))[0]),
    "argsort": Edges(lambda L, a: L.argsort(a, 0, stable=True), scalar=lambda L, a: L.argsort(a, np.int64(0))),
    "median": Edges(lambda L, a: L.median(a, 0)[0], skip=MEDIAN_TIE | {"empty": "a size-0 dim: both raise"},
                    inputs={"empty": [np.zeros((0, 3))]}, scalar=lambda L, a: L.median(a, np.int64(0))[0]),
    "nonzero": Edges(lambda L, a: L.nonzero(a), skip=NO_SCALAR),
    "masked_select": Edges(lambda L, a: L.masked_select(a, _mask(L, a)), skip=NO_SCALAR),
}


def _mask(L, a):
    return np.arange(int(np.prod(a.shape))).reshape(tuple(a.shape)) % 2 == 0


TORCH = {"masked_select": lambda a, m: torch.masked_select(a, torch.as_tensor(m)),
         "sort": lambda a, dim, stable=False: torch.sort(a, dim=dim, stable=stable),
         "argsort": lambda a, dim, stable=False: torch.argsort(a, dim=dim, stable=stable)}
