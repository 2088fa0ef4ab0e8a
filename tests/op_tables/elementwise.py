"""The op table's tests for autograd_mini/ops/elementwise.py (and the activations of activations.py)."""

from __future__ import annotations

import numpy as np

import autograd_mini as ag
from tests.op_tables import ELEMENTWISE, NO_SCALAR, Edges, T, torch

# the inputs inside each function's domain, away from its kinks (gradcheck's finite differences)
GRADCHECK = {
    "Log2": (ag.log2, lambda: [T(2, 3, lo=0.2)]),
    "Log10": (ag.log10, lambda: [T(2, 3, lo=0.2)]),
    "Log1p": (ag.log1p, lambda: [T(2, 3, lo=-0.8)]),
    "Expm1": (lambda x: x.expm1(), lambda: [T(2, 3)]),
    "Tan": (ag.tan, lambda: [T(5, lo=-1.2, hi=1.2)]),
    "Asin": (ag.asin, lambda: [T(5, lo=-0.9, hi=0.9)]),
    "Acos": (ag.acos, lambda: [T(5, lo=-0.9, hi=0.9)]),
    "Atan": (ag.atan, lambda: [T(5)]),
    "Sinh": (ag.sinh, lambda: [T(5)]),
    "Cosh": (ag.cosh, lambda: [T(5)]),
    "Asinh": (ag.asinh, lambda: [T(5, lo=-3, hi=3)]),
    "Acosh": (ag.acosh, lambda: [T(5, lo=1.2, hi=3)]),
    "Atanh": (ag.atanh, lambda: [T(5, lo=-0.9, hi=0.9)]),
    "Atan2": (ag.atan2, lambda: [T(2, 3), T(3, lo=0.3)]),
    "Floor": (lambda x: ag.floor(x) * x, lambda: [T(5)]),   # * x: a nonzero total derivative to check
    "Ceil": (lambda x: x.ceil() * x, lambda: [T(5)]),
    "Trunc": (lambda x: x.trunc() * x, lambda: [T(5)]),
    "Round": (lambda x: ag.round(x, 1) * x, lambda: [T(5)]),
    "Frac": (ag.frac, lambda: [T(5, lo=0.1, hi=0.9)]),
    "Sign": (lambda x: ag.sign(x) * x, lambda: [T(5)]),
    "Remainder": (lambda a, b: a % b, lambda: [T(2, 3, lo=0.1, hi=0.9), T(3, lo=1.1, hi=1.9)]),
    "Fmod": (ag.fmod, lambda: [T(2, 3, lo=2.1, hi=2.9), T(3, lo=1.1, hi=1.9)]),
    "RoundedDiv": (lambda a, b: (a // b) * a + ag.div(a, b, rounding_mode="trunc") * b,
                   lambda: [T(2, 3, lo=0.1, hi=0.9), T(3, lo=1.1, hi=1.9)]),
    "Copysign": (lambda a, b: ag.copysign(a, b), lambda: [T(2, 3, lo=0.2), T(3, lo=-2, hi=-0.2)]),
    "Lerp": (ag.lerp, lambda: [T(2, 3), T(3), T(2, 1)]),
    "LogAddExp": (ag.logaddexp, lambda: [T(2, 3), T(3)]),
    "Hypot": (ag.hypot, lambda: [T(2, 3, lo=0.2), T(3)]),
    "Reciprocal": (ag.reciprocal, lambda: [T(5, lo=0.3)]),
    "Rsqrt": (ag.rsqrt, lambda: [T(5, lo=0.3)]),
    "Square": (ag.square, lambda: [T(5)]),
    # activations.py
    "Silu": (ag.silu, lambda: [T(6, lo=-4, hi=4)]),
    "Softplus": (lambda x: ag.softplus(x) + ag.softplus(x, 2.0, 3.0), lambda: [T(6, lo=-3, hi=3)]),
    "Elu": (lambda x: ag.elu(x, 0.7) + ag.selu(x) + ag.celu(x, 1.5), lambda: [T(6)]),
    "Mish": (ag.mish, lambda: [T(6, lo=-4, hi=4)]),
    "LogSigmoid": (ag.logsigmoid, lambda: [T(6, lo=-6, hi=6)]),
}


def _unary(name: str, **kw) -> Edges:
    return Edges(lambda L, a: getattr(L, name)(a), **(ELEMENTWISE | kw))


def _binary(name: str, **kw) -> Edges:
    return Edges(lambda L, a, b: getattr(L, name)(a, b), 2, **kw)


EDGES = {
    **{name: _unary(name) for name in ("log2", "log10", "log1p", "expm1", "tan", "asin", "acos", "atan", "sinh",
                                       "cosh", "asinh", "acosh", "atanh", "floor", "ceil", "trunc", "frac",
                                       "reciprocal", "rsqrt", "square")},
    "round": Edges(lambda L, a: L.round(a), skip={},
                   scalar=lambda L, a: L.round(a * 10, decimals=np.int64(1))),
    "sign": Edges(lambda L, a: L.sign(a), skip=NO_SCALAR | {"nan": "numpy's sign(nan) is nan, PyTorch's 0 "
                                                                   "(docs/ops.md)"}),
    **{name: _binary(name) for name in ("remainder", "fmod", "copysign")},
    **{name: _binary(name, skip={"np_scalar": f"PyTorch's {name} refuses a scalar; ours takes one, as numpy's"})
       for name in ("atan2", "logaddexp", "hypot")},
    "floor_divide": _binary("floor_divide"),
    # "div" itself (true division) is in tests/test_boundaries.py
    "div_rounding_mode": Edges(lambda L, a, b: L.div(a, b, rounding_mode="trunc")
                               + L.div(b, a + 0.5, rounding_mode="floor") + a / (b + 3.0), 2),
    "lerp": Edges(lambda L, a, b: L.lerp(a, b, 0.25) + L.lerp(a, b, 0.75), 2,
                  skip={"int": "PyTorch's lerp refuses integer tensors; ours is numpy's arithmetic",
                        "bool": "PyTorch's lerp refuses bool tensors",
                        "np_scalar": "PyTorch's lerp takes two tensors of one dtype"}),
}
EDGES["lerp_weight"] = Edges(lambda L, a, b: L.lerp(a, a * 0.5 + 1.0, b), 2,
                             skip={"int": "PyTorch's lerp refuses integer tensors", "bool": "PyTorch's lerp "
                                   "refuses bool tensors", "np_scalar": "the weight is a tensor here"})

for _name in ("silu", "mish", "logsigmoid", "selu"):
    EDGES[_name] = _unary(_name)
EDGES["elu"] = Edges(lambda L, a: L.elu(a, 0.7), **ELEMENTWISE)
EDGES["celu"] = Edges(lambda L, a: L.celu(a, 1.5), **ELEMENTWISE)
EDGES["softplus"] = Edges(lambda L, a: L.softplus(a) + L.softplus(a, 2.0, 0.5) * 3.0, **ELEMENTWISE)

TORCH = {
    **{name: getattr(torch.nn.functional, name) for name in ("silu", "softplus", "elu", "selu", "celu", "mish",
                                                              "logsigmoid") if torch is not None},
    "floor_divide": lambda a, b: torch.div(a, b, rounding_mode="floor"),  # PyTorch's floor_divide has no backward
}
