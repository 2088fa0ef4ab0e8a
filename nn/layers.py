"""Layers: ``Linear``, ``Embedding``, and the stateless ``Identity``, ``Flatten``, ``Dropout``."""

from __future__ import annotations

import math
from typing import Any

import autograd_mini as ag

from . import functional as F
from ._checks import integer
from .module import Module, Parameter

__all__ = ["Linear", "Embedding", "Identity", "Flatten", "Dropout"]



class Linear(Module):
    """``y = x @ weight + bias``, with ``weight`` of shape ``(in_features, out_features)``.

    Default init (PyTorch's): weight and bias ~ U(-1/sqrt(in_features), 1/sqrt(in_features)),
    drawn from ``seed`` (int or Generator) or the global generator; dtype the default (float32).

    >>> layer = nn.Linear(3, 2, seed=0)
    >>> layer(ag.ones(4, 3)).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, seed: ag.Seed = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: sizes must be non-negative, got ({in_features}, {out_features})")
        self.in_features, self.out_features = int(in_features), int(out_features)
        rng = ag.get_generator(seed)
        dtype = dtype or ag.get_default_dtype()
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0
        self.weight = Parameter(rng.uniform(-bound, bound, (in_features, out_features)).astype(dtype))
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, (out_features,)).astype(dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> ag.Tensor:
        x = F.layer_input(x, self.weight, f"Linear({self.in_features}, {self.out_features})")
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): input has shape {x.shape}, "
                             f"expected last axis of size {self.in_features}")
        return ag.linear(x, self.weight, self.bias)  # one fused op (x @ W + b)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged."""

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Merge axes ``start_dim`` through ``end_dim`` (default 1 to the last: keeps the batch axis), PyTorch's."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Any) -> ag.Tensor:
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout: in training mode zero elements with probability ``p``, scale the rest by 1/(1-p).

    The identity in eval mode (``model.eval()``). Masks come from a generator made from ``seed``
    once (reproducible sequence), or from the global generator (``ag.manual_seed``).
    """

    def __init__(self, p: float = 0.5, seed: ag.Seed = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)
        self._rng = None if seed is None else ag.get_generator(seed)

    def forward(self, x: Any) -> ag.Tensor:
        return F.dropout(x, self.p, self.training, self._rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(Dropout):
    """Channel dropout, PyTorch's ``nn.Dropout2d``: in training mode zero whole channels of (N, C, H, W) or
    (C, H, W) images with probability ``p``, scale the rest by 1/(1-p); the identity in eval mode."""

    def forward(self, x: Any) -> ag.Tensor:
        return F.dropout2d(x, self.p, self.training, self._rng)


class Embedding(Module):
    """A lookup table: integer indices of any shape -> rows of ``weight`` (num_embeddings, embedding_dim).

    ``weight`` ~ N(0, 1) (PyTorch's init); the row at ``padding_idx`` starts at zero and gets no gradient.

    >>> emb = nn.Embedding(10, 3, seed=0)
    >>> emb(np.array([[1, 2], [2, 9]])).shape
    (2, 2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, seed: ag.Seed = None,
                 dtype: Any = None) -> None:
        super().__init__()
        num_embeddings = integer(num_embeddings, "Embedding: num_embeddings", 1)
        embedding_dim = integer(embedding_dim, "Embedding: embedding_dim", 1)
        if padding_idx is not None:
            padding_idx = integer(padding_idx, "Embedding: padding_idx")
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} out of range for {num_embeddings} embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        w = ag.get_generator(seed).standard_normal((num_embeddings, embedding_dim))
        w = w.astype(dtype or ag.get_default_dtype())
        if padding_idx is not None:
            w[padding_idx] = 0
        self.weight = Parameter(w)

    def forward(self, indices: Any) -> ag.Tensor:
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
