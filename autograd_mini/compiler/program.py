"""``ag.compile``: the cache of traced programs, keyed by the call's signature, and the Python source of each."""

from __future__ import annotations

import builtins
import functools
import inspect
import keyword
import linecache
import re
import warnings
from collections import OrderedDict
from typing import Any, Callable, NamedTuple

import numpy as np

from .._backend import get_default_dtype
from ..engine import store_grads
from ..grad_mode import state
from ..inplace import read_only_view
from ..shapes import sum_to
from ..tensor import Tensor, as_array
from .emit import RUNTIME
from .guard import guarded
from .trace import TracedNumber, TraceError, Tracer, leaf_key, module_key


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    maxsize: int
    currsize: int


class Traced(NamedTuple):
    """One call traced afresh, for the explorer: its result, its program's source, and per source line what it
    belongs to (``Tracer.source_owners``: a Node or a leaf Tensor and "forward"/"backward", or None)."""
    result: Any
    source: str
    owners: list
    names: list[str]                # the program's parameters: the function's argument names
    backward_roots: list[Tensor]    # what each backward pass ran from


class Program(NamedTuple):
    run: Callable[..., Any]
    source: str
    modules: tuple  # ((module, its module_key), ...) when the trace first met it: a change means a new trace
    leaves: tuple   # ((tensor, its leaf_key), ...) for the tensors read at replay, when first read: likewise
    objects: tuple  # the arguments keyed by identity (a model, a config): kept alive, so that no id is reused


def _array(a: Any) -> Any:
    return a if type(a) is np.ndarray else a._data if isinstance(a, Tensor) else np.asarray(a)


def _one(grads: Any) -> Any:
    return grads[0] if isinstance(grads, (tuple, list)) else grads


def _put(leaf: Tensor, a: Any, copy: bool = False) -> None:
    """The engine's ``store_grads`` for one leaf: a view (or an array another leaf got) is copied."""
    g = leaf.grad
    a = np.asarray(a)  # a 0-d sum is a numpy scalar
    if a.base is not None or copy:
        a = a.copy()
    if g is None:
        leaf.grad = Tensor._wrap(a)
    else:
        store_grads(((leaf, a),))


def _new_grad(leaf: Tensor, a: Any) -> None:
    """A ``.grad`` a create_graph backward stores: the trace found none there, so the program's values after
    it (a gradient penalty) are this gradient alone; a ``.grad`` left from before cannot be added in."""
    if leaf.grad is not None:
        raise RuntimeError(f"ag.compile: a tensor of shape {leaf.shape} already has a .grad when this replay's "
                           "backward(create_graph=True) stores one (the traced call had none): set it to None "
                           "first (opt.zero_grad() inside the compiled function)")
    leaf.grad = Tensor._wrap(_array(a))


def _write_through(view: np.ndarray, index: Any, values: Any) -> None:
    """A write into a read-only view of writable memory, as ``mutation._write`` makes it: into the base."""
    target = view.view()
    target.setflags(write=True)
    target[index] = values


_RUNTIME = {"_array": _array, "_one": _one, "_put": _put, "_new_grad": _new_grad, "_sum_to": sum_to,
            "_as_array": as_array, "_write_through": _write_through, "_read_only": read_only_view}
_RESERVED = {"np", "Tensor", *_RUNTIME}


class Compiled:
    """A function traced once per signature and replayed as a numpy program; made by ``ag.compile``."""

    def __init__(self, fn: Callable[..., Any], maxsize: int = 8) -> None:
        if not callable(fn):
            raise TypeError(f"ag.compile expects a function, got {type(fn).__name__}")
        if maxsize < 1:
            raise ValueError(f"ag.compile: maxsize must be at least 1, got {maxsize}")
        functools.update_wrapper(self, fn)
        self.fn, self.maxsize = fn, maxsize
        self._cache: OrderedDict[tuple, Program] = OrderedDict()
        self._hits = self._misses = 0
        self._last: Program | None = None
        self._warned_eager = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(f"ag.compile: pass the arguments of {getattr(self.fn, '__name__', 'fn')} by position "
                            f"(got keyword arguments {sorted(kwargs)}): the signature is positional")
        if state.tracer is not None:  # a replay inside a trace would be numpy the tracer cannot see
            raise TraceError("ag.compile: a compiled function called while another is being traced; compile the "
                             "outer function only")
        if state.forward_hooks or state.backward_hooks:  # the program calls no per-op hook: eager, which does
            if not self._warned_eager:
                self._warned_eager = True
                warnings.warn("ag.compile: called under ag.detect_anomaly (or another per-op hook): the function "
                              "runs eagerly, so that every op is checked", stacklevel=2)
            return self.fn(*(Tensor._wrap(a) if type(a) is np.ndarray else a for a in args))
        key = _signature(args)
        program = self._cache.get(key)
        if program is not None and _same_modules(program.modules) and _same_leaves(program.leaves):
            self._hits += 1
            self._cache.move_to_end(key)
            self._last = program
            return program.run(*args)
        return self._miss(key, args).result

    def _miss(self, key: tuple, args: tuple) -> Traced:
        self._misses += 1
        result, program, tracer = self._trace(args)
        self._cache[key] = program
        self._cache.move_to_end(key)
        while len(self._cache) > self.maxsize:
            self._cache.popitem(last=False)
        self._last = program
        return Traced(result, program.source, tracer.source_owners, tracer.arg_names, tracer.backward_roots)

    def _traced_call(self, args: tuple) -> Traced:
        """Trace one call afresh, even if its signature is cached (``ag.viz.explore(step, *args)``): a call
        like any other, side effects included, whose program replaces the cached one."""
        return self._miss(_signature(args), args)

    def _trace(self, args: tuple) -> tuple[Any, Program, Tracer]:
        names = self._names(len(args))
        tracer = Tracer(args, names)
        state.tracer = tracer
        # ndarray arguments arrive as Tensors sharing their memory: numpy code on them inside ``fn`` then
        # goes through ops (traced) or a guard (an error naming the line), never into a stale constant
        wrapped = tuple(Tensor._wrap(a) if type(a) is np.ndarray else a for a in args)
        try:
            with guarded(tracer):
                result = self.fn(*wrapped)
            ret = tracer.output(result)
        finally:
            state.tracer = None
        name = getattr(self.fn, "__name__", "step")
        program = _build(tracer, name if name.isidentifier() and name != "<lambda>" else "step", names, ret)
        program = program._replace(objects=tuple(a for a in args if not isinstance(a, _BY_VALUE)))
        return _plain(result), program, tracer

    def _names(self, n: int) -> list[str]:
        """The program's parameters: the function's own names where it has them."""
        try:
            params = list(inspect.signature(self.fn).parameters.values())
        except (TypeError, ValueError):
            params = []
        names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:n]
        names = [nm if nm.isidentifier() and not keyword.iskeyword(nm) and nm not in _RESERVED else f"{nm}_arg"
                 for nm in names]
        return names + [f"arg{i}" for i in range(len(names), n)]

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        """On a method, ``obj.step(x)`` calls the compiled function with ``obj`` first (as a plain function)."""
        return self if obj is None else functools.partial(self.__call__, obj)

    @property
    def source(self) -> str:
        """The generated program of the latest call (traced or replayed)."""
        if self._last is None:
            raise RuntimeError("ag.compile: nothing traced yet; call the compiled function once first")
        return self._last.source

    def cache_info(self) -> CacheInfo:
        return CacheInfo(self._hits, self._misses, self.maxsize, len(self._cache))

    def cache_clear(self) -> None:
        self._cache.clear()
        self._hits = self._misses = 0


def compile(fn: Callable[..., Any] | None = None, *, maxsize: int = 8) -> Any:
    """Trace ``fn`` on its first call with a given signature, then replay the traced numpy program.

    ``fn`` takes Tensors, arrays, Python values, modules and optimizers, and may run forward,
    ``loss.backward()``, gradient clipping and an optimizer step; it returns Tensors, numbers or
    containers of them. The signature is the arguments' shapes, dtypes and ``requires_grad`` (values
    for Python numbers, identity for other objects), the grad mode, the default dtype, and each
    module's training mode and parameter set. ``maxsize`` bounds the cache of programs (least recently
    used dropped). ``step.source`` shows the program; docs/compile.md says what cannot be traced.

    >>> step = ag.compile(train_step)      # or @ag.compile above def train_step(x, y): ...
    """
    if fn is None:
        return lambda f: Compiled(f, maxsize)
    return Compiled(fn, maxsize)


def _signature(args: tuple) -> tuple:
    key: list[Any] = [state.enabled, get_default_dtype()]
    seen: dict[int, int] = {}  # id(argument or its array) -> its position: an alias is part of the signature
    for i, a in enumerate(args):
        if isinstance(a, float):  # by its bits: -0.0 == 0.0 and nan != nan, yet the program holds the number
            key.append(("V", type(a), a.hex()))
        elif isinstance(a, (bool, int, str, type(None))):
            key.append(("V", type(a), a))
        elif isinstance(a, np.generic):  # a numpy number: a constant of the program, by value
            key.append(("V", type(a), a.tobytes()))
        else:
            data = a._data if isinstance(a, Tensor) else a
            first = seen.get(id(a))
            if first is None:
                first = seen.get(id(data))
            if first is not None:  # f(x, x) traced one value for both: f(x, y) is another program
                key.append(("same", first, type(a)))
                continue
            seen[id(a)] = seen[id(data)] = i
            if isinstance(a, Tensor):
                key.append(("T", data.shape, data.dtype, a._requires_grad))
            elif isinstance(a, np.ndarray):
                key.append(("A", a.shape, a.dtype))
            elif isinstance(a, (list, tuple, dict, set)):
                raise TypeError(f"ag.compile: argument {len(key) - 2} is a {type(a).__name__}; pass its tensors as "
                                "separate arguments (f(x, y), not f((x, y))): a container's contents are not part "
                                "of the signature, so a replay could not tell that they changed")
            else:
                key.append(("O", id(a)))
    return tuple(key)


def _same_leaves(leaves: tuple) -> bool:
    for t, key in leaves:
        if leaf_key(t) != key:
            return False
    return True


def _same_modules(modules: tuple) -> bool:
    for m, key in modules:
        if module_key(m) != key:
            return False
    return True


def _plain(value: Any) -> Any:
    """The traced call's own result, with effects' numbers as plain floats (in containers too)."""
    if isinstance(value, TracedNumber):
        return value.real  # a plain float
    if type(value) in (tuple, list):
        return type(value)(_plain(v) for v in value)
    if type(value) is dict:
        return {k: _plain(v) for k, v in value.items()}
    return value


_BY_VALUE = (Tensor, np.ndarray, np.generic, bool, int, float, str, type(None))  # the others: keyed by identity
_counter = [0]


_UNARY = re.compile(r"(\w+) = np\.(maximum|tanh|exp)\((\w+)(, 0)?\)")


def _in_place(lines: list[str], fresh: set[str]) -> list[str]:
    """``relu = np.maximum(linear, 0)`` becomes ``np.maximum(linear, 0, out=linear)`` when ``linear`` is a
    new array of the program's and no other line reads it (the same values, one array less)."""
    lines = list(lines)
    for i, line in enumerate(lines):
        m = _UNARY.fullmatch(line)
        if m is None or m[3] not in fresh:
            continue
        word = re.compile(rf"\b{m[3]}\b")
        readers = [j for j, other in enumerate(lines)
                   if not other.startswith(("#", f"{m[3]} = ")) and word.search(other)]
        if readers == [i]:
            lines[i] = f"{m[1]} = np.{m[2]}({m[3]}{m[4] or ''}, out={m[3]})"
    return lines


_ASSIGNED = re.compile(r"(\w+) = ")
_WORD = re.compile(r"[A-Za-z_]\w*")


def _unread(lines: list[str], groups: list[range]) -> set[int]:
    """Drop the written-out ops of a create_graph pass whose values no later line reads: the derivatives for
    inputs nobody asked for (``ag.grad_of(y, [x], create_graph=True)`` also differentiates for the weights,
    as the engine does) and what only they read: the indices of those lines. Names are unique, so a name no
    later line mentions is dead."""
    group_of = {i: g for g in groups for i in g}
    read: set[str] = set()
    dropped: set[int] = set()
    for i in range(len(lines) - 1, -1, -1):
        line, group = lines[i], group_of.get(i)
        if group is not None:
            if line.startswith("#"):  # the op's comment goes with its last line
                if all(j in dropped for j in group if j != i):
                    dropped.add(i)
                continue
            m = _ASSIGNED.match(line)
            if m and m[1] not in read:
                dropped.add(i)
                continue
        if not line.startswith("#"):
            read.update(_WORD.findall(line))
    return dropped


def _build(tracer: Tracer, name: str, names: list[str], ret: str) -> Program:
    params = ", ".join(names)
    lines, owners = tracer.lines + [f"return {ret}"], tracer.owners + [None]
    dropped = _unread(lines, tracer.droppable)
    body = _in_place([line for i, line in enumerate(lines) if i not in dropped], tracer.fresh_arrays)
    tracer.source_owners = [None] + [o for i, o in enumerate(owners) if i not in dropped]  # the def line first
    lines = [f"def {name}({params}):"] + ["    " + line for line in body]
    source = "\n".join(lines) + "\n"
    _counter[0] += 1
    filename = f"<ag.compile {name} #{_counter[0]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # tracebacks show lines
    namespace = {**_RUNTIME, **RUNTIME, **tracer.globals}
    exec(builtins.compile(source, filename, "exec"), namespace)  # noqa: S102  (our own generated code)
    return Program(namespace[name], source, tuple(tracer.modules.values()), tuple(tracer.read_leaves.values()), ())


__all__ = ["compile", "Compiled", "CacheInfo", "TraceError"]
