"""Every op that takes an axis, along every kind of axis: the first, a middle one, the last, negative ones,
tuples (with negative members) and None, on a (2, 3, 4) input. Values and gradients against PyTorch (float64;
its recorded answers without it: tests/_oracle.py), gradients against float64 central differences always.

``AXES`` names each op's formula once per library; an op of ``ag.ops`` with an axis parameter missing from it
fails ``test_every_op_taking_an_axis_is_swept``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import ops
from tests._oracle import case_rng, oracle

try:
    import torch
except ImportError:  # the recorded answers stand in
    torch = None

SHAPE = (2, 3, 4)
INTS = (0, 1, 2, -1, -2, -3)               # first, middle, last, and the same from the end
TUPLES = ((0, 2), (-1, 0), (1,), (-3, -2))  # several axes, negative members, a 1-tuple
REDUCE = INTS + TUPLES + (None,)
AXIS_PARAMETERS = {"axis", "axes", "dim", "start_axis"}


@dataclass
class Sweep:
    ours: Callable[[Any, Any], Any]     # (x, axis) -> Tensor
    theirs: Callable[[Any, Any], Any]   # the same in PyTorch
    axes: tuple = INTS
    shape: tuple = SHAPE


def _dims(x: Any, axis: Any) -> tuple:
    """PyTorch's dims for a numpy axis: None is every axis, an int a 1-tuple."""
    return tuple(range(x.dim())) if axis is None else (axis,) if isinstance(axis, int) else axis


def _torch_prod(x: Any, axis: Any) -> Any:
    for d in sorted((d % x.dim() for d in _dims(x, axis)), reverse=True):  # torch.prod takes one dim
        x = x.prod(d)
    return x


def _torch_var(x: Any, axis: Any, correction: int = 0) -> Any:
    return torch.var(x, _dims(x, axis), correction=correction)


def _index(axis: int) -> np.ndarray:
    """An index array along ``axis`` of SHAPE with repeats (so gradients accumulate)."""
    shape = list(SHAPE)
    shape[axis] = 2
    return np.arange(int(np.prod(shape))).reshape(shape) % SHAPE[axis]


AXES: dict[str, Sweep] = {
    "sum": Sweep(lambda x, a: ag.sum(x, a), lambda x, a: torch.sum(x, _dims(x, a)), REDUCE),
    "mean": Sweep(lambda x, a: ag.mean(x, a), lambda x, a: torch.mean(x, _dims(x, a)), REDUCE),
    "max": Sweep(lambda x, a: ag.max(x, a), lambda x, a: torch.amax(x, _dims(x, a)), REDUCE),
    "min": Sweep(lambda x, a: ag.min(x, a), lambda x, a: torch.amin(x, _dims(x, a)), REDUCE),
    "var": Sweep(lambda x, a: ag.var(x, a, ddof=1), lambda x, a: _torch_var(x, a, 1), REDUCE),
    "std": Sweep(lambda x, a: ag.std(x, a), lambda x, a: torch.sqrt(_torch_var(x, a)), REDUCE),
    "logsumexp": Sweep(lambda x, a: ag.logsumexp(x, a), lambda x, a: torch.logsumexp(x, _dims(x, a)), REDUCE),
    "prod": Sweep(lambda x, a: ag.prod(x, a), _torch_prod, REDUCE),
    "softmax": Sweep(lambda x, a: ag.softmax(x, a),
                     lambda x, a: torch.exp(x - torch.logsumexp(x, _dims(x, a), keepdim=True)), INTS + TUPLES),
    "log_softmax": Sweep(lambda x, a: ag.log_softmax(x, a),
                         lambda x, a: x - torch.logsumexp(x, _dims(x, a), keepdim=True), INTS + TUPLES),
    "cumsum": Sweep(lambda x, a: ag.cumsum(x, a),
                    lambda x, a: torch.cumsum(x.reshape(-1), 0) if a is None else torch.cumsum(x, a), INTS + (None,)),
    "argmax": Sweep(lambda x, a: ag.argmax(x, a), lambda x, a: torch.argmax(x, a), INTS + (None,)),
    "argmin": Sweep(lambda x, a: ag.argmin(x, a), lambda x, a: torch.argmin(x, a), INTS + (None,)),
    "topk": Sweep(lambda x, a: ag.topk(x, 2, a)[0], lambda x, a: torch.topk(x, 2, a)[0]),
    "transpose": Sweep(lambda x, a: ag.transpose(x, *a), lambda x, a: x.permute(a),
                       ((2, 0, 1), (1, 0, 2), (-1, 0, -2), (0, 1, 2))),
    "swapaxes": Sweep(lambda x, a: ag.swapaxes(x, *a), lambda x, a: x.transpose(*a), ((0, 2), (1, -1), (-3, -2))),
    "expand_dims": Sweep(lambda x, a: ag.expand_dims(x, a), lambda x, a: x.unsqueeze(a), (0, 1, 3, -1, -2, -4)),
    "squeeze": Sweep(lambda x, a: ag.squeeze(x, a), lambda x, a: x.squeeze(a), (1, 3, -1, -3, (1, 3), (-1, 1)),
                     (2, 1, 3, 1)),
    "flatten": Sweep(lambda x, a: ag.flatten(x, a), lambda x, a: x.flatten(a), (0, 1, 2, -1, -2)),
    "all": Sweep(lambda x, a: ag.all(x > 0, a), lambda x, a: torch.all(x > 0, _dims(x, a)), REDUCE),
    "any": Sweep(lambda x, a: ag.any(x > 1, a), lambda x, a: torch.any(x > 1, _dims(x, a)), REDUCE),
    "unsqueeze": Sweep(lambda x, a: ag.unsqueeze(x, a), lambda x, a: x.unsqueeze(a), (0, 1, 3, -1, -2, -4)),
    "cat": Sweep(lambda x, a: ag.cat([x, 2 * x], a), lambda x, a: torch.cat([x, 2 * x], a)),
    "concatenate": Sweep(lambda x, a: ag.concatenate([x, 2 * x], a), lambda x, a: torch.cat([x, 2 * x], a)),
    "stack": Sweep(lambda x, a: ag.stack([x, 2 * x], a), lambda x, a: torch.stack([x, 2 * x], a), INTS + (3, -4)),
    "split": Sweep(lambda x, a: ag.split(x, [1], a)[1], lambda x, a: torch.split(x, [1, x.shape[a] - 1], a)[1]),
    "repeat": Sweep(lambda x, a: ag.repeat(x, 2, a),
                    lambda x, a: torch.repeat_interleave(x.reshape(-1) if a is None else x, 2, 0 if a is None else a),
                    INTS + (None,)),
    "repeat_interleave": Sweep(lambda x, a: ag.repeat_interleave(x, 2, a),
                               lambda x, a: torch.repeat_interleave(x, 2, a), INTS + (None,)),
    "gather": Sweep(lambda x, a: ag.gather(x, a, _index(a)), lambda x, a: torch.gather(x, a, torch.tensor(_index(a)))),
    "take_along_axis": Sweep(lambda x, a: ag.take_along_axis(x, _index(a), a),
                             lambda x, a: torch.take_along_dim(x, torch.tensor(_index(a)), a)),
}


def test_every_op_taking_an_axis_is_swept() -> None:
    taking = {n for n in ops.__all__ if callable(f := getattr(ops, n)) and not isinstance(f, type)
              and AXIS_PARAMETERS & set(inspect.signature(f).parameters)}
    assert taking - set(AXES) == set(), f"add the ops to tests/test_axes.py::AXES: {sorted(taking - set(AXES))}"


def _cases() -> list:
    return [pytest.param(name, axis, id=f"{name}-{axis}".replace(" ", "")) for name, s in AXES.items()
            for axis in s.axes]


def _in_pytorch(s: Sweep, x: np.ndarray, w: np.ndarray | None, axis: Any) -> tuple:
    t = torch.tensor(x, requires_grad=True)
    out = s.theirs(t, axis)
    if w is None or not out.dtype.is_floating_point:
        return out, None
    (out * torch.tensor(w)).sum().backward()
    return out, t.grad


@pytest.mark.parametrize("name,axis", _cases())
def test_axis_against_pytorch_and_finite_differences(name: str, axis: Any) -> None:
    s = AXES[name]
    rng = case_rng()
    x = rng.standard_normal(s.shape)
    t = ag.tensor(x, requires_grad=True)
    out = s.ours(t, axis)
    w = rng.standard_normal(out.shape) if out.dtype.kind == "f" else None
    want, want_grad = oracle(lambda: _in_pytorch(s, x, w, axis))
    assert out.shape == want.shape
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-14)
    if w is None:  # argmax/argmin: integers; all/any: bools
        assert out.dtype.kind == want.dtype.kind and out.dtype.kind in "ib"
        return
    (out * w).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), want_grad, rtol=1e-10, atol=1e-12)
    assert ag.gradcheck(lambda a: s.ours(a, axis), [ag.tensor(x, requires_grad=True)])
