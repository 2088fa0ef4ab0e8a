"""A transformer-block training step (pre-LayerNorm, causal self-attention + GELU MLP, AdamW, MSE),
in autograd-mini and in PyTorch with the same weights, for benchmarks/run.py.

Sizes: batch 16, sequence 32, width 64, 4 heads (MLP 4x wide, tanh GELU), float32.
"""

from __future__ import annotations

import numpy as np

import autograd_mini as ag
import nn
import nn.functional as F

BATCH, SEQ, WIDTH, HEADS = 16, 32, 64, 4
LR = 1e-3


def warm_blas() -> None:
    """One 512x512 GEMM. OpenBLAS 0.3.31 (numpy's wheel) ran this step's (64, 512) @ (512, 256) weight
    gradient at 2.0 ms instead of 0.6 ms until the process had done one GEMM of 256x256 or more, and
    stayed fast after it (measured; docs/benchmarks.md). A long training run does such a GEMM sooner
    or later; a benchmark must not time the cold state."""
    np.ones((512, 512), np.float32) @ np.ones((512, 512), np.float32)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, seed: int = 0) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True, seed=seed)
        self.fc = nn.Linear(width, 4 * width, seed=seed + 1)
        self.proj = nn.Linear(4 * width, width, seed=seed + 2)
        self.act = nn.GELU("tanh")  # GPT-2's; the exact erf form costs about 4 ms more (docs/benchmarks.md)

    def forward(self, x: ag.Tensor, mask: np.ndarray) -> ag.Tensor:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.proj(self.act(self.fc(self.ln2(x))))


def data(batch: int = BATCH, seq: int = SEQ, width: int = WIDTH, n: int = 4, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, seq, width)).astype(np.float32),
             rng.standard_normal((batch, seq, width)).astype(np.float32)) for _ in range(n)]


class AgBlockStep:
    name = "autograd-mini"

    def __init__(self, batches: list, width: int = WIDTH, heads: int = HEADS) -> None:
        warm_blas()
        self.model = Block(width, heads)
        for p in self.model.parameters():
            p.data = p.data.astype(np.float32)
        self.opt = nn.optim.AdamW(self.model.parameters(), lr=LR)
        self.batches = [(ag.tensor(x), ag.tensor(y)) for x, y in batches]
        self.mask = np.triu(np.ones((batches[0][0].shape[1],) * 2, dtype=bool), 1)
        self.i = 0

    def train_step(self, x: ag.Tensor, y: ag.Tensor) -> ag.Tensor:
        loss = F.mse_loss(self.model(x, self.mask), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss

    def __call__(self) -> float:
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        return self.train_step(x, y).item()


class TorchBlockStep:
    name = "torch"

    def __init__(self, torch, batches: list, source: AgBlockStep, width: int = WIDTH, heads: int = HEADS) -> None:
        self.torch = torch
        tnn = torch.nn

        class TorchBlock(tnn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.ln1, self.ln2 = tnn.LayerNorm(width), tnn.LayerNorm(width)
                self.attn = tnn.MultiheadAttention(width, heads, batch_first=True)
                self.fc, self.proj = tnn.Linear(width, 4 * width), tnn.Linear(4 * width, width)
                self.act = tnn.GELU(approximate="tanh")

            def forward(self, x, mask):
                h = self.ln1(x)
                x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
                return x + self.proj(self.act(self.fc(self.ln2(x))))

        self.model = TorchBlock()
        linear = {name for name, m in source.model.named_modules() if isinstance(m, nn.Linear)}
        state = {k: torch.from_numpy(v.T.copy() if k.rsplit(".", 1)[0] in linear and k.endswith("weight") else v)
                 for k, v in source.model.state_dict().items()}  # our Linear weights are (in, out)
        self.model.load_state_dict(state)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=LR)
        self.batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
        self.mask = torch.from_numpy(source.mask)
        self.i = 0

    def __call__(self) -> float:
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        loss = self.torch.nn.functional.mse_loss(self.model(x, self.mask), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss.item()
