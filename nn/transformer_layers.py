"""Layers of sequence models: ``LayerNorm``, ``Embedding`` (``GELU`` is in activations.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

import autograd_mini as ag

from . import functional as F
from ._checks import flag, integer, real
from .module import Module, Parameter

__all__ = ["LayerNorm", "Embedding"]



class LayerNorm(Module):
    """Normalize over the trailing ``normalized_shape`` axes, then ``* weight + bias`` (PyTorch's LayerNorm).

    ``weight`` (ones) and ``bias`` (zeros) have shape ``normalized_shape`` when ``elementwise_affine``.

    >>> nn.LayerNorm(8)(ag.randn(2, 5, 8)).shape
    (2, 5, 8)
    """

    def __init__(self, normalized_shape: int | tuple, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if not isinstance(normalized_shape, (tuple, list)) else tuple(normalized_shape)
        if not shape:
            raise ValueError("LayerNorm: normalized_shape must name at least one axis, got ()")
        shape = tuple(integer(n, "LayerNorm: normalized_shape", 1) for n in shape)
        self.normalized_shape, self.eps = shape, real(eps, "LayerNorm: eps", 0)
        self.elementwise_affine = flag(elementwise_affine, "LayerNorm: elementwise_affine")
        dtype = dtype or ag.get_default_dtype()
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(shape, dtype=dtype))
            if bias:
                self.bias = Parameter(np.zeros(shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> ag.Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


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
