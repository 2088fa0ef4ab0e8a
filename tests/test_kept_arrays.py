"""Issue #25, items 1-3: every array an op keeps for backward is the array backward uses.

1. index arrays, masks, embedding indices, nll targets and clip bounds are held read-only like saved inputs:
   an edit is refused at the write (PyTorch refuses it at backward: "modified by an inplace operation"), and
   the gradient is that of the forward that ran;
2. a custom Function whose forward returns its input unchanged gets PyTorch's second derivative;
3. ``y.data = new`` on an op's output, then ``create_graph``: the derivative uses the array the graph kept.

Each case failed on main 5560455 (a wrong gradient, a crash, or a wrong second derivative).
"""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
import nn
from nn import functional as F
from tests._oracle import oracle

try:
    import torch
except ImportError:  # the values below are PyTorch's, written out; its recorded answers confirm them
    torch = None


def leaf(values, dtype=np.float64):
    return ag.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def refused(write):
    with pytest.raises(ValueError, match="read-only"):
        write()


# ---- 1. every kept array is protected -----------------------------------------------------------------
def _x():
    return leaf([1.0, 2.0, 3.0])


def _x2():
    return leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


def _case(loss_of, kept, x, expected):
    return loss_of(x, kept), kept, x, expected


MASK, IDX, G_IDX = [True, False, True], [0, 2, 2], [[2, 0], [1, 1]]
CASES = {  # name: () -> (loss, the array the op keeps, the leaf, PyTorch's gradient)
    "x[idx]": lambda: _case(lambda x, i: (x[i] * x[i]).sum(), np.array(IDX), _x(), [2.0, 0.0, 12.0]),
    "x[index tensor]": lambda: _case(lambda x, i: x[ag.as_tensor(i)].sum(), np.array(IDX), _x(), [1.0, 0.0, 2.0]),
    "x[bool mask]": lambda: _case(lambda x, m: (x[m] ** 2).sum(), np.array(MASK), _x(), [2.0, 0.0, 6.0]),
    "masked_fill mask": lambda: _case(lambda x, m: (ag.masked_fill(x, m, 0.0) ** 2).sum(), np.array(MASK), _x(),
                                      [0.0, 4.0, 0.0]),
    "where condition": lambda: _case(lambda x, m: (ag.where(m, x, -x) ** 3).sum(), np.array(MASK), _x(),
                                     [3.0, -12.0, 27.0]),
    "gather": lambda: _case(lambda x, i: ag.gather(x, 1, i).sum(), np.array(G_IDX), _x2(),
                            [[1.0, 0.0, 1.0], [0.0, 2.0, 0.0]]),
    "take_along_axis": lambda: _case(lambda x, i: (ag.take_along_axis(x, i, 1) ** 2).sum(), np.array(G_IDX), _x2(),
                                     [[2.0, 0.0, 6.0], [0.0, 20.0, 0.0]]),
    "clip lower bound": lambda: _case(lambda x, lo: ag.clip(x, lo, 2.5).sum(), np.array([1.5, 0.0, 0.0]), _x(),
                                      [0.0, 1.0, 0.0]),
    "clip upper bound": lambda: _case(lambda x, hi: ag.clip(x, 1.5, hi).sum(), np.array([9.0, 9.0, 2.5]), _x(),
                                      [0.0, 1.0, 0.0]),
    "nll_loss target": lambda: _case(lambda p, t: F.nll_loss(p, t), np.array([2, 0], dtype=np.intp),
                                     leaf([[-1.0, -2.0, -0.5], [-0.3, -0.7, -3.0]]),
                                     [[0.0, 0.0, -0.5], [-0.5, 0.0, 0.0]]),
    "embedding indices": lambda: _embedding_case(),
}


def _embedding_case():
    emb = nn.Embedding(4, 2, seed=0)
    idx = np.array([[3, 1], [1, 0]])
    return (emb(idx) * np.array([1.0, 2.0])).sum(), idx, emb.weight, [[1.0, 2.0], [2.0, 4.0], [0.0, 0.0], [1.0, 2.0]]


@pytest.mark.parametrize("name", list(CASES))
def test_an_array_an_op_keeps_is_refused_at_the_write_and_the_gradient_is_the_forwards(name):
    loss, kept, x, expected = CASES[name]()
    refused(lambda: kept.flat.__setitem__(0, kept.flat[-1]))  # main: accepted, then the edited index's gradient
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    kept.flat[0] = kept.flat[0]                                 # given back after backward


def test_the_expected_gradients_are_pytorchs():
    def grads() -> list:
        x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
        idx = torch.tensor([0, 2, 2])
        (x[idx] * x[idx]).sum().backward()
        x2 = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=torch.float64, requires_grad=True)
        (torch.take_along_dim(x2, torch.tensor([[2, 0], [1, 1]]), 1) ** 2).sum().backward()
        logp = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -0.7, -3.0]], dtype=torch.float64, requires_grad=True)
        torch.nn.functional.nll_loss(logp, torch.tensor([2, 0])).backward()
        x3 = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
        torch.clamp(x3, torch.tensor([1.5, 0.0, 0.0], dtype=torch.float64),
                    torch.tensor([9.0, 9.0, 2.5], dtype=torch.float64)).sum().backward()
        return [x.grad, x2.grad, logp.grad, x3.grad]

    index, along, nll, clamp = (g.tolist() for g in oracle(grads))
    assert index == [2.0, 0.0, 12.0]
    assert along == [[2.0, 0.0, 6.0], [0.0, 20.0, 0.0]]
    assert nll == [[0.0, 0.0, -0.5], [-0.5, 0.0, 0.0]]
    assert clamp == [0.0, 1.0, 0.0]


def test_a_graph_dropped_unused_gives_the_index_back():
    x = leaf([1.0, 2.0])
    idx = np.array([1, 0])
    y = x[idx]
    refused(lambda: idx.__setitem__(0, 0))
    del y
    idx[0] = 0


# ---- 2. a custom Function returning its input unchanged ----------------------------------------------
class Identity(ag.Function):
    """``y = x``, ``dy/dx = x`` on purpose: backward ``g * x`` (the case of the issue)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x


class FirstOfTwo(ag.Function):
    """``y = x`` (returns its first input), with backward ``(g * x * w, g * x)``."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g * x * w, g * x


def test_a_function_returning_its_input_gets_pytorchs_second_derivative():
    x = leaf([1.0, 2.0, -3.0])
    (g,) = ag.grad_of(Identity.apply(x).sum(), [x], create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [1.0, 2.0, -3.0])
    (h,) = ag.grad_of(g.sum(), [x])
    np.testing.assert_array_equal(h.numpy(), [1.0, 1.0, 1.0])  # PyTorch 2.13; main gave [0.5, 2, -1.5]
    x.data[0] = 5.0  # the input stays the user's, writable: the output was a view of it


def test_a_function_returning_one_of_two_inputs_gets_pytorchs_second_derivative():
    x, w = leaf([1.0, 2.0, -3.0]), leaf([2.0, 1.0, 0.5])
    gx, gw = ag.grad_of(FirstOfTwo.apply(x, w).sum(), [x, w], create_graph=True)
    hx, hw = ag.grad_of((gx + gw).sum(), [x, w])  # d/dx (x w + x) = w + 1, d/dw (x w + x) = x
    np.testing.assert_array_equal(hx.numpy(), [3.0, 2.0, 1.5])
    np.testing.assert_array_equal(hw.numpy(), [1.0, 2.0, -3.0])


def test_the_pass_through_answers_are_pytorchs():
    def second_derivative() -> object:
        class TIdentity(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * x

        x = torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(TIdentity.apply(x).sum(), [x], create_graph=True)
        return torch.autograd.grad(g.sum(), [x])[0]

    assert oracle(second_derivative).tolist() == [1.0, 1.0, 1.0]


# ---- 3. ``y.data = new`` on an op's output, then create_graph -----------------------------------------
def test_new_data_on_an_output_leaves_create_graph_with_the_kept_array():
    x = leaf([1.0, 2.0])
    y = x.exp()
    y.data = np.zeros(2)                                   # not recorded: the graph keeps exp(x)
    (g,) = ag.grad_of(y.sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.numpy(), np.exp([1.0, 2.0]), rtol=1e-15)  # main: [0, 0]
    (h,) = ag.grad_of(g.sum(), [x])
    np.testing.assert_allclose(h.numpy(), np.exp([1.0, 2.0]), rtol=1e-15)
    x.grad = None
    z = x.exp()
    z.data = np.zeros(2)
    z.sum().backward()                                     # a plain backward agrees
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]), rtol=1e-15)


def test_new_data_on_an_input_that_is_an_output_leaves_the_graph_with_the_kept_array():
    x = leaf([1.0, 2.0, 3.0])
    h = x * 2
    y = (h * h).sum()                                      # d/dx = 8x
    h.data = np.array([5.0, 5.0, 5.0])
    (g,) = ag.grad_of(y, [x], create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [8.0, 16.0, 24.0])
    np.testing.assert_array_equal(ag.grad_of(g.sum(), [x])[0].numpy(), [8.0, 8.0, 8.0])
