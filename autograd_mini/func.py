"""Function transforms, as ``torch.func``: grad, value_and_grad, vjp, jvp, jacrev, jacfwd (jacobian), hessian, hvp.

Each call differentiates only its own arguments. Every differentiated leaf enters ``f`` as a fresh
variable, an identity op (``Primal``) recorded on the argument, so enclosing transforms still
differentiate through it; gradients are taken with respect to those variables alone. A tensor ``f``
closes over, or the same tensor passed again, reaches the output by another path, so nested
transforms never mix up their perturbations. Forward mode is derived from reverse mode: a JVP is
the VJP of a VJP (docs/core.md, "Function transforms", and docs/benchmarks.md for its cost).

Arguments and results may be pytrees: tuples, lists, namedtuples and dicts of Tensors.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from ._backend import xp
from .engine import grad_of, toposort
from .function import Function
from .grad_mode import enable_grad, is_grad_enabled
from .ops import reshape, stack
from .tensor import Tensor

__all__ = ["grad", "value_and_grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "jacobian", "hessian", "hvp",
           "tree_flatten", "tree_unflatten"]


class Primal(Function):
    """Identity: a transform's own variable, a fresh graph node on its argument."""

    formula = "d(x)/dx = 1"  # its rule, for narrations of the backward pass

    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, g):
        return g


# ---- pytrees --------------------------------------------------------------------------------------------------
class _Leaf:
    def __repr__(self) -> str:
        return "*"


_LEAF = _Leaf()  # marks a leaf's place in a tree's structure


def _map(tree: Any, fn: Callable[[Any, str], Any], path: str = "") -> Any:
    if type(tree) in (tuple, list):
        return type(tree)(_map(c, fn, f"{path}[{i}]") for i, c in enumerate(tree))
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # a namedtuple
        return type(tree)(*(_map(c, fn, f"{path}.{k}") for k, c in zip(tree._fields, tree)))
    if type(tree) in (dict, OrderedDict):
        return type(tree)((k, _map(v, fn, f"{path}[{k!r}]")) for k, v in tree.items())
    return fn(tree, path)


def _signature(structure: Any) -> Any:
    """A structure as nested tuples that compare equal only for the same containers, dict keys in the same order."""
    if isinstance(structure, dict):
        return type(structure), tuple((k, _signature(v)) for k, v in structure.items())
    if isinstance(structure, (tuple, list)):
        return type(structure), tuple(_signature(c) for c in structure)
    return structure


def tree_flatten(tree: Any) -> tuple[list, Any]:
    """``(leaves, structure)`` of a pytree of tuples, lists, namedtuples and dicts (dicts in insertion order)."""
    leaves: list = []
    return leaves, _map(tree, lambda x, _: leaves.append(x) or _LEAF)


def tree_unflatten(leaves: Sequence, structure: Any) -> Any:
    """The pytree of ``structure`` (from ``tree_flatten``) with ``leaves`` in its leaves' places."""
    it = iter(leaves)
    return _map(structure, lambda _, __: next(it))


def _paths(tree: Any) -> list[str]:
    paths: list[str] = []
    _map(tree, lambda _, p: paths.append(p))
    return paths


# ---- arguments and results ------------------------------------------------------------------------------------
def _check_f(f: Any, what: str) -> None:
    if not callable(f):
        raise TypeError(f"{what}: f must be a function, got {type(f).__name__}")


def _argnums(argnums: Any, what: str) -> tuple[tuple[int, ...], bool]:
    """``(argnums as a tuple, whether it was a single int)``, or a TypeError naming what was given."""
    single = isinstance(argnums, int) and not isinstance(argnums, bool)
    nums = (argnums,) if single else tuple(argnums) if isinstance(argnums, (list, tuple)) else None
    if nums is None or not all(isinstance(n, int) and not isinstance(n, bool) for n in nums):
        raise TypeError(f"{what}: argnums must be an int or a tuple of ints, got {argnums!r}")
    if not nums:
        raise ValueError(f"{what}: argnums is empty: name at least one argument to differentiate")
    return nums, single


def _positions(nums: tuple[int, ...], n: int, what: str) -> tuple[int, ...]:
    for k in nums:
        if not -n <= k < n:
            raise ValueError(f"{what}: argnums {k} is out of range for {n} positional argument(s)")
    pos = tuple(k % n for k in nums)
    if len(set(pos)) != len(pos):
        raise ValueError(f"{what}: argnums {nums} names an argument twice")
    return pos


def _as_float_tensor(x: Any, where: str, what: str) -> Tensor:
    if not isinstance(x, Tensor):
        if not isinstance(x, (xp.ndarray, xp.generic, float, int)) or isinstance(x, bool):
            raise TypeError(f"{what}: {where} is a {type(x).__name__}; expected a Tensor (or a float array or "
                            "number), or a tuple, list or dict of them")
        x = Tensor(x)
    if x.dtype.kind not in "fc":
        raise TypeError(f"{what}: {where} has dtype {x.dtype}; only floating-point tensors can be differentiated "
                        "(cast it first, e.g. x.astype(np.float64))")
    return x


def _variable(x: Tensor, outer: bool) -> Tensor:
    """A fresh variable standing for ``x``: recorded on ``x`` when the caller's graph differentiates ``x``."""
    if x.requires_grad and outer:
        return Primal.apply(x)
    return Tensor._wrap(x._data).requires_grad_()


class _Level:
    """One transform call: traces ``f`` with grad enabled and decides whether its derivatives are recorded.

    They are (``create_graph``) only when the caller records and something it may differentiate
    reaches the output other than this call's own variables: an argument that requires grad, a
    closed-over tensor, an enclosing transform's variable. Otherwise the results are plain values.
    """

    def __enter__(self) -> _Level:
        self.outer = self.create_graph = is_grad_enabled()
        self._grad = enable_grad()
        self._grad.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._grad.__exit__(*exc)

    def connect(self, ys: list[Tensor], xs: list[Tensor], seeds: Sequence = ()) -> bool:
        """Set and return ``create_graph`` for derivatives of ``ys`` w.r.t. ``xs`` weighted by ``seeds``."""
        self.create_graph = self.outer and (any(isinstance(s, Tensor) and s.requires_grad for s in seeds)
                                            or _reaches_other_leaves(ys, xs))
        return self.create_graph

    def result(self, tree: Any) -> Any:
        return tree if self.create_graph else _detached(tree)

    def aux(self, tree: Any, xs: list[Tensor]) -> Any:
        """``f``'s auxiliary output, connected to the caller's graph where it reaches it, as the result."""
        keep = lambda t: self.outer and _reaches_other_leaves([t], xs)  # noqa: E731
        return _map(tree, lambda t, _: t.detach() if isinstance(t, Tensor) and not keep(t) else t)


def _detached(tree: Any) -> Any:
    return _map(tree, lambda t, _: t.detach() if isinstance(t, Tensor) else t)


def _reaches_other_leaves(ys: list[Tensor], xs: list[Tensor]) -> bool:
    """Whether a leaf that requires grad, other than ``xs``, is in the graph of ``ys``."""
    ours = {id(x) for x in xs}
    if any(y.requires_grad and y.grad_fn is None and id(y) not in ours for y in ys):
        return True
    for node in toposort([y.grad_fn for y in ys if y.grad_fn is not None]):
        for t in node.inputs:
            if isinstance(t, Tensor) and t.requires_grad and t.grad_fn is None and id(t) not in ours:
                return True
    return False


class _Args:
    """The differentiated arguments of one call, each leaf replaced by a fresh variable."""

    def __init__(self, args: tuple, positions: tuple[int, ...], outer: bool, what: str) -> None:
        self.args = list(args)
        self.structures, self.variables, self.counts = [], [], []
        for k in positions:
            leaves, structure = tree_flatten(args[k])
            paths = _paths(args[k])
            xs = [_variable(_as_float_tensor(x, f"argument {k}{p}", what), outer) for x, p in zip(leaves, paths)]
            self.args[k] = tree_unflatten(xs, structure)
            self.structures.append(structure)
            self.variables += xs
            self.counts.append(len(xs))

    def split(self, flat: list) -> list:
        """A flat list, one item per variable, as one pytree per differentiated argument."""
        out, i = [], 0
        for structure, n in zip(self.structures, self.counts):
            out.append(tree_unflatten(flat[i:i + n], structure))
            i += n
        return out


def _call(f: Callable, args: list, kwargs: dict, has_aux: bool, what: str) -> tuple[Any, Any]:
    out = f(*args, **kwargs)
    if not has_aux:
        return out, None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"{what}: with has_aux=True, f must return a pair (output, aux), got "
                        f"{type(out).__name__}")
    return out[0], out[1]


def _output_leaves(out: Any, what: str) -> tuple[list[Tensor], Any]:
    leaves, structure = tree_flatten(out)
    for y, p in zip(leaves, _paths(out)):
        if not isinstance(y, Tensor):
            raise TypeError(f"{what}: f must return a Tensor or a tuple, list or dict of Tensors; its output{p} is "
                            f"a {type(y).__name__}")
        if y.dtype.kind not in "fc":
            raise TypeError(f"{what}: output{p} of f has dtype {y.dtype}; only floating-point outputs can be "
                            "differentiated")
    return leaves, structure


def _matching(tree: Any, like: list[Tensor], structure: Any, what: str, name: str) -> list[Tensor]:
    """``tree``'s leaves as Tensors of ``like``'s shapes and dtypes, or an error naming the mismatch."""
    leaves, got = tree_flatten(tree)
    if _signature(got) != _signature(structure):
        raise ValueError(f"{what}: {name} must have the structure {structure!r}, got {got!r}")
    out = []
    for v, y, p in zip(leaves, like, _paths(tree)):
        v = _as_float_tensor(v, f"{name}{p}", what)
        if v.shape != y.shape:
            raise ValueError(f"{what}: {name}{p} has shape {v.shape}, expected {y.shape}")
        out.append(v if v.dtype == y.dtype else v.astype(y.dtype))
    return out


# ---- the one derivative: vector-Jacobian products -------------------------------------------------------------
def _zeros(x: Tensor) -> Tensor:
    return Tensor._wrap(xp.zeros(x.shape, x.dtype))


def _vjp(ys: list[Tensor], cotangents: list, xs: list[Tensor], create_graph: bool, retain_graph: bool) -> list:
    """``sum_i <cotangents[i], dys[i]/dxs>`` for each of ``xs`` (zeros where no path leads to it)."""
    live = [(y, c) for y, c in zip(ys, cotangents) if y.requires_grad]
    if not live:
        return [_zeros(x) for x in xs]
    if len(live) == 1:
        outputs, seeds = live[0]
    else:
        outputs, seeds = [y for y, _ in live], [c for _, c in live]
    gs = grad_of(outputs, xs, seeds, retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)
    return [_zeros(x) if g is None else g for g, x in zip(gs, xs)]


def _linearized(ys: list[Tensor], xs: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """``(us, J^T us)``: fresh cotangent variables and the VJP recorded as a function of them. It is linear in
    ``us``, so its VJP with a tangent ``v``, taken with respect to ``us``, is the JVP ``J v`` (the double-VJP).
    The us are ones, not zeros: the derivative of a linear map is the same everywhere, but a backward written with
    log|g| (logcumsumexp's, PyTorch's formula) has a kink at g = 0 and would give 0 there."""
    us = [Tensor._wrap(xp.ones(y.shape, y.dtype)).requires_grad_() for y in ys]
    return us, _vjp(ys, us, xs, create_graph=True, retain_graph=True)


def _one_hots(x: Tensor) -> Any:
    eye = xp.eye(x.size, dtype=x.dtype)
    return (Tensor._wrap(row.reshape(x.shape)) for row in eye)


# ---- the transforms -------------------------------------------------------------------------------------------
def value_and_grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable[..., tuple]:
    """Return a function computing ``(f(*args), df/d args[argnums])``; with ``has_aux``, ``((value, aux), grad)``.

    ``f`` returns a single-element Tensor (and ``aux`` with ``has_aux``). The gradient has the
    structure of the argument (a tuple of them for a tuple ``argnums``). Inputs' ``.grad`` are
    untouched; results are differentiable, so transforms nest. Called under ``no_grad`` it still
    differentiates and returns plain values.
    """
    _check_f(f, "grad")
    nums, single = _argnums(argnums, "grad")

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> tuple:
        with _Level() as level:
            a = _Args(args, _positions(nums, len(args), "grad"), level.outer, "grad")
            out, aux = _call(f, a.args, kwargs, has_aux, "grad")
            if not isinstance(out, Tensor) or out.size != 1:
                shape = f" of shape {out.shape}" if isinstance(out, Tensor) else ""
                raise TypeError(f"grad: f must return a single-element Tensor, got {type(out).__name__}{shape}")
            create = level.connect([out], a.variables)
            grads = a.split(_vjp([out], [None], a.variables, create, retain_graph=create))
        out, g = level.result((out, grads[0] if single else tuple(grads)))
        return ((out, level.aux(aux, a.variables)), g) if has_aux else (out, g)

    return wrapped


def grad_and_value(f: Callable[..., Any], argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable[..., tuple]:
    """``torch.func.grad_and_value``: ``(grad, value)``; with ``has_aux``, ``(grad, (value, aux))``."""
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> tuple:
        value, g = vg(*args, **kwargs)
        return g, value

    return wrapped


def grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable[..., Any]:
    """Return a function computing the gradient of scalar ``f`` with respect to ``args[argnums]``
    (with ``has_aux``: ``(gradient, aux)``), as ``torch.func.grad``.

    >>> import autograd_mini as ag
    >>> ag.grad(lambda x: (x ** 3).sum())(ag.tensor(2.0))
    tensor(12.)
    """
    gv = grad_and_value(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapped


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple:
    """``(f(*primals), vjp_fn)`` (and ``aux`` last with ``has_aux``), as ``torch.func.vjp``.

    ``vjp_fn(cotangents)``, with cotangents shaped as the output, returns a tuple with one
    gradient per primal, each shaped as that primal; it may be called many times.
    """
    _check_f(f, "vjp")
    with _Level() as level:
        a = _Args(primals, tuple(range(len(primals))), level.outer, "vjp")
        out, aux = _call(f, a.args, {}, has_aux, "vjp")
        ys, structure = _output_leaves(out, "vjp")
        outside = level.connect(ys, a.variables)

    def vjp_fn(cotangents: Any) -> tuple:
        cts = _matching(cotangents, ys, structure, "vjp", "cotangents")
        with _Level() as call:
            call.create_graph = call.outer and (outside or any(c.requires_grad for c in cts))
            grads = a.split(_vjp(ys, cts, a.variables, call.create_graph, retain_graph=True))
        return call.result(tuple(grads))

    out = level.result(out)
    return (out, vjp_fn, level.aux(aux, a.variables)) if has_aux else (out, vjp_fn)


def jvp(f: Callable[..., Any], primals: tuple, tangents: tuple, *, has_aux: bool = False) -> tuple:
    """``(f(*primals), J tangents)`` (and ``aux`` last with ``has_aux``), as ``torch.func.jvp``.

    ``tangents`` has the structure of ``primals`` (both tuples). Computed as the VJP of a VJP
    (reverse mode twice: see docs/benchmarks.md for its cost against one VJP).
    """
    _check_f(f, "jvp")
    for name, v in (("primals", primals), ("tangents", tangents)):
        if not isinstance(v, tuple):
            raise TypeError(f"jvp: {name} must be a tuple (one entry per argument of f; write (x,) for one), got "
                            f"{type(v).__name__}")
    with _Level() as level:
        a = _Args(primals, tuple(range(len(primals))), level.outer, "jvp")
        vs = _matching(tangents, a.variables, tree_flatten(primals)[1], "jvp", "tangents")
        out, aux = _call(f, a.args, {}, has_aux, "jvp")
        ys, structure = _output_leaves(out, "jvp")
        create = level.connect(ys, a.variables, vs)
        us, gx = _linearized(ys, a.variables)
        jv = _vjp(gx, vs, us, create, retain_graph=create)
    result = level.result((out, tree_unflatten(jv, structure)))
    return result + (level.aux(aux, a.variables),) if has_aux else result


def _jacobian(f: Callable, argnums: Any, has_aux: bool, what: str, forward: bool) -> Callable:
    _check_f(f, what)
    nums, single = _argnums(argnums, what)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with _Level() as level:
            a = _Args(args, _positions(nums, len(args), what), level.outer, what)
            out, aux = _call(f, a.args, kwargs, has_aux, what)
            ys, structure = _output_leaves(out, what)
            xs = a.variables
            create = level.connect(ys, xs)
            blocks = (_columns if forward else _rows)(ys, xs, create)  # blocks[i][j]: d ys[i] / d xs[j]
            jac = []
            for y, row in zip(ys, blocks):
                per_arg = a.split([reshape(b, y.shape + x.shape) for b, x in zip(row, xs)])
                jac.append(per_arg[0] if single else tuple(per_arg))
        result = level.result(tree_unflatten(jac, structure))
        return (result, level.aux(aux, a.variables)) if has_aux else result

    return wrapped


def _rows(ys: list[Tensor], xs: list[Tensor], create_graph: bool) -> list[list[Tensor]]:
    """Reverse mode: one VJP per output element, each a row of every block."""
    blocks = []
    for y in ys:
        rows = [_vjp([y], [e], xs, create_graph, retain_graph=True) for e in _one_hots(y)]
        blocks.append([stack([r[j] for r in rows]) if rows else _zeros_block(y, x) for j, x in enumerate(xs)])
    return blocks


def _columns(ys: list[Tensor], xs: list[Tensor], create_graph: bool) -> list[list[Tensor]]:
    """Forward mode: one JVP per input element (VJPs of the VJP recorded once), each a column of every block."""
    us, gx = _linearized(ys, xs)
    blocks: list[list] = [[] for _ in ys]
    for x, g in zip(xs, gx):
        cols = [_vjp([g], [e], us, create_graph, retain_graph=True) for e in _one_hots(x)]
        for i, y in enumerate(ys):
            blocks[i].append(stack([c[i] for c in cols], axis=y.ndim) if cols else _zeros_block(y, x))
    return blocks


def _zeros_block(y: Tensor, x: Tensor) -> Tensor:
    return Tensor._wrap(xp.zeros(y.shape + x.shape, xp.result_type(y.dtype, x.dtype)))


def jacrev(f: Callable[..., Any], argnums: int | Sequence[int] = 0, *, has_aux: bool = False) -> Callable[..., Any]:
    """Return a function computing the Jacobian of ``f`` with respect to ``args[argnums]`` by reverse mode
    (one VJP per output element), as ``torch.func.jacrev``.

    Each block has the output's shape followed by the input's; an output pytree holds one per
    output leaf, a tuple ``argnums`` or an argument pytree nests them as the arguments.
    """
    return _jacobian(f, argnums, has_aux, "jacrev", forward=False)


def jacfwd(f: Callable[..., Any], argnums: int | Sequence[int] = 0, *, has_aux: bool = False) -> Callable[..., Any]:
    """Return a function computing the Jacobian of ``f`` column by column (one JVP per input element),
    as ``torch.func.jacfwd``; results are shaped as ``jacrev``'s."""
    return _jacobian(f, argnums, has_aux, "jacfwd", forward=True)


jacobian = jacfwd


def hessian(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """Return a function computing the Hessian of scalar ``f`` with respect to ``args[argnums]``: the Jacobian
    of its gradient, shaped ``x.shape + x.shape`` (blocks nested by argument for a tuple ``argnums``).

    ``jacrev(jacrev(f))``: with forward mode derived from reverse mode, ``torch.func``'s ``jacfwd(jacrev(f))``
    adds a recorded VJP to the same number of passes (docs/benchmarks.md)."""
    _check_f(f, "hessian")
    return jacrev(jacrev(f, argnums), argnums)


def hvp(f: Callable[..., Any], primals: tuple, tangents: tuple) -> tuple:
    """``(f(*primals), H tangents)``: the Hessian of scalar ``f`` times ``tangents``, one entry per primal,
    as ``torch.autograd.functional.hvp``; reverse over reverse (two backward passes), no Hessian formed."""
    _check_f(f, "hvp")
    for name, v in (("primals", primals), ("tangents", tangents)):
        if not isinstance(v, tuple):
            raise TypeError(f"hvp: {name} must be a tuple (one entry per argument of f; write (x,) for one), got "
                            f"{type(v).__name__}")
    if not primals:
        raise ValueError("hvp: primals is empty: give f's arguments as a tuple")
    vg = value_and_grad(f, tuple(range(len(primals))))

    def gradient_and_value(*p: Any) -> tuple:
        value, g = vg(*p)
        return g, value

    _, vjp_fn, value = vjp(gradient_and_value, *primals, has_aux=True)
    return value, vjp_fn(tangents)  # H is symmetric: its VJP is its JVP
