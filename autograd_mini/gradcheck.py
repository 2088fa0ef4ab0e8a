"""Gradient checking: analytical gradients against float64 central differences, with a precise
report, kink handling, and localisation of a failure to the recorded ops whose backward is wrong.

Two modes, chosen by size: when the checked inputs and the outputs each have at most
``FULL_JACOBIAN_MAX`` (256) elements, the full Jacobian is compared entry by entry; beyond
that, vector-Jacobian products are checked against a random projection (``<J^T u, v>``
analytically against ``d/dt <u, f(x + t v)>`` numerically: two evaluations per input whatever
its size), and a failing input is then probed element by element on a random sample.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .anomaly import capture_traces
from .engine import grad_of
from .function import Function
from .grad_mode import enable_grad, no_grad
from .gradcheck_report import GradcheckError, GradcheckResult, Mismatch, OpReport
from .inplace import holds
from .tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "gradcheck_module", "GradcheckError", "GradcheckResult", "Mismatch",
           "OpReport", "FULL_JACOBIAN_MAX"]

FULL_JACOBIAN_MAX = 256   # elements in the checked inputs, and in the outputs, for a full Jacobian
SAMPLE = 64               # elements probed one by one when a projection check fails
MAX_NODES = 500           # ops re-checked by localisation


# ---- the numerical core --------------------------------------------------------------
def _outputs(out: Any) -> list:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: output {k} of the function is a {type(o).__name__}, not a Tensor")
    return outs


def _require_floating(outs: list) -> None:
    if not any(o.dtype.kind == "f" for o in outs):
        kinds = ", ".join(f"output {k} is {o.dtype}" for k, o in enumerate(outs)) or "it returned no Tensor"
        raise ValueError(f"gradcheck: no output of the function is floating point ({kinds}); there is nothing "
                         "to check (integer and bool results have no gradient)")


def _require_finite(t: Tensor, label: str) -> None:
    bad = ~np.isfinite(t._data)
    if bad.any():
        j = int(np.argmax(bad.reshape(-1)))
        raise ValueError(f"gradcheck: {label} holds {int(bad.sum())} non-finite value(s) (the first, "
                         f"{t._data.reshape(-1)[j].item()!r}, at index {_index(t.shape, j)}); finite differences "
                         "need finite inputs")


def _guarded(fn: Callable[..., Any], args: list, watched: list) -> Callable[[], Any]:
    """``fn(*args)`` that raises if a call changes any of ``watched`` ((label, Tensor or array) pairs) in place:
    a function that mutates its inputs would otherwise be checked at values nobody chose."""
    def run() -> Any:
        before = [(x._data if isinstance(x, Tensor) else x) for _, x in watched]
        copies = [a.copy() for a in before]
        try:
            out = fn(*args)
        except ValueError as e:  # a write into an array a recorded op holds: refused by numpy at the write
            held = [label for (label, _), a in zip(watched, before) if holds(a)]
            if held and "read-only" in str(e):
                raise ValueError(f"gradcheck: the function modified {held[0]} in place ({e}: a recorded op "
                                 "saved it); it must leave its inputs unchanged, e.g. work on a copy") from e
            raise
        for (label, x), a, c in zip(watched, before, copies):
            now = x._data if isinstance(x, Tensor) else x
            if now is not a or not np.array_equal(now, c, equal_nan=now.dtype.kind in "fc"):
                raise ValueError(f"gradcheck: the function modified {label} in place (or assigned its .data); "
                                 "it must leave its inputs unchanged, e.g. work on a copy")
        return out
    return run


def _evaluate(run: Callable[[], Any]) -> np.ndarray:
    """All floating outputs, flattened into one float64 vector (forward only)."""
    with no_grad(), np.errstate(all="ignore"):
        outs = _outputs(run())
    parts = [o._data.astype(np.float64).ravel() for o in outs if o.dtype.kind == "f"]
    return np.concatenate(parts) if parts else np.zeros(0)


def _vjp(run: Callable[[], Any], leaves: list, us: list | None) -> tuple[list, list]:
    """Analytical ``J^T u`` for every leaf (``us=None``: the float outputs, to size ``u``)."""
    with enable_grad():
        every = _outputs(run())
    outs = [o for o in every if o.dtype.kind == "f"]
    if us is None:
        _require_floating(every)
        return outs, []
    total = [np.zeros(t.shape) for t in leaves]
    for o, u in zip(outs, us):
        if not o.requires_grad:
            continue
        with np.errstate(all="ignore"):  # gradcheck reports non-finite values itself
            gs = grad_of(o, leaves, grad_outputs=u.astype(o.dtype), retain_graph=True, allow_unused=True)
        for i, g in enumerate(gs):
            if g is not None:
                total[i] = total[i] + g._data
    return outs, total


def _full_analytical(run: Callable[[], Any], leaves: list) -> list:
    """Rows of the Jacobian, one backward per output element: one (n_out, n_in_i) matrix per leaf."""
    with enable_grad():
        outs = [o for o in _outputs(run()) if o.dtype.kind == "f"]
    n_out = sum(o.size for o in outs)
    jac = [np.zeros((n_out, t.size)) for t in leaves]
    row = 0
    for o in outs:
        for e in range(o.size):
            if o.requires_grad:
                seed = np.zeros(o.shape, dtype=o.dtype)
                seed.flat[e] = 1
                with np.errstate(all="ignore"):
                    gs = grad_of(o, leaves, grad_outputs=seed, retain_graph=True, allow_unused=True)
                for i, g in enumerate(gs):
                    if g is not None:
                        jac[i][row] = g._data.ravel()
            row += 1
    return jac


def _differences(run: Callable[[], Any], flat: np.ndarray, j: int, eps: float, y0: np.ndarray) -> tuple:
    """Central, forward and backward differences of the outputs along element ``j`` of ``flat``."""
    v = flat[j]
    flat[j] = v + eps
    yp = _evaluate(run)
    flat[j] = v - eps
    ym = _evaluate(run)
    flat[j] = v
    with np.errstate(all="ignore"):  # a non-finite output gives nan differences, reported by the judge
        return (yp - ym) / (2 * eps), (yp - y0) / eps, (y0 - ym) / eps


def _judge(a: np.ndarray, c: np.ndarray, f: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> tuple:
    """Failing entries and entries at kinks. At a kink the one-sided differences ``f`` and ``b``
    disagree; any analytical value between them is a valid sub-gradient and passes."""
    tol = atol + rtol * np.abs(c)
    bad = ~(np.abs(a - c) <= tol)
    kink = np.abs(f - b) > atol + rtol * np.maximum(np.abs(f), np.abs(b))
    sub = kink & (a >= np.minimum(f, b) - tol) & (a <= np.maximum(f, b) + tol)
    return bad & ~sub, kink & sub


def _index(shape: tuple, flat_index: int) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat_index, shape)) if shape else ()


def _check(run: Callable[[], Any], leaves: list, names: list, eps: float, atol: float, rtol: float,
           nondet_tol: float, full_max: int, seed: int) -> GradcheckResult:
    """Compare analytical and numerical derivatives of ``run()`` with respect to ``leaves``
    (float64 Tensors owned by the checker: their arrays are perturbed in place and restored)."""
    rng = np.random.default_rng(seed)
    outs, _ = _vjp(run, leaves, None)
    n_out = sum(o.size for o in outs)
    notes = [f"output {k} is {o.dtype} even with float64 inputs: finite differences lose precision"
             for k, o in enumerate(outs) if o.dtype != np.float64]
    shapes = [o.shape for o in outs]
    del outs  # its graph holds the leaves' arrays read-only; they are perturbed below
    full = sum(t.size for t in leaves) <= full_max and n_out <= full_max
    result = GradcheckResult(True, "full" if full else "vjp", notes=notes)
    us = [rng.standard_normal(s) for s in shapes]
    first = _vjp(run, leaves, us)[1]
    again = _vjp(run, leaves, us)[1]
    for i, (g1, g2) in enumerate(zip(first, again)):
        with np.errstate(all="ignore"):  # equal infinities or nans are no difference
            gap = np.where((g1 == g2) | (np.isnan(g1) & np.isnan(g2)), 0.0, np.abs(g1 - g2))
        diff = float(np.max(np.nan_to_num(gap, nan=np.inf), initial=0.0))
        if diff > nondet_tol:
            result.passed = False
            notes.append(f"backward is not deterministic: two runs differ by up to {diff:.3g} for {names[i]} "
                         f"(nondet_tol={nondet_tol})")
    y0 = _evaluate(run)
    if not np.isfinite(y0).all():
        notes.append(f"{int((~np.isfinite(y0)).sum())} output element(s) are not finite at the inputs: finite "
                     "differences are undefined there")
    if full:
        jac = _full_analytical(run, leaves)
        for i, t in enumerate(leaves):
            flat = t._data.reshape(-1)
            cols = [_differences(run, flat, j, eps, y0) for j in range(t.size)]
            c, f, b = (np.stack([col[k] for col in cols], axis=1) if cols else np.zeros((n_out, 0))
                       for k in range(3))
            bad, kink = _judge(jac[i], c, f, b, atol, rtol)
            result.kinks += [(names[i], _index(t.shape, j)) for j in np.flatnonzero(kink.any(axis=0))]
            if bad.any():
                ratio = np.where(bad, np.abs(jac[i] - c) / (atol + rtol * np.abs(c)), -1)
                ratio = np.nan_to_num(ratio, nan=np.inf)
                r, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
                k, e = _which_output(shapes, int(r))
                result.mismatches.append(Mismatch(i, names[i], t.shape, _index(t.shape, int(j)), k,
                                                  _index(shapes[k], e), float(jac[i][r, j]), float(c[r, j]),
                                                  int(bad.any(axis=0).sum()), t.size))
    else:
        phi = np.concatenate([u.ravel() for u in us]) if us else np.zeros(0)
        for i, t in enumerate(leaves):
            v = rng.standard_normal(t.shape)
            flat = t._data.reshape(-1)
            base = flat.copy()
            ys = []
            for s in (eps, -eps):
                flat[:] = base + s * v.ravel()
                ys.append(_evaluate(run))
            flat[:] = base
            c, f, b = ((ys[0] - ys[1]) @ phi / (2 * eps), (ys[0] - y0) @ phi / eps, (y0 - ys[1]) @ phi / eps)
            a = float(np.sum(first[i] * v))
            bad, kink = _judge(np.array(a), np.array(c), np.array(f), np.array(b), atol, rtol)
            if kink:
                result.kinks.append((names[i], "(along a random direction)"))
            if bad:
                result.mismatches.append(_probe(run, t, i, names[i], first[i], phi, y0, eps, atol, rtol, rng,
                                                a, float(c)))
    result.passed = result.passed and not result.mismatches
    return result


def _which_output(shapes: list, row: int) -> tuple[int, int]:
    for k, s in enumerate(shapes):
        n = int(np.prod(s))
        if row < n:
            return k, row
        row -= n
    return len(shapes) - 1, 0


def _probe(run: Callable[[], Any], t: Tensor, i: int, name: str, vjp: np.ndarray, phi: np.ndarray,
           y0: np.ndarray, eps: float, atol: float, rtol: float, rng: Any, a: float, c: float) -> Mismatch:
    """After a failed projection, compare ``J^T u`` element by element on a random sample."""
    flat = t._data.reshape(-1)
    picks = rng.choice(t.size, size=min(SAMPLE, t.size), replace=False)
    worst, n_bad = None, 0
    for j in picks:
        cc, ff, bb = (d @ phi for d in _differences(run, flat, int(j), eps, y0))
        aa = float(vjp.ravel()[j])
        bad, _ = _judge(np.array(aa), np.array(cc), np.array(ff), np.array(bb), atol, rtol)
        if bad:
            n_bad += 1
            score = abs(aa - cc) / (atol + rtol * abs(cc))
            if worst is None or score > worst[0]:
                worst = (score, int(j), aa, float(cc))
    if worst is None:  # the sample missed the bad elements: report the projection itself
        return Mismatch(i, name, t.shape, (), -1, None, a, c, 0, len(picks), True)
    return Mismatch(i, name, t.shape, _index(t.shape, worst[1]), -1, None, worst[2], worst[3], n_bad, len(picks),
                    True)


# ---- public entry points -------------------------------------------------------------
def _check_fn(who: str, fn: Any) -> None:
    if isinstance(fn, type) and issubclass(fn, Function):
        raise TypeError(f"{who}: pass {fn.__name__}.apply (the function that runs the op), not the class {fn.__name__}")
    if not callable(fn):
        raise TypeError(f"{who}(fn, inputs): fn must be callable, got {type(fn).__name__}; the function comes first, "
                        f"{who}(fn, [x])")


def _prepare(inputs: Any, names: Sequence[str] | None = None) -> tuple[list, list, list, list]:
    """float64 copies of the inputs (never the caller's arrays), the ones to check, names, notes.
    ``names`` get the position of each checked input among the caller's inputs for the report."""
    args = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    copies, leaves, leaf_names, notes, positions = [], [], [], [], []
    for k, x in enumerate(args):
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            if x.dtype != np.float64:
                notes.append(f"input {k} is {x.dtype}: checked on a float64 copy")
            c = Tensor(np.array(x._data, dtype=np.float64, order="C"), requires_grad=x.requires_grad, name=x.name)
            if x.requires_grad:
                label = names[k] if names else f"input {k}" + (f" (`{x.name}`)" if x.name else "")
                _require_finite(c, label)
                leaves.append(c)
                positions.append(k)
                leaf_names.append(label)
            x = c
        elif isinstance(x, np.ndarray):
            x = x.copy()
        copies.append(x)
    if not leaves:
        got = ", ".join(f"{type(x).__name__} {tuple(np.shape(x))}" + (" without requires_grad" if isinstance(x, Tensor)
                                                                     else "") for x in args[:6])
        raise ValueError(f"gradcheck: no input is a floating Tensor with requires_grad=True, so there is nothing to "
                         f"check (got {got or 'no inputs'}): make them with ag.tensor(..., requires_grad=True)")
    return copies, leaves, leaf_names, notes, positions


def _watch(args: list) -> list:
    return [(f"input {k}", x) for k, x in enumerate(args) if isinstance(x, (Tensor, np.ndarray))]


def _localise(run_forward: Callable[[], Any], recheck: Callable[..., GradcheckResult], result: GradcheckResult,
              kw: dict) -> None:
    """Record the graph again with traces, then re-check every op on its own saved inputs."""
    with capture_traces() as nodes, enable_grad(), np.errstate(all="ignore"):
        run_forward()
    result.ops, result.checked_ops = [], 0
    for node in nodes[:MAX_NODES]:
        args, leaves, names = [], [], []
        for k, (x, need) in enumerate(zip(node.inputs, node.needs_input_grad)):
            if isinstance(x, Tensor) and x.dtype.kind == "f":
                x = Tensor(np.array(x._data, dtype=np.float64, order="C"), requires_grad=need)
                if need:
                    leaves.append(x)
                    names.append(f"input {k}")
            args.append(x)
        if not leaves:
            continue

        def run(args: list = args, node: Any = node) -> Any:
            return node.fn.apply(*args, **node.params)

        with no_grad():
            if run().dtype != np.float64:
                continue  # e.g. astype(float32): finite differences would be too coarse to judge
        result.checked_ops += 1
        try:
            sub = recheck(run, leaves, names, **kw)
            problems = [] if sub.passed else [str(m) for m in sub.mismatches] + sub.notes
        except Exception as e:  # a backward that raises is faulty too
            problems = [f"{type(e).__name__}: {e}"]
        if problems:
            shapes = [f"{tuple(np.shape(a))}" if isinstance(a, (Tensor, np.ndarray)) else type(a).__name__
                      for a in node.inputs]
            result.ops.append(OpReport(node.name, shapes, node.trace, node.module_name, problems))


def _finish(result: GradcheckResult, raise_exception: bool) -> GradcheckResult:
    if not result.passed and raise_exception:
        raise GradcheckError(result)
    return result


def gradcheck(fn: Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, nondet_tol: float = 0.0, *, localize: bool = True,
              full_jacobian_max: int = FULL_JACOBIAN_MAX, seed: int = 0) -> GradcheckResult:
    """Check ``fn``'s gradients with respect to every input Tensor that requires grad, for every
    output, against central finite differences in float64.

    Full Jacobian when inputs and outputs each have at most ``full_jacobian_max`` elements,
    random-projection vector-Jacobian checks otherwise. Kinks (one-sided differences disagree)
    accept any sub-gradient and are listed. On failure the recorded ops are re-checked one by one
    on their own inputs (``localize``), naming the faulty ones by op, shapes and ``file:line``.
    Raises ``GradcheckError`` on failure, or returns the result (truthy on pass) with
    ``raise_exception=False``. The caller's arrays are never modified.

    >>> ag.gradcheck(lambda x: (x * x).sum(), [ag.randn(3, requires_grad=True, dtype="float64")])
    <GradcheckResult passed: 0 mismatching input(s)>
    """
    _check_fn("gradcheck", fn)
    args, leaves, names, notes, positions = _prepare(inputs)
    return _gradcheck(_guarded(fn, args, _watch(args)), leaves, names, notes, localize, raise_exception,
                      dict(eps=eps, atol=atol, rtol=rtol, nondet_tol=nondet_tol, full_max=full_jacobian_max,
                           seed=seed), _check, positions)


def _gradcheck(run: Callable[[], Any], leaves: list, names: list, notes: list, localize: bool,
               raise_exception: bool, kw: dict, checker: Callable[..., GradcheckResult],
               positions: list | None = None) -> GradcheckResult:
    try:
        result = checker(run, leaves, names, **kw)
    except (RuntimeError, TypeError, ValueError) as e:  # a backward that raises, e.g. one not differentiable twice
        if raise_exception:
            raise
        result = GradcheckResult(False, "not run", notes=[f"the check raised {type(e).__name__}: {e}"])
    result.notes = notes + result.notes
    for m in result.mismatches:  # leaf index -> position among the caller's inputs
        m.input = positions[m.input] if positions and m.input < len(positions) else m.input
    if not result.passed and localize:
        _localise(run, checker, result, kw)
    return _finish(result, raise_exception)


def _second(run: Callable[[], Any], leaves: list, names: list, seed: int = 0, **kw: Any) -> GradcheckResult:
    """Check the derivatives of ``x, u -> J(x)^T u`` (``u`` random), i.e. second derivatives."""
    rng = np.random.default_rng(seed + 1)
    with enable_grad():
        every = _outputs(run())
    _require_floating(every)
    outs = [o for o in every if o.dtype.kind == "f" and o.requires_grad]
    us = [Tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outs]
    del outs, every  # their graph holds the leaves' arrays read-only; the check perturbs them

    def grads() -> tuple:
        total = None
        with enable_grad():  # also inside the checker's no_grad evaluations: J^T u needs the graph
            for o, u in zip([o for o in _outputs(run()) if o.dtype.kind == "f" and o.requires_grad], us):
                term = (o * u).sum()
                total = term if total is None else total + term
            if total is None:
                return tuple(Tensor(np.zeros(t.shape)) for t in leaves)
            gs = grad_of(total, leaves, create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor(np.zeros(t.shape)) for g, t in zip(gs, leaves))

    names2 = list(names) + [f"grad_output {k}" for k in range(len(us))]
    return _check(grads, leaves + us, names2, seed=seed, **kw)


def gradgradcheck(fn: Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  raise_exception: bool = True, nondet_tol: float = 0.0, *, localize: bool = True,
                  full_jacobian_max: int = FULL_JACOBIAN_MAX, seed: int = 0) -> GradcheckResult:
    """``gradcheck`` for second derivatives: checks ``x, u -> J(x)^T u`` (random ``u``, gradients
    taken with ``create_graph=True``) against finite differences. Localisation re-checks each op
    of ``fn`` with ``gradgradcheck`` on its own inputs."""
    _check_fn("gradgradcheck", fn)
    args, leaves, names, notes, positions = _prepare(inputs)
    return _gradcheck(_guarded(fn, args, _watch(args)), leaves, names, notes, localize, raise_exception,
                      dict(eps=eps, atol=atol, rtol=rtol, nondet_tol=nondet_tol, full_max=full_jacobian_max,
                           seed=seed), _second, positions)


def gradcheck_module(model: Any, loss_fn: Callable[[Any, Any], Any], inputs: Any, targets: Any,
                     eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
                     nondet_tol: float = 0.0, *, localize: bool = True, full_jacobian_max: int = FULL_JACOBIAN_MAX,
                     seed: int = 0) -> GradcheckResult:
    """Check ``loss_fn(model(inputs), targets)`` with respect to every parameter of ``model`` that
    requires grad, naming failures by their dotted name (``"layers.0.weight"``). ``model`` needs
    only ``named_parameters()`` and ``__call__``; its parameters are swapped for float64 copies
    during the check and restored afterwards (values, dtypes and ``.grad`` untouched); buffers
    (``named_buffers()``, such as BatchNorm's running statistics, which every training-mode forward
    moves) are restored too."""
    if not callable(getattr(model, "named_parameters", None)) or not callable(model):
        raise TypeError(f"gradcheck_module(model, loss_fn, inputs, targets): model must be an nn.Module (it needs "
                        f"named_parameters()), got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"gradcheck_module(model, loss_fn, inputs, targets): loss_fn must be callable, such as "
                        f"nn.MSELoss(), got {type(loss_fn).__name__}")
    seen, named = set(), []
    for n, p in model.named_parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            named.append((n, p))
    if not named:
        raise ValueError("gradcheck_module: the model has no parameter that requires grad")
    for n, p in named:
        _require_finite(p, f"parameter `{n}`")
    x = _upcast(inputs)
    y = _upcast(targets)
    flat = [v for v in (list(x) if isinstance(x, (tuple, list)) else [x]) +
            (list(y) if isinstance(y, (tuple, list)) else [y]) if isinstance(v, (Tensor, np.ndarray))]
    run = _guarded(lambda: loss_fn(model(x), y), [],
                   [(f"parameter `{n}`", p) for n, p in named] + [(f"input {k}", v) for k, v in enumerate(flat)])
    originals = [p._data for _, p in named]
    buffers = [(b, b._data.copy()) for _, b in model.named_buffers()] if hasattr(model, "named_buffers") else []
    notes = [f"parameters of dtype {originals[0].dtype}: checked on float64 copies"] \
        if originals[0].dtype != np.float64 else []
    try:
        for _, p in named:
            p._data = np.array(p._data, dtype=np.float64, order="C")
        return _gradcheck(run, [p for _, p in named], [f"`{n}`" for n, _ in named],
                          notes, localize, raise_exception,
                          dict(eps=eps, atol=atol, rtol=rtol, nondet_tol=nondet_tol, full_max=full_jacobian_max,
                               seed=seed), _check)
    finally:
        for (_, p), a in zip(named, originals):
            p._data = a
        for b, a in buffers:
            b._data = a


def _upcast(x: Any) -> Any:
    if isinstance(x, (tuple, list)):
        return type(x)(_upcast(v) for v in x)
    if isinstance(x, Tensor) and x.dtype.kind == "f":
        return Tensor(np.array(x._data, dtype=np.float64))
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x.astype(np.float64)
    return x
