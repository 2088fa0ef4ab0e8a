"""The op tests' tables, one module per op file, merged here: ``tests/op_tables/<file>.py`` declares

- ``GRADCHECK``: Function class name -> ``(fn, make_inputs)``: ``ag.gradcheck(fn, make_inputs())``
  (tests/test_gradcheck.py; every Function of ``autograd_mini/ops`` must have one);
- ``EDGES``: public op name -> ``Edges``: the op at its boundary points against PyTorch
  (tests/test_boundaries.py; every name ``ag`` exports must have one);
- ``TORCH`` (optional): ag name -> the PyTorch function under numpy's conventions, for the
  boundary formulas, where ``torch.<name>`` is not it.

One module per op file keeps engineers adding ops in parallel out of each other's way; a name
declared twice fails at import.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import autograd_mini as ag

try:
    import torch
except ImportError:  # PyTorch is optional: TORCH entries are only called when it is installed
    torch = None

__all__ = ["Edges", "T", "torch", "GRADCHECK", "EDGES", "TORCH", "NO_SCALAR", "NAN_KINK", "NUMPY_SCALAR", "ELEMENTWISE",
           "INT_IMAGES"]


@dataclass
class Edges:
    fn: Callable[..., Any]                       # fn(L, *operands): L is ag (AG) or torch (TH) under ag's names
    arity: int = 1
    skip: dict[str, str] = field(default_factory=dict)   # kind -> why it does not apply
    inputs: dict[str, list] = field(default_factory=dict)  # kind -> operands replacing the default ones
    scalar: Callable[..., Any] | None = None     # unary ops: the op with a numpy scalar parameter


NO_SCALAR = {"np_scalar": "no scalar operand or parameter"}
NAN_KINK = {"nan": "a kink at nan: our documented choice differs from PyTorch's (docs/reliability.md)"}
NUMPY_SCALAR = {"np_scalar": "PyTorch's maximum/minimum refuse a scalar; ours take one, as numpy's (test_edges.py)"}
ELEMENTWISE = dict(skip=NO_SCALAR)
INT_IMAGES = {"int": "integer images are refused with a clear error (PyTorch computes in integers): test_conv.py"}

_RNG = np.random.default_rng(0)


def T(*shape: int, lo: float = -2.0, hi: float = 2.0, grad: bool = True) -> ag.Tensor:
    """A float64 tensor of ``shape`` uniform in [lo, hi), requiring grad: a gradcheck input."""
    return ag.tensor(_RNG.uniform(lo, hi, shape), dtype=np.float64, requires_grad=grad)


GRADCHECK: dict[str, tuple] = {}
EDGES: dict[str, Edges] = {}
TORCH: dict[str, Callable[..., Any]] = {}

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    for _name, _merged in (("GRADCHECK", GRADCHECK), ("EDGES", EDGES), ("TORCH", TORCH)):
        _table = getattr(_module, _name, {})
        _twice = set(_table) & set(_merged)
        if _twice:
            raise ValueError(f"tests/op_tables/{_info.name}.py: {_name} declares {sorted(_twice)} again")
        _merged.update(_table)
