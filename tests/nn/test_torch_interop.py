"""nn.utils.to_torch_state_dict / from_torch_state_dict: the same architecture in both libraries, weights
copied each way, outputs and gradients equal in float64 (1e-10). PyTorch's side: live when installed, else
its recorded answers (tests/_oracle.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import autograd_mini as ag
import nn
from tests._oracle import oracle

try:
    import torch
    tnn = torch.nn
except ImportError:  # the recorded answers stand in (tests/_oracle.py)
    torch = tnn = None

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import char_lm  # noqa: E402


@pytest.fixture(autouse=True)
def _float64():
    ag_prev, torch_prev = ag.get_default_dtype(), torch and torch.get_default_dtype()
    ag.set_default_dtype("float64")
    if torch:
        torch.set_default_dtype(torch.float64)
    yield
    ag.set_default_dtype(ag_prev)
    if torch:
        torch.set_default_dtype(torch_prev)


# ---- the same architectures, built with each library --------------------------------------------------------
def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def torch_mlp() -> Any:
    return tnn.Sequential(tnn.Linear(6, 8), tnn.ReLU(), tnn.Linear(8, 3))


def lenet() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, groups=2), nn.BatchNorm2d(6), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(6, 5))


def torch_lenet() -> Any:
    return tnn.Sequential(tnn.Conv2d(1, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(), tnn.MaxPool2d(2),
                          tnn.Conv2d(4, 6, 3, groups=2), tnn.BatchNorm2d(6), tnn.ReLU(), tnn.AvgPool2d(2),
                          tnn.Flatten(), tnn.Linear(6, 5))


def torch_recurrent(cls_name: str) -> Any:
    class TorchRecurrent(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = getattr(tnn, cls_name)(5, 7, num_layers=2, batch_first=True)
            self.head = tnn.Linear(7, 3)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out)

    return TorchRecurrent()


class Recurrent(nn.Module):
    def __init__(self, cls: type) -> None:
        super().__init__()
        self.rnn = cls(5, 7, num_layers=2, batch_first=True)
        self.head = nn.Linear(7, 3)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


def torch_transformer(vocab: int = 11, block: int = 6, width: int = 8, heads: int = 2, layers: int = 2) -> Any:
    """examples/char_lm.py's Transformer, written with torch.nn (same names, same forward)."""

    class TorchBlock(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = tnn.LayerNorm(width), tnn.LayerNorm(width)
            self.attn = tnn.MultiheadAttention(width, heads, batch_first=True)
            self.fc, self.proj = tnn.Linear(width, 4 * width), tnn.Linear(4 * width, width)

        def forward(self, x, mask):
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
            return x + self.proj(tnn.functional.gelu(self.fc(self.ln2(x))))

    class TorchTransformer(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok, self.pos = tnn.Embedding(vocab, width), tnn.Embedding(block, width)
            self.blocks = tnn.ModuleList(TorchBlock() for _ in range(layers))
            self.ln, self.head = tnn.LayerNorm(width), tnn.Linear(width, vocab)

        def forward(self, idx):
            T = idx.shape[1]
            x = self.tok(idx) + self.pos(torch.arange(T))
            mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
            for b in self.blocks:
                x = b(x, mask)
            return self.head(self.ln(x))

    return TorchTransformer()


def transformer() -> nn.Module:
    return char_lm.Transformer(vocab=11, block=6, width=8, heads=2, layers=2, dropout=0.0, seed=0)


rng = np.random.default_rng(0)
MODELS: dict[str, tuple[Callable, Callable, np.ndarray]] = {  # name -> (ours, PyTorch's, input)
    "mlp": (mlp, torch_mlp, rng.normal(size=(4, 6))),
    "lenet_batchnorm": (lenet, torch_lenet, rng.normal(size=(3, 1, 8, 8))),
    "lstm": (lambda: Recurrent(nn.LSTM), lambda: torch_recurrent("LSTM"), rng.normal(size=(2, 4, 5))),
    "gru": (lambda: Recurrent(nn.GRU), lambda: torch_recurrent("GRU"), rng.normal(size=(2, 4, 5))),
    "transformer": (transformer, torch_transformer, rng.integers(0, 11, size=(2, 6))),
}


def _randomize(model: Any) -> None:
    """Weights and running statistics that are not the defaults (a zero bias or a unit variance would hide a
    mistake in the layout)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if name.endswith("running_var")
                        else torch.randn(t.shape, generator=g) * 0.3)


def _weights(ours: nn.Module, x: np.ndarray) -> np.ndarray:
    ours.eval()  # (a forward in training mode would move the running statistics)
    return np.random.default_rng(2).normal(size=_forward_ours(ours, x).shape)


def _torch_run(theirs: Any, x: np.ndarray, w: np.ndarray) -> dict:
    """PyTorch's answers: the output in eval mode and the gradients of (output * w).sum() by parameter name."""
    theirs.eval()
    ty = theirs(torch.from_numpy(x))
    (ty * torch.from_numpy(w)).sum().backward()
    return {"y": ty, "grads": {name: p.grad for name, p in theirs.named_parameters()}}


def _compare(ours: nn.Module, x: np.ndarray, w: np.ndarray, want: dict) -> None:
    ours.eval()
    y = _forward_ours(ours, x)
    (y * w).sum().backward()
    np.testing.assert_allclose(y.data, want["y"], rtol=0, atol=1e-10)
    grads = nn.utils.to_torch_state_dict(ours, {n: p.grad.data for n, p in ours.named_parameters()})
    for name, g in want["grads"].items():
        np.testing.assert_allclose(grads[name], g, rtol=0, atol=1e-10, err_msg=name)


def _forward_ours(model: nn.Module, x: np.ndarray) -> ag.Tensor:
    return model(x if x.dtype.kind in "iu" else ag.tensor(x))


@pytest.mark.parametrize("name", list(MODELS))
def test_torch_to_ours(name: str) -> None:
    build, build_torch, x = MODELS[name]
    ours = build()
    w = _weights(ours, x)

    def theirs() -> dict:
        model = build_torch()
        _randomize(model)
        return {"state": model.state_dict(), **_torch_run(model, x, w)}

    want = oracle(theirs)
    missing, unexpected = ours.load_state_dict(nn.utils.from_torch_state_dict(want["state"], ours))
    assert not missing and not unexpected
    _compare(ours, x, w, want)


@pytest.mark.parametrize("name", list(MODELS))
def test_ours_to_torch(name: str) -> None:
    build, build_torch, x = MODELS[name]
    ours = build()
    for p in ours.parameters():  # not the defaults: a symmetric init could hide a transposition
        p.data = np.random.default_rng(p.size).normal(scale=0.3, size=p.shape)
    if x.dtype.kind == "f":
        with ag.no_grad():  # running statistics of a batch, in training mode
            _forward_ours(ours, x * 2 + 1)
    sd = nn.utils.to_torch_state_dict(ours)
    w = _weights(ours, x)

    def theirs() -> dict:
        model = build_torch()
        model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
        return _torch_run(model, x, w)

    _compare(ours, x, w, oracle(theirs))


def test_square_linear_and_embedding_follow_the_target_model() -> None:
    """A (4, 4) Linear weight and a (4, 4) Embedding weight look alike: only the model says which flips."""
    model = nn.Sequential(nn.Embedding(4, 4), nn.Linear(4, 4))
    a = np.arange(16.0).reshape(4, 4)
    sd = nn.utils.from_torch_state_dict({"0.weight": a, "1.weight": a, "1.bias": np.zeros(4)}, model)
    np.testing.assert_array_equal(sd["0.weight"], a)
    np.testing.assert_array_equal(sd["1.weight"], a.T)
    back = nn.utils.to_torch_state_dict(model, sd)
    np.testing.assert_array_equal(back["1.weight"], a)


def test_bad_state_dicts_are_named() -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(TypeError, match="mapping of names to arrays"):
        nn.utils.from_torch_state_dict("model.pt", model)
    with pytest.raises(ValueError, match=r"'0.weight' is a Linear weight.*shape \(6,\)"):
        nn.utils.from_torch_state_dict({"0.weight": np.zeros(6)}, model)
    refused = oracle(lambda: _raised(lambda: torch.zeros(2, requires_grad=True).numpy()))
    assert refused.kind == "RuntimeError"  # what a tensor that requires grad does when asked for .numpy()

    class RequiresGrad:  # PyTorch's tensor as our side sees it, answering .numpy() as PyTorch does
        def numpy(self):
            raise RuntimeError(refused.message)

    with pytest.raises(TypeError, match=r"state dict entry '0.bias'.*detach\(\)"):
        nn.utils.from_torch_state_dict({"0.bias": RequiresGrad()}, model)


def _raised(f: Callable[[], Any]) -> BaseException | None:
    try:
        f()
    except Exception as e:  # noqa: BLE001 (the answer is the exception)
        return e
    return None
