"""Malformed state dicts: one error listing every problem, and the module / optimizer / schedule unchanged."""

import copy

import numpy as np
import pytest

import autograd_mini as ag
import nn
from nn.optim import SGD, Adam, AdamW, CosineAnnealingLR, ExponentialLR, StepLR


def _model():
    ag.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def _snapshot(model):
    # the array object itself: an assignment (p.data = ...) replaces it
    return {k: (v.copy(), p.data) for (k, p), v in zip(model.named_parameters(), model.state_dict().values())}


def _unchanged(model, before):
    for k, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[k][0])
        assert p.data is before[k][1], f"{k} was assigned"


# ---- Module.load_state_dict ------------------------------------------------------------------------------
def test_overflowing_cast_is_an_error_and_nothing_is_assigned():
    model = _model()
    before = _snapshot(model)
    sd = {k: v.astype(np.float64) for k, v in model.state_dict().items()}
    sd["2.bias"] = np.array([1.0, 1e300])  # the last parameter: every earlier one would have been assigned
    with pytest.raises(ValueError, match=r"'2.bias': value 1e\+300 overflows float32 \(1 element\(s\) would"):
        model.load_state_dict(sd)
    _unchanged(model, before)
    sd["2.bias"] = np.array([1.0, np.iinfo(np.int64).max], dtype=np.int64).astype(np.float64)  # fits float32
    model.load_state_dict(sd)
    assert model[2].bias.dtype == np.float32 and np.isfinite(model[2].bias.data).all()


def test_infinities_and_nans_in_the_file_stay_what_they_are():
    model = _model()
    sd = model.state_dict()
    sd["0.bias"] = np.array([np.inf, -np.inf, np.nan, 1.0])
    model.load_state_dict(sd)
    b = model[0].bias.data
    assert np.isposinf(b[0]) and np.isneginf(b[1]) and np.isnan(b[2]) and b.dtype == np.float32


def test_every_problem_is_listed_in_one_error():
    model = _model()
    before = _snapshot(model)
    sd = model.state_dict()
    sd["0.weight"] = np.zeros((4, 3))                  # transposed
    sd["0.bias"] = np.array(["a", "b", "c", "d"])      # strings
    sd["2.weight"] = np.full((4, 2), 1e39)             # overflows float32
    sd["2.bias"] = [[1.0], [2.0, 3.0]]                 # ragged
    with pytest.raises(ValueError) as e:
        model.load_state_dict(sd)
    msg = str(e.value)
    for part in ["'0.weight': shape (4, 3) in the state dict, (3, 4) in the model", "'0.bias': expected a numeric",
                 "'2.weight': value 1e+39 overflows float32", "'2.bias': not an array"]:
        assert part in msg, msg
    _unchanged(model, before)


def test_non_string_and_missing_keys():
    model = _model()
    before = _snapshot(model)
    sd = {**model.state_dict(), 3: np.zeros(1), ("a", "b"): np.zeros(1)}
    del sd["0.bias"]
    with pytest.raises(nn.StateDictError) as e:
        model.load_state_dict(sd)
    assert "missing keys: 0.bias" in str(e.value)
    assert "unexpected keys: 3 (not a string), ('a', 'b') (not a string)" in str(e.value)
    _unchanged(model, before)


@pytest.mark.parametrize("bad, hint", [("model.npz", "read a file with nn.load first"), ([("0.bias", 1)], "got list"),
                                       (None, "got NoneType")])
def test_not_a_mapping(bad, hint):
    with pytest.raises(TypeError, match=hint):
        _model().load_state_dict(bad)


# ---- optimizers -----------------------------------------------------------------------------------------------
def _trained(opt_cls, **kw):
    model = _model()
    opt = opt_cls(model.parameters(), **kw)
    for _ in range(2):
        opt.zero_grad()
        (model(ag.tensor(np.ones((2, 3), np.float32))) ** 2).sum().backward()
        opt.step()
    return model, opt


def _opt_snapshot(opt):
    return copy.deepcopy(opt.state), copy.deepcopy([{k: v for k, v in g.items() if k != "params"}
                                                    for g in opt.param_groups])


def _opt_unchanged(opt, before):
    state, groups = before
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == groups
    assert state.keys() == opt.state.keys()
    for k in state:
        for name, v in state[k].items():
            np.testing.assert_array_equal(opt.state[k][name], v)


def _adam_sd(**changes):
    _, opt = _trained(Adam, lr=0.01)
    sd = opt.state_dict()
    for path, value in changes.items():
        where = sd
        *parents, last = path.split("__")
        for p in parents:
            where = where[int(p) if p.isdigit() else p]
        if value is KeyError:
            del where[int(last) if last.isdigit() else last]
        else:
            where[int(last) if last.isdigit() else last] = value
    return sd


@pytest.mark.parametrize("changes, reason", [
    ({"state__0__exp_avg": np.float64(0.0)}, "state 'exp_avg' of parameter 0 must be an array, got float64"),
    ({"state__0__exp_avg": np.array(0.0)}, r"state 'exp_avg' of parameter 0 has shape \(\), the parameter \(3, 4\)"),
    ({"state__0__exp_avg": [[0.0] * 4] * 3}, "must be an array, got list"),
    ({"state__0__exp_avg": "zeros"}, "must be an array, got str"),
    ({"state__0__exp_avg": np.zeros((3, 4), dtype=np.int64)}, "must be a floating array, got dtype int64"),
    ({"state__0__exp_avg": np.full((3, 4), 1e300)}, "overflows float32"),
    ({"state__0__exp_avg_sq": -np.ones((3, 4))}, "no negative values"),
    ({"state__0__step": KeyError}, "state of parameter 0: missing 'step'"),
    ({"state__0__step": 2.5}, "state 'step' of parameter 0 must be an int, got float"),
    ({"state__0__step": -1}, "must be >= 0"),
    ({"state__0__extra": np.zeros(1)}, "state of parameter 0: unexpected entry 'extra'"),
    ({"state__9": {}}, "state of parameter 9: no parameter has index 9"),
    ({"state__0": [1, 2]}, "state of parameter 0: expected a dict, got list"),
    ({"param_groups__0__lr": -5}, r"param_groups\[0\]: lr must be non-negative, got -5"),
    ({"param_groups__0__lr": float("nan")}, "lr must be finite"),
    ({"param_groups__0__lr": "0.1"}, "lr must be a real number, got str"),
    ({"param_groups__0__betas": (0.9, 1.0)}, r"betas must be in \[0, 1\), got \(0.9, 1.0\)"),
    ({"param_groups__0__betas": (0.9,)}, "betas must be a pair of numbers"),
    ({"param_groups__0__amsgrad": True}, "state of parameter 0: missing 'max_exp_avg_sq'"),
    ({"param_groups__0__amsgrad": "yes"}, "amsgrad must be True or False, got str"),
    ({"param_groups__0__eps": KeyError}, r"param_groups\[0\]: missing hyper-parameter 'eps'"),
    ({"param_groups__0__momentum": 0.9}, "unknown hyper-parameter 'momentum'"),
    ({"param_groups__0__params": [0, 0, 1, 2]}, "parameter index 0 appears twice"),
    ({"param_groups__0__params": [0, 1, 2]}, r"group sizes \[3\] differ from this optimizer's \[4\]"),
    ({"param_groups": "all"}, "param_groups must be a list of dicts, got str"),
    ({"state": KeyError}, "missing key 'state'"),
    ({"param_groups": KeyError}, "missing key 'param_groups'"),
    ({"extra": 1}, "unexpected key 'extra'"),
])
def test_malformed_adam_state_is_refused_and_nothing_changes(changes, reason):
    _, opt = _trained(Adam, lr=0.01)
    before = _opt_snapshot(opt)
    with pytest.raises((ValueError, TypeError), match=reason):
        opt.load_state_dict(_adam_sd(**changes))
    _opt_unchanged(opt, before)


def test_many_problems_in_one_error():
    _, opt = _trained(Adam, lr=0.01)
    sd = _adam_sd(param_groups__0__lr=-5, state__0__step=KeyError, state__1__exp_avg="x")
    with pytest.raises(ValueError, match=r"\(3 problems, nothing was changed\)") as e:
        opt.load_state_dict(sd)
    assert e.value.args[0].count("\n  ") == 3


def test_not_a_state_dict():
    _, opt = _trained(SGD, lr=0.1)
    with pytest.raises(TypeError, match="SGD.load_state_dict: expected the dict returned by state_dict"):
        opt.load_state_dict([1, 2])


def test_valid_state_round_trips_and_casts_to_the_parameter_dtype():
    model, opt = _trained(Adam, lr=0.01, amsgrad=True)
    sd = opt.state_dict()
    for st in sd["state"].values():
        st["exp_avg"] = st["exp_avg"].astype(np.float64)  # e.g. written by a float64 run
        st["step"] = np.array(st["step"])                   # 0-d int array, as nn.load returns
    fresh = Adam(model.parameters(), lr=0.5, amsgrad=True)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["lr"] == 0.01
    for p in model.parameters():
        st = fresh.state[id(p)]
        assert st["exp_avg"].dtype == np.float32 and st["step"] == 2 and type(st["step"]) is int
        assert st["exp_avg"] is not sd["state"][0]["exp_avg"]


def test_sgd_state_and_nesterov_rule():
    _, opt = _trained(SGD, lr=0.1, momentum=0.9)
    before = _opt_snapshot(opt)
    sd = opt.state_dict()
    sd["param_groups"][0].update(nesterov=True, dampening=0.5)
    with pytest.raises(ValueError, match="nesterov momentum needs momentum > 0 and dampening = 0"):
        opt.load_state_dict(sd)
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"] = np.zeros(5)
    with pytest.raises(ValueError, match=r"state 'momentum_buffer' of parameter 0 has shape \(5,\)"):
        opt.load_state_dict(sd)
    _opt_unchanged(opt, before)
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"] = None  # PyTorch's "no buffer yet"
    opt.load_state_dict(sd)


def test_constructors_use_the_same_rules():
    p = [nn.Parameter(np.zeros(2))]
    for make, reason in [(lambda: Adam(p, betas=(0.9, 1.0)), r"betas must be in \[0, 1\)"),
                         (lambda: AdamW(p, lr=float("inf")), "lr must be finite"),
                         (lambda: SGD(p, lr="fast"), "lr must be a real number, got str"),
                         (lambda: SGD([{"params": p, "lr": -1}]), "SGD: lr must be non-negative, got -1"),
                         (lambda: SGD(p, momentum=0, nesterov=True), "nesterov")]:
        with pytest.raises((ValueError, TypeError), match=reason):
            make()


# ---- schedules --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, changes, reason", [
    (lambda o: StepLR(o, 2), {"step_size": 0}, "step_size must be >= 1, got 0"),
    (lambda o: StepLR(o, 2), {"step_size": 2.5}, "step_size must be an int, got float"),
    (lambda o: StepLR(o, 2), {"optimizer": None}, "a schedule cannot be moved to another optimizer"),
    (lambda o: StepLR(o, 2), {"step": 3}, "unexpected key 'step'"),
    (lambda o: StepLR(o, 2), {"gamma": "0.1"}, "gamma must be a real number"),
    (lambda o: ExponentialLR(o, 0.9), {"last_epoch": -2}, "last_epoch must be >= -1"),
    (lambda o: ExponentialLR(o, 0.9), {"base_lrs": [0.1, 0.2]}, "base_lrs must be a list of 1 learning rate"),
    (lambda o: ExponentialLR(o, 0.9), {"base_lrs": [-1.0]}, "base_lrs must be non-negative"),
    (lambda o: CosineAnnealingLR(o, 4), {"T_max": 0}, "T_max must be >= 1"),
])
def test_malformed_schedule_state_is_refused(make, changes, reason):
    _, opt = _trained(SGD, lr=0.1)
    sched = make(opt)
    sched.step()
    before = copy.deepcopy(sched.state_dict())
    sd = {**sched.state_dict(), **changes}
    with pytest.raises((ValueError, TypeError), match=reason):
        sched.load_state_dict(sd)
    assert sched.state_dict() == before and sched.optimizer is opt


def test_empty_schedule_state_lists_every_missing_key():
    _, opt = _trained(SGD, lr=0.1)
    sched = StepLR(opt, 2)
    with pytest.raises(ValueError, match="missing key 'step_size'") as e:
        sched.load_state_dict({})
    assert all(k in str(e.value) for k in ("base_lrs", "last_epoch", "gamma"))


def test_schedule_state_round_trips():
    _, opt = _trained(SGD, lr=0.1)
    a = StepLR(opt, 2, gamma=0.5)
    for _ in range(3):
        a.step()
    b = StepLR(SGD(_model().parameters(), lr=0.1), 5)
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict() and b.step_size == 2


# ---- optimizer and schedule state through nn.save ---------------------------------------------------------------
def test_optimizer_and_schedule_state_round_trip_through_a_file(tmp_path):
    model, opt = _trained(Adam, lr=0.01, amsgrad=True)
    sched = StepLR(opt, 2, gamma=0.5)
    nn.save(nn.flatten_state_dict(opt.state_dict()), tmp_path / "opt.npz")
    nn.save(nn.flatten_state_dict(sched.state_dict()), tmp_path / "sched.npz")
    nn.save(model.state_dict(), tmp_path / "model.npz")

    twin = _model()
    twin.load_state_dict(nn.load(tmp_path / "model.npz"))
    opt2 = Adam(twin.parameters(), lr=0.5, amsgrad=True)
    opt2.load_state_dict(nn.unflatten_state_dict(nn.load(tmp_path / "opt.npz")))
    sched2 = StepLR(opt2, 7)
    sched2.load_state_dict(nn.unflatten_state_dict(nn.load(tmp_path / "sched.npz")))
    assert sched2.state_dict() == sched.state_dict()
    x = ag.tensor(np.ones((2, 3), np.float32))
    for m, o in ((model, opt), (twin, opt2)):  # the next step is the same, bit for bit
        o.zero_grad()
        (m(x) ** 2).sum().backward()
        o.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_nested_state_is_refused_by_save_with_the_fix():
    _, opt = _trained(SGD, lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match=r"'state' is a nested mapping.*nn.flatten_state_dict"):
        nn.save(opt.state_dict(), "never-written.npz")


@pytest.mark.parametrize("flat, reason", [
    ({}, "no '__structure__' array"),
    ({"__structure__": np.frombuffer(b"[" * 100000, np.uint8)}, "malformed structure"),
    ({"__structure__": np.frombuffer(b"\xff\xfe", np.uint8)}, "malformed structure"),
    ({"__structure__": np.frombuffer(b'{"eval": "os.system"}', np.uint8)}, "unexpected node"),
    ({"__structure__": np.frombuffer(b'{"array": "array.0"}', np.uint8)}, "unexpected node"),
    ({"__structure__": np.frombuffer(b'{"value": 1}', np.uint8), "array.0": np.zeros(1)}, "not referenced"),
    ({"__structure__": np.frombuffer(b'{"dict": [[{"value": 1}, {"value": 2}], [{"value": 1}, {"value": 3}]]}',
                                     np.uint8)}, "repeated key"),
])
def test_malformed_flat_state_is_a_value_error(flat, reason):
    with pytest.raises(ValueError, match=reason):
        nn.unflatten_state_dict(flat)


def test_flatten_refuses_what_it_cannot_store():
    with pytest.raises(TypeError, match="cannot store a set"):
        nn.flatten_state_dict({"a": {1, 2}})
    sd = {"a": (1, [2.5, None]), 3: {"x": np.arange(2), "nan": float("nan")}, "t": True, "s": "text"}
    back = nn.unflatten_state_dict(nn.flatten_state_dict(sd))
    assert back["a"] == (1, [2.5, None]) and back["t"] is True and back["s"] == "text"
    assert (back[3]["x"] == np.arange(2)).all() and np.isnan(back[3]["nan"])


def test_users_own_group_keys_are_kept_and_must_match_on_load():
    p = [nn.Parameter(np.zeros(2))]
    opt = SGD([{"params": p, "name": "encoder"}], lr=0.1)
    sd = opt.state_dict()
    assert sd["param_groups"][0]["name"] == "encoder"
    opt.load_state_dict(sd)
    with pytest.raises(ValueError, match="unknown hyper-parameter 'colour'"):
        SGD(p, lr=0.1).load_state_dict({**sd, "param_groups": [{**sd["param_groups"][0], "colour": 1}]})


def test_overflow_into_float16_from_integers_is_detected():
    layer = nn.Linear(2, 1, dtype="float16")
    sd = {"weight": np.array([[70000], [1]], dtype=np.int64), "bias": np.array([True])}
    with pytest.raises(ValueError, match="'weight': value 70000 overflows float16"):
        layer.load_state_dict(sd)
    sd["weight"] = np.array([[6.0], [1]])
    layer.load_state_dict(sd)
    assert layer.weight.dtype == np.float16 and layer.bias.data[0] == 1.0


# ---- nan and inf in optimizer state (issue #25 item 14) -------------------------------------------------------
@pytest.mark.parametrize("opt_cls, kw, entry", [
    (SGD, dict(lr=0.1, momentum=0.9), "momentum_buffer"),
    (Adam, dict(lr=0.01), "exp_avg"),
    (AdamW, dict(lr=0.01), "exp_avg"),
    (Adam, dict(lr=0.01), "exp_avg_sq"),
    (AdamW, dict(lr=0.01, amsgrad=True), "max_exp_avg_sq"),
])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_any_state_array_is_refused_naming_it(opt_cls, kw, entry, bad):
    """The next step would put them into the parameter (PyTorch loads them silently)."""
    if entry.endswith("sq") and bad == -np.inf:
        bad = np.nan  # a negative value: refused as negative already
    model, opt = _trained(opt_cls, **kw)
    before = _opt_snapshot(opt)
    sd = opt.state_dict()
    sd["state"][1][entry] = sd["state"][1][entry].copy()
    sd["state"][1][entry][2] = bad
    with pytest.raises(ValueError, match=rf"state '{entry}' of parameter 1 holds 1 nan or inf value\(s\), the first "
                                         rf"{bad} at index \(2,\)"):
        opt.load_state_dict(sd)
    _opt_unchanged(opt, before)
    params = [p.data for p in model.parameters()]
    sd["state"][1][entry][2] = np.finfo(np.float32).max  # the largest finite value: just inside
    opt.load_state_dict(sd)
    assert opt.state[id(list(model.parameters())[1])][entry][2] == np.finfo(np.float32).max
    assert all(p is q.data for p, q in zip(params, model.parameters()))


def test_every_nan_is_counted_and_a_float64_inf_is_refused_before_the_cast():
    _, opt = _trained(Adam, lr=0.01)
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = np.full((3, 4), np.nan)
    sd["state"][2]["exp_avg"] = np.full((4, 2), np.inf, dtype=np.float64)
    with pytest.raises(ValueError, match=r"\(2 problems, nothing was changed\)") as e:
        opt.load_state_dict(sd)
    assert "state 'exp_avg' of parameter 0 holds 12 nan or inf value(s), the first nan at index (0, 0)" in str(e.value)
    assert "state 'exp_avg' of parameter 2 holds 8 nan or inf value(s), the first inf at index (0, 0)" in str(e.value)
