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
    "mse_loss", "l2_penalty", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "SoftmaxCrossEntropy", "BinaryCrossEntropy",
    "gelu", "layer_norm", "layer_norm_composed", "LayerNormFunction", "embedding", "scaled_dot_product_attention",
]

_REDUCTIONS = ("mean", "sum", "none")


def _t(x: Any) -> ag.Tensor:
    return x if isinstance(x, ag.Tensor) else ag.as_tensor(x)  # an input constant: no copy needed


def _arr(x: Any) -> np.ndarray:
    return x.data if isinstance(x, ag.Tensor) else np.asarray(x)


def check_reduction(reduction: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


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
def softmax(x: Any, axis: int = -1) -> ag.Tensor: return ag.softmax(x, axis)
def log_softmax(x: Any, axis: int = -1) -> ag.Tensor: return ag.log_softmax(x, axis)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> ag.Tensor:
    """``x`` where ``x > 0``, else ``negative_slope * x`` (slope ``negative_slope`` at 0, as PyTorch)."""
    x = _t(x)
    return ag.where(x > 0, x, x * negative_slope)


def flatten(x: Any, start_axis: int = 1) -> ag.Tensor:
    """Merge the axes from ``start_axis`` on (keeps the batch axis by default)."""
    return _t(x).flatten(start_axis)


def dropout(x: Any, p: float = 0.5, training: bool = True, seed: ag.Seed = None) -> ag.Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (inverted dropout).

    The identity when ``training`` is False or ``p == 0``. ``seed`` (int or Generator) draws the
    mask; None uses the global generator (``ag.manual_seed``).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    x = _t(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * np.zeros(x.shape, dtype=x.dtype)
    return x * ag.array_call(_dropout_scale, seed, x.shape, p, x.dtype)  # ag.compile draws it again on replay


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
    target = target if isinstance(target, ag.Tensor) else np.asarray(target, dtype=input.dtype)
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
def _class_indices(name: str, logits: ag.Tensor, target: Any) -> np.ndarray:
    """Validate integer class targets: shape (N,) for (N, C) logits, () for (C,); values in [0, C)."""
    y = _arr(target)
    if logits.ndim not in (1, 2):
        raise ValueError(f"{name}: input must have shape (N, C) or (C,), got {logits.shape}")
    if y.shape != logits.shape[:-1]:
        raise ValueError(f"{name}: class-index target of shape {y.shape} does not match input of shape "
                         f"{logits.shape} (expected target shape {logits.shape[:-1]})")
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            raise ValueError(f"{name}: float target of shape {y.shape} must hold class indices (whole numbers), "
                             f"or have the input's shape {logits.shape} to be class probabilities")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iub":
        raise TypeError(f"{name}: target must hold integer class indices, got dtype {y.dtype}")
    c = logits.shape[-1]
    if y.size and (y.min() < 0 or y.max() >= c):
        bad = (y < 0) | (y >= c)
        raise IndexError(f"{name}: class index {y[bad].ravel()[:5].tolist()} out of range for {c} classes "
                         f"(input shape {logits.shape}, target shape {y.shape})")
    return y.astype(np.intp, copy=False)


class SoftmaxCrossEntropy(ag.Function):
    """Cross entropy from logits (N, C) and class indices (N,), reduced, as one op.

    ``loss_i = logsumexp(x_i) - x_i[y_i]``; gradient ``(softmax(x) - onehot(y)) * g``, divided
    by N for ``mean``. Backward recomputes the softmax from the logits with ``anp.softmax`` (plain
    numpy on arrays, the recorded op on Tensors): one formula that is also differentiable again
    under ``create_graph``.
    """

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
        onehot = np.zeros((n, c), dtype=x.dtype)
        onehot[np.arange(n), np.asarray(y)] = 1
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


def cross_entropy(input: ag.Tensor, target: Any, reduction: str = "mean") -> ag.Tensor:
    """Cross entropy from logits ``input`` (N, C) (or (C,)), numerically stable.

    ``target`` is class indices of shape (N,) (or ()), or class probabilities / one-hot of the
    input's shape. ``mean`` averages over the N samples.
    """
    check_reduction(reduction)
    input = _t(input)
    if np.shape(_arr(target)) == input.shape and input.ndim >= 1:  # probabilities / one-hot
        target = target if isinstance(target, ag.Tensor) else np.asarray(target, dtype=input.dtype)
        return _reduce(-(target * ag.log_softmax(input, -1)).sum(axis=-1), reduction)
    y = _class_indices("cross_entropy", input, target)
    if input.ndim == 1:
        return SoftmaxCrossEntropy.apply(input.reshape(1, -1), y.reshape(1), reduction=reduction).reshape(())
    return SoftmaxCrossEntropy.apply(input, y, reduction=reduction)


def nll_loss(input: ag.Tensor, target: Any, reduction: str = "mean") -> ag.Tensor:
    """Negative log-likelihood: ``-input[i, target[i]]`` for log-probabilities ``input`` (N, C)."""
    check_reduction(reduction)
    input = _t(input)
    y = _class_indices("nll_loss", input, target)
    picked = input[y] if input.ndim == 1 else input[np.arange(input.shape[0]), y]
    return _reduce(-picked, reduction)


class BinaryCrossEntropy(ag.Function):
    """``-(y log p + (1 - y) log(1 - p))`` with each log clamped at -100, as PyTorch.

    Gradient ``(p - y) / max(p (1 - p), 1e-12)``: finite at p = 0 and 1, where the composed
    formula's would be nan.
    """

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


def binary_cross_entropy(input: ag.Tensor, target: Any, reduction: str = "mean") -> ag.Tensor:
    """Binary cross entropy of probabilities ``input`` in [0, 1] against ``target`` of the same shape."""
    check_reduction(reduction)
    input = _t(input)
    _same_shape("binary_cross_entropy", input, target)
    a = np.asarray(input)  # a read-only check: `.data` would copy a saved sigmoid output (the in-place watch)
    if a.size and (a.min() < 0 or a.max() > 1):
        raise ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1], got values in "
                         f"[{a.min()}, {a.max()}] (use BCEWithLogitsLoss for logits)")
    target = target if isinstance(target, ag.Tensor) else np.asarray(target, dtype=input.dtype)
    return _reduce(BinaryCrossEntropy.apply(input, target), reduction)


def binary_cross_entropy_with_logits(input: ag.Tensor, target: Any, reduction: str = "mean") -> ag.Tensor:
    """``sigmoid`` + binary cross entropy in one stable formula, for logits of any size.

    ``log(1 + exp(x)) - x*y`` with the softplus as ``logsumexp([0, x])``: stable at |x| = 1e4
    (the max shift), and smooth, so its first derivative is ``sigmoid(x) - y`` and its second
    ``sigmoid'(x)`` everywhere, 0.25 at x = 0 as PyTorch's (a kinked ``max(x, 0) + log(1 + exp(-|x|))``
    has the right first derivative but second derivative 0 there).
    """
    check_reduction(reduction)
    x = _t(input)
    _same_shape("binary_cross_entropy_with_logits", x, target)
    y = target if isinstance(target, ag.Tensor) else np.asarray(target, dtype=x.dtype)
    softplus = ag.logsumexp(ag.stack([ag.zeros_like(x), x], axis=-1), axis=-1)
    loss = softplus - x * y
    return _reduce(loss, reduction)


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
    keep = (idx != padding_idx)[..., None]
    return ag.where(keep, rows, weight.detach()[idx])  # same values, no gradient at padding_idx


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None, seed: ag.Seed = None
                                 ) -> ag.Tensor:
    """``softmax(q k^T * scale + mask) v`` over the last two axes (..., L, E) x (..., S, E) x (..., S, Ev).

    ``attn_mask`` as PyTorch's: a bool mask where **True takes part** (False positions are left
    out), or a float mask added to the scores; ``is_causal`` keeps key j <= query i. A query whose
    keys are all left out gets zeros, as PyTorch's (its gradient too). ``scale`` defaults to 1/sqrt(E).
    """
    q, k, v = _t(query), _t(key), _t(value)
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
    dead = np.isneginf(np.asarray(scores)).all(axis=-1, keepdims=True)  # queries with no key left
    if dead.any():  # zeros there, as PyTorch's safe softmax, not softmax's nan (nor a nan gradient)
        attn = ag.where(dead, 0.0, ag.softmax(ag.where(dead, 0.0, scores), -1))
    else:
        attn = ag.softmax(scores, -1)
    if dropout_p:
        attn = dropout(attn, dropout_p, True, seed)
    return attn @ v


# ---- images and normalization: the functions behind nn.Conv2d, the pooling layers, nn.BatchNorm* ---------
from .normalization import batch_norm  # noqa: E402

conv2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d = ag.conv2d, ag.max_pool2d, ag.avg_pool2d, ag.adaptive_avg_pool2d


def pad(x: Any, pad: Any, mode: str = "constant", value: float = 0.0) -> ag.Tensor:
    """PyTorch's ``F.pad``: ``pad`` lists (before, after) pairs from the LAST axis backwards,
    ``(left, right, top, bottom, ...)``; negative amounts crop. ``ag.pad`` takes numpy's order instead."""
    x = _t(x)
    amounts = list(pad)
    if len(amounts) % 2 or len(amounts) // 2 > x.ndim or not all(isinstance(a, (int, np.integer)) for a in amounts):
        raise ValueError(f"pad: expected an even number (at most {2 * x.ndim}) of ints, (left, right, top, bottom, "
                         f"...) starting from the last axis, for a tensor of shape {x.shape}; got {pad!r}")
    pairs = [(0, 0)] * (x.ndim - len(amounts) // 2) + [tuple(amounts[i:i + 2]) for i in range(0, len(amounts), 2)][::-1]
    out = ag.pad(x, [(max(b, 0), max(a, 0)) for b, a in pairs], mode, value)
    if any(b < 0 or a < 0 for b, a in pairs):
        out = out[tuple(slice(-min(b, 0), n + min(a, 0)) for (b, a), n in zip(pairs, out.shape))]
    return out


__all__ += ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "pad", "batch_norm"]
