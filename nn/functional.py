"""Stateless functions behind the layers and losses, all built on ``autograd_mini``'s public API.

Two are ``ag.Function``s, for stability and speed, with composed twins kept as test oracles:
``SoftmaxCrossEntropy`` (one op instead of log_softmax + indexing + reduction) and
``BinaryCrossEntropy`` (PyTorch's clamped logs, whose composed gradient would be nan at 0 and 1).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import autograd_mini as ag
from autograd_mini import numpy as anp

from ._warn import warn_once

__all__ = [
    "layer_input", "linear", "relu", "sigmoid", "tanh", "leaky_relu", "softmax", "log_softmax", "dropout", "flatten",
    "silu", "softplus", "elu", "selu", "celu", "mish", "logsigmoid",
    "hardtanh", "relu6", "hardsigmoid", "hardswish", "softsign", "softmin", "glu", "normalize",
    "mse_loss", "l2_penalty", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "SoftmaxCrossEntropy", "BinaryCrossEntropy",
    "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div", "cosine_similarity", "margin_ranking_loss",
    "gelu", "layer_norm", "layer_norm_composed", "LayerNormFunction", "embedding", "scaled_dot_product_attention",
]

REDUCTIONS = ("mean", "sum", "none")


def _t(x: Any) -> ag.Tensor:
    return x if isinstance(x, ag.Tensor) else ag.as_tensor(x)  # an input constant: no copy needed


def _arr(x: Any) -> np.ndarray:
    return x.data if isinstance(x, ag.Tensor) else np.asarray(x)


def check_reduction(reduction: str, allowed: tuple = REDUCTIONS) -> str:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def _operand(v: Any, like: ag.Tensor) -> Any:
    """A loss's target or weight: a Tensor as it is, else an array of ``like``'s float dtype (an integer
    ``like`` leaves the values alone: casting a 0.5 to its dtype would truncate it)."""
    if isinstance(v, ag.Tensor):
        return v
    return np.asarray(v, dtype=like.dtype if like.dtype.kind == "f" else None)


def _reduce(loss: ag.Tensor, reduction: str) -> ag.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _same_shape(name: str, input: ag.Tensor, target: Any) -> None:
    ts = np.shape(_arr(target))
    if input.shape != ts:
        raise ValueError(f"{name}: input shape {input.shape} and target shape {ts} differ "
                         "(reshape one of them; broadcasting is not applied to losses)")


# ---- layers and activations -------------------------------------------------------------------
def layer_input(x: Any, weight: ag.Tensor, layer: str) -> ag.Tensor:
    """``x`` as a Tensor of ``weight``'s dtype, for the layer named ``layer`` (used in the warning).

    Lists, Python numbers and integer or bool data take the weight's dtype silently. Floating data
    of another dtype (float64 data into a float32 model, or the reverse) is cast to the weight's
    dtype with a warning, once per model, naming both dtypes and the fix: without the cast numpy
    would run a float32 model in float64 without a word. Every layer with weights calls this first
    (``Linear``; new layers should too).
    """
    want = weight.dtype
    if not isinstance(x, (ag.Tensor, np.ndarray)):
        return ag.as_tensor(x, dtype=want)
    if x.dtype != want:
        if x.dtype.kind not in "biu":
            warn_once(outermost_module(), "dtype", (
                f"{layer}: the input is {x.dtype} but the layer's weights are {want}, so the input is cast to {want} "
                f"(warned once per model). Convert the input yourself, x.astype('{want}'), or build the model in "
                f"{x.dtype}: nn.Linear(..., dtype='{x.dtype}'), or ag.set_default_dtype('{x.dtype}') before building."))
        return x.astype(want) if isinstance(x, ag.Tensor) else ag.as_tensor(x, dtype=want)
    return x if isinstance(x, ag.Tensor) else ag.as_tensor(x)


def outermost_module() -> Any:
    """The model whose call is running (the outermost module on the scope chain), or None."""
    scope = ag.current_scope()
    while scope is not None and scope[1] is not None:
        scope = scope[1]
    return None if scope is None else scope[0]


def linear(x: Any, weight: ag.Tensor, bias: ag.Tensor | None = None) -> ag.Tensor:
    """``x @ weight + bias`` with ``weight`` of shape (in_features, out_features)."""
    return ag.linear(layer_input(x, weight, "linear"), weight, bias)


def relu(x: Any) -> ag.Tensor: return ag.relu(x)
def sigmoid(x: Any) -> ag.Tensor: return ag.sigmoid(x)
def tanh(x: Any) -> ag.Tensor: return ag.tanh(x)
softmax, log_softmax = ag.softmax, ag.log_softmax  # axis=-1 by default; PyTorch's dim= works too


def leaky_relu(x: Any, negative_slope: float = 0.01) -> ag.Tensor:
    """``x`` where ``x > 0``, else ``negative_slope * x`` (slope ``negative_slope`` at 0, as PyTorch)."""
    x = _t(x)
    return ag.where(x > 0, x, x * negative_slope)


def silu(x: Any) -> ag.Tensor:
    """``x * sigmoid(x)`` (swish), one primitive with PyTorch's derivative."""
    return ag.silu(x)


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> ag.Tensor:
    """``log(1 + exp(beta * x)) / beta``; ``x`` itself where ``beta * x > threshold``."""
    return ag.softplus(x, beta, threshold)


def elu(x: Any, alpha: float = 1.0) -> ag.Tensor:
    """``x`` for x > 0, else ``alpha * (exp(x) - 1)``."""
    return ag.elu(x, alpha)


def selu(x: Any) -> ag.Tensor:
    """``scale * elu(x, alpha)`` with SELU's constants."""
    return ag.selu(x)


def celu(x: Any, alpha: float = 1.0) -> ag.Tensor:
    """``x`` for x > 0, else ``alpha * (exp(x / alpha) - 1)``."""
    return ag.celu(x, alpha)


def mish(x: Any) -> ag.Tensor:
    """``x * tanh(softplus(x))``."""
    return ag.mish(x)


def logsigmoid(x: Any) -> ag.Tensor:
    """``log(sigmoid(x))``, stable for any x."""
    return ag.logsigmoid(x)


def hardtanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> ag.Tensor:
    """``x`` limited to [min_val, max_val]; gradient 0 at the bounds, as PyTorch's (``clip`` passes it there)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} is above max_val {max_val}")
    x = _t(x)
    lo, hi = (np.asarray(v, x.dtype) if x.dtype.kind in "iu" else v for v in (min_val, max_val))  # ints stay ints
    return ag.where(x <= min_val, lo, ag.where(x >= max_val, hi, x))  # nan passes through


def relu6(x: Any) -> ag.Tensor:
    """``min(max(x, 0), 6)``: ``hardtanh(x, 0, 6)``."""
    return hardtanh(x, 0.0, 6.0)


def hardsigmoid(x: Any) -> ag.Tensor:
    """``x / 6 + 1/2`` on (-3, 3), 0 below, 1 above (gradient 0 at +-3, as PyTorch's)."""
    x = _t(x)
    outside = ag.where(x <= -3.0, 0.0, ag.where(x >= 3.0, 1.0, x.detach()))  # nan: its value, gradient 0 (PyTorch)
    return ag.where((x > -3.0) & (x < 3.0), x * (1.0 / 6.0) + 0.5, outside)


def hardswish(x: Any) -> ag.Tensor:
    """``x * hardsigmoid(x)``; gradient ``x / 3 + 1/2`` on (-3, 3), 0 below, 1 above (PyTorch's choice at +-3)."""
    x = _t(x)
    a = x.detach()  # the masks are comparisons (ag.compile makes them again on each replay)
    mid = (a > -3.0) & (a < 3.0)
    xm = ag.where(mid, x, 0.0)  # the quadratic sees 0 off (-3, 3): an inf or nan there would leak into the gradient
    return ag.where(a <= -3.0, 0.0, ag.where(mid, xm * (xm + 3.0) * (1.0 / 6.0), x))


def softsign(x: Any) -> ag.Tensor:
    """``x / (1 + |x|)``."""
    x = _t(x)
    return x / (ag.abs(x) + 1.0)


def softmin(x: Any, dim: int = -1) -> ag.Tensor:
    """``softmax(-x)`` along ``dim``."""
    return ag.softmax(-_t(x), dim)


def glu(x: Any, dim: int = -1) -> ag.Tensor:
    """Gated linear unit: ``a * sigmoid(b)`` for the two halves ``a``, ``b`` of ``x`` along ``dim``."""
    x = _t(x)
    n = x.shape[dim] if x.ndim else 1
    if x.ndim == 0 or n % 2:
        raise ValueError(f"glu: dim {dim} of shape {x.shape} must have an even size, to halve it")
    a, b = ag.split(x, 2, axis=dim)
    return a * ag.sigmoid(b)


def normalize(x: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> ag.Tensor:
    """``x / max(norm_p(x), eps)`` along ``dim`` (PyTorch's: the floor is a differentiable clamp, and a
    zero vector's norm has gradient 0)."""
    x = _t(x)
    if p == 2:
        norm = _norm2(x, dim)
    elif p == 1:
        norm = ag.abs(x).sum(axis=dim, keepdims=True)
    elif p == math.inf:
        norm = ag.abs(x).max(axis=dim, keepdims=True)
    else:
        raise ValueError(f"normalize: p must be 1, 2 or inf here, got {p} (other p: x / (|x|**p).sum(dim)**(1/p))")
    return x / ag.clip(norm, eps, None)


def flatten(x: Any, start_dim: int = 1, end_dim: int = -1) -> ag.Tensor:
    """Merge axes ``start_dim`` through ``end_dim`` (keeps the batch axis by default)."""
    return _t(x).flatten(start_dim, end_dim)


def dropout(x: Any, p: float = 0.5, training: bool = True, seed: ag.Seed = None) -> ag.Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (inverted dropout).

    The identity when ``training`` is False or ``p == 0``. ``seed`` (int or Generator) draws the
    mask; None uses the global generator (``ag.manual_seed``).
    """
    x = _t(x)
    return _dropout("dropout", x, p, training, seed, x.shape)


def dropout2d(input: Any, p: float = 0.5, training: bool = True, seed: ag.Seed = None) -> ag.Tensor:
    """Zero whole channels of (N, C, H, W) or (C, H, W) images with probability ``p``, scale the rest by
    ``1/(1-p)``: PyTorch's ``F.dropout2d`` (plus ``seed``, as ``dropout``)."""
    x = _t(input)
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected input of shape (N, C, H, W) or (C, H, W), got shape {x.shape}")
    return _dropout("dropout2d", x, p, training, seed, x.shape[:-2] + (1, 1))


def _dropout(name: str, x: ag.Tensor, p: float, training: bool, seed: ag.Seed, mask_shape: tuple) -> ag.Tensor:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * np.zeros(mask_shape, dtype=x.dtype)
    return x * ag.array_call(_dropout_scale, seed, mask_shape, p, x.dtype)  # ag.compile draws it again on replay


def _dropout_scale(seed: ag.Seed, shape: tuple, p: float, dtype: Any) -> np.ndarray:
    """``1/(1-p)`` where an element is kept, 0 where dropped, drawn from ``seed``'s generator."""
    keep = ag.get_generator(seed).random(shape) >= p
    return (keep * (1.0 / (1.0 - p))).astype(dtype)


# ---- regression losses ---------------------------------------------------------------------------
def mse_loss(input: ag.Tensor, target: Any, reduction: str = "mean") -> ag.Tensor:
    """Squared error ``(input - target)**2``, reduced; shapes must match."""
    check_reduction(reduction)
    input = _t(input)
    _same_shape("mse_loss", input, target)
    target = _operand(target, input)
    d = input - target
    return _reduce(d * d, reduction)


def l2_penalty(params: Any, weight: float) -> ag.Tensor:
    """``weight / 2 * sum(p**2)`` over ``params`` (an iterable of tensors, or a Module)."""
    if hasattr(params, "parameters"):
        params = params.parameters()
    total = None
    for p in params:
        s = (p * p).sum()
        total = s if total is None else total + s
    if total is None:
        return ag.tensor(0.0)
    return total * (weight / 2.0)


# ---- classification losses -------------------------------------------------------------------------
def _class_indices(name: str, logits: ag.Tensor, target: Any, ignore_index: int = -100) -> np.ndarray:
    """Validate integer class targets for logits (C,), (N, C) or (N, C, d1, ...): shape (), (N,) or
    (N, d1, ...); values in [0, C) or ``ignore_index``."""
    y = _arr(target)
    if logits.ndim == 0:
        raise ValueError(f"{name}: input must have shape (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    want = () if logits.ndim == 1 else logits.shape[:1] + logits.shape[2:]
    if y.shape != want:
        raise ValueError(f"{name}: class-index target of shape {y.shape} does not match input of shape "
                         f"{logits.shape} (expected target shape {want}: the input without its class axis "
                         f"{0 if logits.ndim == 1 else 1})")
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            raise ValueError(f"{name}: float target of shape {y.shape} must hold class indices (whole numbers), "
                             f"or have the input's shape {logits.shape} to be class probabilities")
    elif y.dtype.kind not in "iub":
        raise TypeError(f"{name}: target must hold integer class indices, got dtype {y.dtype}")
    c = logits.shape[0 if logits.ndim == 1 else 1]
    bad = ((y < 0) | (y >= c)) & (y != ignore_index)
    if bad.any():
        raise IndexError(f"{name}: class index {y[bad].ravel()[:5].tolist()} out of range for {c} classes "
                         f"(input shape {logits.shape}, target shape {y.shape}, ignore_index {ignore_index})")
    return y if y.dtype == np.intp else ag.array_call(_as_indices, y)  # ag.compile converts again on each replay


def _as_indices(y: np.ndarray) -> np.ndarray:
    return (y.astype(np.int64) if y.dtype.kind == "f" else y).astype(np.intp, copy=False)


def _classes_last(x: ag.Tensor) -> ag.Tensor:
    """(C,), (N, C) or (N, C, d1, ...) as rows of classes, shape (M, C)."""
    if x.ndim == 2:
        return x
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim > 2:
        x = x.permute(0, *range(2, x.ndim), 1)
    return x.reshape(-1, x.shape[-1])


def _class_weight(name: str, weight: Any, c: int, dtype: Any) -> np.ndarray | None:
    if weight is None:
        return None
    if isinstance(weight, str):
        raise TypeError(f"{name}: the third argument is weight (PyTorch's order); pass reduction={weight!r} by name")
    w = np.asarray(_arr(weight), dtype=dtype if dtype.kind == "f" else None)
    if w.shape != (c,):
        raise ValueError(f"{name}: weight must have one entry per class, shape ({c},), got {w.shape}")
    _not_traced(f"{name} with class weights")
    return w


def _check_smoothing(name: str, label_smoothing: float) -> float:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    return float(label_smoothing)


class SoftmaxCrossEntropy(ag.Function):
    """Cross entropy from logits (N, C) and class indices (N,), reduced, as one op.

    ``loss_i = logsumexp(x_i) - x_i[y_i]``; gradient ``(softmax(x) - onehot(y)) * g``, divided
    by N for ``mean``. Backward recomputes the softmax from the logits with ``anp.softmax`` (plain
    numpy on arrays, the recorded op on Tensors): one formula that is also differentiable again
    under ``create_graph``. The fast path of ``cross_entropy`` (no weight, no ignored target, no
    smoothing); the general path is composed (``_weighted_nll``).
    """
    formula = "d cross_entropy(x, y)/dx: g * (softmax(x) - onehot(y)), divided by N for the mean"

    @staticmethod
    def forward(ctx, x, y, *, reduction):
        n = x.shape[0]
        shifted = x - x.max(axis=1, keepdims=True)
        losses = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(n), y]
        if reduction == "none":
            return losses
        total = losses.sum()
        if reduction == "mean":
            return total / n if n else np.asarray(np.nan, x.dtype)
        return total

    @staticmethod
    def backward(ctx, g, x, y):
        n, c = x.shape
        # through array_call: under create_graph while ag.compile traces, the program makes it again each replay
        onehot = ag.array_call(_one_hot, y._data if isinstance(y, ag.Tensor) else np.asarray(y), c, x.dtype)
        red = ctx.params["reduction"]
        if red == "none":
            g = g.reshape((n, 1))
        elif red == "mean":
            g = g * (1.0 / n if n else np.nan)  # an empty batch: nan loss, empty gradient (PyTorch)
        return (anp.softmax(x, -1) - onehot) * g, None  # numpy on arrays, recorded on Tensors

    # ag.compile writes the op out as numpy (docs/compile.md): the same calls as forward and backward above,
    # but backward reuses forward's exp and row sums (equal bit for bit to its softmax's) and subtracts the
    # one-hot in place, as hand-written backprop does
    @staticmethod
    def compiled_forward(t: Any, ins: list, arrays: list, params: dict, out: Any) -> str | None:
        x, y = arrays
        if not (isinstance(y, np.ndarray) and y.dtype == np.intp and x.ndim == 2 and x.shape[0] and x.size):
            return None
        (xs, ys), n = ins, x.shape[0]
        shifted, e, s, rows = (t.fresh(f"{t.out}_{k}") for k in ("shifted", "exp", "sum", "rows"))
        t.emit(f"{shifted} = {xs} - {xs}.max(axis=1, keepdims=True)")
        t.emit(f"{e} = np.exp({shifted})")
        t.emit(f"{s} = {e}.sum(axis=1, keepdims=True)")
        t.emit(f"{rows} = {t.const(np.arange(n), 'rows')}")
        t.notes[t.out] = (e, s, rows)
        losses = f"np.log({s}[:, 0]) - {shifted}[{rows}, {ys}]"
        red = params["reduction"]
        return losses if red == "none" else f"np.asarray(({losses}).sum()" + (f" / {n})" if red == "mean" else ")")

    @staticmethod
    def compiled_backward(t: Any, node: Any, g: str, ins: list, out: str, names: list) -> None:
        e, s, rows = t.notes[out]
        dx, n = names[0], node.inputs[0].shape[0]
        t.emit(f"{dx} = {e} / {s}")                      # softmax(x)
        t.emit(f"{dx}[{rows}, {ins[1]}] -= 1")           # - onehot(y)
        red = node.params["reduction"]
        scale = f"{g}.reshape(({n}, 1))" if red == "none" else f"({g} * {1.0 / n!r})" if red == "mean" else g
        t.emit(f"{dx} *= {scale}")
        t.owned.add(dx)


def _one_hot(y: np.ndarray, c: int, dtype: Any) -> np.ndarray:
    onehot = np.zeros((len(y), c), dtype=dtype)
    onehot[np.arange(len(y)), y] = 1
    return onehot


def cross_entropy(input: ag.Tensor, target: Any, weight: Any = None, *, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> ag.Tensor:
    """Cross entropy from logits ``input`` of shape (N, C), (C,) or (N, C, d1, ...), stable; PyTorch's arguments.

    ``target``: class indices of shape (N,), () or (N, d1, ...), or class probabilities of the
    input's shape. ``weight`` (C,) scales each class; targets equal to ``ignore_index`` count for
    nothing; ``label_smoothing`` mixes the target with the uniform distribution. ``mean`` divides by
    the summed weights of the counted targets (PyTorch's rule), by the number of samples for
    probabilities.
    """
    check_reduction(reduction)
    input = _t(input)
    eps = _check_smoothing("cross_entropy", label_smoothing)
    c = input.shape[0 if input.ndim == 1 else 1] if input.ndim else 0
    w = _class_weight("cross_entropy", weight, c, input.dtype)
    if np.shape(_arr(target)) == input.shape and input.ndim >= 1:  # probabilities / one-hot
        p = _operand(target, input)
        if eps:
            p = p * (1.0 - eps) + eps / c
        logp = ag.log_softmax(input, 0 if input.ndim == 1 else 1)
        if w is not None:
            logp = logp * w.reshape((-1,) + (1,) * (input.ndim - 2) if input.ndim > 1 else (-1,))
        loss = -(p * logp).sum(axis=0 if input.ndim == 1 else 1)
        return _reduce(loss, reduction)
    y = _class_indices("cross_entropy", input, target, ignore_index)
    rows, flat = _classes_last(input), (y if y.ndim == 1 else y.reshape(-1))  # y itself: explain_backward names it
    if w is None and not eps and _nothing_ignored("cross_entropy", flat, ignore_index):
        out = SoftmaxCrossEntropy.apply(rows, flat, reduction=reduction)
        return out.reshape(y.shape) if reduction == "none" else out
    logp = ag.log_softmax(rows, -1)
    loss = _weighted_nll(logp, flat, w, ignore_index, reduction, y.shape)
    if not eps:
        return loss
    _not_traced("cross_entropy with label smoothing and class-index targets")
    keep = flat != ignore_index
    smooth = -(logp * w).sum(axis=-1) if w is not None else -logp.sum(axis=-1)
    smooth = ag.where(keep, smooth, 0.0)
    if reduction == "mean":
        smooth = smooth.sum() * _per_count(flat, w, keep)
    else:
        smooth = _reduce(smooth.reshape(y.shape), reduction)
    return loss * (1.0 - eps) + smooth * (eps / c)


def _per_count(y: np.ndarray, w: np.ndarray | None, keep: np.ndarray) -> float:
    """What ``mean`` multiplies by: 1 / the summed class weights of the targets not ignored (their number
    without weights); nan when nothing is counted, as PyTorch."""
    total = float((w[np.where(keep, y, 0)] * keep).sum()) if w is not None else float(keep.sum())
    return 1.0 / total if total else math.nan


def _not_traced(what: str) -> None:
    """Refuse, under ``ag.compile``, a loss path whose masks, counts or weights are numpy on this call's values
    (a program would keep them as constants)."""
    if ag.grad_mode.state.tracer is not None:
        ag.grad_mode.state.tracer.unsupported(what + " (numpy on this call's values: the program would keep them)",
                                              "compile the step without it, or run it eagerly")


def _nothing_ignored(name: str, y: np.ndarray, ignore_index: int) -> bool:
    """Whether no target is ``ignore_index``. Under ``ag.compile`` the answer picks the program's path, so each
    replay checks it again (a replay whose targets differ in this raises rather than take the wrong path)."""
    nothing = not (y == ignore_index).any()
    if ag.grad_mode.state.tracer is not None:
        ag.array_call(_same_ignored, name, y, ignore_index, nothing)
    return nothing


def _same_ignored(name: str, y: np.ndarray, ignore_index: int, nothing: bool) -> None:
    if (not (y == ignore_index).any()) != nothing:
        raise ValueError(f"{name}: this ag.compile program was traced with {'no' if nothing else 'some'} targets "
                         f"equal to ignore_index={ignore_index} and this call has {'some' if nothing else 'none'}: "
                         "its path depends on that; compile a step for each case, or run it eagerly")


def _weighted_nll(logp: ag.Tensor, y: np.ndarray, w: np.ndarray | None, ignore_index: int, reduction: str,
                  shape: tuple) -> ag.Tensor:
    """``-w[y] * logp[i, y]`` for rows ``logp`` (M, C), 0 where ``y == ignore_index``, reduced as PyTorch's nll_loss."""
    if w is None and _nothing_ignored("nll_loss", y, ignore_index):  # no array made from the targets' values
        loss = -logp[np.arange(len(y)), y]
        if reduction == "mean":
            return loss.sum() * (1.0 / len(y) if len(y) else math.nan)
        return _reduce(loss.reshape(shape), reduction)
    _not_traced("nll_loss / cross_entropy with targets equal to ignore_index")
    keep = y != ignore_index
    safe = np.where(keep, y, 0)
    picked = logp[np.arange(len(y)), safe]
    loss = ag.where(keep, -picked * w[safe] if w is not None else -picked, 0.0)  # where: an ignored -inf stays out
    if reduction == "mean":
        return loss.sum() * _per_count(y, w, keep)
    return _reduce(loss.reshape(shape), reduction)


def nll_loss(input: ag.Tensor, target: Any, weight: Any = None, *, ignore_index: int = -100,
             reduction: str = "mean") -> ag.Tensor:
    """Negative log-likelihood ``-weight[t] * input[i, t]`` of log-probabilities ``input`` (N, C), (C,) or
    (N, C, d1, ...) at class indices ``target``; ``mean`` divides by the summed weights (PyTorch's rule)."""
    check_reduction(reduction)
    input = _t(input)
    y = _class_indices("nll_loss", input, target, ignore_index)
    w = _class_weight("nll_loss", weight, input.shape[0 if input.ndim == 1 else 1], input.dtype)
    flat = y if y.ndim == 1 else y.reshape(-1)  # y itself: ag.compile reads it as the target
    return _weighted_nll(_classes_last(input), flat, w, ignore_index, reduction, y.shape)


class BinaryCrossEntropy(ag.Function):
    """``-(y log p + (1 - y) log(1 - p))`` with each log clamped at -100, as PyTorch.

    Gradient ``(p - y) / max(p (1 - p), 1e-12)``: finite at p = 0 and 1, where the composed
    formula's would be nan.
    """
    formula = "d bce(p, y)/dp = (p - y) / (p (1 - p)); d bce(p, y)/dy = log(1 - p) - log(p)"

    @staticmethod
    def forward(ctx, p, y):
        with np.errstate(divide="ignore"):
            return -(y * np.maximum(np.log(p), -100.0) + (1 - y) * np.maximum(np.log1p(-p), -100.0))

    @staticmethod
    def backward(ctx, g, p, y):
        need_p, need_y = ctx.needs_input_grad
        gp = g * (p - y) / (p * (1 - p)).clip(1e-12, None) if need_p else None
        gy = g * (_clamped_log(1 - p) - _clamped_log(p)) if need_y else None
        return gp, gy


def _clamped_log(p: Any) -> Any:
    """``max(log p, -100)`` of an array or a Tensor (PyTorch's clamp), in kind."""
    return anp.maximum(anp.log(p), -100.0)


def binary_cross_entropy(input: ag.Tensor, target: Any, weight: Any = None, *, reduction: str = "mean") -> ag.Tensor:
    """Binary cross entropy of probabilities ``input`` in [0, 1] against ``target`` of the same shape;
    ``weight`` (broadcast to the input) scales each element's loss."""
    check_reduction(reduction)
    input = _t(input)
    _same_shape("binary_cross_entropy", input, target)
    a = np.asarray(input)  # a read-only check: `.data` would copy a saved sigmoid output (the in-place watch)
    if a.size and (a.min() < 0 or a.max() > 1):
        raise ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1], got values in "
                         f"[{a.min()}, {a.max()}] (use BCEWithLogitsLoss for logits)")
    target = _operand(target, input)
    loss = BinaryCrossEntropy.apply(input, target)
    return _reduce(loss * _elementwise_weight("binary_cross_entropy", weight, input) if weight is not None else loss,
                   reduction)


def _elementwise_weight(name: str, weight: Any, input: ag.Tensor) -> Any:
    if isinstance(weight, str):
        raise TypeError(f"{name}: the third argument is weight (PyTorch's order); pass reduction={weight!r} by name")
    w = _operand(weight, input)
    try:
        fits = np.broadcast_shapes(np.shape(w), input.shape) == input.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: weight of shape {np.shape(w)} does not broadcast to the input's {input.shape}")
    return w


def binary_cross_entropy_with_logits(input: ag.Tensor, target: Any, weight: Any = None, *, reduction: str = "mean",
                                     pos_weight: Any = None) -> ag.Tensor:
    """``sigmoid`` + binary cross entropy in one stable formula, for logits of any size.

    ``log(1 + exp(x)) - x*y`` with the softplus as ``logsumexp([0, x])``: stable at |x| = 1e4
    (the max shift), and smooth, so its first derivative is ``sigmoid(x) - y`` and its second
    ``sigmoid'(x)`` everywhere, 0.25 at x = 0 as PyTorch's (a kinked ``max(x, 0) + log(1 + exp(-|x|))``
    has the right first derivative but second derivative 0 there). ``pos_weight`` (broadcast over the
    last axis, one per class) scales the positive term: ``(1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)``,
    PyTorch's formula; ``weight`` scales each element's loss.
    """
    check_reduction(reduction)
    x = _t(input)
    _same_shape("binary_cross_entropy_with_logits", x, target)
    y = _operand(target, x)
    if pos_weight is None:
        loss = _softplus(x) - x * y
    else:
        pw = _elementwise_weight("binary_cross_entropy_with_logits", pos_weight, x)
        loss = (1 - y) * x + ((pw - 1) * y + 1) * _softplus(-x)
    if weight is not None:
        loss = loss * _elementwise_weight("binary_cross_entropy_with_logits", weight, x)
    return _reduce(loss, reduction)


def _softplus(x: ag.Tensor) -> ag.Tensor:
    """``log(1 + exp(x))`` as ``logsumexp([0, x])``: stable and smooth (see binary_cross_entropy_with_logits)."""
    return ag.logsumexp(ag.stack([ag.zeros_like(x), x], axis=-1), axis=-1)


# ---- more regression and ranking losses, PyTorch's arguments ----------------------------------------
def l1_loss(input: ag.Tensor, target: Any, reduction: str = "mean") -> ag.Tensor:
    """Absolute error ``|input - target|``, reduced; shapes must match (gradient 0 where they are equal)."""
    return _reduce(ag.abs(_difference("l1_loss", input, target, reduction)), reduction)


def smooth_l1_loss(input: ag.Tensor, target: Any, reduction: str = "mean", beta: float = 1.0) -> ag.Tensor:
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = input - target``); beta 0 is L1."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    d = _difference("smooth_l1_loss", input, target, reduction)
    if beta == 0:
        return _reduce(ag.abs(d), reduction)
    a = ag.abs(d)
    small = a < beta  # a bool tensor: ag.compile compares again on each replay
    ds = ag.where(small, d, 0.0)  # the branch not taken sees 0: an inf there would make its zero gradient nan
    return _reduce(ag.where(small, ds * ds * (0.5 / beta), a - 0.5 * beta), reduction)


def huber_loss(input: ag.Tensor, target: Any, reduction: str = "mean", delta: float = 1.0) -> ag.Tensor:
    """``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``: smooth_l1_loss times delta."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    d = _difference("huber_loss", input, target, reduction)
    a = ag.abs(d)
    small = a < delta
    ds = ag.where(small, d, 0.0)  # as smooth_l1_loss
    return _reduce(ag.where(small, ds * ds * 0.5, (a - 0.5 * delta) * delta), reduction)


def _difference(name: str, input: Any, target: Any, reduction: str) -> ag.Tensor:
    check_reduction(reduction)
    input = _t(input)
    _same_shape(name, input, target)
    return input - _operand(target, input)


def kl_div(input: ag.Tensor, target: Any, reduction: str = "mean", log_target: bool = False) -> ag.Tensor:
    """``target * (log(target) - input)`` for log-probabilities ``input`` (``exp(target) * (target - input)``
    with ``log_target``); a zero target adds 0. ``batchmean`` divides the sum by the batch size (axis 0),
    the true KL divergence; ``mean`` (PyTorch's default) by the number of elements."""
    check_reduction(reduction, (*REDUCTIONS, "batchmean"))
    input = _t(input)
    _same_shape("kl_div", input, target)
    t = _operand(target, input)
    if log_target:
        loss = ag.exp(t) * (t - input)
    else:
        zero = ag.array_call(np.equal, _arr(t), 0)  # ag.compile compares again on each replay
        loss = ag.where(zero, 0.0, t * ag.log(ag.where(zero, 1.0, t))) - t * input  # PyTorch's xlogy(t, t)
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> ag.Tensor:
    """``sum(x1 * x2) / (|x1| |x2|)`` along ``dim`` (inputs broadcast), each norm at least ``eps`` (PyTorch's:
    the floor is a constant, so a zero vector has gradient 0 and similarity 0)."""
    x1, x2 = _t(x1), _t(x2)
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"cosine_similarity: shapes {x1.shape} and {x2.shape} do not broadcast") from None
    x1, x2 = x1.broadcast_to(shape), x2.broadcast_to(shape)
    return ((x1 / _floored_norm(x1, dim, eps)) * (x2 / _floored_norm(x2, dim, eps))).sum(axis=dim)


def _floored_norm(x: ag.Tensor, dim: int, eps: float) -> ag.Tensor:
    """The 2-norm along ``dim`` (kept), raised to ``eps`` by a constant (PyTorch's no-grad clamp)."""
    n = _norm2(x, dim)
    return n + ag.array_call(_gap_to_floor, n._data, eps)  # nan stays nan; ag.compile makes it again on replay


def _gap_to_floor(v: np.ndarray, eps: float) -> np.ndarray:
    return np.where(v < eps, eps - v, 0.0).astype(v.dtype)


def _norm2(x: ag.Tensor, dim: int) -> ag.Tensor:
    """``sqrt(sum(x**2))`` along ``dim`` (kept), with gradient 0 at a zero vector as PyTorch's norm."""
    s = (x * x).sum(axis=dim, keepdims=True)
    zero = ag.array_call(np.equal, s._data, 0)  # ag.compile compares again on each replay
    return ag.where(zero, 0.0, ag.sqrt(ag.where(zero, 1.0, s)))  # the inner where keeps sqrt'(0) = inf out


def margin_ranking_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0,
                        reduction: str = "mean") -> ag.Tensor:
    """``max(0, -target * (input1 - input2) + margin)``, target +1 or -1 (PyTorch's clamp: gradient 1 at 0)."""
    check_reduction(reduction)
    x1, x2 = _t(input1), _t(input2)
    y = _operand(target, x1)
    return _reduce(ag.clip(-y * (x1 - x2) + margin, 0.0, None), reduction)


# ---- transformer pieces ------------------------------------------------------------------------------
def gelu(x: Any, approximate: str = "none") -> ag.Tensor:
    """``x * Phi(x)`` with the exact normal CDF (``erf``), or PyTorch's ``approximate="tanh"`` formula."""
    x = _t(x)
    if approximate == "none":
        return x * 0.5 * (1.0 + ag.erf(x * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        return x * 0.5 * (1.0 + ag.tanh((x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


class LayerNormFunction(ag.Function):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over ``axes``, one op (PyTorch's fused layer norm).

    Promoted for speed: the composed form records ten ops; this is one, with the classic
    backward ``rstd * (gy - mean(gy) - xhat * mean(gy * xhat))`` (``gy = g * weight``). Backward
    recomputes ``xhat`` from ``x`` (cheap), so under ``create_graph`` it is differentiable again.
    The composed form stays as the test oracle (tests/nn/test_nn_sequence.py).
    """
    formula = ("d layer_norm(x, weight, bias)/dx: rstd * (gy - mean(gy) - xhat * mean(gy * xhat)) "
               "with gy = g * weight, xhat = (x - mean(x)) * rstd; "
               "d layer_norm(x, weight, bias)/dweight: g * xhat summed over the batch axes; "
               "d layer_norm(x, weight, bias)/dbias: g summed over the batch axes")

    @staticmethod
    def forward(ctx, x, weight, bias, *, axes, eps):
        d = x - x.mean(axis=axes, keepdims=True)
        y = d / np.sqrt((d * d).mean(axis=axes, keepdims=True) + eps)
        if weight is not None:
            y = y * weight
        return y + bias if bias is not None else y

    @staticmethod
    def backward(ctx, g, x, weight):
        axes, eps = ctx.params["axes"], ctx.params["eps"]
        need_x, need_w, need_b = ctx.needs_input_grad
        d = x - x.mean(axis=axes, keepdims=True)
        rstd = ((d * d).mean(axis=axes, keepdims=True) + eps) ** -0.5
        xhat = d * rstd
        lead = tuple(range(x.ndim - len(axes)))
        gy = g * weight if weight is not None else g
        gx = rstd * (gy - gy.mean(axis=axes, keepdims=True) - xhat * (gy * xhat).mean(axis=axes, keepdims=True)) \
            if need_x else None
        return gx, ((g * xhat).sum(axis=lead) if need_w else None), (g.sum(axis=lead) if need_b else None)


def layer_norm(x: Any, normalized_shape: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> ag.Tensor:
    """Normalize over the trailing ``normalized_shape`` axes (biased variance, as PyTorch), then scale and shift."""
    x = _t(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if len(shape) > x.ndim or x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end in normalized_shape {shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != shape:
            raise ValueError(f"layer_norm: {name} of shape {tuple(p.shape)} must have normalized_shape {shape}")
    return LayerNormFunction.apply(x, weight, bias, axes=tuple(range(x.ndim - len(shape), x.ndim)), eps=float(eps))


def layer_norm_composed(x: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
                        eps: float = 1e-5) -> ag.Tensor:
    """``layer_norm`` from elementary ops: the oracle of ``LayerNormFunction``."""
    x = _t(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    d = x - x.mean(axis=axes, keepdims=True)
    y = d / ag.sqrt((d * d).mean(axis=axes, keepdims=True) + eps)
    if weight is not None:
        y = y * weight
    return y + bias if bias is not None else y


def embedding(indices: Any, weight: ag.Tensor, padding_idx: int | None = None) -> ag.Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``indices`` of any shape.

    The gradient is scattered (added) into the rows used; rows at ``padding_idx`` get none.
    """
    idx = _arr(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)].ravel()[:5].tolist()
        raise IndexError(f"embedding: index {bad} out of range for {n} embeddings")
    rows = weight[idx]
    if padding_idx is None:
        return rows
    keep = ag.array_call(_not_padding, idx, padding_idx)  # ag.compile compares again on each replay
    return ag.where(keep, rows, weight.detach()[idx])  # same values, no gradient at padding_idx


def _not_padding(idx: np.ndarray, padding_idx: int) -> np.ndarray:
    return (idx != padding_idx)[..., None]


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None, enable_gqa: bool = False,
                                 seed: ag.Seed = None) -> ag.Tensor:
    """``softmax(q k^T * scale + mask) v`` over the last two axes (..., L, E) x (..., S, E) x (..., S, Ev).

    ``attn_mask`` as PyTorch's: a bool mask where **True takes part** (False positions are left
    out), or a float mask added to the scores; ``is_causal`` keeps key j <= query i (top-left
    aligned when L != S, as PyTorch). A query whose keys are all left out gets zeros, as PyTorch's
    (its gradient too). ``scale`` defaults to 1/sqrt(E). ``enable_gqa``: grouped-query attention,
    key and value with fewer heads (axis -3) than the query, each shared by ``Hq / Hkv`` query heads.
    ``dropout_p`` drops attention weights, drawn from ``seed`` (an int or Generator; None: the global one).
    """
    q, k, v = _t(query), _t(key), _t(value)
    if enable_gqa and q.ndim >= 3 and k.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        hq, hkv = q.shape[-3], k.shape[-3]
        if hkv == 0 or hq % hkv or v.shape[-3] != hkv:
            raise ValueError(f"scaled_dot_product_attention: with enable_gqa the query's heads (axis -3 of "
                             f"{q.shape}) must be a multiple of the key's and value's ({k.shape}, {v.shape})")
        k, v = ag.repeat_interleave(k, hq // hkv, -3), ag.repeat_interleave(v, hq // hkv, -3)
    scores = (q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal, not both")
        attn_mask = np.tril(np.ones(scores.shape[-2:], dtype=bool))
    if attn_mask is not None:
        m = attn_mask if isinstance(attn_mask, ag.Tensor) and attn_mask.dtype != bool else _arr(attn_mask)
        if m.dtype != bool and m.dtype.kind != "f":
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or float, got dtype {m.dtype}")
        if isinstance(m, np.ndarray) and m.dtype != bool:
            m = m.astype(scores.dtype, copy=False)  # a float64 numpy mask must not turn float32 scores into float64
        scores = ag.where(m, scores, -np.inf) if m.dtype == bool else scores + m
    dead = ag.array_call(_no_key_left, scores._data)  # queries with no key left (again on each ag.compile replay)
    if ag.grad_mode.state.tracer is not None or dead.any():  # zeros there, as PyTorch's safe softmax, not nan
        # (while tracing always this form: without dead rows it gives the same numbers as the plain softmax)
        attn = ag.where(dead, 0.0, ag.softmax(ag.where(dead, 0.0, scores), -1))
    else:
        attn = ag.softmax(scores, -1)
    if dropout_p:
        attn = dropout(attn, dropout_p, True, seed)
    return attn @ v


# ---- images and normalization: the functions behind nn.Conv2d, the pooling layers, nn.BatchNorm* ---------
def batch_norm(input: Any, running_mean: ag.Tensor | None, running_var: ag.Tensor | None,
               weight: Any = None, bias: Any = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> ag.Tensor:
    """Normalize each channel (axis 1) of ``input`` (N, C, ...), PyTorch's ``F.batch_norm``.

    Training: by the batch's mean and biased variance over every axis but 1, and the running
    statistics (when given) move towards them, in place: ``r = (1 - momentum) * r + momentum * s``
    with the unbiased variance, as PyTorch. Otherwise: by the running statistics.
    Then ``* weight + bias`` (per channel) when given. Composed of Tensor ops, so it differentiates
    to any order.
    """
    x = input if isinstance(input, ag.Tensor) else ag.tensor(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, ...), got shape {x.shape}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(np.shape(t)) != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},) for input of shape {x.shape} "
                             f"(C = {c} channels on axis 1), got shape {tuple(np.shape(t))}")
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, c) + (1,) * (x.ndim - 2)
    per_channel = x.size // c if c else 0
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
    if training and x.shape[0]:
        if per_channel <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                             f"shape {x.shape} (use a larger batch, or eval mode)")
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)
        _move_stats(running_mean, running_var, mean, var, per_channel / (per_channel - 1), momentum)
    else:  # evaluation; or an empty batch, with nothing to normalize or to learn from (as PyTorch)
        # the running statistics as Tensors, so that ag.compile reads them on each replay, not once
        mean, var = ((ag.as_tensor(running_mean).reshape(shape), ag.as_tensor(running_var).reshape(shape))
                     if not training else (np.zeros(shape, x.dtype), np.ones(shape, x.dtype)))
        centered = x - mean
    return _affine("batch_norm", centered / ag.sqrt(var + eps), weight, bias)


def group_norm(input: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> ag.Tensor:
    """Normalize (N, C, ...) by the mean and biased variance of each sample's ``num_groups`` groups of channels,
    then ``* weight + bias`` per channel: PyTorch's ``F.group_norm``. Composed: any order."""
    x = _t(input)
    if x.ndim < 2 or not isinstance(num_groups, (int, np.integer)) or num_groups < 1 or x.shape[1] % num_groups:
        raise ValueError(f"group_norm: expected input (N, C, ...) with C divisible by num_groups, got shape "
                         f"{x.shape} and num_groups={num_groups!r}")
    grouped = x.reshape(x.shape[0], num_groups, x.size // x.shape[0] // num_groups if x.shape[0] else 0)
    y = _standardized(grouped, (2,), eps).reshape(x.shape)
    return _affine("group_norm", y, weight, bias)


def instance_norm(input: Any, running_mean: Any = None, running_var: Any = None, weight: Any = None,
                  bias: Any = None, use_input_stats: bool = True, momentum: float = 0.1,
                  eps: float = 1e-5) -> ag.Tensor:
    """Normalize each sample's each channel of (N, C, ...) over its spatial axes, PyTorch's ``F.instance_norm``:
    with ``use_input_stats`` by its own mean and biased variance (the running statistics, when given, move
    towards their means over the batch, the variance unbiased), else by the running statistics; then
    ``* weight + bias`` per channel. Composed: any order."""
    x = _t(input)
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expected input of shape (N, C, ...) with spatial axes, got shape {x.shape}")
    n, c, axes = x.shape[0], x.shape[1], tuple(range(2, x.ndim))
    shape = (1, c) + (1,) * (x.ndim - 2)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and running_var")
        y = (x - np.asarray(running_mean).reshape(shape)) / np.sqrt(np.asarray(running_var).reshape(shape) + eps)
        return _affine("instance_norm", y, weight, bias)
    per_instance = x.size // (n * c) if n * c else 0
    if per_instance <= 1 and n * c:
        raise ValueError(f"instance_norm: expected more than 1 spatial element per channel when using input "
                         f"statistics, got input of shape {x.shape}")
    if n and (running_mean is not None or running_var is not None):  # the effect ag.compile replays
        stats = x.detach()
        _move_stats(running_mean, running_var, stats.mean(axis=axes).mean(axis=0),
                    stats.var(axis=axes, ddof=1).mean(axis=0), 1.0, momentum)
    return _affine("instance_norm", _standardized(x, axes, eps), weight, bias)


def _standardized(x: ag.Tensor, axes: tuple, eps: float) -> ag.Tensor:
    """(x - mean) / sqrt(biased variance + eps) over ``axes``."""
    centered = x - x.mean(axis=axes, keepdims=True)
    return centered / ag.sqrt((centered * centered).mean(axis=axes, keepdims=True) + eps)


def _affine(name: str, y: ag.Tensor, weight: Any, bias: Any) -> ag.Tensor:
    """``y * weight + bias`` with per-channel (axis 1) weight and bias, when given."""
    shape = (1, y.shape[1]) + (1,) * (y.ndim - 2)
    for what, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(np.shape(t)) != (y.shape[1],):
            raise ValueError(f"{name}: {what} must have shape ({y.shape[1]},) for input of shape {y.shape}, got "
                             f"shape {tuple(np.shape(t))}")
    if weight is not None:
        y = y * (weight.reshape(shape) if isinstance(weight, ag.Tensor) else np.reshape(weight, shape))
    if bias is not None:
        y = y + (bias.reshape(shape) if isinstance(bias, ag.Tensor) else np.reshape(bias, shape))
    return y


def _no_key_left(scores: np.ndarray) -> np.ndarray:
    return np.isneginf(scores).all(axis=-1, keepdims=True)


@ag.effect  # ag.compile replays it with each call's batch statistics
def _move_stats(running_mean: Any, running_var: Any, mean: ag.Tensor, var: ag.Tensor, unbias: float,
                momentum: float) -> None:
    """Move the running statistics towards the batch's (the variance unbiased), in place."""
    with ag.no_grad():
        if running_mean is not None:
            _move(running_mean, np.asarray(mean).reshape(-1), momentum)
        if running_var is not None:
            _move(running_var, np.asarray(var).reshape(-1) * unbias, momentum)


def _move(stat: ag.Tensor, value: np.ndarray, momentum: float) -> None:
    stat.data = ((1.0 - momentum) * np.asarray(stat) + momentum * value).astype(stat.dtype)


conv2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d = ag.conv2d, ag.max_pool2d, ag.avg_pool2d, ag.adaptive_avg_pool2d


def pad(x: Any, pad: Any, mode: str = "constant", value: float = 0.0) -> ag.Tensor:
    """PyTorch's ``F.pad``: ``pad`` lists (before, after) pairs from the LAST axis backwards,
    ``(left, right, top, bottom, ...)``; negative amounts crop (first, as PyTorch: a circular pad wraps the
    cropped tensor). ``mode``: ``"constant"`` (``value``), ``"reflect"``, ``"replicate"``, ``"circular"``, on any
    number of axes. ``ag.pad`` takes numpy's order instead."""
    x = _t(x)
    amounts = list(pad)
    if len(amounts) % 2 or len(amounts) // 2 > x.ndim or not all(isinstance(a, (int, np.integer)) for a in amounts):
        raise ValueError(f"pad: expected an even number (at most {2 * x.ndim}) of ints, (left, right, top, bottom, "
                         f"...) starting from the last axis, for a tensor of shape {x.shape}; got {pad!r}")
    pairs = [(0, 0)] * (x.ndim - len(amounts) // 2) + [tuple(amounts[i:i + 2]) for i in range(0, len(amounts), 2)][::-1]
    if any(b < 0 or a < 0 for b, a in pairs):
        x = x[tuple(slice(-min(b, 0), n + min(a, 0)) for (b, a), n in zip(pairs, x.shape))]
    return ag.pad(x, [(max(b, 0), max(a, 0)) for b, a in pairs], mode, value)


conv1d, conv3d, conv_transpose1d, conv_transpose2d = ag.conv1d, ag.conv3d, ag.conv_transpose1d, ag.conv_transpose2d
conv_transpose3d = ag.conv_transpose3d
interpolate, pixel_shuffle, pixel_unshuffle = ag.interpolate, ag.pixel_shuffle, ag.pixel_unshuffle
max_pool1d, avg_pool1d, max_unpool2d = ag.max_pool1d, ag.avg_pool1d, ag.max_unpool2d
max_pool3d, avg_pool3d, max_unpool1d, max_unpool3d = ag.max_pool3d, ag.avg_pool3d, ag.max_unpool1d, ag.max_unpool3d
adaptive_avg_pool1d, adaptive_avg_pool3d = ag.adaptive_avg_pool1d, ag.adaptive_avg_pool3d
adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d = (ag.adaptive_max_pool1d, ag.adaptive_max_pool2d,
                                                                 ag.adaptive_max_pool3d)


__all__ += ["conv1d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
            "interpolate", "pixel_shuffle",
            "pixel_unshuffle", "max_pool1d", "avg_pool1d", "max_unpool2d", "max_pool3d",
            "avg_pool3d", "max_unpool1d", "max_unpool3d",
            "adaptive_avg_pool1d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
            "adaptive_max_pool3d", "dropout2d", "group_norm", "instance_norm",
            "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "pad", "batch_norm"]
