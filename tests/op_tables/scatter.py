"""Boundary and gradcheck cases for ops/scatter.py (scatter scatter_add scatter_reduce index_select index_add
one_hot) and its ScatterExtreme."""

import numpy as np

import autograd_mini as ag
from tests.op_tables import NO_SCALAR, Edges, T, torch

IDX = np.array([[0, 2, 1, 0], [1, 1, 2, 2]])
NEEDS_AXIS = {"0d": "a 0-d input has no axis to scatter along (test_index_scans.py covers 0-d)"}
NO_BOOL = {"bool": "PyTorch has no bool scatter_add/index_add (ours adds as numpy: logical or)"}

GRADCHECK = {
    "ScatterExtreme": (lambda x, s: ag.scatter_reduce(x, 0, IDX, s, "amax") * ag.scatter_reduce(x, 1, IDX[:, :2],
                                                                                                 s, "amin"),
                       lambda: [T(3, 4), T(2, 4)]),
    "scatter": (lambda x, s: ag.scatter(x, 0, np.array([[0, 2, 1, 0]]), s).sin(), lambda: [T(3, 4), T(1, 4)]),
    "scatter_add": (lambda x, s: ag.scatter_add(x, 0, IDX, s).sin(), lambda: [T(3, 4), T(2, 4)]),
    "scatter_reduce": (lambda x, s: ag.scatter_reduce(x, 0, IDX, s, "prod") + ag.scatter_reduce(
        x, 0, IDX, s, "mean", include_self=False), lambda: [T(3, 4), T(2, 4)]),
    "index_select_add": (lambda x, s: ag.index_add(x, 1, [0, 2, 2], s, alpha=0.5) * ag.index_select(x, 1, [3, 0, 0, 1]),
                         lambda: [T(2, 4), T(2, 3)]),
}

_I = np.array([2, 0, 0])


def _th(i):
    return torch.as_tensor(i)


EDGES = {
    "scatter": Edges(lambda L, a: L.scatter(a * 1, 0, _I[:1], a[:1] * 2), skip=NO_SCALAR | NEEDS_AXIS,
                     inputs={"empty": [np.zeros(3)]}),
    "scatter_add": Edges(lambda L, a: L.scatter_add(a, 0, _I, a[:3]), skip=NO_SCALAR | NEEDS_AXIS | NO_BOOL,
                         inputs={"empty": [np.zeros(3)]}),
    "scatter_reduce": Edges(lambda L, a: L.scatter_reduce(a, 0, _I, a[:3], "amax")
                            + L.scatter_reduce(a, 0, _I, a[:3], "prod"),
                            skip=NO_SCALAR | NEEDS_AXIS | {"bool": "PyTorch refuses bool + bool"},
                            inputs={"empty": [np.zeros(3)]}),
    "index_select": Edges(lambda L, a: L.index_select(a, 0, _I), skip=NO_SCALAR | NEEDS_AXIS,
                          inputs={"empty": [np.zeros((3, 0))]}),
    "index_add": Edges(lambda L, a: L.index_add(a, 0, _I, a * 2), skip=NO_SCALAR | NEEDS_AXIS | NO_BOOL,
                       inputs={"empty": [np.zeros((3, 0))]}),
    "one_hot": Edges(lambda L, a: L.one_hot(a, 4), skip=NO_SCALAR, inputs={
        kind: [v] for kind, v in {"zero": np.zeros(3, dtype=np.int64), "tie": np.array([1, 1, 3]),
                                  "inf": np.array([3, 0]), "nan": np.array([[0, 1], [2, 3]]),
                                  "empty": np.zeros((0, 2), dtype=np.int64), "0d": np.array(2),
                                  "int": np.array([0, 2, 3]), "bool": np.array([1, 0])}.items()}),
}
TORCH = {
    "scatter": lambda a, d, i, s: torch.scatter(a, d, _th(i), s),
    "scatter_add": lambda a, d, i, s: torch.scatter_add(a, d, _th(i), s),
    "scatter_reduce": lambda a, d, i, s, r: torch.scatter_reduce(a, d, _th(i), s, r),
    "index_select": lambda a, d, i: torch.index_select(a, d, _th(i)),
    "index_add": lambda a, d, i, s: torch.index_add(a, d, _th(i), s),
    "one_hot": lambda a, n: torch.nn.functional.one_hot(a, n),
}
