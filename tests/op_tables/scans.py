"""Boundary and gradcheck cases for ops/scans.py (cumprod cummax cummin logcumsumexp amax amin aminmax var_mean
std_mean norm count_nonzero) and its CumProd and LinearScan."""

import numpy as np

import autograd_mini as ag
from autograd_mini.ops.scans import LinearScan
from tests.op_tables import ELEMENTWISE, NO_SCALAR, Edges, T, torch


def _ax(a):
    return 0 if a.ndim else None


def _dim(a):
    return 0 if a.ndim else -1


GRADCHECK = {
    "CumProd": (lambda x: ag.cumprod(x, 1), lambda: [T(2, 4, lo=0.5)]),
    "cumprod_zeros": (lambda x: ag.cumprod(x * ag.tensor([1.0, 0.0, 1.0, 0.0]), 1), lambda: [T(2, 4)]),
    "LinearScan": (lambda a, b: LinearScan.apply(a, b, axis=1, reverse=False) + LinearScan.apply(a, b, axis=1,
                                                                                                reverse=True),
                   lambda: [T(2, 5), T(2, 5)]),
    "cummax_cummin": (lambda x: ag.cummax(x, 1).values * ag.cummin(x, 0).values, lambda: [T(3, 4)]),
    "LogCumSumExp": (lambda x: ag.logcumsumexp(x, 1), lambda: [T(2, 4)]),
    "var_std_mean": (lambda x: ag.var_mean(x, 1)[0] * ag.std_mean(x, 0, correction=0)[0].sum(), lambda: [T(3, 4)]),
    "norm": (lambda x: ag.norm(x, 2, 1) + ag.norm(x, 3, 1) + ag.norm(x, 1, 1) + ag.norm(x, float("inf"), 1),
             lambda: [T(3, 4)]),
}

NO_INT_GRAD = {"int": "PyTorch refuses an integer logcumsumexp; ours is on the same numbers as floats"}
EDGES = {
    "cumprod": Edges(lambda L, a: L.cumprod(a, _dim(a)), **ELEMENTWISE,
                     inputs={"tie": [np.array([0.0, 2.0, 0.0, 3.0])]}),
    "cummax": Edges(lambda L, a: L.cummax(a, _dim(a))[0], scalar=lambda L, a: L.cummax(a, np.int64(0))[0]),
    "cummin": Edges(lambda L, a: L.cummin(a, _dim(a))[0], scalar=lambda L, a: L.cummin(a, np.int64(0))[0]),
    "logcumsumexp": Edges(lambda L, a: L.logcumsumexp(a, _dim(a)), skip=NO_SCALAR | {
        "bool": "PyTorch refuses a bool logcumsumexp"}),
    "amax": Edges(lambda L, a: L.amax(a, _ax(a)), inputs={"tie": [np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 2.0]])]},
                  scalar=lambda L, a: L.amax(a, np.int64(0))),
    "amin": Edges(lambda L, a: L.amin(a, _ax(a)), inputs={"tie": [np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 2.0]])]},
                  scalar=lambda L, a: L.amin(a, np.int64(0))),
    "aminmax": Edges(lambda L, a: L.aminmax(a, dim=_dim(a))[1] - L.aminmax(a)[0] * 2, skip=NO_SCALAR | {
        "bool": "PyTorch refuses bool - bool"}),
    "var_mean": Edges(lambda L, a: L.var_mean(a, _ax(a))[0] + L.var_mean(a, _ax(a))[1], skip=NO_SCALAR | {
        "int": "PyTorch refuses an integer var; ours is numpy's (as ag.var)", "bool": "as int"}),
    "std_mean": Edges(lambda L, a: L.std_mean(a, _ax(a), correction=0)[0] * L.std_mean(a)[1], skip=NO_SCALAR | {
        "int": "PyTorch refuses an integer std; ours is numpy's (as ag.std)", "bool": "as int"},
        inputs={"tie": [np.array([[1.0, 2.0], [1.0, 3.0]])]}),
    "norm": Edges(lambda L, a: L.norm(a, 2, _ax(a)) + L.norm(a, 1) + L.norm(a, float("inf"), _ax(a)) * 2,
                  skip=NO_SCALAR | {"int": "PyTorch and ours refuse an integer norm", "bool": "as int",
                                    "empty": "the inf norm of nothing: both raise (test_index_scans.py)"}),
    "count_nonzero": Edges(lambda L, a: L.count_nonzero(a, _ax(a)), scalar=lambda L, a: L.count_nonzero(
        a, np.int64(0))),
}
TORCH = {
    "cumprod": lambda a, dim: torch.cumprod(a, dim),
    "amax": lambda a, axis=None: torch.amax(a, () if axis is None else axis),
    "amin": lambda a, axis=None: torch.amin(a, () if axis is None else axis),
    "var_mean": lambda a, axis=None: torch.var_mean(a, axis),
    "std_mean": lambda a, axis=None, correction=1: torch.std_mean(a, axis, correction=correction),
    "count_nonzero": lambda a, axis=None: torch.count_nonzero(a, axis),
}
