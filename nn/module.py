"""The module system: ``Parameter``, ``Module`` (registration on assignment), ``Sequential``, ``ModuleList``,
``ModuleDict``."""

from __future__ import annotations

import itertools
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

import autograd_mini as ag
from autograd_mini.hooks import RemovableHandle

from ._checks import cast
from ._warn import warn_once
from .hooks import ModuleHooks, call_with_hooks

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "ModuleDict", "StateDictError"]

_REGISTRIES = ("_parameters", "_modules", "_buffers")
_OWN = (*_REGISTRIES, "_hooks")  # the registries themselves
# id(module) -> (a weakref to it, a weakref to the module it was first registered in); kept outside the modules so
# that they stay picklable and copyable
_OWNERS: dict[int, tuple[weakref.ref, weakref.ref]] = {}


def _register_owner(module: Module, owner: Module) -> None:
    """Remember the first live module that ``module`` was registered in (graph pictures name it from there)."""
    key = id(module)
    known = _OWNERS.get(key)
    if known is None or known[0]() is not module or known[1]() is None:
        _OWNERS[key] = (weakref.ref(module, lambda _, key=key: _OWNERS.pop(key, None)), weakref.ref(owner))


class Parameter(ag.Tensor):
    """A leaf Tensor that requires grad and is registered by the ``Module`` it is assigned to.

    ``data`` is an array or a Tensor (its array is shared, not copied); integer data becomes
    the default float dtype.

    >>> w = nn.Parameter(np.zeros((2, 3)))
    >>> w.requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        tracer = ag.grad_mode.state.tracer
        if tracer is not None:  # its values would be constants of the program: the replays would not make it
            tracer.unsupported("a new Parameter (a module built) inside a compiled function", "build the module "
                               "before calling it, or run this step eagerly")
        arr = data.data if isinstance(data, ag.Tensor) else np.asarray(data)
        if arr.dtype.kind != "f":
            arr = arr.astype(ag.get_default_dtype())
        super().__init__(arr, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class StateDictError(KeyError):
    """Missing or unexpected keys in ``load_state_dict`` (a ``KeyError`` with a readable message)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Module:
    """Base class of layers and models.

    Assigning a ``Parameter`` or a ``Module`` to an attribute registers it (in assignment
    order), so ``parameters()``, ``state_dict()``, ``train()`` ... reach it. Subclasses call
    ``super().__init__()`` first and define ``forward``.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)

    # ---- registration -----------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        params, mods = self._parameters, self._modules
        if isinstance(value, Parameter):
            mods.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            mods[name] = value
            _register_owner(value, self)
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter '{name}' of "
                                f"{type(self).__name__}: use nn.Parameter(...) or None")
            params[name] = None
        elif name in mods:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to submodule '{name}': use a Module or None")
            mods[name] = None
        elif name in self._buffers:
            value = _as_buffer(name, value)
            self._buffers[name] = value
        else:
            self._warn_unregistered(name, value)
        object.__setattr__(self, name, value)
        self.__dict__.pop("_compile_key", None)

    def _warn_unregistered(self, name: str, value: Any) -> None:
        """Warn (once per attribute) when ``value`` hides modules or trainable tensors from registration."""
        fix = _unregistered_fix(value)
        if fix:
            warn_once(self, "unregistered " + name, f"{type(self).__name__}.{name} {fix}")

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or a ``None`` placeholder, such as a missing bias) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: expected a Parameter or None, got {type(param).__name__}")
        self._parameters[name] = param
        object.__setattr__(self, name, param)
        self.__dict__.pop("_compile_key", None)

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Register state that is not a parameter (BatchNorm's running statistics) under ``name``.

        A Tensor that never requires grad (arrays are wrapped), reached by ``buffers()`` and, when
        ``persistent``, saved by ``state_dict()`` and restored by ``load_state_dict()``.
        """
        if name in self._parameters or name in self._modules:
            raise KeyError(f"register_buffer: '{name}' is already a parameter or submodule of {type(self).__name__}")
        self._buffers[name] = tensor = _as_buffer(name, tensor)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)
        self.__dict__.pop("_compile_key", None)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a submodule under ``name`` (a string; Sequential uses "0", "1", ...)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: expected a Module, got {type(module).__name__}")
        self._modules[str(name)] = module
        if module is not None:
            _register_owner(module, self)
        object.__setattr__(self, str(name), module)
        self.__dict__.pop("_compile_key", None)

    @property
    def __ag_owner__(self) -> Module | None:
        """The module this one was first registered in (while it lives), else None: graph pictures climb to the
        outermost owner for names (``layers.3.weight``) even when the module is called from outside it."""
        known = _OWNERS.get(id(self))
        return known[1]() if known is not None and known[0]() is self else None

    def __setstate__(self, state: dict) -> None:  # copy.deepcopy and pickle: the copies own their copied children
        self.__dict__.update(state)
        for m in self._modules.values():
            if m is not None:
                _register_owner(m, self)

    # ---- calling ------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if "_registration_checked" not in self.__dict__:  # once: a list filled after assignment shows only now
            object.__setattr__(self, "_registration_checked", True)
            for name, value in list(self.__dict__.items()):
                if name not in self._parameters and name not in self._modules and name not in _OWN:
                    self._warn_unregistered(name, value)
        hooks = self.__dict__.get("_hooks")
        if hooks is not None:
            return call_with_hooks(self, hooks, args, kwargs)
        with ag.module_scope(self):  # recorded ops carry this module: graph tools group ops by module
            return self.forward(*args, **kwargs)

    # ---- hooks (PyTorch's; nn/hooks.py) -----------------------------------------------------------
    def register_forward_pre_hook(self, hook: Callable[[Module, tuple], Any]) -> RemovableHandle:
        """``hook(module, args)`` before each ``forward``; it may return new args (a tuple, or one value)."""
        return self._module_hooks().add(self._hooks.pre, hook, "register_forward_pre_hook")

    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any]) -> RemovableHandle:
        """``hook(module, args, output)`` after each ``forward``; it may return a new output."""
        return self._module_hooks().add(self._hooks.forward, hook, "register_forward_hook")

    def register_full_backward_hook(self, hook: Callable[[Module, tuple, tuple], Any]) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` once the gradients of the module's inputs are computed;
        it may return a new ``grad_input``. Applies to calls made after registration."""
        return self._module_hooks().add(self._hooks.backward, hook, "register_full_backward_hook")

    def _module_hooks(self) -> ModuleHooks:
        if "_hooks" not in self.__dict__:
            object.__setattr__(self, "_hooks", ModuleHooks())
        return self._hooks

    # ---- traversal ------------------------------------------------------------------------
    def children(self) -> Iterator[Module]:
        """The direct submodules, in registration order."""
        return (m for m in self._modules.values() if m is not None)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``("", self)`` first, then every submodule by dotted name, depth first; shared ones once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            subs = [(f"{name}.{n}" if name else n, m) for n, m in mod._modules.items() if m is not None]
            stack.extend(reversed(subs))

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name (``layers.0.weight``); a shared one is listed once."""
        seen: set[int] = set()
        for mname, mod in self.named_modules():
            for pname, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters())

    def named_buffers(self, persistent_only: bool = False) -> Iterator[tuple[str, ag.Tensor]]:
        """Every buffer with its dotted name (``bn.running_mean``)."""
        for mname, mod in self.named_modules():
            for bname, b in mod._buffers.items():
                if b is not None and not (persistent_only and bname in mod._non_persistent):
                    yield (f"{mname}.{bname}" if mname else bname), b

    def buffers(self) -> Iterator[ag.Tensor]:
        return (b for _, b in self.named_buffers())

    # ---- modes and gradients ----------------------------------------------------------------
    @ag.effect
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout active) on this module and every submodule."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
            m.__dict__.pop("_compile_key", None)
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def compile_key(self) -> tuple:
        """What ``ag.compile`` checks before replaying a program this module ran in: the training mode,
        which parameters, buffers and submodules it holds (by identity) and its plain settings (numbers,
        strings). Cached until an attribute is assigned."""
        key = self.__dict__.get("_compile_key")
        if key is None:
            plain = tuple((k, v) for k, v in self.__dict__.items()
                          if k != "_compile_key" and (v is None or isinstance(v, (bool, int, float, str))))
            key = (plain, *(tuple(map(id, self.__dict__[r].values())) for r in _REGISTRIES))
            self.__dict__["_compile_key"] = key
        hooks = self.__dict__.get("_hooks")  # registered without an attribute assignment: never cached
        return key if hooks is None else key + (tuple(tuple(t) for t in (hooks.pre, hooks.forward, hooks.backward)),)

    @ag.effect
    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None."""
        for p in self.parameters():
            p.grad = None

    # ---- state --------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Dotted names of parameters, then persistent buffers, to copies of their arrays (ready for ``nn.save``)."""
        return OrderedDict((n, t.data.copy()) for n, t in self._named_state())

    def _named_state(self) -> Iterator[tuple[str, ag.Tensor]]:
        yield from self.named_parameters()
        yield from self.named_buffers(persistent_only=True)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy arrays (or Tensors) into the parameters and persistent buffers of the same name, cast to each
        one's dtype.

        Every value is checked and converted (shape, numeric kind, a cast that would overflow to
        inf) before anything is assigned, so a failed load leaves the model unchanged. Missing or
        unexpected keys raise ``KeyError`` (``StateDictError``) when ``strict``; other problems
        ``ValueError``; one error lists them all. Returns ``(missing, unexpected)``.
        """
        tracer = ag.grad_mode.state.tracer
        if tracer is not None:  # `p.data = ...` is not recorded: the replays would not load
            tracer.unsupported("load_state_dict inside a compiled function", "load before calling it (the next "
                               "replay reads the new arrays), or run this step eagerly")
        if isinstance(state_dict, (str, bytes, os.PathLike)):
            raise TypeError(f"load_state_dict expects a state dict (names to arrays), got the path {state_dict!r}: "
                            "read a file with nn.load first, model.load_state_dict(nn.load(path))")
        if isinstance(state_dict, Module):
            raise TypeError(f"load_state_dict expects a state dict, got a {type(state_dict).__name__} module: "
                            "pass other_model.state_dict()")
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict expects a state dict (a mapping of names to arrays, as "
                            f"model.state_dict() or nn.load(path) return), got {type(state_dict).__name__}")
        own = OrderedDict(self._named_state())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        arrays, problems = {}, []
        for k, p in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            try:
                a = v.data if isinstance(v, ag.Tensor) else np.asarray(v)
            except ValueError as e:
                problems.append(f"'{k}': not an array ({e})")
                continue
            if a.dtype.kind not in "biuf":
                what = f"dtype {a.dtype}" if a.dtype != object else type(v).__name__
                problems.append(f"'{k}': expected a numeric array, got {what}")
            elif a.shape != p.shape:
                problems.append(f"'{k}': shape {a.shape} in the state dict, {p.shape} in the model")
            else:
                try:
                    arrays[k] = cast(a, p.dtype, f"'{k}'")
                except ValueError as e:
                    problems.append(str(e))
        lines = []
        if strict and missing:
            lines.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            lines.append("unexpected keys: " + ", ".join(k if isinstance(k, str) else f"{k!r} (not a string)"
                                                         for k in unexpected))
        lines += problems
        if lines:
            msg = f"error(s) loading state dict into {type(self).__name__} (nothing was loaded):\n  " + \
                "\n  ".join(lines)
            raise StateDictError(msg) if (strict and (missing or unexpected)) else ValueError(msg)
        for k, a in arrays.items():
            own[k].data = a
        return missing, unexpected

    # ---- repr ------------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses (its hyper-parameters)."""
        return ""

    def __repr__(self) -> str:
        subs = [(n, m) for n, m in self._modules.items() if m is not None]
        extra = self.extra_repr()
        if not subs:
            return f"{type(self).__name__}({extra})"
        lines = [extra] if extra else []
        for n, m in subs:
            lines.append(f"({n}): " + repr(m).replace("\n", "\n  "))
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _as_buffer(name: str, value: Any) -> ag.Tensor | None:
    if value is None or (isinstance(value, ag.Tensor) and not value.requires_grad):
        return value
    if isinstance(value, ag.Tensor):
        raise TypeError(f"buffer '{name}': a buffer never requires grad (use nn.Parameter for trainable state)")
    if isinstance(value, np.ndarray):
        return ag.tensor(value)
    raise TypeError(f"buffer '{name}': expected a Tensor, an ndarray or None, got {type(value).__name__}")


class Sequential(Module):
    """Modules applied in order; indexable (``seq[0]``, ``seq[1:]``), iterable, ``len()``.

    >>> model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, idx: int | slice) -> Module:
        _held_modules_read(self)
        if isinstance(idx, slice):  # keeps the names, as PyTorch does
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[idx]

    def __len__(self) -> int:
        _held_modules_read(self)
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        _held_modules_read(self)
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of registered modules (no ``forward``: the owner decides how to use them)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, idx: int | slice) -> Any:
        _held_modules_read(self)
        mods = list(self._modules.values())
        return ModuleList(mods[idx]) if isinstance(idx, slice) else mods[idx]

    def __setitem__(self, idx: int, module: Module) -> None:
        name = list(self._modules)[idx]
        self.add_module(name, module)

    def __len__(self) -> int:
        _held_modules_read(self)
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        _held_modules_read(self)
        return iter(self._modules.values())


class ModuleDict(Module):
    """Modules registered by name (``self.heads = nn.ModuleDict({"cls": ..., "box": ...})``), in insertion order."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict keys are non-empty strings without dots (they become parameter names), "
                           f"got {key!r}")
        self.add_module(key, module)

    def __getitem__(self, key: str) -> Module:
        _held_modules_read(self)
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no module {key!r} (it has: {', '.join(self._modules) or 'none'})")
        return self._modules[key]

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018  (raises the readable KeyError)
        delattr(self, key)

    def update(self, modules: Mapping[str, Module]) -> None:
        if not isinstance(modules, Mapping):
            raise TypeError(f"ModuleDict takes a dict of name -> Module, got {type(modules).__name__}")
        for k, m in modules.items():
            self[k] = m

    def __len__(self) -> int:
        _held_modules_read(self)
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        _held_modules_read(self)
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        _held_modules_read(self)
        return key in self._modules

    def keys(self) -> Iterable[str]:
        _held_modules_read(self)
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        _held_modules_read(self)
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        _held_modules_read(self)
        return self._modules.items()


def _held_modules_read(container: Module) -> None:
    """While ag.compile traces, a container whose modules the function reads (iterates, indexes) joins the
    program's key, as a called module does: appending a layer then traces again."""
    tracer = ag.grad_mode.state.tracer
    if tracer is not None:
        tracer.note_module(container)


def _unregistered_fix(value: Any) -> str:
    """What is wrong with keeping ``value`` in a plain attribute, and the fix; "" when nothing is."""
    if isinstance(value, ag.Tensor) and value.requires_grad and value.is_leaf:
        return ("is a Tensor with requires_grad=True but not an nn.Parameter, so parameters(), state_dict() and "
                "optimizers do not see it: assign nn.Parameter(...) instead")
    if isinstance(value, Mapping):  # only the first items: assigning a long list of numbers stays cheap
        items, kind, fix = list(itertools.islice(value.values(), 256)), "dict", "nn.ModuleDict({...})"
    elif isinstance(value, (list, tuple)):
        items, kind, fix = list(value[:256]), type(value).__name__, "nn.ModuleList([...])"
    else:
        return ""
    mods = [v for v in items if isinstance(v, Module)]
    if mods:
        names = ", ".join(sorted({type(m).__name__ for m in mods}))
        return (f"is a plain {kind} holding {len(mods)} module(s) ({names}) whose parameters are not registered, so "
                f"parameters(), state_dict() and optimizers miss them: use {fix} instead")
    if any(isinstance(v, ag.Tensor) and v.requires_grad and v.is_leaf for v in items):
        return (f"is a plain {kind} holding trainable tensors that are not registered, so parameters(), state_dict() "
                "and optimizers miss them: assign each as its own nn.Parameter attribute, or use "
                "self.register_parameter(name, nn.Parameter(...))")
    return ""
