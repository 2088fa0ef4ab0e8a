"""The activations and losses PyTorch users reach for (#20), at their boundary points, against PyTorch float64:
values, first and second derivatives.

``FUNCTIONS`` names each new ``nn.functional`` function with a formula written once for both libraries
(``F`` is ``nn.functional`` or ``torch.nn.functional``), run on the boundary kinds of
tests/test_boundaries.py (zero, ties, +-inf, nan, size-0, 0-d, integer, bool). Where PyTorch raises,
we must raise too. A function missing from the table fails ``test_every_new_function_has_cases``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import autograd_mini as ag
import nn.functional as F
from tests._oracle import oracle
from tests.test_boundaries import BINARY_INPUTS, KINDS, UNARY_INPUTS

try:
    import torch
except ImportError:  # the optional `torch` extra
    torch = None

INF = np.inf
NO_SCALAR = {"np_scalar": "no scalar operand"}
NAN_KINK = {"nan": "abs at nan: our documented choice (nan) differs from PyTorch's (0) (docs/reliability.md)",
            "inf": "inf - inf is nan: as nan"}
ZERO_NORM = {"zero": "a zero vector: PyTorch's second derivative is nan (its norm's double backward divides by 0), "
                     "ours that of the formula with the norm's gradient 0 there"}


@dataclass
class Case:
    fn: Callable[..., Any]                               # fn(F, *operands)
    arity: int = 1
    skip: dict[str, str] = field(default_factory=dict)   # kind -> why it does not apply
    inputs: dict[str, list] = field(default_factory=dict)  # kind -> operands replacing the default ones
    skip2: dict[str, str] = field(default_factory=dict)  # kind -> why second derivatives are not compared
    rtol: float = 1e-10                                  # derivatives


class TF:
    """torch.nn.functional, plus the formulas our API spells differently."""
    def __getattr__(self, name: str) -> Any:
        return getattr(torch.nn.functional, name)


LOGITS = {  # (N, C) logits and integer targets, or (N, C, d) ones: each kind's hard case
    "zero": [np.zeros((3, 4)), np.array([0, 1, 3])],
    "tie": [np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 2.0]]), np.array([1, -100])],
    "inf": [np.array([[INF, 0.0, 1.0], [-INF, 0.5, 1.0]]), np.array([1, 0])],
    "nan": [np.array([[np.nan, 0.0, 1.0], [0.0, 0.5, 1.0]]), np.array([2, 1])],
    "empty": [np.zeros((0, 3)), np.zeros(0, dtype=np.int64)],
    "0d": [np.array([0.3, -1.0, 2.0]), np.array(2)],
    "int": [np.arange(6.0).reshape(1, 3, 2) - 2.5, np.array([[2, 0]])],
}
PAIRS = {  # regression input and target
    **{k: v for k, v in BINARY_INPUTS.items() if k not in ("np_scalar", "bool")},
    "tie": [np.array([1.0, -1.0, 0.0, 2.5, -0.5]), np.array([0.0, -1.0, 0.0, 0.5, 0.5])],  # |d| at beta/delta, 0
}
NO_BOOL_INT = {"bool": "PyTorch's losses refuse bool inputs", "np_scalar": "operands are tensors"}
CLASSES = NO_BOOL_INT | {"int": "an integer class axis of (N, C, d) logits is in the int kind's inputs",
                         "bool": "class logits are float"}
W = np.array([0.5, 2.0, 1.0, 1.5])


def _w(F: Any, c: int) -> Any:
    return torch.tensor(W[:c]) if isinstance(F, TF) else W[:c]


def _pw(F: Any, a: Any) -> Any:
    pw = np.linspace(0.5, 2.0, a.shape[-1] if a.ndim else 1)
    return torch.tensor(pw) if isinstance(F, TF) else pw


def _ce(F: Any, x: Any, y: Any, **kw: Any) -> Any:
    y = torch.as_tensor(y) if isinstance(F, TF) else y
    c = x.shape[0 if x.ndim == 1 else 1]
    return F.cross_entropy(x, y, _w(F, c), reduction="mean", **kw)


def _nll(F: Any, x: Any, y: Any, red: str) -> Any:
    y = torch.as_tensor(y) if isinstance(F, TF) else y
    return F.nll_loss(x, y, _w(F, x.shape[0 if x.ndim == 1 else 1]), reduction=red)


FUNCTIONS: dict[str, Case] = {
    "silu": Case(lambda F, a: F.silu(a), skip=NO_SCALAR),
    "hardtanh": Case(lambda F, a: F.hardtanh(a, -1.0, 0.5), skip=NO_SCALAR,
                     inputs={"tie": [np.array([-1.0, 0.5, 0.0, 2.0, -3.0])]}),
    "relu6": Case(lambda F, a: F.relu6(a), skip=NO_SCALAR, inputs={"tie": [np.array([0.0, 6.0, 3.0, 7.0, -1.0])]}),
    "hardsigmoid": Case(lambda F, a: F.hardsigmoid(a), skip=NO_SCALAR, rtol=1e-7,  # PyTorch's gradient: float32 1/6
                        inputs={"tie": [np.array([-3.0, 3.0, 0.0, 4.0, -4.0])]}),
    "hardswish": Case(lambda F, a: F.hardswish(a), skip=NO_SCALAR | {
        "inf": "PyTorch's hardswish(-inf) is nan (-inf * 0), ours the limit 0 (docs/ops.md); +inf and the kinks agree"},
                      inputs={"tie": [np.array([-3.0, 3.0, 0.0, 4.0, -4.0])]}),
    "softsign": Case(lambda F, a: F.softsign(a), skip=NO_SCALAR),
    "elu": Case(lambda F, a: F.elu(a, 0.7), skip=NO_SCALAR),
    "selu": Case(lambda F, a: F.selu(a), skip=NO_SCALAR),
    "celu": Case(lambda F, a: F.celu(a, 1.5), skip=NO_SCALAR),
    "softplus": Case(lambda F, a: F.softplus(a) + F.softplus(a, 2.0, 0.5) * 3.0, skip=NO_SCALAR,
                     inputs={"tie": [np.array([0.25, 0.25, 20.0, -0.25, 21.0])]}),  # at and past both thresholds
    "mish": Case(lambda F, a: F.mish(a), skip=NO_SCALAR),
    "logsigmoid": Case(lambda F, a: F.logsigmoid(a), skip=NO_SCALAR),
    "softmin": Case(lambda F, a: F.softmin(a, dim=-1), skip=NO_SCALAR | {
        "0d": "PyTorch's softmax of a 0-d tensor is 1; ours needs an axis (tests/test_boundaries.py)"}),
    "glu": Case(lambda F, a: F.glu(a.reshape(-1)[:2], -1), skip=NO_SCALAR | {"0d": "glu halves an axis"}),
    "normalize": Case(lambda F, a: F.normalize(a.reshape(1, -1), 2.0, 1), skip=NO_SCALAR | {
        "int": "PyTorch refuses integer norms"}, inputs={"tie": [np.array([3.0, -4.0, 0.0])]}, skip2=ZERO_NORM),
    "cross_entropy": Case(lambda F, x, y: _ce(F, x, y, label_smoothing=0.1, ignore_index=-100), 2, skip=CLASSES,
                          inputs=LOGITS),
    "nll_loss": Case(lambda F, x, y: _nll(F, x, y, "mean"), 2, skip=CLASSES, inputs=LOGITS),
    "binary_cross_entropy_with_logits": Case(
        lambda F, a, b: F.binary_cross_entropy_with_logits(a, b * 0 + 0.25, pos_weight=_pw(F, a), reduction="sum"),
        2, skip=NO_BOOL_INT | {"inf": "an infinite logit: our softplus (logsumexp) has a nan gradient there, "
                                         "PyTorch's fused kernel a finite one (docs/ops.md)"}),
    "l1_loss": Case(lambda F, a, b: F.l1_loss(a, b, reduction="sum"), 2, skip=NO_BOOL_INT | NAN_KINK, inputs=PAIRS),
    "smooth_l1_loss": Case(lambda F, a, b: F.smooth_l1_loss(a, b, reduction="none", beta=2.0), 2, skip=NO_BOOL_INT,
                           inputs=PAIRS),
    "huber_loss": Case(lambda F, a, b: F.huber_loss(a, b, reduction="mean", delta=2.0), 2, skip=NO_BOOL_INT,
                       inputs=PAIRS),
    # the target's gradient at a zero target: PyTorch's is nan (xlogy's 0/0), ours 0 (docs/ops.md); so here
    # the target is a constant, and kl_div_target differentiates positive targets
    "kl_div": Case(lambda F, a, b: F.kl_div(a, (b * b).detach(), reduction="batchmean"), 2, skip=NO_BOOL_INT,
                   inputs={"zero": [np.array([-1.0, -2.0, 0.0]), np.array([0.0, 0.5, 0.0])]}),
    "kl_div_target": Case(lambda F, a, b: F.kl_div(a, b * b + 0.1, reduction="sum"), 2, skip=NO_BOOL_INT),
    "kl_div_log_target": Case(lambda F, a, b: F.kl_div(a, b, reduction="mean", log_target=True), 2,
                              skip=NO_BOOL_INT),
    "cosine_similarity": Case(lambda F, a, b: F.cosine_similarity(a.reshape(1, -1), b.reshape(1, -1), 1), 2,
                              skip=NO_BOOL_INT | {"int": "PyTorch refuses integer norms"}, skip2=ZERO_NORM),
    "margin_ranking_loss": Case(lambda F, a, b: F.margin_ranking_loss(a, b, b * 0 - 1, margin=0.5, reduction="sum"), 2,
                                skip=NO_BOOL_INT, inputs={"tie": [np.array([1.0, 0.5]), np.array([0.5, 1.0])]}),
}


def test_every_new_function_has_cases() -> None:
    new = {"silu", "elu", "selu", "celu", "softplus", "mish", "logsigmoid",
           "hardtanh", "relu6", "hardsigmoid", "hardswish", "softsign", "softmin", "glu", "normalize",
           "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div", "cosine_similarity", "margin_ranking_loss"}
    assert new <= set(F.__all__)
    assert not new - set(FUNCTIONS), f"add cases to FUNCTIONS for {sorted(new - set(FUNCTIONS))}"


def _operands(case: Case, kind: str) -> list:
    if kind in case.inputs:
        return case.inputs[kind]
    return (UNARY_INPUTS if case.arity == 1 else BINARY_INPUTS)[kind]


def _np(t: Any) -> np.ndarray:
    return t.detach().numpy(force=True) if torch is not None and isinstance(t, torch.Tensor) else t.numpy()


def _run(F_: Any, case: Case, xs: list) -> tuple:
    """(value, first derivatives of a fixed projection, second derivatives of a fixed projection, error);
    the second derivatives are None where they raise (PyTorch has no double backward for some ops)."""
    th = isinstance(F_, TF)
    lib_grad = (lambda o, i, **k: torch.autograd.grad(o, i, allow_unused=True, **k)) if th else \
        (lambda o, i, **k: ag.grad_of(o, i, allow_unused=True, **k))
    leaves = [(torch.tensor(x, requires_grad=x.dtype.kind == "f") if th else
               ag.tensor(x, requires_grad=x.dtype.kind == "f")) for x in xs]
    try:
        out = case.fn(F_, *leaves)
    except Exception as err:  # noqa: BLE001 (what matters is that both sides raise)
        return None, None, None, err
    value = _np(out)
    needs = [t for t in leaves if t.requires_grad]
    if not needs or not out.requires_grad:
        return value, None, None, None
    w = np.cos(np.arange(int(np.prod(out.shape)))).reshape(tuple(out.shape))
    loss = (out * (torch.as_tensor(w) if th else ag.tensor(w))).sum()
    grads = lib_grad(loss, needs, create_graph=True)
    first = [np.zeros(t.shape) if g is None else _np(g) for g, t in zip(grads, needs)]
    live = [g for g in grads if g is not None and g.requires_grad]
    gg = [None] * len(needs)
    if live:
        v = [(torch.as_tensor if th else ag.tensor)(np.sin(np.arange(int(np.prod(g.shape))) + 1.0).reshape(
            tuple(g.shape))) for g in live]
        try:
            gg = lib_grad(sum((g * vi).sum() for g, vi in zip(live, v)), needs)
        except RuntimeError:  # PyTorch: "derivative for ..._backward is not implemented"
            return value, first, None, None
    return value, first, [np.zeros(t.shape) if g is None else _np(g) for g, t in zip(gg, needs)], None


def _quiet(f: Callable[[], Any]) -> Any:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return f()


def _cases() -> list:
    return [(n, k) for n in sorted(FUNCTIONS) for k in KINDS if k not in FUNCTIONS[n].skip]


@pytest.mark.parametrize("name,kind", _cases())
def test_function_against_pytorch_to_second_order(name: str, kind: str) -> None:
    case = FUNCTIONS[name]
    xs = _operands(case, kind)
    got, g1, g2, err = _quiet(lambda: _run(F, case, xs))
    want, w1, w2, t_err = oracle(lambda: _quiet(lambda: _run(TF(), case, xs)))
    if t_err is not None and kind in ("int", "bool") and err is None:
        # PyTorch refuses some integer and bool inputs; numpy's rules compute them (docs/reliability.md): the
        # value must be the function's value on the same numbers as float64
        ref, _, _, _ = _quiet(lambda: _run(F, case, [x.astype(np.float64) for x in xs]))
        np.testing.assert_allclose(got.astype(np.float64), ref, rtol=1e-6, equal_nan=True)
        return
    if t_err is not None:
        assert err is not None, f"PyTorch raises ({t_err}), we return {got}"
        return
    assert err is None, f"we raise {err!r}; PyTorch returns {want}"
    assert got.shape == want.shape and got.dtype.kind == want.dtype.kind, (got.dtype, want.dtype)
    if kind in ("int", "bool"):  # numpy's promotion for integer inputs (docs/reliability.md): the kind agrees
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-6, equal_nan=True)
        return
    tol = dict(rtol=case.rtol, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, equal_nan=True)
    assert (g1 is None) == (w1 is None)
    for i, (a, b) in enumerate(zip(g1 or [], w1 or [])):
        np.testing.assert_allclose(a, b, **tol, err_msg=f"first derivative {i}")
    if kind in case.skip2:
        return
    for i, (a, b) in enumerate(zip(g2 or [], w2 or [])):
        np.testing.assert_allclose(a, b, **tol, err_msg=f"second derivative {i}")


def test_hardswish_at_its_kinks() -> None:
    x = np.array([-3.0, 3.0, -4.0, 4.0])
    a = ag.tensor(x, requires_grad=True)
    (ga,) = ag.grad_of(F.hardswish(a).sum(), [a])

    def theirs() -> Any:
        t = torch.tensor(x, requires_grad=True)
        return torch.autograd.grad(torch.nn.functional.hardswish(t).sum(), [t])[0]

    np.testing.assert_array_equal(ga.numpy(), oracle(theirs))  # 0 at -3 and 1 at 3: PyTorch's choice at the kinks


CE_LAYOUTS = [  # (input shape, target shape, keyword arguments)
    ((4, 3), (4,), {}), ((4, 3), (4,), {"weight": True}), ((4, 3), (4,), {"label_smoothing": 0.2}),
    ((2, 3, 2, 2), (2, 2, 2), {"weight": True, "label_smoothing": 0.3}), ((3,), (), {"weight": True}),
    ((2, 3, 4), (2, 4), {"ignore_index": 1}), ((4, 3), (4, 3), {"label_smoothing": 0.1, "weight": True}),
    ((2, 3, 2), (2, 3, 2), {"weight": True}),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape,tshape,kw", CE_LAYOUTS)
def test_cross_entropy_and_nll_arguments_match_pytorch(shape, tshape, kw, reduction) -> None:
    rng = np.random.default_rng(len(shape) * 7 + len(kw))
    x = rng.standard_normal(shape) * 2
    c = shape[0 if len(shape) == 1 else 1]
    probs = tshape == shape
    y = rng.dirichlet(np.ones(c), size=int(np.prod(tshape)) // c).reshape(
        (shape[0], *shape[2:], c)).transpose(0, -1, *range(1, len(shape) - 1)) if probs else rng.integers(0, c, tshape)
    if not probs and y.ndim:
        y.flat[0] = kw.get("ignore_index", -100)
    w = np.linspace(0.5, 2.0, c)
    ours = {k: (w if k == "weight" else v) for k, v in kw.items()}
    nll = not probs and "label_smoothing" not in kw
    u = np.sin(np.arange(x.size)).reshape(x.shape)

    def theirs(loss: str) -> tuple:
        """PyTorch's value, gradient of a projection and the gradient of that gradient's projection."""
        tf = torch.nn.functional
        fn = tf.cross_entropy if loss == "cross_entropy" else (
            lambda a, *r, **k: tf.nll_loss(torch.log_softmax(a, 0 if a.ndim == 1 else 1), *r, **k))
        t = torch.tensor(x, requires_grad=True)
        kws = {k: (torch.tensor(w) if k == "weight" else v) for k, v in kw.items()}
        want = fn(t, torch.tensor(y), reduction=reduction, **kws)
        v = np.cos(np.arange(want.numel())).reshape(tuple(want.shape))
        (gt,) = torch.autograd.grad((want * torch.tensor(v)).sum(), [t], create_graph=True)
        (ht,) = torch.autograd.grad((gt * torch.tensor(u)).sum(), [t])
        return want, gt, ht

    for loss, fn in [("cross_entropy", F.cross_entropy)] + (
            [("nll_loss", lambda *a, **k: F.nll_loss(ag.log_softmax(a[0], 0 if a[0].ndim == 1 else 1), *a[1:], **k))]
            if nll else []):
        want, gt, ht = oracle(lambda loss=loss: theirs(loss), key=loss)
        a = ag.tensor(x, requires_grad=True)
        got = fn(a, y, reduction=reduction, **ours)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
        v = np.cos(np.arange(want.size)).reshape(want.shape)
        (ga,) = ag.grad_of((got * ag.tensor(v)).sum(), [a], create_graph=True)
        np.testing.assert_allclose(ga.numpy(), gt, rtol=1e-10, atol=1e-14)
        (ha,) = ag.grad_of((ga * ag.tensor(u)).sum(), [a])
        np.testing.assert_allclose(ha.numpy(), ht, rtol=1e-9, atol=1e-13)


def test_loss_argument_errors_name_the_fix() -> None:
    x = ag.tensor(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="reduction='sum' by name"):
        F.cross_entropy(x, np.array([0, 1]), "sum")
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        F.cross_entropy(x, np.array([0, 1]), weight=np.ones(2))
    with pytest.raises(IndexError, match="class index \\[3\\] out of range"):
        F.nll_loss(x, np.array([0, 3]))
    with pytest.raises(ValueError, match="expected target shape"):
        F.cross_entropy(ag.tensor(np.zeros((2, 3, 4))), np.array([0, 1]))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="batchmean"):
        F.kl_div(x, x, reduction="avg")
    with pytest.raises(ValueError, match="even size"):
        F.glu(ag.tensor(np.zeros(3)))


def test_all_ignored_targets_give_nan_as_pytorch() -> None:
    loss = F.cross_entropy(ag.tensor(np.zeros((2, 3)), requires_grad=True), np.array([-100, -100]))
    assert np.isnan(loss.item())


@pytest.mark.parametrize("hq,hkv", [(4, 2), (4, 1), (2, 2)])
def test_sdpa_grouped_query_attention_matches_pytorch(hq, hkv) -> None:
    rng = np.random.default_rng(hq + hkv)
    q, k, v = (rng.standard_normal(s) for s in ((2, hq, 3, 4), (2, hkv, 5, 4), (2, hkv, 5, 2)))
    ours = [ag.tensor(a, requires_grad=True) for a in (q, k, v)]
    got = F.scaled_dot_product_attention(*ours, is_causal=True, enable_gqa=True)
    w = np.cos(np.arange(got.size)).reshape(got.shape)

    def theirs() -> tuple:
        ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        want = torch.nn.functional.scaled_dot_product_attention(*ts, is_causal=True, enable_gqa=True)
        return want, torch.autograd.grad((want * torch.tensor(w)).sum(), ts)

    want, grads = oracle(theirs)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    for g, t in zip(ag.grad_of((got * ag.tensor(w)).sum(), ours), grads):
        np.testing.assert_allclose(g.numpy(), t, rtol=1e-10, atol=1e-14)


def test_sdpa_refuses_heads_that_do_not_divide() -> None:
    q, k = ag.tensor(np.zeros((1, 3, 2, 4))), ag.tensor(np.zeros((1, 2, 2, 4)))
    with pytest.raises(ValueError, match="multiple"):
        F.scaled_dot_product_attention(q, k, k, enable_gqa=True)


def test_sdpa_dropout_with_a_seed_is_reproducible() -> None:
    q = ag.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)))
    a = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, seed=3).numpy()
    b = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, seed=3).numpy()
    c = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, seed=4).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
