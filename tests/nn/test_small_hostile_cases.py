"""The smaller cases of issue #16: each gets a clear error (or, for names, a picture that works)."""

import shutil

import numpy as np
import pytest

import autograd_mini as ag
import nn
from nn.data import DataLoader


@pytest.mark.parametrize("size, shown", [(2.9, "float 2.9"), ("4", "str '4'"), (True, "bool True"),
                                         (np.float64(3), "float64")])
def test_dataloader_batch_size_must_be_an_int(size, shown):
    with pytest.raises(TypeError, match=f"DataLoader: batch_size must be an int, got {shown}"):
        DataLoader(np.zeros((10, 2)), batch_size=size)
    assert len(DataLoader(np.zeros((10, 2)), batch_size=np.int64(4))) == 3


def test_dataloader_names_a_generator():
    with pytest.raises(TypeError, match=r"X must be an array or a Tensor of numbers, got generator \(materialise"):
        DataLoader(x for x in range(10))
    with pytest.raises(TypeError, match="y must be an array or a Tensor of numbers, got list"):
        DataLoader(np.zeros((2, 1)), [{"a": 1}, {"b": 2}])


def test_nul_and_control_characters_in_names_are_drawn_not_fatal():
    x = ag.tensor(np.ones(2), requires_grad=True, name="w\0eight\x07")
    dot = ag.viz.to_dot((x * x).sum())
    assert "\0" not in dot and "w\u2400eight\u2407" in dot


def test_nul_in_a_name_renders_through_graphviz(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    x = ag.tensor(np.ones(2), requires_grad=True, name="w\0eight")
    out = ag.viz.save((x * x).sum(), tmp_path / "g.svg")
    assert "w\u2400eight" in out.read_text(encoding="utf-8")


def test_non_string_key_in_load_state_dict_is_named():
    model = nn.Linear(2, 1)
    with pytest.raises(nn.StateDictError, match=r"unexpected keys: 0 \(not a string\)"):
        model.load_state_dict({**model.state_dict(), 0: np.zeros(1)})
