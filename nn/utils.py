"""Gradient clipping: ``clip_grad_norm_`` (returns the total norm) and ``clip_grad_value_``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

import autograd_mini as ag

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters: ag.Tensor | Iterable[ag.Tensor]) -> list[ag.Tensor]:
    if isinstance(parameters, ag.Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


@ag.effect  # ag.compile replays it; the norm it returns is the replay's
def clip_grad_norm_(parameters: ag.Tensor | Iterable[ag.Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so their joint norm is at most ``max_norm``; return the norm before.

    As PyTorch: the scale is ``max_norm / (total + 1e-6)``, applied only when below 1.
    ``norm_type`` may be ``math.inf``.
    """
    ps = _with_grads(parameters)
    if not ps:
        return 0.0
    grads = [p.grad.data for p in ps]
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    elif norm_type == 2.0:
        total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    else:
        total = sum(float(np.sum(np.abs(g.astype(np.float64)) ** norm_type)) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}")
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p, g in zip(ps, grads):
            p.grad.data = g * np.asarray(coef, dtype=g.dtype)
    return total


@ag.effect
def clip_grad_value_(parameters: ag.Tensor | Iterable[ag.Tensor], clip_value: float) -> None:
    """Clip every gradient element to ``[-clip_value, clip_value]``."""
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    for p in _with_grads(parameters):
        p.grad.data = np.clip(p.grad.data, -clip_value, clip_value)
