"""``explain_backward``: the reverse accumulation of a recorded graph, narrated op by op.

It runs the engine's own backward pass (``engine.capture`` with a hook on every step, so the order and every
number are the engine's), touches no ``.grad``, and writes down what the chain rule does at each op: the rule
in the op's own variable names, the incoming gradient (the sum, where several uses feed it), the local factor,
the gradient sent to each input (and the axes an unbroadcast sums), and what lands in each leaf's ``.grad``.
``str()`` is plain text; ``.markdown()`` is Markdown with LaTeX (``_repr_markdown_`` renders it in Jupyter).
"""

from __future__ import annotations

import inspect
import os
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .engine import _fit, capture, toposort
from .function import inputs_as_used
from .grad_mode import state
from .tensor import Tensor

__all__ = ["explain_backward", "Narration", "formula_of"]

# Each op declares its derivative rule as ``Function.formula``, in its forward's own variable names (``out``:
# its result, ``g``: the incoming gradient), one part per input, separated by "; ". ``d f/dx = e`` is a local
# derivative, multiplied into ``g`` elementwise; ``d f/dx: e`` says what the rule does to ``g`` (a matrix
# product, a reshape, a scatter).

_AFFINE = {"MatMul", "Linear", "Conv2d", "Einsum"}  # outputs named z1, z2, ... (the article's names)
_ACTIVATION = {"Sigmoid", "Tanh", "Relu", "Softmax", "LogSoftmax", "Erf"}  # h1, h2, ...


def formula_of(node: Any) -> str | None:
    """The derivative rule of ``node``'s op (one string), or None for an op that declares none (a custom op)."""
    return node.fn.formula


# ---- numbers ---------------------------------------------------------------------------------------------------
def _cells(a: np.ndarray, digits: int) -> list[str]:
    """The entries of ``a`` written alike: whole numbers as such; else ``digits`` decimals when every entry's
    magnitude lies in [1e-4, 1e6), else scientific with ``digits`` significant digits (numpy's rule)."""
    flat = a.ravel()
    if flat.dtype == bool:
        return [str(bool(v)) for v in flat]
    if flat.dtype.kind in "iu":
        return [str(int(v)) for v in flat]
    if flat.dtype.kind == "c":
        return [str(complex(v)) for v in flat]
    flat = flat.astype(np.float64)
    finite = flat[np.isfinite(flat)]
    whole = bool(np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 1e15))
    mags = np.abs(finite[finite != 0])
    fixed = mags.size == 0 or (mags.min() >= 1e-4 and mags.max() < 1e6)
    return [_cell(float(v), digits, whole, fixed) for v in flat]


def _cell(v: float, digits: int, whole: bool, fixed: bool) -> str:
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else "inf" if v > 0 else "-inf"
    if whole:
        return str(int(v))
    if fixed:
        return f"{v:.{digits}f}"
    m, e = f"{v:.{digits - 1}e}".split("e")
    return f"{m}e{int(e)}"


def _num(v: Any, digits: int) -> str:
    """One number as ``_cells`` writes it, trailing zeros dropped: ``0.5``, ``-2``, ``1.5e-7``."""
    s = _cells(np.asarray(v).reshape(1), digits)[0]
    if "." not in s:
        return s
    m, e = s.split("e") if "e" in s else (s, None)
    m = m.rstrip("0").rstrip(".")
    return m if e is None else f"{m}e{e}"


@dataclass
class _Fmt:
    max_full: int
    digits: int

    def summary(self, a: np.ndarray) -> str:
        with np.errstate(all="ignore"):
            flat = a.ravel()
            finite = flat[np.isfinite(flat)] if a.dtype.kind in "fc" else flat
            parts = [f"shape {a.shape}", f"norm {_num(np.linalg.norm(flat.astype(float)), self.digits)}"]
            if finite.size:
                parts += [f"min {_num(finite.min(), self.digits)}", f"max {_num(finite.max(), self.digits)}"]
            bad = flat.size - finite.size
            if bad:
                parts.append(f"{bad} NaN/inf")
            parts.append("first " + ", ".join(_num(v, self.digits) for v in flat[:4]) + ", ...")
        return ", ".join(parts)

    def text(self, a: Any) -> str:
        """Numbers in full (rows on their own lines), or a summary above ``max_full`` entries."""
        a = np.asarray(a)
        if a.ndim == 0:
            return _num(a.item(), self.digits)
        if a.size == 0:
            return f"[] (shape {a.shape})"
        if a.size > self.max_full:
            return f"({self.summary(a)})"
        cells = np.array(_cells(a, self.digits), dtype=object).reshape(a.shape)
        width = max(len(c) for c in cells.ravel())
        cells = np.vectorize(lambda c: c.rjust(width), otypes=[object])(cells)

        per_line = max(1, 96 // (width + 2))

        def nest(c: np.ndarray, indent: int) -> str:
            if c.ndim == 1:  # a long row wraps, its lines aligned
                chunks = [", ".join(c[i:i + per_line]) for i in range(0, len(c), per_line)]
                return "[" + (",\n" + " " * (indent + 1)).join(chunks) + "]"
            return "[" + (",\n" + " " * (indent + 1)).join(nest(r, indent + 1) for r in c) + "]"

        return nest(cells, 0)

    def factor(self, a: np.ndarray, tex: bool = False) -> str:
        """A local factor: one number when every entry holds it (add's 1, sum's 1), else the array."""
        if a.size > 1 and a.dtype.kind in "biuf" and np.all(a == a.flat[0]):
            v = _num(a.flat[0], self.digits)
            return (_tex_num(v) + r" \text{ in every entry}") if tex else f"{v} in every entry"
        return self.tex(a) if tex else self.text(a)

    def tex(self, a: Any) -> str:
        a = np.asarray(a)
        if a.ndim == 0:
            return _tex_num(_num(a.item(), self.digits))
        if a.size == 0 or a.size > self.max_full or a.ndim > 2:
            return r"\text{" + _tex_escape(self.text(a) if a.size <= self.max_full else self.summary(a)) + "}"
        rows = a.reshape(1, -1) if a.ndim == 1 else a
        body = r" \\ ".join(" & ".join(_tex_num(c) for c in _cells(r, self.digits)) for r in rows)
        return r"\begin{bmatrix} " + body + r" \end{bmatrix}"


def _tex_num(s: str) -> str:
    if "e" in s and s not in ("inf", "-inf"):
        m, e = s.split("e")
        return rf"{m} \times 10^{{{e}}}"
    return r"\infty" if s == "inf" else r"-\infty" if s == "-inf" else r"\mathrm{NaN}" if s == "nan" else s


_TEX_SPECIAL = {c: "\\" + c for c in "_{}#$%&"} | {"\\": r"\backslash{}", "~": r"\sim{}", "^": r"\hat{}"}


def _tex_escape(s: str) -> str:
    return "".join(_TEX_SPECIAL.get(c, c) for c in s).replace("\n", " ")


def _tex(sym: str) -> str:
    """A symbol in LaTeX: ``z1`` -> ``z_{1}``, ``W2`` -> ``W_{2}``, ``Loss`` -> ``\\mathrm{Loss}``."""
    m = re.fullmatch(r"([A-Za-z]+?)(\d+)", sym)
    base, idx = (m.group(1), m.group(2)) if m else (sym, "")
    if re.fullmatch(r"[A-Za-z]", base):
        tex = base
    elif re.fullmatch(r"-?[0-9.e+-]+", sym):
        return sym
    else:
        tex = r"\mathrm{" + _tex_escape(base) + "}"
    return tex + (f"_{{{idx}}}" if idx else "")


def _tex_var(v: str) -> str:
    """An op's variable name in LaTeX, as written (``x``, ``out``, ``exponent``)."""
    return v if len(v) == 1 else r"\mathrm{" + _tex_escape(v) + "}"


def _dfrac(top: str, bottom: str) -> str:
    return rf"\frac{{\partial {_tex(top)}}}{{\partial {_tex(bottom)}}}"


# ---- the narration's data --------------------------------------------------------------------------------------
@dataclass
class _Part:
    """What one step sends to one input."""
    var: str                  # the op's variable name: "a", "xs[1]"
    symbol: str               # the user's name for the input: "h1"
    rule: str | None          # this input's part of the formula
    factor: Any               # the local derivative (for '=' rules and single-element outputs), or None
    raw: np.ndarray           # the derivative's result, before unbroadcasting
    value: np.ndarray         # the gradient the engine passes on
    summed: tuple             # axes of ``raw`` summed to fit the input's shape
    leaf: bool
    kind: str | None          # "=" (a local derivative), ":" (a rule on g), None (no formula)


@dataclass
class _Step:
    k: int
    node: Any
    symbol: str
    expr: str
    formula: str | None
    names: list               # [(op variable, symbol)] the rule reads
    values: list              # [(symbol, array)] the values the rule reads
    incoming: list            # [(step, via, array)] the contributions summed into g (one: no fan-in)
    g: np.ndarray
    parts: list = field(default_factory=list)
    trace: str | None = None
    module: str | None = None


def _array(g: Any) -> np.ndarray:
    return np.array(g._data if isinstance(g, Tensor) else g)  # a copy: the engine reuses pass-through arrays


def _summed_axes(g_shape: tuple, shape: tuple) -> tuple:
    """The axes of a ``g_shape`` gradient that unbroadcasting sums to reach ``shape`` (as ``sum_to``)."""
    lead = len(g_shape) - len(shape)
    return tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g_shape[i + lead] != 1)


def _input_vars(node: Any) -> list[str]:
    """The forward's names for the node's positional inputs (``xs[0]``, ``xs[1]`` for ``*xs``)."""
    ps = list(inspect.signature(node.fn.forward).parameters.values())[1:]  # after ctx
    names: list[str] = []
    for p in ps:
        if p.kind == p.VAR_POSITIONAL:
            names += [f"{p.name}[{i}]" for i in range(len(node.inputs) - len(names))]
            break
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in node.params:
            names.append(p.name)
    return (names + [f"input{i}" for i in range(len(names), len(node.inputs))])[:len(node.inputs)]


def _part_of(formula: str | None, var: str) -> tuple[str | None, str | None]:
    """This input's part of ``formula`` and its kind: ``"="`` (a local derivative) or ``":"`` (a rule on g)."""
    if formula is None:
        return None, None
    base = var.split("[")[0]
    for part in formula.split("; "):
        m = re.search(rf"/d{re.escape(base)}(=|:| =)", part)
        if m:
            return part, m.group(1).strip()
    return None, None


def _rhs(part: str) -> str:
    """The right-hand side of a rule part (for a derivative with several equal forms, the last)."""
    head = re.match(r".*?/d[\w\[\]]+\s*(=|:)\s*", part)
    rest = part[head.end():] if head else part
    return rest.split(" = ")[-1]


def _matrix_factor(part: str, names: Mapping[str, str]) -> str | None:
    """For a matrix product rule (``g @ b.T``, ``a.T @ g``), the symbol of the other factor: the article's
    dz2/dW2 = h1."""
    m = re.fullmatch(r"g @ (\w+)\.T|(\w+)\.T @ g", _rhs(part))
    return names.get(m.group(1) or m.group(2)) if m else None


def _expr(formula: str) -> str:
    """The op as an expression in its own variable names: ``a @ b``, ``sigmoid(x)``."""
    e = re.match(r"d\s*(.*?)\s*/d", formula).group(1)
    return e[1:-1] if e.startswith("(") and _closing(e) == len(e) - 1 else e


def _closing(s: str) -> int:
    """The index of the parenthesis that closes ``s[0]``."""
    depth = 0
    for i, c in enumerate(s):
        depth += (c == "(") - (c == ")")
        if depth == 0:
            return i
    return -1


def _substitute(text: str, names: Mapping[str, str]) -> str:
    if not names:
        return text
    pattern = r"(?<![\w.])(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")(?![\w\[])"
    return re.sub(pattern, lambda m: names[m.group(1)], text)


def _short_value(v: Any, digits: int) -> str | None:
    """A constant or parameter as a symbol, if it is short: ``0.5``, ``2``, ``(1,)``."""
    if v is None:  # an optional input left out (conv2d without bias)
        return "None"
    if isinstance(v, np.ndarray) and v.size == 1 and v.ndim == 0:
        v = v.item()
    if isinstance(v, (bool, int, float, np.number)):
        return _num(v, digits)
    if isinstance(v, tuple) and len(str(v)) <= 16:
        return str(v)
    return None


class _Names:
    """Symbols for the graph's tensors: given names, nn module parameter names, ``Tensor.name``, else z1, h1, t1."""

    def __init__(self, root: Tensor, order: list, given: Mapping[str, Any] | None, digits: int) -> None:
        self.digits = digits
        self.by_id: dict[int, str] = {}
        self.keep: list = []  # the named tensors, so their ids stay theirs
        self.used: set[str] = set()
        self.arrays: list = []  # (name, array): names the leaves holding those values (ag.tensor(X) copies X)
        if given is not None and not isinstance(given, Mapping):
            raise TypeError(f"explain_backward: params must be a dict of names to tensors or arrays, {{'X': x}}, "
                            f"got {type(given).__name__}")
        for name, t in (given or {}).items():
            if not isinstance(name, str) or not isinstance(t, (Tensor, np.ndarray)):
                raise TypeError(f"explain_backward: params maps names (str) to Tensors or arrays, got {name!r}: "
                                f"{type(t).__name__}")
            if isinstance(t, Tensor):
                self._set(t, name)
            else:
                self.arrays.append((name, t))
                self.used.add(name)
        self.modules: dict[int, str] = {}
        for node in order:
            top, s = None, node.scope
            while s is not None:
                top, s = s[0], s[1]
            if top is not None and id(top) not in self.modules and hasattr(top, "named_parameters"):
                self.modules[id(top)] = ""
                for name, m in top.named_modules():
                    self.modules.setdefault(id(m), name)
                for name, p in top.named_parameters():
                    if id(p) not in self.by_id:
                        self._set(p, name)
        self.count: dict[str, int] = {}
        outputs = {id(root.grad_fn): root} if root.grad_fn is not None else {}
        for node in order:
            for t in inputs_as_used(node):
                if isinstance(t, Tensor) and t.grad_fn is not None:
                    outputs.setdefault(id(t.grad_fn), t)
        self.output = {id(n): outputs[id(n)] for n in order if id(n) in outputs}
        if id(root) not in self.by_id:
            self._set(root, root.name or self._fresh("Loss", numbered=False))
        for node in reversed(order):  # forward order: z1 before z2
            for t in inputs_as_used(node):
                if isinstance(t, Tensor) and t.grad_fn is None:
                    self.of(t)
            out = self.output.get(id(node))
            if out is not None:
                self.of(out)

    def _set(self, t: Any, name: str) -> None:
        self.by_id[id(t)] = name
        self.keep.append(t)
        self.used.add(name)

    def _fresh(self, prefix: str, numbered: bool = True) -> str:
        while True:
            k = self.count[prefix] = self.count.get(prefix, 0) + 1
            name = f"{prefix}{k}" if numbered or k > 1 else prefix
            if name not in self.used:
                self.used.add(name)
                return name

    def of(self, t: Any) -> str:
        """The symbol of a tensor or constant of the graph (made on first use)."""
        if not isinstance(t, Tensor):
            return _short_value(t, self.digits) or self._const(t)
        name = self.by_id.get(id(t))
        if name is None:
            given = next((n for n, a in self.arrays if t.grad_fn is None and (a is t._data or (
                a.shape == t.shape and np.array_equal(a, t._data)))), None)
            if given or t.name:
                name = given or t.name
            elif t.grad_fn is None:
                name = self._fresh("p" if t.requires_grad else "x")
            else:
                op = t.grad_fn.fn.__name__
                name = self._fresh("z" if op in _AFFINE else "h" if op in _ACTIVATION else "t")
            self._set(t, name)
        return name

    def _const(self, c: Any) -> str:
        name = self.by_id.get(id(c)) or next((n for n, a in self.arrays if a is c), None)
        if name is None:
            name = self._fresh("c")
        self._set(c, name)
        return name

    def module(self, node: Any) -> str | None:
        scope = node.scope
        if not scope:
            return None
        m = scope[0]
        name = self.modules.get(id(m), "")
        return f"{name}: {type(m).__name__}" if name else type(m).__name__


# ---- running the pass ------------------------------------------------------------------------------------------
def _leaves(order: list) -> list[Tensor]:
    seen: dict[int, Tensor] = {}
    for node in order:
        for t in node.inputs:
            if isinstance(t, Tensor) and t.grad_fn is None and t.requires_grad:
                seen.setdefault(id(t), t)
    return list(seen.values())


def explain_backward(loss: Tensor, gradient: Any = None, *, params: Mapping[str, Any] | None = None,
                     max_nodes: int = 200, max_full: int = 16, digits: int = 8) -> Narration:
    """Narrate the backward pass of ``loss``, op by op in the engine's order, with the numbers.

    Nothing is stored in any ``.grad`` and the graph stays usable (``loss.backward()`` after it gives the
    gradients the narration ends with). ``params`` names tensors (``{"W1": w}``; an array names the leaves
    holding its values, as in ``draw_graph``); ``nn`` module parameters
    and ``Tensor.name`` name themselves; other tensors get ``z1`` (matmul-like outputs), ``h1`` (activations),
    ``t1``, ``x1`` (inputs), ``p1`` (unnamed parameters). Tensors of up to ``max_full`` entries are shown in
    full with ``digits`` decimals, larger ones summarised. A graph of more than ``max_nodes`` ops is refused.

    >>> print(ag.explain_backward(loss))  # doctest: +SKIP
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"explain_backward: expected the Tensor to differentiate (a loss), got {type(loss).__name__}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"explain_backward: max_nodes must be a positive int, got {max_nodes!r}")
    if isinstance(max_full, bool) or not isinstance(max_full, int) or max_full < 0:
        raise ValueError(f"explain_backward: max_full must be a non-negative int, got {max_full!r}")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 17:
        raise ValueError(f"explain_backward: digits must be an int from 1 to 17, got {digits!r}")
    order = toposort([loss.grad_fn]) if loss.grad_fn is not None else []
    if len(order) > max_nodes:
        raise ValueError(
            f"explain_backward: the graph of this loss has {len(order)} recorded ops, more than max_nodes="
            f"{max_nodes}; a narration of {len(order)} steps would not be read. Narrate a smaller piece (one "
            f"sample, one layer: compute the part you care about from a .detach()ed input), or raise the limit: "
            f"explain_backward(loss, max_nodes={len(order)}).")
    freed = next((n for n in order if n.released), None)
    if freed is not None:
        raise RuntimeError(
            f"explain_backward: the graph was freed by an earlier backward() (at {freed.where()}), so its saved "
            "values are gone. Call explain_backward(loss) before loss.backward(), or call "
            "loss.backward(retain_graph=True).")
    fmt = _Fmt(max_full, digits)
    names = _Names(loss, order, params, digits)
    steps: list[_Step] = []
    arrivals: dict[int, list] = {}  # id(node or leaf) -> [(step, via, gradient)] in the engine's order

    def hook(node: Any, g: Any) -> Any:
        k = len(steps) + 1
        step = _start_step(node, k, _array(g), names, arrivals)
        steps.append(step)

        def received(g_in: tuple) -> None:
            _finish_step(step, g_in, names, arrivals)

        return received

    if not loss.requires_grad:
        raise RuntimeError("explain_backward: the loss does not require grad, so there is no backward pass to "
                           "narrate (no input of the ops that made it has requires_grad=True)")
    leaves = _leaves(order) if order else [loss]
    prev = state.backward_hooks
    state.backward_hooks = (hook,)  # the narration alone: no anomaly check or recording sees this pass
    try:
        found = capture(loss, leaves, gradient, retain_graph=True)  # the engine's pass; it stores nothing
    finally:
        state.backward_hooks = prev
    lands = [(names.of(t), _array(g), arrivals.get(id(t)) or [(0, "the seed", _array(g))]) for t, g in found]
    return Narration(names.of(loss), steps, lands, len(order), fmt)


def _start_step(node: Any, k: int, g: np.ndarray, names: _Names, arrivals: dict) -> _Step:
    formula = formula_of(node)
    out = names.output.get(id(node))
    symbol = names.of(out) if out is not None else f"({node.name} output)"
    vars_ = _input_vars(node)
    syms = {v: names.of(t) for v, t in zip(vars_, inputs_as_used(node))}
    if vars_ and "[" in vars_[-1]:  # *xs: the list of them
        base = vars_[-1].split("[")[0]
        syms[base] = "[" + ", ".join(syms[v] for v in vars_ if v.startswith(base + "[")) + "]"
    consts = {p: s for p, v in node.params.items() if (s := _short_value(v, names.digits)) is not None}
    expr = _substitute(_expr(formula), {**syms, **consts}) if formula else \
        f"{node.name}({', '.join(names.of(t) for t in inputs_as_used(node))})"
    read = set(re.findall(r"[A-Za-z_]\w*", " ".join(_rhs(p) for p in (formula or "").split("; "))))
    shown: list = []
    values: list = []
    for v, t in zip(vars_, inputs_as_used(node)):
        if v in read:
            shown.append((v, syms[v]))
            a = t._data if isinstance(t, Tensor) else t
            if isinstance(a, np.ndarray) and syms[v] != _short_value(a, names.digits) and \
                    all(sym != syms[v] for sym, _ in values):
                values.append((syms[v], a))
    if "out" in read and out is not None:
        shown.append(("out", symbol))
        values.append((symbol, out._data))
    shown += [(p, s) for p, s in consts.items() if p in read]
    incoming = arrivals.get(id(node)) or [(0, "the seed", g)]
    return _Step(k, node, symbol, expr, formula, shown, values, incoming, g, trace=node.trace,
                 module=names.module(node))


def _finish_step(step: _Step, g_in: tuple, names: _Names, arrivals: dict) -> None:
    node = step.node
    vars_ = _input_vars(node)
    ones = None
    for i, (t, gi, need) in enumerate(zip(inputs_as_used(node), g_in, node.needs_input_grad)):
        if not need or gi is None:
            continue
        raw = _array(gi)
        value = _array(_fit(node, i, raw, t)) if raw.shape != t.shape or raw.dtype != t.dtype else raw
        part, kind = _part_of(step.formula, vars_[i])
        factor = None
        if part is not None and (kind == "=" or step.g.size == 1):  # a derivative, or a one-row Jacobian
            if ones is None:
                ones = tuple(_array(f) if f is not None else None for f in
                             _as_tuple(node.plain_backward(np.ones_like(step.g))))
            factor = ones[i]
        via = f"{node.name} (as {vars_[i]})"
        key = id(t.grad_fn) if t.grad_fn is not None else id(t)
        arrivals.setdefault(key, []).append((step.k, via, value))
        step.parts.append(_Part(vars_[i], names.of(t), part, factor, raw, value,
                                _summed_axes(raw.shape, t.shape) if raw.shape != t.shape else (), t.grad_fn is None,
                                kind))


def _as_tuple(x: Any) -> tuple:
    return x if isinstance(x, tuple) else tuple(x) if isinstance(x, list) else (x,)


# ---- rendering -------------------------------------------------------------------------------------------------
def _indent(prefix: str, text: str) -> str:
    """``prefix`` + ``text``, its further lines aligned under the first (a long prefix puts a matrix below it)."""
    if "\n" in text and len(prefix) > 56:
        pad = " " * (len(prefix) - len(prefix.lstrip()) + 2)
        return prefix.rstrip() + "\n" + pad + text.replace("\n", "\n" + pad)
    return prefix + text.replace("\n", "\n" + " " * len(prefix))


def _axes_words(axes: tuple, shape: tuple) -> str:
    return ("axis " if len(axes) == 1 else "axes ") + ", ".join(f"{a} (size {shape[a]})" for a in axes)


def _where(trace: str | None) -> str | None:
    """A trace (``file:line``, maybe ``via nn/...:line``), its paths relative to the working directory if inside."""
    if trace is None:
        return None
    return " via ".join(_relative(part) for part in trace.split(" via "))


def _relative(place: str) -> str:
    path, _, line = place.rpartition(":")
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return place
    return f"{rel if not rel.startswith('..') else path}:{line}"


class Narration:
    """The narrated backward pass: ``str()`` is plain text, ``markdown()`` Markdown with LaTeX.

    ``steps`` is the number of ops narrated (the engine's visits, in its order); ``step_text(k)`` is the
    text of step ``k`` (1-based) alone, ``grads`` maps each leaf's symbol to what backward() adds to its ``.grad``.
    """

    def __init__(self, root: str, steps: list, lands: list, recorded: int, fmt: _Fmt) -> None:
        self.root, self._steps, self._lands, self._recorded, self._fmt = root, steps, lands, recorded, fmt
        self.steps = len(steps)
        self.grads = {name: total for name, total, _ in lands}  # the engine's sums, as backward() stores them

    def _intro(self) -> list[str]:
        r = self.root
        lines = [f"Backward pass of {r}: {len(self._steps)} steps in the engine's order (each op after every op that "
                 f"uses its result). At each op the chain rule turns the gradient of {r} with respect to the op's "
                 f"result (incoming) and the op's local derivative into the gradient of {r} with respect to each "
                 "input (outgoing)."]
        skipped = self._recorded - len(self._steps)
        if skipped:
            lines.append(f"{skipped} recorded op(s) receive no gradient (nothing that requires grad flows "
                         "through them) and are not visited.")
        if self._steps and not any(s.trace for s in self._steps):
            lines.append("Where each op was made is not recorded: build the graph inside "
                         "`with ag.viz.recording():` to see its file:line.")
        f = self._fmt
        lines.append(f"Numbers: {f.digits} decimals; tensors of more than {f.max_full} entries are summarised.")
        return lines

    def step_text(self, k: int) -> str:
        """Step ``k`` (1-based) as plain text."""
        s, f, r = self._steps[k - 1], self._fmt, self.root
        op = s.node.name
        head = f"Step {s.k} of {len(self._steps)}: {op}, {s.symbol} = {s.expr}"
        where = [f"made at {w}" for w in [_where(s.trace)] if w] + [f"in module {s.module}" if s.module else ""]
        lines = [head] + (["  " + ", ".join(w for w in where if w)] if any(where) else [])
        if s.formula:
            mapping = ", ".join(f"{v} = {sym}" for v, sym in s.names if v != sym)
            lines.append(f"  rule: {s.formula}" + (f"  (here {mapping})" if mapping else ""))
        else:
            lines.append(f"  rule: not declared ({op} is a custom op): its backward maps g to the gradients below")
        for sym, a in s.values:
            lines.append(_indent(f"  {sym} = ", f.text(a)))
        lines += _incoming_text(s, r, f)
        dg = f"d{r}/d{s.symbol}"
        for p in s.parts:
            lines.append(f"  to {p.symbol}" + (f" ({p.var})" if p.var != p.symbol else "") + ":")
            if p.factor is not None:
                value = f.factor(p.factor)
                rhs = _substitute(_rhs(p.rule), dict(s.names)) if p.kind == "=" else value
                eq = f"{rhs} = " if value not in (rhs, f"{rhs} in every entry") else ""
                lines.append(_indent(f"    local factor d{s.symbol}/d{p.symbol} = {eq}", value))
                how = f"{dg} * d{s.symbol}/d{p.symbol}"
            elif p.rule:
                how = _substitute(_rhs(p.rule), {**dict(s.names), "g": dg})
                other = _matrix_factor(p.rule, dict(s.names))
                if other:
                    lines.append(f"    local factor d{s.symbol}/d{p.symbol} = {other} (values above), transposed "
                                 "in the product below")
            else:
                how = f"{op}'s backward applied to {dg}"
            target = f"d{r}/d{p.symbol}"
            if p.summed:
                lines.append(_indent(f"    {how} = ", f.text(p.raw)))
                lines.append(_indent(f"    summed over {_axes_words(p.summed, p.raw.shape)} to {p.symbol}'s shape "
                                     f"{p.value.shape}: {target} = ", f.text(p.value)))
            else:
                lines.append(_indent(f"    {target} = {how} = ", f.text(p.value)))
            if p.leaf:
                lines.append(f"    {p.symbol} is a leaf: this is added to {p.symbol}.grad")
        return "\n".join(lines)

    def __str__(self) -> str:
        out = [textwrap.fill(line, 110) for line in self._intro()] + [""]
        for k in range(1, len(self._steps) + 1):
            out += [self.step_text(k), ""]
        out.append("What lands in .grad (what loss.backward() adds to each leaf's .grad):")
        for name, total, arr in self._lands:
            if len(arr) > 1:
                out.append(f"  {name}.grad: the sum of {len(arr)} contributions, from "
                           + ", ".join(f"step {k} ({via})" for k, via, _ in arr))
                out.append(_indent(f"    d{self.root}/d{name} = ", self._fmt.text(total)))
            else:
                out.append(_indent(f"  {name}.grad += d{self.root}/d{name} = ", self._fmt.text(total)))
        if not self._lands:
            out.append("  nothing: no leaf that requires grad gets a gradient")
        return "\n".join(out) + "\n"

    def markdown(self) -> str:
        """Markdown with LaTeX math (``$...$``, ``$$...$$``): Jupyter and GitHub render it."""
        f, r = self._fmt, self.root
        out = [f"### Backward pass of ${_tex(r)}$, narrated", ""] + self._intro()
        out.append("")
        for s in self._steps:
            out.append(f"#### Step {s.k} of {len(self._steps)}: `{s.node.name}`, `{s.symbol} = {s.expr}`")
            where = [f"made at `{w}`" for w in [_where(s.trace)] if w] + ([f"module `{s.module}`"] if s.module else [])
            if where:
                out.append("")
                out.append(", ".join(where))
            out.append("")
            mapping = ", ".join(f"${_tex_var(v)} = {_tex(sym)}$" for v, sym in s.names if v != sym)
            out.append(f"- rule: `{s.formula}`" + (f" (here {mapping})" if mapping else "") if s.formula else
                       f"- rule: not declared (`{s.node.name}` is a custom op)")
            for sym, a in s.values:
                out.append(f"- ${_tex(sym)} = {f.tex(a)}$")
            out += _incoming_md(s, r, f)
            for p in s.parts:
                res = _dfrac(r, p.symbol)
                if p.factor is not None:
                    local = _dfrac(s.symbol, p.symbol)
                    line = (f"- to ${_tex(p.symbol)}$: local factor ${local} = {f.factor(p.factor, tex=True)}$, so "
                            f"${res} = {_dfrac(r, s.symbol)} \\odot {local}")
                else:
                    how = _substitute(_rhs(p.rule), {**dict(s.names), "g": f"d{r}/d{s.symbol}"}) if p.rule else \
                        f"{s.node.name}'s backward"
                    other = _matrix_factor(p.rule, dict(s.names)) if p.rule else None
                    local = f"local factor ${_dfrac(s.symbol, p.symbol)} = {_tex(other)}$ (transposed in the " \
                        "product), " if other else ""
                    line = f"- to ${_tex(p.symbol)}$: {local}${res}$ = `{how}`, so ${res}"
                if p.summed:
                    line += (f" = {f.tex(p.raw)}$, summed over {_axes_words(p.summed, p.raw.shape)}: "
                             f"${res} = {f.tex(p.value)}$")
                else:
                    line += f" = {f.tex(p.value)}$"
                if p.leaf:
                    line += f" (a leaf: added to `{p.symbol}.grad`)"
                out.append(line)
            out.append("")
        out.append("#### What lands in `.grad`")
        out.append("")
        for name, total, arr in self._lands:
            extra = f" (the sum of {len(arr)} contributions, from {', '.join(f'step {k}' for k, _, _ in arr)})" \
                if len(arr) > 1 else ""
            out.append(f"- `{name}.grad` += ${_dfrac(r, name)} = {f.tex(total)}${extra}")
        return "\n".join(out) + "\n"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:
        return f"<Narration of the backward pass of {self.root}: {len(self._steps)} steps>"


def _incoming_text(s: _Step, r: str, f: _Fmt) -> list[str]:
    dg = f"d{r}/d{s.symbol}"
    if len(s.incoming) == 1:
        k, via, _ = s.incoming[0]
        src = "the seed" if k == 0 else f"from step {k}, {via}"
        return [_indent(f"  incoming: {dg} = ", f.text(s.g)) + f"   ({src})"]
    lines = [f"  incoming: {dg} is the sum over the {len(s.incoming)} uses of {s.symbol} (fan-in):"]
    for j, (k, via, a) in enumerate(s.incoming):
        lines.append(_indent(f"    {'+ ' if j else '  '}from step {k}, {via}: ", f.text(a)))
    lines.append(_indent(f"    = {dg} = ", f.text(s.g)))
    return lines


def _incoming_md(s: _Step, r: str, f: _Fmt) -> list[str]:
    dg = _dfrac(r, s.symbol)
    if len(s.incoming) == 1:
        k, via, _ = s.incoming[0]
        src = "the seed" if k == 0 else f"from step {k}, `{via}`"
        return [f"- incoming ({src}): ${dg} = {f.tex(s.g)}$"]
    terms = " + ".join(f.tex(a) for _, _, a in s.incoming)
    srcs = ", ".join(f"step {k} (`{via}`)" for k, via, _ in s.incoming)
    return [f"- incoming, summed over the {len(s.incoming)} uses of ${_tex(s.symbol)}$ (fan-in: {srcs}): "
            f"$$ {dg} = {terms} = {f.tex(s.g)} $$"]


def explorer_steps(root: Tensor | None, passed: Any) -> dict:
    """The explorer's per-step narration: the text of each step of the recorded pass ``passed`` (its nodes in the
    engine's order), or an empty list and why there is none."""
    if passed is None or root is None:
        return {}
    if any(node.released for node, _, _ in passed.steps):
        return {"narration": [], "narration_why": "No narration of the steps: backward() freed the graph's saved "
                "values. Call loss.backward(retain_graph=True) inside the recording, or save the page before "
                "backward()."}
    try:
        n = explain_backward(root)
    except (ValueError, RuntimeError) as e:
        return {"narration": [], "narration_why": f"No narration of the steps: {e}"}
    at = {id(s.node): s.k for s in n._steps}
    return {"narration": [n.step_text(at[id(node)]) if id(node) in at else "" for node, _, _ in passed.steps],
            "narration_why": ""}
