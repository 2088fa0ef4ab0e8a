"""Functional differentiation, HIPS-autograd / JAX style: ``grad`` and ``value_and_grad``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from .engine import grad_of
from .grad_mode import enable_grad, is_grad_enabled
from .tensor import Tensor, as_array

__all__ = ["grad", "value_and_grad"]


def value_and_grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., tuple]:
    """Return a function computing ``(f(*args), df/d args[argnums])``.

    ``f`` must return a single-element Tensor. Inputs' ``.grad`` are left untouched, and the
    gradients are themselves differentiable, so ``grad(grad(f))`` gives second derivatives.
    A function transform, as ``torch.func.grad``: it records its own trace even when called
    under ``no_grad`` (then the results are plain values, connected to no outer graph).
    """
    if not callable(f):
        raise TypeError(f"grad: f must be a function returning a single-element Tensor, got {type(f).__name__}")
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums) if isinstance(argnums, (list, tuple)) else None
    if nums is None or not all(isinstance(n, int) and not isinstance(n, bool) for n in nums):
        raise TypeError(f"grad: argnums must be an int or a tuple of ints, got {argnums!r}")

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> tuple:
        if is_grad_enabled():
            return _value_and_grad(args, kwargs)
        with enable_grad():
            out, grads = _value_and_grad(args, kwargs)
        return out.detach(), grads.detach() if single else tuple(g.detach() for g in grads)

    def _value_and_grad(args: tuple, kwargs: dict) -> tuple:
        for n in nums:
            if not -len(args) <= n < len(args):
                raise ValueError(f"grad: argnums {n} is out of range for {len(args)} positional argument(s)")
        args = list(args)
        targets = []
        for n in nums:
            a = args[n]
            if not (isinstance(a, Tensor) and a.requires_grad):
                a = Tensor(as_array(a), requires_grad=True)  # a fresh leaf, so the caller's tensor is untouched
                args[n] = a
            targets.append(a)
        out = f(*args, **kwargs)
        if not isinstance(out, Tensor) or out.size != 1:
            raise TypeError(f"grad: f must return a single-element Tensor, got "
                            f"{type(out).__name__}{' of shape ' + str(out.shape) if isinstance(out, Tensor) else ''}")
        if not out.requires_grad:
            grads = tuple(Tensor._wrap(as_array(0.0, t.dtype).repeat(t.size).reshape(t.shape)) for t in targets)
        else:
            grads = tuple(
                g if g is not None else Tensor._wrap(as_array(0.0, t.dtype).repeat(t.size).reshape(t.shape))
                for g, t in zip(grad_of(out.reshape(()), targets, create_graph=True, allow_unused=True), targets))
        return out, grads[0] if single else grads

    return wrapped


def grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """Return a function computing the gradient of scalar ``f`` with respect to ``args[argnums]``.

    >>> import autograd_mini as ag
    >>> ag.grad(lambda x: (x ** 3).sum())(ag.tensor(2.0))
    tensor(12.)
    """
    vg = value_and_grad(f, argnums)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    return wrapped
