"""LayerNorm, Embedding, GELU, scaled_dot_product_attention, MultiheadAttention, LSTM, GRU: gradients
against float64 finite differences, gradcheck and gradgradcheck on small sizes, values against
PyTorch float64 with weights copied from a torch module (which proves the parameter layout), as recorded in
tests/oracle/nn/test_nn_sequence.jsonl when PyTorch is not installed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_mini as ag
import nn
import nn.functional as F
from tests._oracle import case_rng, oracle

try:  # the engine branch moves every finite-difference helper into tests/_fd.py
    from tests._fd import check_tensor_grads as check_grads
    from tests._fd import float64
except ImportError:
    from nn_fd import check_grads, float64

try:
    import torch
except ImportError:  # the comparisons read PyTorch's recorded answers (tests/_oracle.py)
    torch = None

RNG = np.random.default_rng(0)


def _leaf(shape, rng=RNG):
    return ag.tensor(rng.standard_normal(shape), requires_grad=True)


# ---- layers: finite differences, gradcheck, gradgradcheck ------------------------------------------------
def _layers():
    return {
        "LayerNorm": (lambda: nn.LayerNorm(4), (2, 3, 4)),
        "LayerNorm-2d": (lambda: nn.LayerNorm((3, 4), eps=1e-3), (2, 3, 4)),
        "LayerNorm-noaffine": (lambda: nn.LayerNorm(4, elementwise_affine=False), (3, 4)),
        "GELU": (lambda: nn.GELU(), (3, 4)),
        "GELU-tanh": (lambda: nn.GELU("tanh"), (3, 4)),
        "MHA": (lambda: nn.MultiheadAttention(4, 2, batch_first=True, seed=1), (2, 3, 4)),
        "LSTM": (lambda: nn.LSTM(2, 2, num_layers=2, batch_first=True, seed=2), (1, 3, 2)),
        "GRU": (lambda: nn.GRU(2, 2, num_layers=2, seed=3), (3, 1, 2)),
    }


def _run(layer, x):
    out = layer(x, x, x)[0] if isinstance(layer, nn.MultiheadAttention) else layer(x)
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("name", sorted(_layers()))
def test_layer_gradients_finite_differences(name):
    make, shape = _layers()[name]
    with float64():
        layer = make()
    x = _leaf(shape)
    check_grads(lambda: _run(layer, x), [x, *layer.parameters()])


@pytest.mark.parametrize("name", sorted(_layers()))
def test_layer_gradcheck_and_gradgradcheck(name):
    make, shape = _layers()[name]
    with float64():
        layer = make()
    x = _leaf(shape, np.random.default_rng(5))
    params = list(layer.parameters())
    assert ag.gradcheck(lambda x, *ps: _run(layer, x), [x, *params])
    assert ag.gradgradcheck(lambda x, *ps: _run(layer, x), [x, *params])


def test_gradcheck_module_on_a_small_sequence_model():
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 4, seed=0)
            self.rnn = nn.GRU(4, 4, batch_first=True, seed=0)
            self.norm = nn.LayerNorm(4)
            self.attn = nn.MultiheadAttention(4, 2, batch_first=True, seed=0)
            self.head = nn.Linear(4, 5, seed=0)

        def forward(self, idx):
            h = self.norm(self.rnn(self.emb(idx))[0])
            return self.head(F.gelu(self.attn(h, h, h, need_weights=False)[0]))

    idx = np.array([[1, 2, 0], [4, 4, 3]])
    loss = lambda out, y: F.cross_entropy(out.reshape(-1, 5), y.reshape(-1))  # noqa: E731
    assert ag.gradcheck_module(Tiny(), loss, idx, np.array([[2, 0, 1], [3, 3, 4]]))


# ---- Embedding --------------------------------------------------------------------------------------
def test_embedding_gradient_scatters_into_used_rows_and_padding_gets_none():
    with float64():
        emb = nn.Embedding(5, 3, padding_idx=1, seed=0)
    assert np.all(emb.weight.data[1] == 0)
    idx = np.array([[0, 1, 3], [3, 3, 1]])
    out = emb(idx)
    np.testing.assert_array_equal(np.asarray(out), emb.weight.data[idx])
    w = RNG.standard_normal(out.shape)
    (out * ag.tensor(w)).sum().backward()
    want = np.zeros((5, 3))
    np.add.at(want, idx, w)
    want[1] = 0
    np.testing.assert_allclose(np.asarray(emb.weight.grad), want, rtol=1e-14)
    emb.weight.data[1] = 7.0  # a changed padding row is still looked up, as in PyTorch
    assert np.all(np.asarray(emb(np.array([1]))) == 7.0)
    with pytest.raises(IndexError, match=r"embedding: index \[5\] out of range for 5"):
        emb(np.array([5]))
    with pytest.raises(TypeError, match="indices must be integers"):
        emb(np.array([0.5]))


# ---- values against PyTorch (weights copied from torch modules; recorded answers without it) -----------------
def _weights(make):
    """PyTorch's freshly made module's state dict, as the oracle answers it (tests/_oracle.py)."""
    return oracle(lambda: make().state_dict(), key="weights")


def _load(make, sd, transpose=()):
    """Our module made (by ``make``) in float64, holding PyTorch's weights."""
    with float64():
        module = make()
        module.load_state_dict({k: v.T if k in transpose else v for k, v in sd.items()})
    return module


@pytest.mark.parametrize("shape,affine", [((4,), True), ((3, 4), True), ((4,), False)])
def test_layer_norm_matches_torch(shape, affine):
    def make():
        torch.manual_seed(4)
        t = torch.nn.LayerNorm(shape, elementwise_affine=affine, dtype=torch.float64)
        if affine:
            with torch.no_grad():
                t.weight.normal_()
                t.bias.normal_()
        return t

    m = _load(lambda: nn.LayerNorm(shape, elementwise_affine=affine), _weights(make))
    rng = case_rng()
    x, w = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))

    def in_pytorch():
        t, tx = make(), torch.tensor(x, requires_grad=True)
        out = t(tx)
        (out * torch.tensor(w)).sum().backward()
        return out, tx.grad, None if t.weight is None else t.weight.grad

    to, gx, gweight = oracle(in_pytorch)
    ax = ag.tensor(x, requires_grad=True)
    (m(ax) * ag.tensor(w)).sum().backward()
    np.testing.assert_allclose(np.asarray(m(ax)), to, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(ax.grad), gx, rtol=1e-10, atol=1e-12)
    if affine:
        np.testing.assert_allclose(np.asarray(m.weight.grad), gweight, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate):
    """Also pins the tanh form's constants (sqrt(2 / pi), 0.044715) where only PyTorch can judge them."""
    x = np.concatenate([np.linspace(-8, 8, 401), [0.0, -1e-8, 40.0, -40.0]])

    def in_pytorch():
        tx = torch.tensor(x, requires_grad=True)
        out = torch.nn.functional.gelu(tx, approximate=approximate)
        out.sum().backward()
        return out, tx.grad

    ref, gref = oracle(in_pytorch)
    ax = ag.tensor(x, requires_grad=True)
    out = F.gelu(ax, approximate)
    out.sum().backward()
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(np.asarray(ax.grad), gref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mask_kind", ["none", "bool", "float", "causal", "bool-dead-row", "float-dead-row"])
def test_sdpa_matches_torch_including_fully_masked_rows(mask_kind):
    rng = case_rng()
    q, k, v = rng.standard_normal((2, 2, 3, 4)), rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((2, 2, 5, 3))
    mask, causal = None, mask_kind == "causal"
    if mask_kind.startswith("bool"):
        mask = rng.random((3, 5)) > 0.4
        mask[:, 0] = True
        if mask_kind == "bool-dead-row":
            mask[1] = False  # query 1 sees no key: PyTorch gives zeros (and a zero gradient), not nan
    elif mask_kind.startswith("float"):
        mask = rng.standard_normal((3, 5))
        if mask_kind == "float-dead-row":
            mask[2] = -np.inf
    at = [ag.tensor(a, requires_grad=True) for a in (q, k, v)]
    ao = F.scaled_dot_product_attention(*at, attn_mask=mask, is_causal=causal)
    w = rng.standard_normal(ao.shape)

    def in_pytorch():
        ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        tm = None if mask is None else torch.tensor(mask)
        to = torch.nn.functional.scaled_dot_product_attention(*ts, attn_mask=tm, is_causal=causal)
        (to * torch.tensor(w)).sum().backward()
        return to, [t.grad for t in ts]

    to, grads = oracle(in_pytorch)
    (ao * ag.tensor(w)).sum().backward()
    np.testing.assert_allclose(np.asarray(ao), to, rtol=1e-12, atol=1e-13)
    for a, g in zip(at, grads):
        np.testing.assert_allclose(np.asarray(a.grad), g, rtol=1e-10, atol=1e-12)


def test_sdpa_gradients_and_dead_rows_without_torch():
    q, k, v = (_leaf(s) for s in ((2, 3, 2), (2, 4, 2), (2, 4, 2)))
    mask = np.array([[True, False, True, True], [False] * 4, [True] * 4])
    check_grads(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), [q, k, v])
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert np.all(np.asarray(out)[:, 1] == 0) and np.all(np.isfinite(np.asarray(out)))
    assert ag.gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [q, k, v])
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=True)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("masks", ["none", "padding", "attn-bool", "attn-float", "both", "per-head", "causal"])
def test_multihead_attention_matches_torch(batch_first, masks):
    E, H, N, L = 6, 3, 2, 4

    def make():
        torch.manual_seed(0)
        t = torch.nn.MultiheadAttention(E, H, batch_first=batch_first, dtype=torch.float64)
        with torch.no_grad():
            t.in_proj_bias.normal_()
            t.out_proj.bias.normal_()
        return t

    m = _load(lambda: nn.MultiheadAttention(E, H, batch_first=batch_first), _weights(make),
              transpose=["out_proj.weight"])
    rng = case_rng()
    x = rng.standard_normal((N, L, E) if batch_first else (L, N, E))
    kpm = np.array([[False, False, True, True], [False, False, False, False]]) if masks in ("padding", "both") \
        else None
    am = None
    if masks in ("attn-bool", "both"):
        am = np.triu(np.ones((L, L), bool), 1)
    elif masks == "attn-float":
        am = rng.standard_normal((L, L))
    elif masks == "per-head":
        am = rng.random((N * H, L, L)) > 0.7
        am[..., 0] = False
    ax = ag.tensor(x, requires_grad=True)
    ao, aw = m(ax, ax, ax, key_padding_mask=kpm, attn_mask=am, is_causal=masks == "causal")
    w = rng.standard_normal(ao.shape)

    def in_pytorch():
        t = make()
        kw = dict(is_causal=True, attn_mask=torch.triu(torch.ones(L, L, dtype=torch.bool), 1)) \
            if masks == "causal" else dict(attn_mask=None if am is None else torch.tensor(am))
        tx = torch.tensor(x, requires_grad=True)
        to, tw = t(tx, tx, tx, key_padding_mask=None if kpm is None else torch.tensor(kpm), **kw)
        (to * torch.tensor(w)).sum().backward()
        return to, tw, tx.grad, t.in_proj_weight.grad, t.out_proj.weight.grad

    to, tw, gx, g_in, g_out = oracle(in_pytorch)
    np.testing.assert_allclose(np.asarray(ao), to, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(aw), tw, rtol=1e-12, atol=1e-12)
    (ao * ag.tensor(w)).sum().backward()
    np.testing.assert_allclose(np.asarray(ax.grad), gx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(m.in_proj_weight.grad), g_in, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(m.out_proj.weight.grad), g_out.T, rtol=1e-10, atol=1e-12)


def test_multihead_attention_cross_attention_unbatched_per_head_weights_and_dead_rows():
    def make():
        torch.manual_seed(1)
        return torch.nn.MultiheadAttention(4, 2, dtype=torch.float64)

    m = _load(lambda: nn.MultiheadAttention(4, 2), _weights(make), transpose=["out_proj.weight"])
    rng = case_rng()
    q, kv = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))  # unbatched (L, E), (S, E)
    dead = np.array([True] * 5)  # every key padded: PyTorch's MultiheadAttention gives nan; so do we

    def in_pytorch():
        t, tq, tkv = make(), torch.tensor(q), torch.tensor(kv)
        return t(tq, tkv, tkv, average_attn_weights=False), t(tq, tkv, tkv, key_padding_mask=torch.tensor(dead))[0]

    (to, tw), t_dead = oracle(in_pytorch)
    ao, aw = m(q, kv, kv, average_attn_weights=False)
    assert aw.shape == tw.shape == (2, 3, 5)
    np.testing.assert_allclose(np.asarray(ao), to, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(aw), tw, rtol=1e-12, atol=1e-12)
    ao, _ = m(q, kv, kv, key_padding_mask=dead)
    assert np.all(np.isnan(t_dead)) and np.all(np.isnan(np.asarray(ao)))
    assert m(q, kv, kv, need_weights=False)[1] is None


def test_multihead_attention_errors_and_state_dict_names():
    m = nn.MultiheadAttention(4, 2, batch_first=True)
    assert list(m.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert m.in_proj_weight.shape == (12, 4)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        nn.MultiheadAttention(5, 2)
    with pytest.raises(ValueError, match=r"query must be \(N, L, E\) or unbatched \(L, E\) with E = embed_dim = 4"):
        m(np.ones((2, 3, 5)), np.ones((2, 3, 5)), np.ones((2, 3, 5)))
    with pytest.raises(ValueError, match="key_padding_mask must be"):
        m(np.ones((2, 3, 4)), np.ones((2, 3, 4)), np.ones((2, 3, 4)), key_padding_mask=np.ones((3, 2), bool))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("layers,bias,with_state", [(1, True, False), (2, True, True), (3, False, True)])
def test_recurrent_matches_torch(kind, batch_first, layers, bias, with_state):
    """Weights laid out as PyTorch's (its gate order: LSTM i, f, g, o; GRU r, z, n), recorded without it."""
    def make():
        torch.manual_seed(2)
        return getattr(torch.nn, kind)(3, 4, num_layers=layers, bias=bias, batch_first=batch_first,
                                       dtype=torch.float64)

    sd = _weights(make)
    m = _load(lambda: getattr(nn, kind)(3, 4, num_layers=layers, bias=bias, batch_first=batch_first), sd)
    assert list(m.state_dict()) == list(sd)
    N, L, rng = 2, 5, case_rng()
    x = rng.standard_normal((N, L, 3) if batch_first else (L, N, 3))
    h0, c0 = rng.standard_normal((layers, N, 4)), rng.standard_normal((layers, N, 4))
    ax = ag.tensor(x, requires_grad=True)
    ah = ((h0, c0) if kind == "LSTM" else h0) if with_state else None
    ao, astate = m(ax, ah)
    w = rng.standard_normal(ao.shape)

    def in_pytorch():
        t, tx = make(), torch.tensor(x, requires_grad=True)
        th = ((torch.tensor(h0), torch.tensor(c0)) if kind == "LSTM" else torch.tensor(h0)) if with_state else None
        to, tstate = t(tx, th)
        (to * torch.tensor(w)).sum().backward()
        return to, tstate, tx.grad, [p.grad for p in t.parameters()]

    to, tstate, gx, gparams = oracle(in_pytorch)
    np.testing.assert_allclose(np.asarray(ao), to, rtol=1e-12, atol=1e-12)
    for a, b in zip(astate if kind == "LSTM" else [astate], tstate if kind == "LSTM" else [tstate]):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-12, atol=1e-12)
    (ao * ag.tensor(w)).sum().backward()
    np.testing.assert_allclose(np.asarray(ax.grad), gx, rtol=1e-10, atol=1e-12)
    for (name, p), g in zip(m.named_parameters(), gparams, strict=True):
        np.testing.assert_allclose(np.asarray(p.grad), g, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_unbatched_matches_torch(kind):
    def make():
        torch.manual_seed(3)
        return getattr(torch.nn, kind)(2, 3, dtype=torch.float64)

    m = _load(lambda: getattr(nn, kind)(2, 3), _weights(make))
    x = case_rng().standard_normal((4, 2))
    np.testing.assert_allclose(np.asarray(m(x)[0]), oracle(lambda: make()(torch.tensor(x))[0]), rtol=1e-12,
                               atol=1e-12)


def test_recurrent_zero_length_sequence_state_errors_and_graph_clusters():
    with float64():
        lstm = nn.LSTM(3, 2, num_layers=2, batch_first=True)
    out, (h, c) = lstm(np.zeros((4, 0, 3)))
    assert out.shape == (4, 0, 2) and h.shape == c.shape == (2, 4, 2)
    assert np.all(np.asarray(h) == 0)
    with pytest.raises(ValueError, match=r"initial state must have shape \(2, 4, 2\)"):
        lstm(np.zeros((4, 1, 3)), (np.zeros((1, 4, 2)), np.zeros((1, 4, 2))))
    with pytest.raises(ValueError, match="LSTM: input must be"):
        lstm(np.zeros((4, 1, 5)))
    out, _ = lstm(_leaf((1, 2, 3)))
    dot = ag.viz.to_dot(out.sum(), params=dict(lstm.named_parameters()))
    assert "LSTMGates" in dot and "cluster" in dot and "Sigmoid" in dot


def test_recurrent_dropout_between_layers_only_in_training():
    with float64():
        gru = nn.GRU(2, 3, num_layers=2, dropout=0.5, seed=0)
    x = RNG.standard_normal((3, 1, 2))
    gru.eval()
    a, b = np.asarray(gru(x)[0]), np.asarray(gru(x)[0])
    np.testing.assert_array_equal(a, b)
    gru.train()
    assert not np.allclose(np.asarray(gru(x)[0]), a)


def test_layer_norm_function_matches_its_composed_oracle_to_second_order():
    rng = np.random.default_rng(7)
    x = ag.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    w = ag.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = ag.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    u = ag.tensor(rng.standard_normal((2, 3, 4)))
    grads = []
    for fn in (F.layer_norm, F.layer_norm_composed):
        for t in (x, w, b):
            t.grad = None
        (fn(x, (3, 4), w, b, 1e-3) * u).sum().backward()
        grads.append([np.asarray(t.grad) for t in (x, w, b)])
    for fused, composed in zip(*grads):
        np.testing.assert_allclose(fused, composed, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(F.layer_norm(x, (3, 4), w, b, 1e-3)),
                               np.asarray(F.layer_norm_composed(x, (3, 4), w, b, 1e-3)), rtol=1e-12, atol=1e-12)
    assert ag.gradgradcheck(lambda x, w, b: F.layer_norm(x, 4, w[0], b[0]), [x, w, b])
    with pytest.raises(ValueError, match="does not end in normalized_shape"):
        F.layer_norm(x, 5)


@pytest.mark.parametrize("make,kind,match", [
    (lambda: nn.LSTM(3.5, 2), TypeError, "LSTM: input_size must be an int"),
    (lambda: nn.GRU(3, 0), ValueError, "GRU: hidden_size must be >= 1"),
    (lambda: nn.LSTM(3, 2, dropout=1.5), ValueError, "LSTM: dropout must be <= 1"),
    (lambda: nn.MultiheadAttention(4, 2, batch_first="yes"), TypeError, "batch_first must be True or False"),
    (lambda: nn.Embedding(5, 2, padding_idx=7), ValueError, "padding_idx 7 out of range"),
    (lambda: nn.LayerNorm((3, 0)), ValueError, "normalized_shape must be >= 1"),
    (lambda: nn.GELU("fast"), ValueError, "approximate must be 'none' or 'tanh'"),
])
def test_constructor_errors_name_the_argument(make, kind, match):
    with pytest.raises(kind, match=match):
        make()


@given(n=st.integers(1, 2), L=st.integers(1, 3), seed=st.integers(0, 2**16),
       name=st.sampled_from(["LayerNorm", "GELU", "GELU-tanh", "MHA", "LSTM", "GRU", "Embedding"]))
@settings(deadline=None)
def test_sequence_layer_gradients_property(n, L, seed, name):
    rng = np.random.default_rng(seed)
    with float64():
        layer = {"LayerNorm": lambda: nn.LayerNorm(2), "GELU": lambda: nn.GELU(), "GELU-tanh": lambda: nn.GELU("tanh"),
                 "MHA": lambda: nn.MultiheadAttention(2, 2, batch_first=True, seed=rng),
                 "LSTM": lambda: nn.LSTM(2, 2, batch_first=True, seed=rng),
                 "GRU": lambda: nn.GRU(2, 2, batch_first=True, seed=rng),
                 "Embedding": lambda: nn.Embedding(3, 2, seed=rng)}[name]()
    if name == "Embedding":
        idx = rng.integers(0, 3, (n, L))
        check_grads(lambda: layer(idx), list(layer.parameters()), seed=seed)
        return
    x = _leaf((n, L, 2), rng)
    check_grads(lambda: _run(layer, x), [x, *layer.parameters()], seed=seed)


def test_graph_tools_show_sequence_models_by_module(tmp_path):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 4, seed=0)
            self.rnn = nn.LSTM(4, 4, num_layers=2, batch_first=True, seed=0)
            self.attn = nn.MultiheadAttention(4, 2, batch_first=True, seed=0)
            self.norm = nn.LayerNorm(4)

        def forward(self, idx):
            h = self.rnn(self.emb(idx))[0]
            return self.norm(h + self.attn(h, h, h, need_weights=False)[0])

    model = Model()
    loss = model(np.array([[1, 2, 3]])).sum()
    params = dict(model.named_parameters())
    full = ag.viz.to_dot(loss, params=params)
    for box in ("cells.0", "cells.1", "attn", "LSTMGates", "MultiheadAttention", "LayerNormFunction"):
        assert box in full, box
    collapsed = ag.viz.to_dot(loss, params=params, depth=1)
    assert "Sigmoid" not in collapsed and "rnn" in collapsed  # the LSTM's gates folded into its box
    page = ag.viz.save(loss, tmp_path / "graph.html", params=params)
    assert "LSTMGates" in page.read_text()


def test_float_masks_keep_float32_and_states_get_gradients():
    q = ag.tensor(np.ones((2, 3), np.float32))
    out = F.scaled_dot_product_attention(q, q, q, attn_mask=np.zeros((2, 2)))  # a float64 numpy mask
    assert out.dtype == np.float32
    m = nn.MultiheadAttention(3, 1)
    assert m(q, q, q, attn_mask=np.zeros((2, 2)))[0].dtype == np.float32
    with pytest.raises(TypeError, match="attn_mask must be bool or float"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.zeros((2, 2), int))
    with float64():
        lstm = nn.LSTM(2, 2, seed=0)
    x, h0, c0 = _leaf((3, 1, 2)), _leaf((1, 1, 2)), _leaf((1, 1, 2))
    check_grads(lambda: ag.concatenate([lstm(x, (h0, c0))[1][1], lstm(x, (h0, c0))[0]]), [x, h0, c0])
