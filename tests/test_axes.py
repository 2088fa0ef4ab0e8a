"""Every op that takes an axis, along every kind of axis: the first, a middle one, the last, negative ones,
tuples (with negative members) and None, on a (2, 3, 4) input. Values and gradients against PyTorch (float64;
its recorded answers without it: tests/_oracle.py), gradients against float64 central differences always.
Ops with several outputs (values and indices, pieces) are compared output by output, the gradient of a weighted
sum of their float outputs; ops taking indices get small fixed ones with repeats (distinct for ``scatter``).

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


def _distinct(axis: int) -> np.ndarray:
    """An index array along ``axis`` of SHAPE naming distinct positions in each line (scatter's writes)."""
    return (_index(axis) + np.arange(2).reshape([2 if d == axis % 3 else 1 for d in range(3)])) % SHAPE[axis]


def _vector(axis: int) -> np.ndarray:
    """An index vector along ``axis`` of SHAPE as long as that axis, with a repeat (so gradients accumulate)."""
    return np.array([1, 1, 0, 1])[:SHAPE[axis]]


def _slices(x: Any, axis: int) -> Any:
    """The first two slices of ``x`` along ``axis``: a ``src`` of the shape of ``_index(axis)``."""
    return x.narrow(axis, 0, 2)


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
    "amax": Sweep(lambda x, a: ag.amax(x, a), lambda x, a: torch.amax(x, _dims(x, a)), REDUCE),
    "amin": Sweep(lambda x, a: ag.amin(x, a), lambda x, a: torch.amin(x, _dims(x, a)), REDUCE),
    "aminmax": Sweep(lambda x, a: ag.aminmax(x, axis=a), lambda x, a: torch.aminmax(x, dim=a), INTS + (None,)),
    "argsort": Sweep(lambda x, a: ag.argsort(x, a), lambda x, a: torch.argsort(x, dim=a, stable=True)),
    "chunk": Sweep(lambda x, a: ag.chunk(x, 2, a), lambda x, a: torch.chunk(x, 2, a)),
    "count_nonzero": Sweep(lambda x, a: ag.count_nonzero(ag.relu(x), a),
                           lambda x, a: torch.count_nonzero(torch.relu(x), _dims(x, a)), REDUCE),
    "cummax": Sweep(lambda x, a: ag.cummax(x, a), lambda x, a: torch.cummax(x, a)),
    "cummin": Sweep(lambda x, a: ag.cummin(x, a), lambda x, a: torch.cummin(x, a)),
    "cumprod": Sweep(lambda x, a: ag.cumprod(x, a),
                     lambda x, a: torch.cumprod(x.reshape(-1), 0) if a is None else torch.cumprod(x, a),
                     INTS + (None,)),
    "flip": Sweep(lambda x, a: ag.flip(x, axis=a), lambda x, a: torch.flip(x, _dims(x, a)), REDUCE),
    "index_add": Sweep(lambda x, a: ag.index_add(x, a, _vector(a), x * x),
                       lambda x, a: torch.index_add(x, a, torch.tensor(_vector(a)), x * x)),
    "index_select": Sweep(lambda x, a: ag.index_select(x, a, _vector(a)),
                          lambda x, a: torch.index_select(x, a, torch.tensor(_vector(a)))),
    "logcumsumexp": Sweep(lambda x, a: ag.logcumsumexp(x, a), lambda x, a: torch.logcumsumexp(x, a)),
    "median": Sweep(lambda x, a: ag.median(x, a),
                    lambda x, a: torch.median(x) if a is None else torch.median(x, a), INTS + (None,)),
    "narrow": Sweep(lambda x, a: ag.narrow(x, a, 1, 1), lambda x, a: torch.narrow(x, a, 1, 1)),
    "norm": Sweep(lambda x, a: ag.norm(x, 3, a), lambda x, a: torch.linalg.vector_norm(x, 3, _dims(x, a)), REDUCE),
    "scatter": Sweep(lambda x, a: ag.scatter(x, a, _distinct(a), _slices(x, a) * 3),
                     lambda x, a: torch.scatter(x, a, torch.tensor(_distinct(a)), _slices(x, a) * 3)),
    "scatter_add": Sweep(lambda x, a: ag.scatter_add(x, a, _index(a), _slices(x, a) * 3),
                         lambda x, a: torch.scatter_add(x, a, torch.tensor(_index(a)), _slices(x, a) * 3)),
    "scatter_reduce": Sweep(lambda x, a: ag.scatter_reduce(x, a, _index(a), _slices(x, a) * 3, "prod"),
                            lambda x, a: torch.scatter_reduce(x, a, torch.tensor(_index(a)), _slices(x, a) * 3,
                                                              "prod")),
    "sort": Sweep(lambda x, a: ag.sort(x, a), lambda x, a: torch.sort(x, dim=a, stable=True)),
    "std_mean": Sweep(lambda x, a: ag.std_mean(x, a), lambda x, a: torch.std_mean(x, _dims(x, a)), REDUCE),
    "unbind": Sweep(lambda x, a: ag.unbind(x, a), lambda x, a: torch.unbind(x, a)),
    "var_mean": Sweep(lambda x, a: ag.var_mean(x, a), lambda x, a: torch.var_mean(x, _dims(x, a)), REDUCE),
}


def test_every_op_taking_an_axis_is_swept() -> None:
    taking = {n for n in ops.__all__ if callable(f := getattr(ops, n)) and not isinstance(f, type)
              and AXIS_PARAMETERS & set(inspect.signature(f).parameters)}
    assert taking - set(AXES) == set(), f"add the ops to tests/test_axes.py::AXES: {sorted(taking - set(AXES))}"


def _cases() -> list:
    return [pytest.param(name, axis, id=f"{name}-{axis}".replace(" ", "")) for name, s in AXES.items()
            for axis in s.axes]


def _outputs(out: Any) -> tuple:
    """An op's outputs as a tuple: one, or each of several (values and indices, pieces)."""
    return tuple(out) if isinstance(out, tuple) else (out,)


def _in_pytorch(s: Sweep, x: np.ndarray, w: Any, axis: Any) -> tuple:
    """PyTorch's outputs (a tuple when several) and the gradient of sum(output * weight) over its float outputs."""
    t = torch.tensor(x, requires_grad=True)
    out = s.theirs(t, axis)
    outs, ws = (tuple(out), w) if isinstance(out, tuple) else ((out,), (w,))
    weighted = [(o * torch.tensor(wo)).sum() for o, wo in zip(outs, ws) if wo is not None and o.dtype.is_floating_point]
    if not weighted:
        return out if len(outs) == 1 else outs, None
    sum(weighted).backward()
    return out if len(outs) == 1 else outs, t.grad


@pytest.mark.parametrize("name,axis", _cases())
def test_axis_against_pytorch_and_finite_differences(name: str, axis: Any) -> None:
    s = AXES[name]
    rng = case_rng()
    x = rng.standard_normal(s.shape)
    t = ag.tensor(x, requires_grad=True)
    out = s.ours(t, axis)
    outs = _outputs(out)
    ws = tuple(rng.standard_normal(o.shape) if o.dtype.kind == "f" else None for o in outs)
    want, want_grad = oracle(lambda: _in_pytorch(s, x, ws if isinstance(out, tuple) else ws[0], axis))
    wants = _outputs(want)
    assert len(outs) == len(wants)
    for o, wo in zip(outs, wants):
        assert o.shape == wo.shape
        np.testing.assert_allclose(o.numpy(), wo, rtol=1e-12, atol=1e-14)
        assert o.dtype.kind == wo.dtype.kind and o.dtype.kind in "fib"  # indices are integers, all/any bools
    floats = [k for k, w in enumerate(ws) if w is not None]
    if not floats:
        return
    sum((outs[k] * ws[k]).sum() for k in floats).backward()
    np.testing.assert_allclose(t.grad.numpy(), want_grad, rtol=1e-10, atol=1e-12)
    assert ag.gradcheck(lambda a: tuple(_outputs(s.ours(a, axis))[k] for k in floats),
                        [ag.tensor(x, requires_grad=True)])
