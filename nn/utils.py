"""Gradient clipping (``clip_grad_norm_``, ``clip_grad_value_``) and state dicts to and from PyTorch's layouts
(``to_torch_state_dict``, ``from_torch_state_dict``)."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

import autograd_mini as ag

__all__ = ["clip_grad_norm_", "clip_grad_value_", "to_torch_state_dict", "from_torch_state_dict"]


def _with_grads(parameters: ag.Tensor | Iterable[ag.Tensor]) -> list[ag.Tensor]:
    if isinstance(parameters, ag.Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


@ag.effect  # ag.compile replays it; the norm it returns is the replay's
def clip_grad_norm_(parameters: ag.Tensor | Iterable[ag.Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so their joint norm is at most ``max_norm``; return the norm before.

    As PyTorch: the scale is ``max_norm / (total + 1e-6)``, applied only when below 1.
    ``norm_type`` may be ``math.inf``.
    """
    ps = _with_grads(parameters)
    if not ps:
        return 0.0
    grads = [p.grad.data for p in ps]
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    elif norm_type == 2.0:
        total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    else:
        total = sum(float(np.sum(np.abs(g.astype(np.float64)) ** norm_type)) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}")
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p, g in zip(ps, grads):
            p.grad.data = g * np.asarray(coef, dtype=g.dtype)
    return total


@ag.effect
def clip_grad_value_(parameters: ag.Tensor | Iterable[ag.Tensor], clip_value: float) -> None:
    """Clip every gradient element to ``[-clip_value, clip_value]``."""
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    for p in _with_grads(parameters):
        p.grad.data = np.clip(p.grad.data, -clip_value, clip_value)


# ---- PyTorch state dicts ---------------------------------------------------------------------------------
def _transposed(model: Any) -> set[str]:
    """The entries whose layout is PyTorch's transpose: every ``Linear.weight`` (in, out) here, (out, in) there,
    including ``MultiheadAttention.out_proj``. Every other entry has PyTorch's name and shape (docs/nn.md)."""
    from .layers import Linear

    return {f"{name}.weight" if name else "weight" for name, m in model.named_modules() if isinstance(m, Linear)}


def to_torch_state_dict(model: Any, state_dict: Mapping[str, Any] | None = None) -> OrderedDict[str, np.ndarray]:
    """``model.state_dict()`` in PyTorch's layouts (names unchanged), as numpy arrays.

    ``state_dict``: another dict with the model's names (gradients, say) to convert instead. Load it into
    the same architecture built with ``torch.nn``:
    ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in nn.utils.to_torch_state_dict(model).items()})``.
    """
    state = model.state_dict() if state_dict is None else state_dict
    flip = _transposed(model)
    return OrderedDict((k, np.ascontiguousarray(_array(k, v).T) if k in flip else _array(k, v).copy())
                       for k, v in state.items())


def from_torch_state_dict(state_dict: Mapping[str, Any], model: Any) -> OrderedDict[str, np.ndarray]:
    """A PyTorch state dict (names to arrays, or CPU tensors) in the layouts of ``model``, for
    ``model.load_state_dict(...)``. ``model`` says which entries differ: a Linear weight and an Embedding
    weight look alike, only the module tree tells them apart. Takes arrays, never a file: read a ``.pt``
    with ``torch.load(path, weights_only=True)`` in PyTorch first.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"from_torch_state_dict expects a mapping of names to arrays (torch_model.state_dict()), "
                        f"got {type(state_dict).__name__}")
    flip = _transposed(model)
    out = OrderedDict()
    for k, v in state_dict.items():
        a = _array(k, v)
        if k in flip:
            if a.ndim != 2:
                raise ValueError(f"from_torch_state_dict: {k!r} is a Linear weight, (out, in) in PyTorch, but has "
                                 f"shape {a.shape}")
            a = np.ascontiguousarray(a.T)
        out[k] = a
    return out


def _array(name: str, v: Any) -> np.ndarray:
    if isinstance(v, ag.Tensor):
        return np.array(v.data)
    try:  # a numpy array, or a CPU torch tensor without grad (state_dict()'s are detached)
        return np.array(v.numpy() if hasattr(v, "numpy") and not isinstance(v, np.ndarray) else v)
    except (TypeError, RuntimeError, ValueError) as e:
        raise TypeError(f"state dict entry {name!r}: cannot make an array of {type(v).__name__} ({e}); pass "
                        "arrays, or tensor.detach().cpu().numpy()") from None
