"""Small models learn: XOR with a 2-8-1 network, and the issue's end-to-end training loop."""

import numpy as np
import pytest

import autograd_mini as ag
import nn

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def _accuracy(model, threshold):
    model.eval()
    with ag.no_grad():
        out = model(ag.tensor(X)).data
    model.train()
    return float(np.mean((out > threshold) == (Y > 0.5)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_xor_2_8_1_logits_reaches_full_accuracy(seed):
    model = nn.Sequential(nn.Linear(2, 8, seed=seed), nn.Tanh(), nn.Linear(8, 1, seed=seed + 100))
    opt = nn.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    loss_fn = nn.BCEWithLogitsLoss()
    x = ag.tensor(X)
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn(model(x), Y)
        loss.backward()
        opt.step()
        if loss.item() < 0.05:
            break
    assert _accuracy(model, 0.0) == 1.0, f"XOR not learnt in 300 steps (loss {loss.item():.3f})"


def test_xor_article_style_sigmoid_mse_l2_and_decay():
    """Sigmoid units, squared error plus the ridge term / batch size, a decaying rate, clipped gradients."""
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Sigmoid(), nn.Linear(8, 1), nn.Sigmoid())
    opt = nn.optim.SGD(model.parameters(), lr=2.0, momentum=0.9)
    sched = nn.optim.ExponentialLR(opt, gamma=0.999)
    penalty, mse = nn.L2Penalty(1e-4), nn.MSELoss()
    x = ag.tensor(X)
    for _ in range(500):
        opt.zero_grad()
        loss = mse(model(x), Y) + penalty(model) / len(X)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
        opt.step()
        sched.step()
    assert _accuracy(model, 0.5) == 1.0


def test_issue_training_loop_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 20)) * 3
    y = rng.integers(0, 3, 300)
    Xc = (centers[y] + rng.standard_normal((300, 20))).astype(np.float32)  # the model's dtype
    model = nn.Sequential(nn.Linear(20, 16, seed=0), nn.ReLU(), nn.Dropout(0.1, seed=0), nn.Linear(16, 3, seed=1))
    opt = nn.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(3):
        for xb, yb in nn.data.DataLoader(Xc, y, batch_size=64, shuffle=True, seed=0):
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
            opt.step()
    model.eval()
    pred = model(ag.tensor(Xc)).data.argmax(axis=1)
    assert np.mean(pred == y) > 0.95
    nn.save(model.state_dict(), tmp_path / "model.npz")
    clone = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3)).eval()
    clone.load_state_dict(nn.load(tmp_path / "model.npz"))
    np.testing.assert_array_equal(clone(ag.tensor(Xc)).data, model(ag.tensor(Xc)).data)
