"""``MultiheadAttention`` with PyTorch's parameters, layout and masks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import autograd_mini as ag

from . import functional as F
from ._checks import flag, integer, real
from .layers import Linear
from .module import Module, Parameter

__all__ = ["MultiheadAttention"]



class MultiheadAttention(Module):
    """Multi-head attention as PyTorch's ``nn.MultiheadAttention`` (``kdim = vdim = embed_dim``).

    Parameters, named and shaped as PyTorch's so a state dict ports (docs/nn.md): ``in_proj_weight``
    (3E, E) in PyTorch's (out, in) layout, rows q, k, v, xavier-uniform; ``in_proj_bias`` (3E,)
    zeros; ``out_proj`` an ``nn.Linear(E, E)`` with zero bias (its weight is (in, out): transpose
    PyTorch's). Inputs (N, L, E) with ``batch_first=True``, else (L, N, E) (PyTorch's default);
    unbatched (L, E). Masks mean what PyTorch's do: bool **True is masked out** (``attn_mask``
    (L, S) or (N*num_heads, L, S), ``key_padding_mask`` (N, S)), a float mask is added to the scores.
    A query with every key masked gives nan, as PyTorch's.

    Returns ``(output, weights)``: weights (N, L, S) averaged over heads, (N, H, L, S) with
    ``average_attn_weights=False``, None with ``need_weights=False``.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, seed: ag.Seed = None, dtype: Any = None) -> None:
        super().__init__()
        embed_dim, num_heads = integer(embed_dim, "MultiheadAttention: embed_dim", 1), integer(
            num_heads, "MultiheadAttention: num_heads", 1)
        dropout = real(dropout, "MultiheadAttention: dropout", 0, 1)
        bias, batch_first = flag(bias, "MultiheadAttention: bias"), flag(batch_first, "MultiheadAttention: batch_first")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be a positive multiple of "
                             f"num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        rng = ag.get_generator(seed)
        dtype = dtype or ag.get_default_dtype()
        bound = math.sqrt(6.0 / (embed_dim + 3 * embed_dim))
        self.in_proj_weight = Parameter(rng.uniform(-bound, bound, (3 * embed_dim, embed_dim)).astype(dtype))
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, seed=rng, dtype=dtype)
        if bias:
            self.out_proj.bias.data = np.zeros(embed_dim, dtype=dtype)
        self._rng = rng if seed is not None else None

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None, need_weights: bool = True,
                attn_mask: Any = None, average_attn_weights: bool = True, is_causal: bool = False) -> tuple:
        self_attention = query is key and key is value
        q, k, v = (x if isinstance(x, ag.Tensor) else ag.tensor(x) for x in (query, key, value))
        unbatched = q.ndim == 2
        if unbatched:
            q, k, v = (x.expand_dims(1) for x in (q, k, v))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask[None] if isinstance(key_padding_mask, ag.Tensor) else \
                    np.asarray(key_padding_mask)[None]
        elif self.batch_first:
            q, k, v = (x.swapaxes(0, 1) for x in (q, k, v))
        for name, x in (("query", q), ("key", k), ("value", v)):
            if x.ndim != 3 or x.shape[-1] != self.embed_dim:
                want = "(N, L, E)" if self.batch_first else "(L, N, E)"
                raise ValueError(f"MultiheadAttention: {name} must be {want} or unbatched (L, E) with "
                                 f"E = embed_dim = {self.embed_dim}, got {tuple(x.shape)}")
        (L, N, E), S, H = q.shape, k.shape[0], self.num_heads
        if k.shape[:2] != v.shape[:2] or k.shape[1] != N:
            raise ValueError(f"MultiheadAttention: key {k.shape} and value {v.shape} must match query's batch {N}")
        w, b = self.in_proj_weight, self.in_proj_bias
        if self_attention:  # one projection for q, k and v
            qkv = ag.linear(q, w.T, b)
            q, k, v = ag.split(qkv, 3, axis=-1)
        else:
            ws, bs = ag.split(w, 3, axis=0), ag.split(b, 3) if b is not None else (None, None, None)
            q, k, v = (ag.linear(x, wi.T, bi) for x, wi, bi in zip((q, k, v), ws, bs))
        # (T, N, E) -> (N, H, T, D)
        q, k, v = (x.reshape(x.shape[0], N, H, self.head_dim).transpose(1, 2, 0, 3) for x in (q, k, v))
        scores = (q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        for mask in (self._attn_mask(attn_mask, is_causal, N, L, S), self._padding_mask(key_padding_mask, N, S)):
            if mask is not None:
                scores = scores + mask
        with np.errstate(invalid="ignore"):  # a query with every key masked: nan, as PyTorch's
            attn = ag.softmax(scores, -1)
        if self.dropout and self.training:
            attn = F.dropout(attn, self.dropout, True, self._rng)
        out = (attn @ v).transpose(2, 0, 1, 3).reshape(L, N, E)
        out = self.out_proj(out)
        out = out.squeeze(1) if unbatched else out.swapaxes(0, 1) if self.batch_first else out
        if not need_weights:
            return out, None
        weights = attn.mean(axis=1) if average_attn_weights else attn
        return out, (weights.squeeze(0) if unbatched else weights)

    def _additive(self, mask: Any, what: str) -> Any:
        m = mask if isinstance(mask, ag.Tensor) and mask.dtype != bool else F._arr(mask)
        if m.dtype == bool:  # ag.compile makes it again on each replay (a mask may be an argument)
            return ag.Tensor._wrap(ag.array_call(_additive_bool, m, self.in_proj_weight.dtype))
        if m.dtype.kind != "f":
            raise TypeError(f"MultiheadAttention: {what} must be bool or float, got dtype {m.dtype}")
        return m.astype(self.in_proj_weight.dtype, copy=False) if isinstance(m, np.ndarray) else m

    def _attn_mask(self, mask: Any, is_causal: bool, N: int, L: int, S: int) -> Any:
        if mask is None:
            return np.triu(np.full((L, S), -np.inf, self.in_proj_weight.dtype), 1) if is_causal else None
        m = self._additive(mask, "attn_mask")
        if m.shape == (L, S):
            return m
        if m.shape == (N * self.num_heads, L, S):
            return m.reshape(N, self.num_heads, L, S)
        raise ValueError(f"MultiheadAttention: attn_mask must be ({L}, {S}) or ({N * self.num_heads}, {L}, {S}), "
                         f"got {tuple(m.shape)}")

    def _padding_mask(self, mask: Any, N: int, S: int) -> Any:
        if mask is None:
            return None
        m = self._additive(mask, "key_padding_mask")
        if m.shape != (N, S):
            raise ValueError(f"MultiheadAttention: key_padding_mask must be ({N}, {S}), got {tuple(m.shape)}")
        return m.reshape(N, 1, 1, S)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"


def _additive_bool(mask: np.ndarray, dtype: Any) -> np.ndarray:
    """A bool mask (True: left out) as the scores' additive mask: -inf there, 0 elsewhere."""
    return np.where(mask, -np.inf, 0.0).astype(dtype)
