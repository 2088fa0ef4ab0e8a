"""Hypothesis strategies for property-testing ops, and ``assert_gradients``.

Imported on demand (``from autograd_mini import testing``): it needs ``hypothesis``, which the
core package does not. A custom op is property-tested in a few lines::

    from hypothesis import strategies as st
    from autograd_mini.testing import assert_gradients, tensors

    assert_gradients(MySoftplus.apply, tensors(elements=st.floats(-5, 5)))
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .gradcheck import gradcheck, gradgradcheck
from .tensor import Tensor

__all__ = ["tensors", "shapes", "broadcastable_shapes", "axes", "assert_gradients"]


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy[tuple]:
    """Array shapes with ``min_dims..max_dims`` axes of ``min_side..max_side`` elements each."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(shape: tuple | int = 2, min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
                         max_side: int = 4) -> st.SearchStrategy:
    """Shapes that broadcast.

    ``broadcastable_shapes(n)`` (an int): tuples of ``n`` shapes that broadcast together.
    ``broadcastable_shapes(shape)`` (a tuple): single shapes that broadcast *to* ``shape`` (fewer
    leading axes, some sides 1), as for the second operand of an op that keeps ``shape``.
    """
    if isinstance(shape, int):
        return hnp.mutually_broadcastable_shapes(num_shapes=shape, min_dims=min_dims, max_dims=max_dims,
                                                 min_side=min_side, max_side=max_side).map(lambda b: b.input_shapes)
    shape = tuple(shape)

    @st.composite
    def to_shape(draw: Any) -> tuple:
        keep = draw(st.integers(0, len(shape)))
        return tuple(n if draw(st.booleans()) else 1 for n in shape[len(shape) - keep:])

    return to_shape()


def axes(ndim: int, allow_none: bool = True, allow_int: bool = True, allow_tuple: bool = True,
         negative: bool = True) -> st.SearchStrategy:
    """Valid ``axis`` arguments for a reduction over an ``ndim``-d tensor: None, an int in
    ``[-ndim, ndim)``, or a tuple of distinct axes (possibly negative, possibly empty)."""
    options = []
    if allow_none:
        options.append(st.none())
    if ndim > 0 and allow_int:
        lo = -ndim if negative else 0
        options.append(st.integers(lo, ndim - 1))
    if allow_tuple:
        sub = st.lists(st.integers(0, max(ndim - 1, 0)), unique=True, max_size=ndim) if ndim else st.just([])

        @st.composite
        def as_tuple(draw: Any) -> tuple:
            return tuple(a - ndim if negative and draw(st.booleans()) else a for a in draw(sub))

        options.append(as_tuple())
    if not options:
        raise ValueError(f"axes: no kind of axis is allowed for ndim={ndim}")
    return st.one_of(options)


def tensors(shape: tuple | st.SearchStrategy | None = None, dtype: Any = np.float64,
            elements: st.SearchStrategy | tuple | None = None, requires_grad: bool = False) -> st.SearchStrategy:
    """``ag.Tensor``s of ``shape`` (a tuple, a strategy of shapes; default ``shapes()``) and ``dtype``.

    ``elements`` is a strategy for the values or a ``(low, high)`` pair; the default is finite
    floats in [-3, 3] (integers in [-5, 5] for integer dtypes), of the dtype's width.
    """
    dtype = np.dtype(dtype)
    if elements is None or isinstance(elements, tuple):
        lo, hi = elements if elements is not None else ((-3.0, 3.0) if dtype.kind == "f" else (-5, 5))
        if dtype.kind == "f":
            elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=8 * dtype.itemsize)
        elif dtype.kind == "b":
            elements = st.booleans()
        else:
            elements = st.integers(int(lo), int(hi))
    shape = shapes() if shape is None else shape
    return hnp.arrays(dtype, shape, elements=elements).map(
        lambda a: Tensor(a, requires_grad=requires_grad and dtype.kind == "f"))


def assert_gradients(op: Callable[..., Any], *strategies: st.SearchStrategy, reference: Callable | None = None,
                     second_order: bool = False, max_examples: int | None = None, **gradcheck_kw: Any) -> None:
    """Property-test ``op``: for drawn arguments (one per strategy; a strategy drawing a tuple of
    Tensors, such as broadcast-compatible operands, gives several), every floating Tensor is made
    to require grad and ``gradcheck`` (and ``gradgradcheck`` if ``second_order``) must pass; if
    ``reference`` is given, ``op``'s output must also match ``reference`` on the numpy arrays.
    A failure raises (through hypothesis, with the shrunk example) ``GradcheckError``.

    >>> assert_gradients(ag.mul, *[tensors(shape=s) for s in ((2, 3), (3,))])
    """
    gradcheck_kw.setdefault("localize", False)

    def check(drawn: tuple) -> None:
        args = []
        for a in drawn:  # a drawn tuple of Tensors (e.g. broadcast-compatible operands) is spread
            args += list(a) if isinstance(a, tuple) and all(isinstance(v, Tensor) for v in a) else [a]
        args = [Tensor(a._data, requires_grad=True) if isinstance(a, Tensor) and a.dtype.kind == "f" else a
                for a in args]
        if reference is not None:
            got = op(*args)
            want = reference(*[a._data if isinstance(a, Tensor) else a for a in args])
            np.testing.assert_allclose(got._data, want, rtol=1e-6, atol=1e-6, err_msg="forward differs from reference")
        gradcheck(op, args, **gradcheck_kw)
        if second_order:
            gradgradcheck(op, args, **gradcheck_kw)

    test = given(st.tuples(*strategies))(check)
    if max_examples is not None:
        from hypothesis import settings

        test = settings(max_examples=max_examples)(test)
    test()
