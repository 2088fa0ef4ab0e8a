"""``einsum`` (numpy's and PyTorch's subscripts) as one primitive.

``einsum`` rewrites the subscripts to explicit form first: ``...`` becomes letters, implicit
output (no ``->``) becomes numpy's (the letters used once, sorted), and operands whose ``...``
axes broadcast are broadcast explicitly (a ``broadcast_to`` node, so the engine sums their
gradient back). The primitive then only sees explicit letters of matching sizes.

The derivative for operand i is itself an einsum: the incoming gradient contracted with the
other operands, written in operand i's letters. A letter operand i repeats (a diagonal, ``ii``)
gets a fresh letter tied to it by an identity matrix; a letter only operand i has (summed away in
forward) gets a vector of ones. Both make the result the full gradient of operand i's shape.
"""

from __future__ import annotations

import string
from collections import Counter
from typing import Any

import numpy as np

from .._backend import xp
from ..function import Function, op
from ..tensor import Tensor
from .primitives import BroadcastTo

__all__ = ["Einsum", "einsum"]

_LETTERS = string.ascii_letters


class Einsum(Function):
    formula = ("d einsum(subscripts, operands)/doperands: einsum of g with the other operands, "
               "back to this operand's indices")
    op_name = "einsum"

    @staticmethod
    def forward(ctx, *operands, subscripts, out):
        return xp.einsum(",".join(subscripts) + "->" + out, *operands, optimize=len(operands) > 2)

    @staticmethod
    def backward(ctx, g, *operands):
        subs, out = ctx.params["subscripts"], ctx.params["out"]
        sizes = {c: n for s, o in zip(subs, operands) for c, n in zip(s, o.shape)}
        grads = []
        for i, need in enumerate(ctx.needs_input_grad):
            if not need:
                grads.append(None)
                continue
            terms = [(out, g)] + [(s, o) for j, (s, o) in enumerate(zip(subs, operands)) if j != i]
            have = set("".join(s for s, _ in terms))
            unused = iter(c for c in _LETTERS if c not in sizes)
            target = ""
            for c in subs[i]:
                if c in target:  # a repeated letter: a fresh one, equal to it through an identity matrix
                    fresh = next(unused)
                    terms.append((c + fresh, xp.eye(sizes[c], dtype=g.dtype)))
                    c = fresh
                elif c not in have:  # summed away by operand i alone: its gradient is constant along it
                    terms.append((c, xp.ones(sizes[c], dtype=g.dtype)))
                    have.add(c)
                target += c
            grads.append(Einsum.apply(*[o for _, o in terms], subscripts=tuple(s for s, _ in terms), out=target))
        return tuple(grads)


def _parse(subscripts: str, shapes: list[tuple]) -> tuple[list[str], str]:
    """Explicit per-operand letters and output letters, ``...`` expanded; errors name the problem."""
    s = subscripts.replace(" ", "")
    lhs, arrow, rhs = s.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: subscripts {subscripts!r} name {len(ins)} operand(s), got {len(shapes)}")
    for part in ins + [rhs]:
        bad = set(part.replace("...", "")) - set(_LETTERS)
        if bad or part.count("...") > 1:
            raise ValueError(f"einsum: invalid subscripts {subscripts!r} (letters a-z, A-Z and one '...' per operand)")
    free = iter(c for c in _LETTERS if c not in s)
    ell_ndim = 0
    for part, shape in zip(ins, shapes):
        named = len(part.replace("...", ""))
        if len(shape) != named and "..." not in part or len(shape) < named:
            raise ValueError(f"einsum: operand subscripts {part!r} do not fit an operand of shape {shape}")
        if "..." in part:
            ell_ndim = max(ell_ndim, len(shape) - named)
    ell = "".join(next(free) for _ in range(ell_ndim))
    # ``...`` axes align from the right, as broadcasting does
    out_ins = [p.replace("...", ell[ell_ndim - (len(sh) - (len(p) - 3)):]) for p, sh in zip(ins, shapes)]
    if arrow:
        out = rhs.replace("...", ell)
        missing = set(out) - set("".join(out_ins))
        if missing or len(set(out)) != len(out):
            raise ValueError(f"einsum: output subscripts {rhs!r} repeat a letter or name one no operand has")
    else:
        counts = Counter("".join(ins).replace("...", ""))
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1))
    return out_ins, out


@op("einsum")
def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation, numpy's ``einsum(subscripts, *operands)`` (explicit ``->`` or implicit output,
    ``...`` broadcasting), differentiable in every operand.

    >>> ag.einsum("bij,bjk->bik", a, b)   # batched matmul
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string, got {type(subscripts).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])  # PyTorch also accepts einsum(eq, [a, b])
    ts = [o if isinstance(o, Tensor) else Tensor._wrap(np.asarray(o)) for o in operands]
    subs, out = _parse(subscripts, [t.shape for t in ts])
    sizes: dict[str, int] = {}
    for s, t in zip(subs, ts):
        if any(len({n for ch, n in zip(s, t.shape) if ch == c}) > 1 for c in set(s)):
            raise ValueError(f"einsum: a letter repeated in {s!r} must index axes of one size, got shape {t.shape}")
        for c, n in zip(s, t.shape):
            if n != 1 and sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: subscript {c!r} has sizes {sizes[c]} and {n} in {subscripts!r} "
                                 f"(shapes {[t.shape for t in ts]})")
    for k, (s, t) in enumerate(zip(subs, ts)):  # size-1 axes broadcast (PyTorch's rule): make it explicit
        want = tuple(sizes.get(c, 1) for c in s)
        if want != t.shape:
            ts[k] = BroadcastTo.apply(t, shape=want)
    return Einsum.apply(*ts, subscripts=tuple(subs), out=out)
