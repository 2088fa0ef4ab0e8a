"""Optimizers (SGD, Adam, AdamW: PyTorch's update formulas, step for step) and learning-rate schedules.

Updates assign ``p.data = ...``: they are never recorded, and give the parameter a new array, so a graph that
saved the old value keeps it intact (and refuses a stale backward) instead of blocking the update.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Iterable, Mapping
from typing import Any, Callable

import numpy as np

import autograd_mini as ag

from ._checks import Problems, betas, flag, float_array, integer, non_negative, non_negative_array, real

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR"]


class Optimizer:
    """Base class: ``param_groups`` (lists of parameters with their hyper-parameters) and per-parameter ``state``.

    ``params`` is an iterable of tensors, or of dicts ``{"params": [...], "lr": ...}`` for groups
    with their own settings.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        params = _param_list(type(self).__name__, params)
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}  # keyed by id(parameter)
        seen: set[int] = set()
        for g in groups:
            if not isinstance(g, dict) or "params" not in g:
                raise TypeError(f"{type(self).__name__}: a parameter group is a dict with a 'params' entry, "
                                f"got {type(g).__name__}")
            g = dict(g)
            ps = [g["params"]] if isinstance(g["params"], ag.Tensor) else _param_list(type(self).__name__, g["params"])
            for p in ps:
                if not isinstance(p, ag.Tensor):
                    raise TypeError(f"{type(self).__name__}: can only optimise Tensors, got {type(p).__name__} "
                                    "among the parameters: pass model.parameters()")
                if not p.requires_grad:
                    raise TypeError(f"{type(self).__name__}: a tensor of shape {p.shape} does not require grad, so "
                                    "it would never change: make it an nn.Parameter, or leave it out")
                if id(p) in seen:
                    raise ValueError(f"{type(self).__name__}: a parameter of shape {p.shape} appears twice")
                seen.add(id(p))
            g["params"] = ps
            for k, v in defaults.items():
                g.setdefault(k, v)
            problems = Problems()
            g.update(self._hyper(g, problems, "", extra=set(g)))  # keys of the user's own (a "name") are kept
            problems.raise_if_any(type(self).__name__)
            self.param_groups.append(g)

    @ag.effect  # ag.compile replays it
    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None."""
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None

    def step(self) -> None:
        raise NotImplementedError

    def _params(self) -> list[ag.Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: array}}, "param_groups": [...]}``, parameters by position (copies)."""
        index = {id(p): i for i, p in enumerate(self._params())}
        st = {index[k]: copy.deepcopy(v) for k, v in self.state.items() if k in index}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        return {"state": st, "param_groups": groups}

    # what each group and each parameter's state may hold: name -> converter (subclasses declare theirs)
    HYPER: dict[str, Callable[[Any, str], Any]] = {}

    def _state_spec(self, group: Mapping[str, Any]) -> tuple[dict, dict]:
        """Required and optional per-parameter state entries: name -> ``converter(value, name, param_array)``."""
        return {}, {}

    def _hyper(self, group: Mapping[str, Any], problems: Problems, where: str, extra: set = frozenset()) -> dict:
        """The group's hyper-parameters checked and converted by ``HYPER`` (``initial_lr`` from a schedule
        too); keys in ``extra`` are the user's own and kept as they are."""
        spec = {**self.HYPER, "initial_lr": non_negative}
        out = {}
        for k in self.HYPER:
            if k not in group:
                problems.add(f"{where}missing hyper-parameter '{k}'")
        for k, v in group.items():
            if k == "params":
                continue
            if k in spec:
                out[k] = problems.check(where, spec[k], v, k)
            elif k in extra:
                out[k] = copy.deepcopy(v)
            else:
                problems.add(f"{where}unknown hyper-parameter {k!r}")
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyper-parameters and state saved by ``state_dict``.

        Every group and state entry is checked and converted first (the constructor's rules for
        hyper-parameters; state arrays floating, shaped like their parameter, cast to its dtype without
        overflow); one error lists every problem and the optimizer is left unchanged.
        """
        who = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{who}: expected the dict returned by state_dict(), got {type(state_dict).__name__}")
        problems = Problems()
        for k in ("state", "param_groups"):
            if k not in state_dict:
                problems.add(f"missing key '{k}'")
        for k in state_dict:
            if k not in ("state", "param_groups"):
                problems.add(f"unexpected key {k!r}")
        groups, by_index = self._load_groups(state_dict.get("param_groups"), problems)
        new_state = self._load_state(state_dict.get("state"), by_index, problems)
        problems.raise_if_any(who)
        for g, hyper in zip(self.param_groups, groups):
            g.update(hyper)
        self.state = new_state

    def _load_groups(self, groups: Any, problems: Problems) -> tuple[list[dict], dict]:
        """Checked hyper-parameters per group, and saved parameter index -> (parameter, its new group)."""
        if groups is None:
            return [], {}
        if not isinstance(groups, (list, tuple)) or not all(isinstance(g, Mapping) for g in groups):
            problems.add(f"param_groups must be a list of dicts, got {type(groups).__name__}", TypeError)
            return [], {}
        sizes = [len(g["params"]) if isinstance(g.get("params"), (list, tuple)) else None for g in groups]
        own = [len(g["params"]) for g in self.param_groups]
        if sizes != own:
            problems.add(f"group sizes {sizes} differ from this optimizer's {own}")
            return [], {}
        out, by_index = [], {}
        for gi, (saved, g) in enumerate(zip(groups, self.param_groups)):
            hyper = self._hyper(saved, problems, f"param_groups[{gi}]: ", extra=set(g) - {"params"})
            out.append(hyper)
            for i, p in zip(saved["params"], g["params"]):
                i = problems.check(f"param_groups[{gi}]: ", integer, i, "a parameter index")
                if i in by_index:
                    problems.add(f"param_groups[{gi}]: parameter index {i} appears twice")
                elif i is not None:
                    by_index[i] = (p, hyper)
        return out, by_index

    def _load_state(self, state: Any, by_index: dict, problems: Problems) -> dict[int, dict[str, Any]]:
        if state is None:
            return {}
        if not isinstance(state, Mapping):
            problems.add(f"state must be a dict of parameter index -> dict, got {type(state).__name__}", TypeError)
            return {}
        new_state = {}
        for i, entry in state.items():
            index = problems.check("state: ", integer, i, "a parameter index")
            if index is None:
                continue
            where = f"state of parameter {index}: "
            if index not in by_index:
                if by_index:
                    problems.add(f"{where}no parameter has index {index}")
                continue
            if not isinstance(entry, Mapping):
                problems.add(f"{where}expected a dict, got {type(entry).__name__}", TypeError)
                continue
            p, hyper = by_index[index]
            required, optional = self._state_spec(hyper)
            for k in required:
                if k not in entry:
                    problems.add(f"{where}missing '{k}'")
            converted = {}
            for k, v in entry.items():
                spec = required.get(k) or optional.get(k)
                if spec is None:
                    problems.add(f"{where}unexpected entry {k!r}")
                else:
                    converted[k] = problems.check("", spec, v, f"state '{k}' of parameter {index}", p.data)
            new_state[id(p)] = converted
        return new_state

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({hp})"


def _param_list(name: str, params: Any) -> list:
    """``params`` as a list, or a ``TypeError`` that says what to pass instead."""
    if hasattr(params, "parameters") and callable(params.parameters):
        raise TypeError(f"{name} expects the parameters to optimise, got the {type(params).__name__} model itself: "
                        f"pass model.parameters(), as in nn.optim.{name}(model.parameters(), lr=...)")
    if isinstance(params, ag.Tensor):
        raise TypeError(f"{name} expects an iterable of parameters, got a single Tensor: wrap it in a list, [w]")
    if isinstance(params, dict):
        raise TypeError(f"{name} expects a list of parameter groups, got one dict: wrap it in a list, [{{'params': "
                        "..., 'lr': ...}]")
    if isinstance(params, (str, bytes)) or not isinstance(params, Iterable):
        raise TypeError(f"{name} expects an iterable of parameters (model.parameters(), a list of Tensors, or "
                        f"a list of parameter-group dicts), got {type(params).__name__}")
    params = list(params)
    if not params:
        raise ValueError(f"{name}: got an empty parameter list (a model without parameters, or a "
                         "model.parameters() generator already used up: call model.parameters() again)")
    return params


def _buffer_or_none(value: Any, name: str, like: np.ndarray) -> np.ndarray | None:
    return None if value is None else float_array(value, name, like)


def _count(value: Any, name: str, like: np.ndarray) -> int:
    return integer(value, name, 0)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay (PyTorch's)::

        g = grad + weight_decay * p
        buf = g (first step), else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    """

    HYPER = {"lr": non_negative, "momentum": non_negative, "dampening": real, "nesterov": flag,
             "weight_decay": non_negative}

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                                      weight_decay=weight_decay))

    def _hyper(self, group: Mapping[str, Any], problems: Problems, where: str, extra: set = frozenset()) -> dict:
        out = super()._hyper(group, problems, where, extra)
        if out.get("nesterov") and (out.get("momentum") is not None and out["momentum"] <= 0
                                    or out.get("dampening") not in (None, 0)):
            problems.add(f"{where}nesterov momentum needs momentum > 0 and dampening = 0")
        return out

    def _state_spec(self, group: Mapping[str, Any]) -> tuple[dict, dict]:
        return {}, {"momentum_buffer": _buffer_or_none}

    @ag.effect  # ag.compile replays it (reading the learning rate on every call)
    def step(self) -> None:
        for group in self.param_groups:
            lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov = group["weight_decay"], group["nesterov"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                w = p.data
                g = p.grad.data
                if wd:
                    g = g + wd * w
                if mom:
                    st = self.state.setdefault(id(p), {})
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        buf = st["momentum_buffer"] = np.array(g, copy=True)
                    else:  # the buffer is ours: update it in place
                        buf *= mom
                        buf += g if damp == 0 else (1 - damp) * g
                    g = g + mom * buf if nesterov else buf
                upd = np.asarray(g * lr)  # a fresh array (asarray: 0-d products are numpy scalars): the new parameter
                np.subtract(w, upd, out=upd)
                p.data = upd.astype(w.dtype, copy=False)

    def compiled_step(self, t: Any, me: str) -> bool:
        """How ``ag.compile`` writes plain gradient descent (one group, no momentum, no weight decay) into its
        program: ``step``'s own numpy calls, behind a check that the settings and the parameters are still
        those (else ``step()`` runs). Returns False (the program then calls ``step()``) for any other configuration."""
        if len(self.param_groups) != 1:
            return False
        group = self.param_groups[0]
        params = group["params"]
        if group["momentum"] or group["weight_decay"] or any(p.grad is not None and p.grad.dtype != p.dtype
                                                              for p in params):
            return False
        grp, lr, upd = t.fresh("group"), t.fresh("lr"), t.fresh("upd")
        same = f"map({t.const(operator.is_not, 'is_not')}, {grp}['params'], {t.const(tuple(params), 'params')})"
        t.emit(f"{grp} = {me}.param_groups[0]")
        t.emit(f"if len({me}.param_groups) != 1 or {grp}['momentum'] or {grp}['weight_decay'] "
               f"or len({grp}['params']) != {len(params)} or any({same}):")
        t.emit(f"    {me}.step()  # no longer plain gradient descent: the optimizer's own step")
        t.emit("else:")
        t.emit(f"    {lr} = {grp}['lr']")
        for p in params:
            holder = t.object(p)
            t.emit(f"    if {holder}.grad is not None:")
            product = f"{holder}.grad._data * {lr}"
            t.emit(f"        {upd} = {f'np.asarray({product})' if p.ndim == 0 else product}")  # 0-d: a numpy scalar
            t.emit(f"        {holder}._data = np.subtract({holder}._data, {upd}, out={upd})")
        return True


class Adam(Optimizer):
    """Adam (PyTorch's formulas, L2 ``weight_decay`` added to the gradient)::

        g = grad + weight_decay * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    ``amsgrad=True`` uses the running maximum of ``v``.
    """

    decoupled = False

    HYPER = {"lr": non_negative, "betas": betas, "eps": non_negative, "weight_decay": non_negative, "amsgrad": flag}

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def _state_spec(self, group: Mapping[str, Any]) -> tuple[dict, dict]:
        required = {"step": _count, "exp_avg": float_array, "exp_avg_sq": non_negative_array}
        extra = {"max_exp_avg_sq": non_negative_array}
        return ({**required, **extra}, {}) if group.get("amsgrad") else (required, extra)

    @ag.effect
    def step(self) -> None:
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                w = p.data
                g = p.grad.data
                if wd and self.decoupled:
                    w = w * (1 - lr * wd)       # AdamW: decay the weights, not the gradient
                elif wd:
                    g = g + wd * w
                st = self.state.get(id(p))
                if st is None:
                    st = self.state[id(p)] = {"step": 0, "exp_avg": np.zeros_like(w), "exp_avg_sq": np.zeros_like(w)}
                    if group["amsgrad"]:
                        st["max_exp_avg_sq"] = np.zeros_like(w)
                st["step"] += 1
                t = st["step"]
                m, v = st["exp_avg"], st["exp_avg_sq"]  # ours: updated in place
                tmp = np.asarray(g * (1 - b1))  # a fresh array (asarray: 0-d products are numpy scalars)
                m *= b1
                m += tmp                                  # m = b1 m + (1 - b1) g
                np.multiply(g, g, out=tmp)
                tmp *= 1 - b2
                v *= b2
                v += tmp                                  # v = b2 v + (1 - b2) g^2
                if group["amsgrad"]:
                    v = np.maximum(st["max_exp_avg_sq"], v, out=st["max_exp_avg_sq"])
                np.sqrt(v, out=tmp)
                tmp /= math.sqrt(1 - b2**t)
                tmp += eps                                # denom
                np.divide(m, tmp, out=tmp)
                tmp *= lr / (1 - b1**t)
                np.subtract(w, tmp, out=tmp)              # a fresh array: becomes the new parameter
                p.data = tmp.astype(p.dtype, copy=False)


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's AdamW): ``p = p * (1 - lr * weight_decay)`` before the Adam step."""

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


# ---- learning-rate schedules --------------------------------------------------------------------------
class LRScheduler:
    """Sets each group's ``lr`` from its initial value and the epoch count; call ``step()`` once per epoch."""

    def __init__(self, optimizer: Optimizer, **settings: Any) -> None:
        """``settings``: the schedule's own, each checked by its ``HYPER`` converter (all problems in one error)."""
        name = type(self).__name__
        _need_optimizer(name, optimizer)
        problems = Problems()
        self.__dict__.update(self._checked(settings, problems))
        problems.raise_if_any(name)
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    @ag.effect
    def step(self) -> None:
        """Advance one epoch and set the learning rates."""
        self.last_epoch += 1
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    # the schedule's own settings: name -> converter (subclasses declare theirs; the constructor checks them too)
    HYPER: dict[str, Callable[[Any, str], Any]] = {}

    def _checked(self, values: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        return {k: problems.check("", convert, values[k], k) for k, convert in self.HYPER.items() if k in values}

    def state_dict(self) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned: the same keys, each checked by the constructor's rules
        (``base_lrs`` one non-negative number per group, ``last_epoch`` >= -1); nothing changes on error."""
        who = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{who}: expected the dict returned by state_dict(), got {type(state_dict).__name__}")
        problems = Problems()
        expected = self.state_dict()
        for k in expected:
            if k not in state_dict:
                problems.add(f"missing key '{k}'")
        for k in state_dict:
            if k not in expected:
                reason = " (a schedule cannot be moved to another optimizer)" if k == "optimizer" else ""
                problems.add(f"unexpected key {k!r}{reason}")
        new = self._checked(state_dict, problems)
        if "last_epoch" in state_dict:
            new["last_epoch"] = problems.check("", integer, state_dict["last_epoch"], "last_epoch", -1)
        if "base_lrs" in state_dict:
            lrs = state_dict["base_lrs"]
            n = len(self.optimizer.param_groups)
            if not isinstance(lrs, (list, tuple, np.ndarray)) or len(lrs) != n:
                problems.add(f"base_lrs must be a list of {n} learning rate(s), got {lrs!r}")
            else:
                new["base_lrs"] = [problems.check("", non_negative, v, "base_lrs") for v in lrs]
        for k in expected:
            if k in state_dict and k not in new:  # a subclass's own attribute with no declared check
                if type(state_dict[k]) is not type(expected[k]):
                    problems.add(f"'{k}' must be a {type(expected[k]).__name__}, got {type(state_dict[k]).__name__}",
                                 TypeError)
                new[k] = copy.deepcopy(state_dict[k])
        problems.raise_if_any(who)
        self.__dict__.update(new)


def _need_optimizer(name: str, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        hint = " (the optimizer, not the model)" if hasattr(optimizer, "parameters") else ""
        raise TypeError(f"{name} expects an optimizer{hint}, got {type(optimizer).__name__}: "
                        f"{name}(opt, ...) with opt = nn.optim.SGD(model.parameters(), lr=...)")


class StepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (epoch // step_size)``."""

    HYPER = {"step_size": lambda v, name: integer(v, name, 1), "gamma": real}

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer, step_size=step_size, gamma=gamma)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """``lr = initial_lr * gamma ** epoch``."""

    HYPER = {"gamma": real}

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer, gamma=gamma)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`` (PyTorch's closed form)."""

    HYPER = {"T_max": lambda v, name: integer(v, name, 1), "eta_min": real}

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803
        super().__init__(optimizer, T_max=T_max, eta_min=eta_min)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
