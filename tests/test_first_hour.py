"""The first hour of a PyTorch user: habits that work, and each common mistake answered with the fix."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import autograd_mini as ag
import nn

ROOT = Path(__file__).resolve().parent.parent


# ---- Python numbers from one-element tensors ------------------------------------------------------
@pytest.mark.parametrize("data", [2.75, [2.75], [[2.75]]])
def test_one_element_tensors_convert_like_pytorch(data):
    t = ag.tensor(data, dtype="float64")
    assert float(t) == 2.75 and isinstance(float(t), float)
    assert int(t) == 2 and int(ag.tensor(-2.75)) == -2  # truncates, as int(2.75) does
    assert complex(t) == 2.75 + 0j
    assert round(t) == 3 and round(t, 1) == 2.8 and isinstance(round(t), int)
    assert f"{t:.3f}" == "2.750" and f"{t:>8.1e}" == " 2.8e+00" and f"{t:g}" == "2.75"
    assert t.item() == 2.75


def test_format_without_spec_is_the_repr_and_many_elements_format_each():
    t = ag.tensor([[1.0, 2.5], [3.0, 4.0]])
    assert f"{t}" == str(t) == repr(t)
    assert f"{t:.2f}" == "[[1.00 2.50]\n [3.00 4.00]]"  # numpy's layout, each element formatted
    assert f"{ag.tensor(0.5, requires_grad=True) * 2:.1f}" == "1.0"
    with pytest.raises(ValueError):
        f"{ag.tensor(1.0):q}"  # noqa: B018  an invalid spec is an error, as for a float


def test_index_takes_0d_integer_tensors_only():
    k = ag.tensor(2)
    assert ["a", "b", "c"][k] == "c" and range(10)[k] == 2 and np.arange(5)[k] == 2
    assert np.arange(5)[ag.tensor([1, 3])].tolist() == [1, 3]  # still fancy indexing, never a scalar
    assert np.arange(5)[ag.tensor([3])].tolist() == [3]
    with pytest.raises(TypeError, match=r"only a 0-d integer tensor can be used as an index, got a float32 .*int\(t\)"):
        ["a", "b"][ag.tensor(1.0)]  # noqa: B018
    with pytest.raises(TypeError, match=r"shape \(1,\)"):
        ["a", "b"][ag.tensor([1])]  # noqa: B018
    assert np.arange(3)[ag.tensor(True)].shape == (1, 3)  # a 0-d bool is a mask to numpy, never the index 1
    with pytest.raises(TypeError, match="got a bool tensor"):
        ["a", "b"][ag.tensor(True)]  # noqa: B018


@pytest.mark.parametrize("convert", [float, int, round, complex], ids=lambda f: f.__name__)
def test_many_elements_do_not_convert_and_the_error_says_what_to_do(convert):
    with pytest.raises(TypeError, match=r"only a one-element tensor converts to a Python number, this one has shape "
                                        r"\(3,\) \(3 elements\); use .tolist\(\) or index one element first"):
        convert(ag.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match=r"shape \(0,\) \(0 elements\)"):
        float(ag.tensor(np.zeros(0)))


# ---- the wrong kind of object, answered with what to pass ------------------------------------------
def _raises(exc, pattern, call):
    with pytest.raises(exc) as info:
        call()
    msg = str(info.value)
    assert re.search(pattern, msg), msg
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_save_a_model_instead_of_its_state_dict(tmp_path):
    model = nn.Linear(3, 2)
    _raises(TypeError, r"nn.save expects a state dict, got a Linear object: pass model.state_dict\(\)",
            lambda: nn.save(model, tmp_path / "m.npz"))
    _raises(TypeError, r"the state dict comes first, nn.save\(model.state_dict\(\), path\)",
            lambda: nn.save(tmp_path / "m.npz", model.state_dict()))
    _raises(TypeError, r"nn.save: expected a mapping of names to arrays, got list",
            lambda: nn.save([1, 2], str(tmp_path / "m.npz")))
    _raises(TypeError, r"nn.save: path must be a str or os.PathLike, got int", lambda: nn.save({}, 3))
    assert not list(tmp_path.iterdir())


def test_load_state_dict_from_a_path_or_a_model(tmp_path):
    model = nn.Linear(3, 2)
    before = model.weight.data.copy()
    _raises(TypeError, r"got the path 'm.npz': read a file with nn.load first, "
                       r"model.load_state_dict\(nn.load\(path\)\)", lambda: model.load_state_dict("m.npz"))
    _raises(TypeError, r"got the path .*read a file with nn.load first",
            lambda: model.load_state_dict(tmp_path / "m.npz"))
    _raises(TypeError, r"got a Linear module: pass other_model.state_dict\(\)",
            lambda: model.load_state_dict(nn.Linear(3, 2)))
    _raises(TypeError, r"expects a state dict .*got list", lambda: model.load_state_dict([("weight", before)]))
    np.testing.assert_array_equal(model.weight.data, before)


def test_load_a_file_that_is_not_an_archive(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("remember the learning rate\n")
    msg = _raises(ValueError, r"nn.load: '.*notes.txt' is not a readable .npz archive written by nn.save: it is not "
                              r"a zip archive", lambda: nn.load(notes))
    assert "allow_pickle" not in msg and "pickle" not in msg  # numpy's advice to unpickle is never repeated
    np.save(tmp_path / "a.npy", np.ones(3))
    _raises(ValueError, r"it holds a single array \(.npy\)", lambda: nn.load(tmp_path / "a.npy"))
    _raises(TypeError, r"nn.load expects a file path, got a OrderedDict \(a state dict\?\): to copy it into a model, "
                       r"call model.load_state_dict\(state_dict\)",
            lambda: nn.load(nn.Linear(2, 2).state_dict()))


@pytest.mark.parametrize("opt", [nn.optim.SGD, nn.optim.Adam, nn.optim.AdamW])
def test_optimizer_given_the_model(opt):
    model = nn.Sequential(nn.Linear(3, 2))
    name = opt.__name__
    _raises(TypeError, rf"{name} expects the parameters to optimise, got the Sequential model itself: pass "
                       rf"model.parameters\(\), as in nn.optim.{name}\(model.parameters\(\), lr=...\)",
            lambda: opt(model, lr=0.1))
    _raises(TypeError, r"got a single Tensor: wrap it in a list, \[w\]", lambda: opt(model[0].weight, lr=0.1))
    _raises(TypeError, r"lr must be a real number, got str", lambda: opt(model.parameters(), lr="0.1"))
    _raises(TypeError, r"a parameter group is a dict with a 'params' entry", lambda: opt([{"lr": 0.1}]))
    _raises(TypeError, r"got one dict: wrap it in a list", lambda: opt({"params": model.parameters()}))
    params = model.parameters()
    opt(params, lr=0.1)
    _raises(ValueError, r"generator already used up: call model.parameters\(\) again", lambda: opt(params, lr=0.1))


@pytest.mark.parametrize("make", [lambda o: nn.optim.StepLR(o, 3), lambda o: nn.optim.ExponentialLR(o, 0.9),
                                  lambda o: nn.optim.CosineAnnealingLR(o, 10)], ids=["StepLR", "Exponential", "Cosine"])
def test_scheduler_given_the_model(make):
    model = nn.Linear(2, 2)
    _raises(TypeError, r"expects an optimizer \(the optimizer, not the model\), got Linear: \w+\(opt, ...\) with "
                       r"opt = nn.optim.SGD\(model.parameters\(\), lr=...\)", lambda: make(model))
    _raises(TypeError, r"expects an optimizer, got list", lambda: make(list(model.parameters())))
    make(nn.optim.SGD(model.parameters(), lr=0.1))  # the right kind works


def test_data_loader_wrong_kinds():
    X, y = np.ones((6, 2), np.float32), np.arange(6)
    _raises(TypeError, r"X is a list of \(x, y\) pairs; .*np.stack", lambda: nn.data.DataLoader(list(zip(X, y))))
    _raises(TypeError, r"y is the labels array, got the int 16: give the batch size by name, "
                       r"DataLoader\(X, batch_size=16\)", lambda: nn.data.DataLoader(X, 16))
    _raises(TypeError, r"batch_size must be an int, got float 2.5", lambda: nn.data.DataLoader(X, y, 2.5))
    _raises(TypeError, r"X is a tuple of two arrays; pass them as two arguments", lambda: nn.data.DataLoader((X, y)))
    _raises(TypeError, r"X must be an array .*got Linear", lambda: nn.data.DataLoader(nn.Linear(2, 2)))
    _raises(TypeError, r"X is not a rectangular array of numbers", lambda: nn.data.DataLoader([[1, 2], [3]]))
    _raises(TypeError, r"X must be an array or a Tensor of numbers, got ndarray of dtype <U1",
            lambda: nn.data.DataLoader(np.array(["a", "b"])))


def test_function_forward_without_staticmethod():
    with pytest.raises(TypeError, match=r"Double.forward must be a @staticmethod taking ctx first: put @staticmethod "
                                        r"above `def forward\(ctx, ...\)`"):
        class Double(ag.Function):
            def forward(ctx, x):
                return 2 * x

            @staticmethod
            def backward(ctx, g):
                return 2 * g
    with pytest.raises(TypeError, match=r"Half.backward must be a @staticmethod"):
        class Half(ag.Function):
            @staticmethod
            def forward(ctx, x):
                return x / 2

            def backward(ctx, g):
                return g / 2


@pytest.mark.parametrize("a, b, why", [
    ((4, 3), (4, 2), "inner dimensions differ: (4, 3) @ (4, 2)"),
    ((3,), (4,), "inner dimensions differ: (3,) @ (4,)"),
    ((2, 3), (2,), "inner dimensions differ: (2, 3) @ (2,)"),
    ((2, 4, 3), (3, 3, 2), "batch dimensions do not broadcast: (2, 4, 3) @ (3, 3, 2)"),
    ((), (3,), "both operands need at least one dimension (use * to multiply by a scalar): () @ (3,)"),
])
def test_matmul_shape_error_is_one_plain_sentence(a, b, why):
    x, w = ag.ones(*a, requires_grad=True), ag.ones(*b)
    with pytest.raises(ValueError) as info:
        x @ w  # noqa: B018
    assert str(info.value) == f"matmul: {why}"
    if len(a) == 2 and len(b) == 2:  # the fused linear op says the same
        with pytest.raises(ValueError, match=re.escape(f"linear: {why}")):
            ag.linear(x, w, ag.ones(b[-1]))


def test_gradcheck_wrong_kinds():
    x = ag.tensor([1.0, 2.0], requires_grad=True)

    class Square(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            return 2 * g * ctx.saved_tensors[0]

    _raises(TypeError, r"gradcheck\(fn, inputs\): fn must be callable, got Tensor; the function comes first",
            lambda: ag.gradcheck(x, [Square.apply]))
    _raises(TypeError, r"pass Square.apply \(the function that runs the op\), not the class Square",
            lambda: ag.gradcheck(Square, [x]))
    _raises(TypeError, r"gradgradcheck\(fn, inputs\): fn must be callable", lambda: ag.gradgradcheck(3, [x]))
    _raises(ValueError, r"nothing to check \(got ndarray \(2,\), Tensor \(2,\) without requires_grad\): make them "
                        r"with ag.tensor\(..., requires_grad=True\)",
            lambda: ag.gradcheck(lambda a, b: a * b, [np.ones(2), ag.tensor([1.0, 2.0])]))
    model = nn.Linear(2, 1)
    _raises(TypeError, r"model must be an nn.Module .*got generator",
            lambda: ag.gradcheck_module(model.parameters(), nn.MSELoss(), np.ones((1, 2)), np.ones((1, 1))))
    _raises(TypeError, r"loss_fn must be callable, such as nn.MSELoss\(\), got ndarray",
            lambda: ag.gradcheck_module(model, np.ones((1, 2)), np.ones((1, 1)), None))
    assert ag.gradcheck(Square.apply, [x])


@pytest.mark.parametrize("draw", [ag.viz.to_dot, ag.viz.to_text], ids=["to_dot", "to_text"])
def test_draw_graph_wrong_kinds(draw):
    model = nn.Sequential(nn.Linear(2, 2))
    out = model(ag.ones(1, 2))
    if True:
        _raises(TypeError, r"got the Sequential model: call it first, draw_graph\(model\(x\)\)", lambda: draw(model))
        _raises(TypeError, r"pass the tensors as separate arguments, draw_graph\(a, b\)", lambda: draw([out, out]))
        _raises(TypeError, r"grads must come from grads = ag.viz.capture_grads\(loss\), got dict",
                lambda: draw(out, grads={}))
        _raises(TypeError, r"params must be a dict of names to tensors or arrays, \{'X': x\}, got list",
                lambda: draw(out, params=[out]))
        _raises(TypeError, r"params maps names \(str\) to Tensors or arrays, got 'm': Sequential \(nn modules name",
                lambda: draw(out, params={"m": model}))
        _raises(ValueError, r"max_nodes must be a non-negative int or None, got -1", lambda: draw(out, max_nodes=-1))
        _raises(ValueError, r"got 2.5", lambda: draw(out, max_nodes=2.5))


# ---- silent mistakes made loud --------------------------------------------------------------------
def test_float64_input_to_a_float32_model_is_cast_with_one_warning_per_model():
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.Tanh(), nn.Linear(4, 2, seed=1))
    x64 = np.random.default_rng(0).standard_normal((5, 3))
    with pytest.warns(UserWarning, match=r"Linear\(3, 4\): the input is float64 but the layer's weights are float32, "
                                         r"so the input is cast to float32 .*x.astype\('float32'\).*dtype='float64'"):
        y = model(ag.tensor(x64))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, model(x64.astype(np.float32)).data)  # the same numbers as a float32 input
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(ag.tensor(x64))  # once per model
        model(x64)
        model(np.ones((2, 3), np.int64))  # integers and lists take the weights' dtype silently
        model([[1, 2, 3]])
    with pytest.warns(UserWarning, match="the input is float64"):  # another model warns for itself
        nn.Linear(3, 1)(x64)


def test_float32_input_to_a_float64_model_warns_and_gradients_reach_the_input():
    layer = nn.Linear(3, 2, dtype=np.float64, seed=0)
    x = ag.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    with pytest.warns(UserWarning, match=r"the input is float32 but the layer's weights are float64"):
        out = layer(x)
    assert out.dtype == np.float64
    out.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.shape == (2, 3)
    np.testing.assert_allclose(x.grad.data, np.tile(layer.weight.data.sum(1), (2, 1)), rtol=1e-6)


def test_warning_points_at_the_users_line():
    with pytest.warns(UserWarning) as record:
        nn.Sequential(nn.Linear(2, 2))(np.ones((1, 2)))
    assert Path(record[0].filename).name == "test_first_hour.py"


class ListNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = []
        for i in range(2):
            self.layers.append(nn.Linear(2, 2, seed=i))  # filled after assignment: seen at the first call

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def test_modules_in_a_plain_list_warn_once_at_the_first_call():
    net = ListNet()
    with pytest.warns(UserWarning, match=r"ListNet.layers is a plain list holding 2 module\(s\) \(Linear\) whose "
                                         r"parameters are not registered.*use nn.ModuleList\(\[...\]\) instead"):
        net(np.ones((1, 2), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net(np.ones((1, 2), np.float32))


@pytest.mark.parametrize("value, pattern", [
    ((nn.Linear(2, 2),), r"M.blocks is a plain tuple holding 1 module\(s\).*nn.ModuleList"),
    ({"a": nn.Linear(2, 2), "b": nn.Tanh()}, r"M.blocks is a plain dict holding 2 module\(s\) \(Linear, Tanh\).*"
                                             r"nn.ModuleDict\(\{...\}\)"),
    (ag.tensor([1.0], requires_grad=True), r"M.blocks is a Tensor with requires_grad=True but not an nn.Parameter.*"
                                           r"assign nn.Parameter\(...\) instead"),
    ([nn.Parameter(np.ones(2))], r"M.blocks is a plain list holding trainable tensors .*register_parameter"),
])
def test_unregistered_attributes_warn_at_assignment(value, pattern):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = value

        def forward(self, x):
            return x

    with pytest.warns(UserWarning, match=pattern) as record:
        m = M()
        m(1.0)  # the first call does not warn again
    assert len(record) == 1


def test_registered_things_do_not_warn():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 1)})
            self.w = nn.Parameter(np.ones(2, np.float32))
            self.sizes = [2, 2]
            self.mask = ag.tensor([1.0, 0.0])  # a constant tensor is fine

        def forward(self, x):
            return self.heads["a"](self.layers[0](x) * self.w * self.mask)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = M()
        m(np.ones((1, 2), np.float32))
    assert [n for n, _ in m.named_parameters()] == ["w", "layers.0.weight", "layers.0.bias", "heads.a.weight",
                                                     "heads.a.bias"]


def test_module_dict():
    d = nn.ModuleDict({"enc": nn.Linear(2, 3), "dec": nn.Linear(3, 2)})
    assert list(d) == ["enc", "dec"] and len(d) == 2 and "enc" in d and "x" not in d
    assert list(d.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    d["act"] = nn.Tanh()
    assert list(d.keys()) == ["enc", "dec", "act"] and isinstance(d["act"], nn.Tanh)
    del d["act"]
    assert list(d) == ["enc", "dec"]
    with pytest.raises(KeyError, match=r"ModuleDict has no module 'x' \(it has: enc, dec\)"):
        d["x"]  # noqa: B018
    with pytest.raises(KeyError, match="without dots"):
        d["a.b"] = nn.Tanh()
    with pytest.raises(TypeError, match="add_module: expected a Module, got int"):
        d["n"] = 3
    with pytest.raises(TypeError, match="ModuleDict takes a dict"):
        nn.ModuleDict([nn.Tanh()])
    assert "ModuleDict(\n  (enc): Linear" in repr(d)


# ---- PyTorch's names we spell otherwise ------------------------------------------------------------
@pytest.mark.parametrize(("owner", "name", "fix"), [
    ("tensor", "long", "astype"), ("tensor", "cuda", "drop the call"), ("tensor", "nelement", "t.size"),
    ("module", "from_numpy", "ag.tensor(array)"), ("module", "float32", "np.float32")])
def test_a_pytorch_name_we_lack_says_ours(owner, name, fix):
    obj = ag.tensor([1.0, 2.0]) if owner == "tensor" else ag
    with pytest.raises(AttributeError, match=re.escape(fix)) as e:
        getattr(obj, name)
    assert e.value.name == name and f"has no attribute {name!r}" in str(e.value)


def test_an_unknown_name_is_a_plain_attribute_error():
    t = ag.tensor([1.0])
    with pytest.raises(AttributeError, match=r"^'Tensor' object has no attribute 'frobnicate'$"):
        t.frobnicate  # noqa: B018
    assert not hasattr(t, "__array_interface__") and not hasattr(ag, "frobnicate")
    p = nn.Parameter(np.zeros(2))
    with pytest.raises(AttributeError, match=r"^'Parameter' object has no attribute 'cuda'; drop the call"):
        p.cuda  # noqa: B018
    assert not [n for n in ag._torch_names.TENSOR if hasattr(t, n)], "an op now exists: drop its table entry"
    assert not [n for n in ag._torch_names.MODULE if n in vars(ag)], "an op now exists: drop its table entry"
    for name, fix in ag._torch_names.TENSOR.items():  # every suggestion names something that exists
        target = fix.split("(")[0].removeprefix("t.")
        if fix.startswith("t.") and target.isidentifier():
            assert hasattr(t, target), (name, fix)
    for name, fix in ag._torch_names.MODULE.items():
        target = fix.split("(")[0].removeprefix("ag.")
        if fix.startswith("ag."):
            assert hasattr(ag, target), (name, fix)


# ---- the README shows what the code prints --------------------------------------------------------
def test_readme_first_snippet_prints_what_its_comment_says():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", text, re.S)[1]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "README.md", "exec"), {})
    last = out.getvalue().strip().splitlines()[-1]
    comment = snippet.strip().splitlines()[-1].split("# ")[1].split(":")[0]
    assert last == comment == "12.0"


# ---- graph pictures use the names you gave and the names they show --------------------------------
def _xor_loss():
    X = np.random.RandomState(0).randn(6, 2)
    Y = np.eye(2)[[0, 1, 1, 0, 1, 0]]
    model = nn.Sequential(nn.Linear(2, 3, dtype=np.float64, seed=0), nn.Sigmoid(),
                          nn.Linear(3, 2, dtype=np.float64, seed=1))
    loss = nn.MSELoss()(model(ag.tensor(X)), ag.tensor(Y))
    return X, Y, loss


@pytest.mark.parametrize("draw", [ag.viz.to_dot, ag.viz.to_text], ids=["to_dot", "to_text"])
def test_params_accepts_arrays_and_tensors(draw):
    X, Y, loss = _xor_loss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = draw(loss, params={"X": X, "Y": Y})  # the arrays the tensors were made from
    assert re.search(r'\bX\b', text) and re.search(r'\bY\b', text) and "input_0" not in text
    x = ag.tensor(X, requires_grad=True)
    out = (x * 2.0).sum()
    assert "input_0" not in draw(out, params={"x": x}) and re.search(r"\bx\b", draw(out, params={"x": x}))
    h = x * 2.0  # an intermediate tensor: its op is labelled with the name
    assert "= hidden" in draw(h.sum(), params={"hidden": h})
    c = np.ones((6, 2))  # a constant an op took directly
    assert "const C" in draw(x * c, params={"C": c})


def test_params_name_that_matches_nothing_warns():
    X, Y, loss = _xor_loss()
    with pytest.warns(UserWarning, match=r"params: 'labels' matched no tensor of the drawn graph") as record:
        ag.viz.to_dot(loss, params={"X": X, "labels": np.zeros(3)})
    assert Path(record[0].filename).name == "test_first_hour.py"  # points at the caller


def test_loss_and_model_are_labelled_by_their_own_names():
    X, Y, loss = _xor_loss()
    text = ag.viz.to_text(loss, params={"X": X, "Y": Y})
    assert "<model>" not in text
    assert re.search(r"^\S+ .*in MSELoss$", text.splitlines()[0])  # the loss op, in the loss module
    assert "in 0: Linear" in text and "in 1: Sigmoid" in text
    dot = ag.viz.to_dot(loss)
    assert 'label="MSELoss"' in dot and 'label="Sequential"' in dot and 'label="0: Linear"' in dot


def test_nan_note_uses_the_name_in_the_picture():
    X, Y, _ = _xor_loss()
    model = nn.Sequential(nn.Linear(2, 2, dtype=np.float64, seed=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = -(ag.tensor(Y) * model(ag.tensor(X)).log()).sum()
    for draw in (ag.viz.to_dot, ag.viz.to_text):
        text = draw(loss, params={"X": X, "Y": Y})
        note = re.search(r"NaN/inf: earliest source ([^\n<]*)", text)[1]
        assert note.startswith("the Log op, marked SOURCE"), note
        assert "Log_" not in note  # the DOT id is not what the picture shows
    assert "NaN in value - SOURCE" in ag.viz.to_dot(loss)
