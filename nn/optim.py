"""Optimizers (SGD, Adam, AdamW: PyTorch's update formulas, step for step) and learning-rate schedules.

Updates assign ``p.data = ...``: they are never recorded, and bump the parameter's version
counter so a graph that saved the old value refuses a stale backward.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

import autograd_mini as ag

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
            self.param_groups.append(g)

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

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by ``state_dict`` (checked before anything changes)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError(f"{type(self).__name__}.load_state_dict: group sizes "
                             f"{[len(g['params']) for g in groups]} differ from this optimizer's "
                             f"{[len(g['params']) for g in self.param_groups]}")
        params = self._params()
        new_state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            for k, v in s.items():
                if isinstance(v, np.ndarray) and v.ndim and v.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: state '{k}' of parameter {i} has "
                                     f"shape {v.shape}, the parameter {p.shape}")
            new_state[id(p)] = copy.deepcopy(s)
        for g, saved in zip(self.param_groups, groups):
            g.update({k: v for k, v in saved.items() if k != "params"})
        self.state = new_state

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


def _check(name: str, **values: float) -> None:
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
            raise TypeError(f"{name}: {k} must be a number, got {type(v).__name__} {v!r}")
        if v < 0:
            raise ValueError(f"{name}: {k} must be non-negative, got {v}")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay (PyTorch's)::

        g = grad + weight_decay * p
        buf = g (first step), else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        _check("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                                      weight_decay=weight_decay))

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
                upd = g * lr  # a fresh array: becomes the new parameter
                np.subtract(w, upd, out=upd)
                p.data = upd.astype(w.dtype, copy=False)


class Adam(Optimizer):
    """Adam (PyTorch's formulas, L2 ``weight_decay`` added to the gradient)::

        g = grad + weight_decay * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    ``amsgrad=True`` uses the running maximum of ``v``.
    """

    decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        _check(type(self).__name__, lr=lr, eps=eps, weight_decay=weight_decay)
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

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
                tmp = g * (1 - b1)
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

    def __init__(self, optimizer: Optimizer) -> None:
        _need_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the learning rates."""
        self.last_epoch += 1
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)


def _need_optimizer(name: str, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        hint = " (the optimizer, not the model)" if hasattr(optimizer, "parameters") else ""
        raise TypeError(f"{name} expects an optimizer{hint}, got {type(optimizer).__name__}: "
                        f"{name}(opt, ...) with opt = nn.optim.SGD(model.parameters(), lr=...)")


class StepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        _need_optimizer("StepLR", optimizer)
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """``lr = initial_lr * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        _need_optimizer("ExponentialLR", optimizer)
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`` (PyTorch's closed form)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803
        _need_optimizer("CosineAnnealingLR", optimizer)
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), eta_min
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
