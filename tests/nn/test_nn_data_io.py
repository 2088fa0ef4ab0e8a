"""DataLoader batching and reproducibility; atomic, pickle-free save/load."""

import os
import pickle

import numpy as np
import pytest

import autograd_mini as ag
import nn
from nn.data import DataLoader


def _epoch(loader):
    return [(xb.data.copy(), yb.data.copy()) for xb, yb in loader]


def test_dataloader_batches_cover_the_data():
    X = np.arange(20, dtype=np.float64).reshape(10, 2)
    y = np.arange(10)
    batches = _epoch(DataLoader(X, y, batch_size=4))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    xb, yb = next(iter(DataLoader(X, y, batch_size=4)))
    assert isinstance(xb, ag.Tensor) and xb.dtype == np.float32 and yb.dtype == y.dtype
    assert len(DataLoader(X, y, batch_size=4)) == 3 and len(DataLoader(X, y, batch_size=4, drop_last=True)) == 2
    assert [len(b[0]) for b in _epoch(DataLoader(X, y, batch_size=4, drop_last=True))] == [4, 4]
    only_x = list(DataLoader(X, batch_size=5))
    assert len(only_x) == 2 and isinstance(only_x[0], ag.Tensor)


def test_dataloader_shuffle_is_reproducible():
    X = np.random.default_rng(0).standard_normal((50, 3))
    y = np.arange(50)
    a, b = DataLoader(X, y, 8, shuffle=True, seed=7), DataLoader(X, y, 8, shuffle=True, seed=7)
    ea1, ea2 = _epoch(a), _epoch(a)
    eb1, eb2 = _epoch(b), _epoch(b)
    for u, v in zip(ea1 + ea2, eb1 + eb2):
        np.testing.assert_array_equal(u[1], v[1])
    order = np.concatenate([yb for _, yb in ea1])
    assert sorted(order) == list(range(50)) and not np.array_equal(order, np.arange(50))
    assert not np.array_equal(order, np.concatenate([yb for _, yb in ea2]))  # a new order each epoch
    np.testing.assert_array_equal(X[order].astype(np.float32), np.concatenate([xb for xb, _ in ea1]))
    ag.manual_seed(11)
    g1 = _epoch(DataLoader(X, y, 8, shuffle=True))
    ag.manual_seed(11)
    g2 = _epoch(DataLoader(X, y, 8, shuffle=True))
    for u, v in zip(g1, g2):
        np.testing.assert_array_equal(u[1], v[1])


def test_dataloader_errors():
    with pytest.raises(ValueError, match=r"10 samples.*9"):
        DataLoader(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(np.zeros((10, 2)), batch_size=0)


def test_save_load_round_trip_and_dtypes(tmp_path):
    sd = {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "b": ag.tensor([1, 2]), "s": np.float64(3.5)}
    path = tmp_path / "state.npz"
    nn.save(sd, path)
    out = nn.load(str(path))
    assert list(out) == ["a.weight", "b", "s"]
    np.testing.assert_array_equal(out["a.weight"], sd["a.weight"])
    assert out["a.weight"].dtype == np.float32 and out["b"].dtype == np.int64 and out["s"] == 3.5
    assert os.listdir(tmp_path) == ["state.npz"]  # no temp file left behind
    if os.name == "posix":
        mask = os.umask(0)
        os.umask(mask)
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    with pytest.raises(TypeError, match="pickle"):
        nn.save({"x": np.array([object()])}, tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="strings"):
        nn.save({1: np.zeros(1)}, tmp_path / "bad.npz")


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    nn.save({"w": np.ones(3)}, path)
    original = path.read_bytes()

    def crash(f, array, **kwargs):
        f.write(b"\x93NUMPY half an array")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(np.lib.format, "write_array", crash)
    with pytest.raises(KeyboardInterrupt):
        nn.save({"w": np.zeros(3)}, path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["model.npz"]


def test_load_rejects_truncated_foreign_and_pickled_files(tmp_path):
    good = tmp_path / "good.npz"
    nn.save({"w": np.arange(1000.0)}, good)
    data = good.read_bytes()
    cases = {
        "truncated.npz": data[: len(data) // 2],
        "empty.npz": b"",
        "text.npz": b"hello, this is not an archive\n",
        "pickled.npz": pickle.dumps({"w": np.zeros(2)}),
    }
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
    np.save(tmp_path / "single.npy", np.zeros(3))
    np.savez(tmp_path / "objects.npz", w=np.array([{"a": 1}], dtype=object))
    for name in [*cases, "single.npy", "objects.npz"]:
        with pytest.raises(ValueError, match=name):
            nn.load(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        nn.load(tmp_path / "missing.npz")
