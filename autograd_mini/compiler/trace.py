"""The recorder behind ``ag.compile``: while the user's function runs eagerly once, every op, backward
pass and side effect it makes becomes lines of a straight-line numpy program (``Program``).

Values are named by where they come from: an argument (the function's own parameter names), a tensor read
at replay (a parameter: ``l1_weight = net.l1.weight._data``), or a line of the program. Anything else an op
sees is a constant of the trace, kept only after checks that it cannot depend on the arguments
(``_check_not_derived``). The backward pass is written by ``backward.py``.
"""

from __future__ import annotations

import builtins
import keyword
import re
import sys
from typing import Any

import numpy as np

from .._source import location
from ..function import CONST
from ..grad_mode import state
from ..hooks import active as active_tensor_hooks
from ..tensor import Tensor
from .backward import BackwardWriter
from .emit import FORWARD

_INTERNAL = ("autograd_mini", "nn")


class TraceError(RuntimeError):
    """The function cannot be compiled as written: the message names the line and the fix."""


def user_line(depth: int = 2) -> str:
    """``file:line`` of the innermost frame outside autograd_mini and nn (and ``via`` the library line); a notebook
    cell's ``Cell In[n]:line``."""
    f, via = sys._getframe(depth), ""
    while f is not None:
        top = f.f_globals.get("__name__", "").split(".")[0]
        if top not in _INTERNAL:
            return location(f.f_code.co_filename, f.f_lineno, short=True) + via
        if top == "nn" and not via:
            via = f", via {location(f.f_code.co_filename, f.f_lineno, short=True)}"
        f = f.f_back
    return "?"


def leaf_key(t: Tensor) -> tuple:
    """What a program assumes of a tensor it reads at replay: a new shape or dtype (``p.data = ...``) or a
    new ``requires_grad`` (a frozen layer) changes its backward pass and its ``.grad`` stores; a hook
    registered on it since is refused by a new trace."""
    hooked = active_tensor_hooks() is not None and bool(getattr(t, "_hooks", None))  # a rare, slow read: only if any
    return t._data.shape, t._data.dtype, t._requires_grad, hooked


def module_key(m: Any) -> Any:
    """A module's state as far as a program depends on it (nn.Module.compile_key), else its training flag."""
    key = getattr(m, "compile_key", None)
    return key() if key is not None else getattr(m, "training", None)


class TracedNumber(float):
    """A Python number an effect returned while tracing (``clip_grad_norm_``'s norm): it may be returned or
    passed to ops (``x / norm``), and the program uses the fresh value; a branch on it, Python arithmetic or a
    conversion during tracing would be frozen, so they raise (outside tracing it is a plain float)."""


def _refusing(name: str) -> Any:
    method = getattr(float, name)

    def guarded(self: TracedNumber, *args: Any) -> Any:
        if state.tracer is None:
            return method(self, *args)
        use = "in Python control flow" if name in _BRANCHES else "in Python arithmetic or a conversion"
        raise TraceError(f"a number computed while tracing (a norm {self.real:g}) is used {use} (`{name}`) at "
                         f"{user_line()}: the compiled program would repeat this call's value. Pass it to tensor "
                         "ops (x / norm), or return it and use it outside the compiled function.")

    guarded.__name__ = name
    return guarded


_BRANCHES = ("__bool__", "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__")
for _name in (*_BRANCHES, "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
              "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__",
              "__neg__", "__pos__", "__abs__", "__float__", "__int__", "__round__", "__trunc__", "__floor__",
              "__ceil__", "__format__"):
    setattr(TracedNumber, _name, _refusing(_name))
TracedNumber.__hash__ = float.__hash__  # (defining __eq__ would drop it)


class Tracer(BackwardWriter):
    """Turns the events of one traced call into program lines (see the module docstring)."""

    def __init__(self, args: tuple, names: list[str]) -> None:
        self.lines: list[str] = []
        # per line, what it belongs to (for the explorer): (a recorded Node or a leaf Tensor, "forward" or
        # "backward"), or None (effects, the backward pass's seed); ``owner`` is that of the lines written now
        self.owners: list[tuple | None] = []
        self.owner: tuple | None = None
        self.source_owners: list[tuple | None] = []  # ``owners`` per line of the built source (program._build)
        self.backward_roots: list[Tensor] = []  # what each backward pass ran from
        self.globals: dict[str, Any] = {"np": np, "Tensor": Tensor}
        self.var: dict[int, str] = {}       # id(array) -> name: arguments' arrays and every computed array
        self.alive: list[Any] = []          # what ``var`` names, kept alive so that no id is reused
        self.arg_arrays: list[Any] = []
        self.tensor_names: dict[int, str] = {}  # id(tensor) -> the global (or argument) holding it
        self.loaded: dict[int, str] = {}    # id(tensor) -> local holding its ``_data`` since the last effect
        self.param_names: dict[int, str] = {}
        self.modules: dict[int, tuple] = {}  # every module called: (it, its module_key when first met)
        self.names: set[str] = set()
        self.numbers: dict[int, str] = {}   # id(TracedNumber) -> name
        self.arg_prelude: list[str] = []
        self.has_backward = False
        self.out = ""                       # the name of the op being written (``op``)
        self.notes: dict[str, Any] = {}     # op output name -> what its written-out forward left for backward
        self.owned: set[str] = set()        # see ``_emit_backward``
        self.contiguous: set[str] = set()   # gradients in C order in the eager pass (``_accumulate``)
        self.handed: set[str] = set()       # see ``_emit_backward``
        self.fresh_arrays: set[str] = set()  # forward values that are new arrays of their own (not views)
        self.traced_g: tuple = ()           # (g, input gradients) the eager pass had at the node being written
        self.leaves: list = []              # (leaf, its expression) of every leaf a backward pass stored into
        self.node_info: dict = {}           # recorded node -> (input expressions, output name, user line)
        self.saved_consts: dict[int, tuple] = {}  # id(array an op saved, neither input nor output) -> (ctx, index)
        self.in_graph_pass = ""             # while a create_graph backward runs: the op whose derivative runs
        self.graph_grads: set[int] = set()  # id of each .grad Tensor a create_graph backward stored
        self.made_grads: dict[int, str] = {}  # id(leaf the function made) -> the name of its .grad's array
        self.droppable: list[range] = []    # the lines of each written-out op of a create_graph pass
        self.leaf_of: dict[int, Tensor] = {}  # id(array) -> the leaf tensor holding it (an argument, a parameter)
        self.read_leaves: dict[int, tuple] = {}  # (t, leaf_key) of each tensor read or stored into, not arguments
        self.born: set[int] = set()         # ids of the tensors made while tracing (guard.py)
        self.shared: set[int] = set()       # those of them on an array from outside (ag.as_tensor(buf))
        self.arg_names = names
        self.objects: dict[int, str] = {}   # id(argument object) -> its parameter name (a model, an optimizer)
        self.names.update(names)
        for a, name in zip(args, names):
            if isinstance(a, Tensor):
                self.tensor_names[id(a)] = name
                self.leaf_of[id(a._data)] = a
                self.alive.append(a._data)
                self.arg_arrays.append(a._data)
            elif isinstance(a, np.ndarray):  # the function sees it as a Tensor (compile), the program as is
                self._bind(a, name)
                self.arg_arrays.append(a)
            elif not isinstance(a, (bool, int, float, str, type(None))):
                self.objects[id(a)] = name

    # ---- names --------------------------------------------------------------------------------------
    def _bind(self, array: Any, name: str) -> str:
        self.var[id(array)] = name
        self.alive.append(array)
        return name

    def fresh(self, base: str) -> str:
        base = re.sub(r"\W", "_", base).strip("_") or "v"
        if base[0].isdigit():
            base = "v" + base
        if keyword.iskeyword(base) or hasattr(builtins, base):
            base += "_"  # never shadow sum, max, abs ...
        name, k = base, 1
        while name in self.names or name in self.globals:
            k += 1
            name = f"{base}{k}"
        self.names.add(name)
        return name

    def const(self, value: Any, base: str = "C") -> str:
        if id(value) in self.objects:
            return self.objects[id(value)]
        if isinstance(value, np.dtype) and getattr(np, value.name, None) is value.type:
            return f"np.{value.name}"
        for name, v in self.globals.items():
            if v is value and name not in ("np", "Tensor"):
                return name
        if base == "C" and not isinstance(value, np.ndarray):
            base = type(value).__name__.lower()
        name = self.fresh(base)
        self.globals[name] = value
        return name

    def emit(self, line: str) -> None:
        # one source line, whatever the user's text in it holds (op names, file paths in comments): the code the
        # tracer writes has no line break of its own (reprs escape them)
        line = " ".join(line.replace("\0", " ").splitlines())
        self.lines.append(line)
        self.owners.append(self.owner)

    # ---- values -------------------------------------------------------------------------------------
    def value(self, x: Any, where: str) -> str:
        """The expression for an op's input (a Tensor, an array or a Python value) in the program."""
        if isinstance(x, Tensor):
            name = self.var.get(id(x._data))
            if name is not None:
                return name
            return self._tensor(x, where)
        if isinstance(x, np.ndarray):
            name = self.var.get(id(x))
            return name if name is not None else self._constant(x, where)
        if isinstance(x, (tuple, list)):
            items = [self.value(v, where) for v in x]
            inner = ", ".join(items) + ("," if len(items) == 1 and isinstance(x, tuple) else "")
            return f"({inner})" if isinstance(x, tuple) else f"[{inner}]"
        if isinstance(x, dict):
            return "{" + ", ".join(f"{k!r}: {self.value(v, where)}" for k, v in x.items()) + "}"
        if isinstance(x, TracedNumber):
            return self.numbers[id(x)]
        if x is None or isinstance(x, (bool, int, str)) or isinstance(x, float) and np.isfinite(x):
            return repr(x)
        if isinstance(x, slice):
            return f"slice({self.value(x.start, where)}, {self.value(x.stop, where)}, {self.value(x.step, where)})"
        if x is Ellipsis:
            return "..."
        return self.const(x)

    def _tensor(self, t: Tensor, where: str) -> str:
        """A leaf tensor (a parameter, a buffer, an argument): its ``_data`` is read at replay, once per
        stretch between side effects (an optimizer step gives parameters new arrays)."""
        leaf = self.leaf_of.get(id(t._data))
        if leaf is not None and leaf is not t and leaf._data is t._data and id(leaf) in self.tensor_names:
            return self._tensor(leaf, where)  # a new Tensor on a leaf's array (detach, ag.func's variables)
        key = id(t)
        local = self.loaded.get(key)
        if local is not None and self.var.get(id(t._data)) == local:
            return local
        holder = self.tensor_names.get(key)
        if holder is None:
            # a gradient a backward pass stored: the one this replay stores, not this call's
            holder = next((f"{leaf}.grad" for tensor, leaf in self.leaves if tensor.grad is t), None)
            if holder is None:
                self._refuse_in_graph_pass(t._data, where)
                self._check_not_derived(t._data, where, t)
                if key in self.born and key not in self.shared:  # made by the function (ag.zeros(3)): each
                    # replay's own, from its values (ag.as_tensor(buf) shares buf: read live, as eagerly)
                    return self._made(t)
                holder = self.const(t, "P")
            self.tensor_names[key] = holder
        base = self.param_names.get(key) or (t.name if isinstance(t.name, str) else None) or \
            (f"{holder}_data" if holder in self.arg_names else "p")
        local = self.fresh(base)
        owner, self.owner = self.owner, (t, "forward")  # the leaf's line, even amid an op's lines
        self.emit(f"{local} = {holder}._data")
        self.owner = owner
        if holder not in self.arg_names:
            self.read_leaves.setdefault(key, (t, leaf_key(t)))  # as the call found it (an effect may change it)
        self.loaded[key] = local
        self.leaf_of[id(t._data)] = t
        self._bind(t._data, local)
        return local

    def _made(self, t: Tensor) -> str:
        """A tensor the function made from a constant (``ag.zeros(3).requires_grad_()``): a copy of its values
        as they are now, for each replay, since the function may write into it or store a ``.grad`` on it
        (``_made_here``), and a replay must not see the last one's."""
        local = self.fresh(t.name if isinstance(t.name, str) else "made")
        owner, self.owner = self.owner, (t, "forward")  # the leaf's line, as a load (``_tensor``)
        self.emit(f"{local} = {self.const(t._data.copy(), 'C')}.copy()")
        self.owner = owner
        self.loaded[id(t)] = local
        return self._bind(t._data, local)

    def shares(self, t: Tensor) -> None:
        """``t.detach()`` while tracing: name the array the new tensor shares (an argument's, a parameter's), so
        that it is read at replay, not kept as this call's."""
        if isinstance(t._data, np.ndarray) and id(t._data) not in self.var and id(t) not in self.born:
            self.value(t, user_line(3))

    def _constant(self, a: np.ndarray, where: str) -> str:
        leaf = self.leaf_of.get(id(a))
        if leaf is not None and leaf._data is a:  # a tensor's array passed on bare (a target's, by nn)
            return self._tensor(leaf, where)
        if id(a) in self.saved_consts:
            return self._saved_const(a, where)
        if not any(v is a for v in self.globals.values()):
            self._refuse_in_graph_pass(a, where)
        self._check_not_derived(a, where)
        return self.const(a, "C")

    def _refuse_in_graph_pass(self, a: np.ndarray, where: str) -> None:
        """A create_graph derivative reads only values the program computes: an array it made with numpy (or
        a Tensor it wrapped around one) would be this call's on every replay."""
        if self.in_graph_pass:
            raise TraceError(f"ag.compile: under create_graph, the derivative of {self.in_graph_pass} passes an "
                             f"array of shape {a.shape} made with numpy outside ops to an op (at {where}); the "
                             "program would reuse this call's values. Run this function eagerly, or write that op's "
                             "backward with operators and autograd_mini.numpy functions.")

    def _saved_const(self, a: np.ndarray, where: str) -> str:
        """An array an op's forward saved for its backward (a max-pool's winners, a conv's columns), read by a
        create_graph derivative: the one the replay's forward saved in its ``ctx``."""
        ctx, j = self.saved_consts[id(a)]
        if ctx is None:
            raise TraceError(f"ag.compile: a derivative at {where} reads an array an op written out as numpy saved "
                             "for backward; the program keeps no such array. Run this function eagerly.")
        name = self.fresh("saved")
        self.emit(f"{name} = {ctx}.saved[{j}]")
        return self._bind(a, name)

    def _check_not_derived(self, a: np.ndarray, where: str, tensor: Tensor | None = None) -> None:
        """Refuse an array that numpy code outside ops made from the arguments or computed values: the
        program would reuse this call's values on every replay. (A tensor made before the call, such as a
        parameter, is never a copy of this call's arguments, even when its values equal one.)"""
        base = a.base
        while isinstance(base, np.ndarray):
            if id(base) in self.var:
                raise self._derived(where, "a numpy view of a traced value")
            base = base.base
        if tensor is not None and id(tensor) not in self.born:
            return
        for d in self.arg_arrays:
            if d is not a and d.shape == a.shape and d.size and np.array_equal(d, a) and not _is_range(a) \
                    and not _is_uniform(a):
                raise self._derived(where, f"equal to an argument of shape {a.shape} (a copy or a cast of it)")

    def _check_mask_index(self, index: Any, cls: type) -> None:
        """``x[mask]`` with a mask the program recomputes or reads: how many elements it picks, so every later
        shape, depends on the mask's values."""
        if cls.__name__ == "GetItem":
            masks = [i for i in (index if isinstance(index, tuple) else (index,))
                     if isinstance(i, np.ndarray) and i.dtype == bool and i.ndim]
            self.shape_from_values("indexing with a boolean mask", "Keep the shape: ag.where(mask, x, 0.0) (then "
                                   "sum, or divide by mask.sum()), or index with a constant mask", *masks)

    def shape_from_values(self, what: str, fix: str, *arrays: Any) -> None:
        """Refuse ``what`` when any of ``arrays`` is a value of the program (not a constant of the trace): the
        shape of its result depends on their values, and the program's shapes are fixed."""
        if any(isinstance(a, np.ndarray) and self._traced(a) for a in arrays):
            raise TraceError(f"ag.compile cannot trace {what} on values the function computes or is passed (at "
                             f"{user_line(3)}): the shape of its result depends on those values, and a compiled "
                             f"program has fixed shapes. {fix}, or run this step eagerly.")

    def _traced(self, a: np.ndarray) -> bool:
        """Whether ``a`` (or the array it views) is a value of the program: an argument, a tensor read at replay,
        or a line's result."""
        while isinstance(a, np.ndarray):
            if id(a) in self.var or id(a) in self.leaf_of:
                return True
            a = a.base
        return False

    def _derived(self, where: str, what: str) -> TraceError:
        return TraceError(f"an op at {where} got an array computed outside ops from the function's inputs ({what}). "
                          "The compiled program would reuse this call's values on every replay. Pass it as a Tensor, "
                          "or compute it with ag ops (ag.as_tensor shares an argument without copying).")

    # ---- events -------------------------------------------------------------------------------------
    def op(self, cls: type, inputs: tuple, arrays: list, params: dict, node: Any, result: Tensor) -> None:
        self._check_mask_index(params.get("index"), cls)
        where = user_line(3)
        self.note_modules()
        ins = [self.value(x, where) for x in inputs]
        out = self.fresh(cls.op_name or cls.__name__.lower())
        self._bind(result._data, out)
        emitter = FORWARD.get(cls) or getattr(cls, "compiled_forward", None)
        self.owner = (node if node is not None else result, "forward")  # no node: the explorer shows the tensor
        self.emit(f"# {cls.op_name}  ({where})")
        start = len(self.lines) - 1
        self.out = out  # a forward that writes several lines names its temporaries after it
        code = emitter(self, ins, arrays, params, result._data) if emitter else None
        if code is None:
            ctx = self.generic_ctx(cls, node, len(inputs), params)
            pr = self._params(params, where)
            args = ", ".join(ins) + (", " if ins and pr else "") + ("**" + pr if pr else "")
            code = f"_array({self.const(cls, cls.__name__)}.forward({ctx}, {args}))"
            if pr and not pr.isidentifier():
                self.emit(f"{ctx}.params = _p = {pr}")
                code = code.replace("**" + pr, "**_p")
        else:
            ctx = None
        self.emit(f"{out} = {code}")
        self.owner = None
        if ctx is None and self.in_graph_pass:  # a derivative's numpy: dropped where nothing reads it
            self.droppable.append(range(start, len(self.lines)))
        if node is not None:
            self.node_info[node] = (ins, out, where, ctx)
            self._note_saved(node, ctx)

    def _note_saved(self, node: Any, ctx: str | None) -> None:
        """Remember the arrays forward saved that are neither an input nor the output: the replay ``ctx``
        holds this replay's (``ctx.saved[j]``), for a create_graph derivative that reads them."""
        n = node.fn._nreads if node.fn._nreads >= 0 else len(node.inputs)
        for j, (v, s) in enumerate(zip(node.saved[n:], node.sources[n:])):
            if s == CONST and isinstance(v, np.ndarray) and id(v) not in self.var:
                self.saved_consts[id(v)] = (ctx, j)
                self.alive.append(v)

    def generic_ctx(self, cls: type, node: Any, n: int, params: dict) -> str:
        ctx = Ctx(dict(params), node.needs_input_grad if node is not None else (False,) * n)
        return self.const(ctx, "K")

    def _params(self, params: dict, where: str) -> str:
        if not params:
            return ""
        expr = self.value(dict(params), where)
        if all(not isinstance(v, (np.ndarray, tuple, list)) for v in params.values()):
            return self.const(dict(params), "PR")
        return expr

    def plain(self, arrays: list) -> list:
        """An op's operands with the numbers effects returned as plain floats (its inputs keep them, named)."""
        return [a.real if type(a) is TracedNumber else a for a in arrays]

    def array_call(self, f: Any, args: tuple, kwargs: dict, out: Any) -> None:
        where = user_line(3)
        ins = [self.value(a, where) for a in args]
        kw = [f"{k}={self.value(v, where)}" for k, v in kwargs.items()]
        name = self.fresh(getattr(f, "__name__", "array").strip("_") or "array")
        fn = f"np.{f.__name__}" if getattr(np, getattr(f, "__name__", ""), None) is f else self.const(f, "F")
        if getattr(f, "__self__", None) is not None and isinstance(f.__self__, np.ndarray):
            fn = f"{self.value(f.__self__, where)}.{f.__name__}"
        self.emit(f"# {getattr(f, '__name__', 'call')}  ({where})")
        self.emit(f"{name} = {fn}({', '.join(ins + kw)})")
        if isinstance(out, np.ndarray):
            self._bind(out, name)

    def write(self, t: Tensor, new: np.ndarray, values: Any, index: Any, how: str) -> None:
        """An in-place write that no op records (``p -= lr * p.grad`` under no_grad, ``h[0] = 1`` on a tensor that
        needs no gradient), as ``mutation._write`` made it: into the array itself, through a view into its base,
        or into a copy that becomes the tensor's array (a leaf's too: ``p._data = ...``)."""
        where = user_line(3)
        old, idx, val = self.value(t, where), self.value(index, where), self.value(values, where)
        self.emit(f"# write in place  ({where})")
        if how == "in place":
            self.emit(f"{old}[{idx}] = {val}")
        elif how == "through":
            self.emit(f"_write_through({old}, {idx}, {val})")
        else:
            out = self.fresh(old + "_w" if old.isidentifier() else "written")
            self.emit(f"{out} = {old}.copy()")
            self.emit(f"{out}[{idx}] = {val}")
            self._bind(new, out)
            self._give(t, out)

    def view(self, v: Tensor, base: Tensor, index: Any) -> None:
        """``v`` re-made as ``base[index]`` after ``base`` got a new array (``mutation._refresh``)."""
        where = user_line(3)
        src, idx = self.value(base, where), self.value(index, where)
        name = self.fresh(src + "_view" if src.isidentifier() else "view")
        self.emit(f"# view of the written tensor  ({where})")
        self.emit(f"{name} = _read_only({src}[{idx}])")
        self._bind(v._data, name)
        self._give(v, name)

    def _give(self, t: Tensor, name: str) -> None:
        """The tensor object the program reads ``t`` through (if any) holds the array ``name`` from here on."""
        holder = self.tensor_names.get(id(t))
        if holder is not None:
            self.emit(f"{holder}._data = {name}")
            self.loaded[id(t)] = name

    def effect(self, f: Any, args: tuple, kwargs: dict) -> Any:
        where = user_line(3)
        args = tuple(tuple(a) if _is_iterator(a) else a for a in args)  # a generator would be used up once
        self._refuse_made(f, (*args, *kwargs.values()), where)
        prev, state.tracer = state.tracer, None
        try:
            result = f(*args, **kwargs)
        finally:
            state.tracer = prev
        ins = [self.object(a, where) for a in args] + [f"{k}={self.object(v, where)}" for k, v in kwargs.items()]
        method = getattr(type(args[0]), f.__name__, None) if args else None
        self.emit(f"# {f.__qualname__}  ({where})")
        self.loaded.clear()  # parameters may hold new arrays from here on
        if getattr(method, "__wrapped__", None) is f:  # opt.step(): called as the method it is
            fn, ins = f"{ins[0]}.{f.__name__}", ins[1:]
            writer = getattr(args[0], f"compiled_{f.__name__}", None)  # a method may write itself out
            if writer is not None and not kwargs and len(args) == 1 and writer(self, fn.rsplit(".", 1)[0]):
                return result
        else:
            fn = self.const(f, f.__name__)
        if isinstance(result, float):
            name = self.fresh("r")
            self.emit(f"{name} = {fn}({', '.join(ins)})")
            result = TracedNumber(result)
            self.numbers[id(result)] = name
            self.alive.append(result)
            return result
        if isinstance(result, (Tensor, np.ndarray)):  # the replay's array, not this call's
            name = self.fresh("r")
            self.emit(f"{name} = _array({fn}({', '.join(ins)}))")
            self._bind(result._data if isinstance(result, Tensor) else result, name)
            return result
        self.emit(f"{fn}({', '.join(ins)})")
        return result

    def _refuse_made(self, f: Any, args: tuple, where: str) -> None:
        """An effect on a leaf the function made (an optimizer over ``delta = ag.zeros(...).requires_grad_()``):
        the program holds each replay's own such tensor by name, and the effect (an object of the traced call)
        would act on the traced call's tensor."""
        def made(x: Any) -> Any:
            if isinstance(x, Tensor):
                return x if id(x) in self.born and self._made_here(x) else None
            if isinstance(x, (tuple, list)):
                return next((t for t in map(made, x) if t is not None), None)
            groups = getattr(x, "param_groups", None)
            return made([p for g in groups for p in g["params"]]) if isinstance(groups, list) else None

        t = made(args)
        if t is not None:
            raise TraceError(f"ag.compile: {getattr(f, '__qualname__', f)} at {where} acts on a tensor of shape "
                             f"{t.shape} that the function made (a leaf such as ag.zeros(...).requires_grad_()): each "
                             "replay makes its own, which the effect would not see. Make that tensor (and an "
                             "optimizer over it) outside the compiled function and pass it as an argument.")

    def object(self, x: Any, where: str = "") -> str:
        """An effect's argument: tensors as objects (an optimizer updates the parameter itself)."""
        if isinstance(x, Tensor):
            if id(x) in self.tensor_names:
                return self.tensor_names[id(x)]
            name = self.var.get(id(x._data))
            if name is None and id(x) in self.born:  # made by the function: a value of the program
                name = self.value(x, where)
            if name is not None and (id(x) in self.born or not self._is_leaf_load(x)):
                return f"Tensor._wrap({name})"
            self._check_not_derived(x._data, where, x)
            self.tensor_names[id(x)] = holder = self.const(x, "P")
            return holder
        if isinstance(x, (tuple, list)):
            items = [self.object(v, where) for v in x]
            inner = ", ".join(items) + ("," if len(items) == 1 and isinstance(x, tuple) else "")
            return f"({inner})" if isinstance(x, tuple) else f"[{inner}]"
        return self.value(x, where)

    def _is_leaf_load(self, t: Tensor) -> bool:
        return self.loaded.get(id(t)) == self.var.get(id(t._data))

    def unsupported(self, what: str, fix: str) -> None:
        raise TraceError(f"ag.compile cannot trace {what} (at {user_line(3)}): {fix}")

    def note_module(self, module: Any) -> None:
        """``module`` (a container the function reads) is part of the program's key, as the call found it."""
        self.modules.setdefault(id(module), (module, module_key(module)))

    def note_modules(self) -> None:
        """Every module on the running call's scope chain becomes part of the program's key."""
        scope = state.extra.scope if state.extra is not None else None
        while scope is not None:
            module, scope = scope
            if id(module) not in self.modules:
                self.modules[id(module)] = (module, module_key(module))  # as the call found it
                if scope is None and hasattr(module, "named_parameters"):  # the outermost: name by paths
                    self._name_state(module)

    def _name_state(self, module: Any) -> None:
        """Parameters and buffers read as ``model.l1.weight`` (the model an argument, or a global)."""
        root = self.const(module, type(module).__name__.lower())
        state_items = [*module.named_parameters(), *getattr(module, "named_buffers", lambda: ())()]
        for path, t in state_items:
            self.param_names.setdefault(id(t), re.sub(r"(^|_)(\d)", r"\1layer\2", path.replace(".", "_")))
            if id(t) in self.tensor_names:
                continue
            parts = path.split(".")
            if all(p.isidentifier() for p in parts):  # attribute reads: as fast as a global, and readable
                self.tensor_names[id(t)] = root + "".join(f".{p}" for p in parts)
            else:  # model[0].weight would call Sequential.__getitem__ on every use: a global instead
                self.tensor_names[id(t)] = self.const(t, f"{root}_{path.replace('.', '_')}")

    # ---- the backward pass ----------------------------------------------------------------------------
    def output(self, value: Any) -> str:
        if isinstance(value, Tensor):
            for leaf, holder in self.leaves:
                if value is leaf.grad:  # a gradient: the one this replay stored
                    return f"{holder}.grad"
            if id(value) in self.tensor_names:  # an argument or a parameter: the object itself
                return self.tensor_names[id(value)]
            name = self.var.get(id(value._data))
            if name is None:
                return self.object(value)
            if value._data.base is not None:  # a view (of a parameter, an argument): read-only, as eagerly
                name = f"_read_only({name})"
            return f"Tensor._wrap(_array({name}))" if value.ndim == 0 else f"Tensor._wrap({name})"  # a numpy scalar
        if isinstance(value, TracedNumber):
            return self.numbers[id(value)]
        if isinstance(value, (tuple, list)):
            items = [self.output(v) for v in value]
            return ("(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")") if isinstance(value, tuple) \
                else "[" + ", ".join(items) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k!r}: {self.output(v)}" for k, v in value.items()) + "}"
        if isinstance(value, np.ndarray) and id(value) in self.var:
            return self.var[id(value)]
        if value is None or isinstance(value, (bool, int, str, float)):
            return repr(value) if not isinstance(value, float) or np.isfinite(value) else self.const(value)
        return self.const(value, "R")


class Ctx:
    """The ``ctx`` of an op the program calls through its Function (no emitter): ``params``,
    ``needs_input_grad`` and what forward saves, refilled by forward on every replay."""

    __slots__ = ("params", "needs_input_grad", "saved")

    def __init__(self, params: dict, needs_input_grad: tuple) -> None:
        self.params, self.needs_input_grad, self.saved = params, needs_input_grad, ()

    def save_for_backward(self, *values: Any) -> None:
        self.saved = values

    @property
    def saved_tensors(self) -> tuple:
        return self.saved


def _is_iterator(a: Any) -> bool:
    return hasattr(a, "__next__") and hasattr(a, "__iter__")


def _is_uniform(a: np.ndarray) -> bool:
    """One value throughout (``ag.zeros``, ``ag.full``): a constant made from a shape, whatever it equals."""
    return a.size > 1 and bool((a == a.flat[0]).all())


def _is_range(a: np.ndarray) -> bool:
    return a.ndim == 1 and a.dtype.kind in "iu" and np.array_equal(a, np.arange(a.size))


__all__ = ["Tracer", "TraceError", "TracedNumber", "Ctx", "user_line", "leaf_key", "module_key"]
