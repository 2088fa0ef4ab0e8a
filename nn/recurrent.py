"""``LSTM`` and ``GRU``: PyTorch's parameters, gate order and shapes, composed of Tensor ops.

Each time step runs inside a parameterless gate module (``cells[k]``, one per layer), so
``draw_graph`` shows one box per layer holding its gate arithmetic. The input projection of
all time steps is one matrix product before the loop; the loop does the recurrent product.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import autograd_mini as ag

from . import functional as F
from ._checks import flag, integer, real
from .module import Module, ModuleList, Parameter

__all__ = ["LSTM", "GRU", "LSTMGates", "GRUGates"]



class LSTMGates(Module):
    """One LSTM step from the projected input ``xw`` (N, 4H) and the state: gates i, f, g, o (PyTorch's order)."""

    def forward(self, xw: ag.Tensor, h: ag.Tensor, c: ag.Tensor, w_hh_t: ag.Tensor, b_hh: Any) -> tuple:
        z = xw + ag.linear(h, w_hh_t, b_hh)
        i, f, g, o = ag.split(z, 4, axis=-1)
        c = ag.sigmoid(f) * c + ag.sigmoid(i) * ag.tanh(g)
        return ag.sigmoid(o) * ag.tanh(c), c


class GRUGates(Module):
    """One GRU step from the projected input ``xw`` (N, 3H) and ``h``: gates r, z, n (PyTorch's order)."""

    def forward(self, xw: ag.Tensor, h: ag.Tensor, w_hh_t: ag.Tensor, b_hh: Any) -> ag.Tensor:
        hw = ag.linear(h, w_hh_t, b_hh)
        xr, xz, xn = ag.split(xw, 3, axis=-1)
        hr, hz, hn = ag.split(hw, 3, axis=-1)
        r, z = ag.sigmoid(xr + hr), ag.sigmoid(xz + hz)
        n = ag.tanh(xn + r * hn)  # b_hn stays inside r * (...), as PyTorch's
        return n + z * (h - n)    # (1 - z) * n + z * h


class _Recurrent(Module):
    gates = 0          # 4 for LSTM, 3 for GRU
    cell_type: type = Module

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, seed: ag.Seed = None, dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        input_size = integer(input_size, f"{name}: input_size", 1)
        hidden_size = integer(hidden_size, f"{name}: hidden_size", 1)
        num_layers = integer(num_layers, f"{name}: num_layers", 1)
        bias, batch_first = flag(bias, f"{name}: bias"), flag(batch_first, f"{name}: batch_first")
        dropout = real(dropout, f"{name}: dropout", 0, 1)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        rng = ag.get_generator(seed)
        self._rng = rng if seed is not None else None
        dtype = dtype or ag.get_default_dtype()
        bound = 1.0 / math.sqrt(hidden_size)
        G = self.gates * hidden_size
        for k in range(num_layers):  # PyTorch's order and init: U(-1/sqrt(H), 1/sqrt(H)) for every parameter
            fan = input_size if k == 0 else hidden_size
            shapes = {"weight_ih": (G, fan), "weight_hh": (G, hidden_size)}
            if bias:
                shapes.update(bias_ih=(G,), bias_hh=(G,))
            for p, shape in shapes.items():
                setattr(self, f"{p}_l{k}", Parameter(rng.uniform(-bound, bound, shape).astype(dtype)))
        self.cells = ModuleList(self.cell_type() for _ in range(num_layers))

    def _layer(self, k: int) -> tuple:
        get = lambda p: getattr(self, f"{p}_l{k}", None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def _inputs(self, x: Any, hx: Any) -> tuple:
        """Time-major (L, N, H_in) input, initial states (num_layers, N, H) each, and whether unbatched."""
        name = type(self).__name__
        x = x if isinstance(x, ag.Tensor) else ag.tensor(x)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input must be ({'N, L' if self.batch_first else 'L, N'}, {self.input_size}) "
                             f"or unbatched (L, {self.input_size}), got {tuple(x.shape)}")
        unbatched = x.ndim == 2
        x = x.expand_dims(1) if unbatched else x.swapaxes(0, 1) if self.batch_first else x
        n = x.shape[1]
        want = (self.num_layers, self.hidden_size) if unbatched else (self.num_layers, n, self.hidden_size)
        states = []
        for s in (hx if isinstance(hx, tuple) else (hx,)) if hx is not None else ():
            s = s if isinstance(s, ag.Tensor) else ag.tensor(s)
            if s.shape != want:
                raise ValueError(f"{name}: initial state must have shape {want}, got {tuple(s.shape)}")
            states.append(s.expand_dims(1) if unbatched else s)
        return x, states, unbatched

    def _run(self, x: ag.Tensor, states: list, step: Any) -> tuple:
        """Run the layers; ``step(cell, xw_t, state, w_hh_t, b_hh) -> new state tuple`` (h first)."""
        L, N, _ = x.shape
        H = self.hidden_size
        finals = []
        for k in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self._layer(k)
            state = tuple(s[k] for s in states) if states else None
            if state is None:
                state = tuple(ag.tensor(np.zeros((N, H), dtype=w_ih.dtype)) for _ in range(self.n_states))
            xw = ag.linear(x, w_ih.T, b_ih)  # all time steps at once
            w_hh_t, outs = w_hh.T, []
            for t in range(L):
                state = step(self.cells[k], xw[t], state, w_hh_t, b_hh)
                outs.append(state[0])
            finals.append(state)
            x = ag.stack(outs) if outs else ag.tensor(np.zeros((0, N, H), dtype=w_ih.dtype))
            if self.dropout and self.training and k < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True, self._rng)
        return x, [ag.stack([f[i] for f in finals]) for i in range(self.n_states)]

    def _outputs(self, out: ag.Tensor, finals: list, unbatched: bool) -> tuple:
        if unbatched:
            return out.squeeze(1), [f.squeeze(1) for f in finals]
        return (out.swapaxes(0, 1) if self.batch_first else out), finals

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, bias={self.bias}, "
                f"batch_first={self.batch_first}, dropout={self.dropout}")


class LSTM(_Recurrent):
    """A multi-layer LSTM, as PyTorch's ``nn.LSTM`` (unidirectional, no projection).

    Parameters ``weight_ih_l{k}`` (4H, H_in), ``weight_hh_l{k}`` (4H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (4H,), in PyTorch's (out, in) layout and gate order i, f, g, o, so a PyTorch
    state dict loads unchanged. Input (L, N, H_in), (N, L, H_in) with ``batch_first``, or unbatched
    (L, H_in); ``hx = (h_0, c_0)``, each (num_layers, N, H) whatever ``batch_first`` (zeros if omitted).
    Returns ``output, (h_n, c_n)``. A length-0 sequence gives an empty output and the initial state
    (PyTorch raises instead).
    """

    gates, n_states, cell_type = 4, 2, LSTMGates

    def forward(self, x: Any, hx: tuple | None = None) -> tuple:
        x, states, unbatched = self._inputs(x, hx)
        if states and len(states) != 2:
            raise ValueError("LSTM: hx must be a pair (h_0, c_0)")
        step = lambda cell, xw, s, w, b: cell(xw, s[0], s[1], w, b)  # noqa: E731
        out, finals = self._outputs(*self._run(x, states, step), unbatched)
        return out, tuple(finals)


class GRU(_Recurrent):
    """A multi-layer GRU, as PyTorch's ``nn.GRU``: gates r, z, n; parameters as ``LSTM``'s with 3H rows.

    ``hx`` is h_0 (num_layers, N, H); returns ``output, h_n``.
    """

    gates, n_states, cell_type = 3, 1, GRUGates

    def forward(self, x: Any, hx: Any = None) -> tuple:
        x, states, unbatched = self._inputs(x, hx)
        step = lambda cell, xw, s, w, b: (cell(xw, s[0], w, b),)  # noqa: E731
        out, finals = self._outputs(*self._run(x, states, step), unbatched)
        return out, finals[0]
