"""A character-level language model of first names: a bigram table, an MLP over a context window
(Bengio et al. 2003) and a small transformer (token + position embeddings, causal self-attention
blocks with LayerNorm, AdamW).

Data: 5,163 US first names (examples/data/names, public domain, see its README), shuffled with
``--seed`` and split 90% train / 10% held out. Every model predicts each next character of a
name, the end of the name included, so the three held-out losses (mean negative log-likelihood
per character, nats) compare directly. Prints each curve's end points and 20 sampled names per
model, and writes the loss curves.

    python examples/char_lm.py --out out/char_lm
    python examples/char_lm.py --model transformer --epochs 30
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import _common as C
import numpy as np

import autograd_mini as ag
import nn
import nn.functional as F

NAMES = C.DATA_DIR / "names" / "names.txt"
END = "."  # the boundary token: starts every context, ends every name


# ---- data --------------------------------------------------------------------------------------
class Vocab:
    def __init__(self, words: list[str]) -> None:
        self.chars = [END] + sorted(set("".join(words)))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, word: str) -> list[int]:
        return [self.index[c] for c in word]


def load_words(path: Path, seed: int) -> tuple[list[str], list[str]]:
    """The words of ``path`` (one per line), shuffled with ``seed``, split 90% / 10%."""
    try:
        words = [w.strip() for w in path.read_text(encoding="utf-8").splitlines() if w.strip()]
    except (OSError, UnicodeDecodeError) as e:
        print(f"char_lm: cannot read {path}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if len(words) < 2:
        print(f"char_lm: {path} holds {len(words)} word(s); need at least 2 (one per line)", file=sys.stderr)
        raise SystemExit(2)
    order = np.random.default_rng(seed).permutation(len(words))
    words = [words[i] for i in order]
    cut = len(words) * 9 // 10
    return words[:cut], words[cut:]


def windows(words: list[str], vocab: Vocab, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(contexts (n, block), next characters (n,)) for every character of every word and its end."""
    X, Y = [], []
    for w in words:
        ctx = [0] * block
        for c in vocab.encode(w) + [0]:
            X.append(ctx)
            Y.append(c)
            ctx = ctx[1:] + [c]
    return np.array(X, dtype=np.int64), np.array(Y, dtype=np.int64)


def sequences(words: list[str], vocab: Vocab, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``.name`` and targets ``name.`` padded to ``block`` (targets -1 where there is nothing to predict)."""
    X = np.zeros((len(words), block), dtype=np.int64)
    Y = np.full((len(words), block), -1, dtype=np.int64)
    for i, w in enumerate(words):
        ids = vocab.encode(w)[: block - 1]
        X[i, 1:len(ids) + 1] = ids
        Y[i, :len(ids)] = ids
        Y[i, len(ids)] = 0
    return X, Y


# ---- models ------------------------------------------------------------------------------------
def bigram_loss(train: list[str], held: list[str], vocab: Vocab) -> tuple[float, np.ndarray]:
    """Held-out loss of add-one-smoothed bigram counts, and the table of probabilities."""
    counts = np.ones((len(vocab), len(vocab)))
    for w in train:
        ids = [0] + vocab.encode(w) + [0]
        np.add.at(counts, (ids[:-1], ids[1:]), 1)
    probs = counts / counts.sum(axis=1, keepdims=True)
    nll = [-math.log(probs[a, b]) for w in held for a, b in zip([0] + vocab.encode(w), vocab.encode(w) + [0])]
    return float(np.mean(nll)), probs


class MLP(nn.Module):
    """Embed ``block`` previous characters, concatenate, one tanh hidden layer, logits (Bengio et al. 2003)."""

    def __init__(self, vocab: int, block: int, emb: int, hidden: int, seed: int) -> None:
        super().__init__()
        self.block = block
        self.emb = nn.Embedding(vocab, emb, seed=seed)
        self.hidden = nn.Linear(block * emb, hidden, seed=seed + 1)
        self.out = nn.Linear(hidden, vocab, seed=seed + 2)

    def forward(self, idx: np.ndarray) -> ag.Tensor:
        e = self.emb(idx)
        return self.out(ag.tanh(self.hidden(e.reshape(e.shape[0], -1))))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: causal self-attention, then a GELU MLP, each with a residual."""

    def __init__(self, width: int, heads: int, dropout: float, seed: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True, seed=seed)
        self.fc = nn.Linear(width, 4 * width, seed=seed + 1)
        self.proj = nn.Linear(4 * width, width, seed=seed + 2)
        self.act, self.drop = nn.GELU(), nn.Dropout(dropout, seed=seed + 3)

    def forward(self, x: ag.Tensor, mask: np.ndarray) -> ag.Tensor:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.drop(self.proj(self.act(self.fc(self.ln2(x)))))


class Transformer(nn.Module):
    """Token and position embeddings, ``layers`` causal blocks, a final LayerNorm and the logits."""

    def __init__(self, vocab: int, block: int, width: int, heads: int, layers: int, dropout: float,
                 seed: int) -> None:
        super().__init__()
        self.block = block
        self.tok, self.pos = nn.Embedding(vocab, width, seed=seed), nn.Embedding(block, width, seed=seed + 1)
        for p in (self.tok.weight, self.pos.weight):
            p.data = p.data * 0.02  # GPT-2's embedding scale
        self.blocks = nn.ModuleList(Block(width, heads, dropout, seed + 10 * (k + 1)) for k in range(layers))
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, seed=seed + 2)

    def forward(self, idx: np.ndarray) -> ag.Tensor:
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(np.arange(T))
        mask = np.triu(np.ones((T, T), dtype=bool), 1)  # True: masked out (MultiheadAttention's meaning)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln(x))


def sequence_loss(logits: ag.Tensor, Y: np.ndarray) -> ag.Tensor:
    """Mean cross entropy over the positions with a target (Y >= 0)."""
    flat, y = logits.reshape(-1, logits.shape[-1]), Y.reshape(-1)
    keep = np.flatnonzero(y >= 0)
    return F.cross_entropy(flat[keep], y[keep])


# ---- training ----------------------------------------------------------------------------------
def train(model: nn.Module, X: np.ndarray, Y: np.ndarray, Xh: np.ndarray, Yh: np.ndarray, loss_fn,
          epochs: int, batch: int, lr: float, weight_decay: float, seed: int, label: str,
          show: bool) -> tuple[list[float], list[float]]:
    """AdamW with a cosine learning rate over all steps; returns per-step train losses and per-epoch held-out."""
    opt = nn.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = max(1, math.ceil(len(X) / batch))
    sched = nn.optim.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch, eta_min=lr / 10)
    rng = np.random.default_rng(seed)
    losses, held = [], []
    bar = C.progress(epochs, label, show)
    for _ in bar:
        model.train()
        order = rng.permutation(len(X))
        for s in range(steps_per_epoch):
            idx = order[s * batch:(s + 1) * batch]
            loss = loss_fn(model(X[idx]), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        held.append(evaluate(model, Xh, Yh, loss_fn))
        bar.set_postfix(train=f"{np.mean(losses[-steps_per_epoch:]):.3f}", held_out=f"{held[-1]:.3f}")
    return losses, held


def evaluate(model: nn.Module, X: np.ndarray, Y: np.ndarray, loss_fn, batch: int = 1024) -> float:
    """Mean loss per predicted character over the whole set (batches weighted by their targets)."""
    model.eval()
    total, count = 0.0, 0
    with ag.no_grad():
        for s in range(0, len(X), batch):
            y = Y[s:s + batch]
            n = int((y >= 0).sum())
            total += loss_fn(model(X[s:s + batch]), y).item() * n
            count += n
    return total / count


def sample(next_probs, vocab: Vocab, n: int, rng: np.random.Generator, max_len: int = 20) -> list[str]:
    """``n`` words drawn character by character from ``next_probs(contexts) -> (n, V)`` until the end token."""
    out = []
    for _ in range(n):
        ids: list[int] = []
        while len(ids) < max_len:
            p = next_probs(ids)
            c = int(rng.choice(len(p), p=p / p.sum()))
            if c == 0:
                break
            ids.append(c)
        out.append("".join(vocab.chars[i] for i in ids))
    return out


def model_sampler(model: nn.Module, kind: str, block: int):
    def next_probs(ids: list[int]) -> np.ndarray:
        with ag.no_grad():
            if kind == "mlp":
                ctx = ([0] * block + ids)[-block:]
                logits = model(np.array([ctx]))[0]
            else:
                seq = ([0] + ids)[-block:]
                logits = model(np.array([seq]))[0, len(seq) - 1]
            return np.asarray(ag.softmax(logits.astype(np.float64), -1))
    return next_probs


# ---- main --------------------------------------------------------------------------------------
DEFAULTS = {  # epochs, batch, learning rate, weight decay
    "mlp": (12, 64, 3e-3, 0.01),
    "transformer": (30, 32, 3e-3, 0.05),
}


def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__, seed=0, out="out/char_lm",
                 epochs_help="training epochs (default 12 for the MLP, 30 for the transformer)")
    p.add_argument("--model", choices=["mlp", "transformer", "both"], default="both", help="which model (default both)")
    p.add_argument("--data", type=Path, default=NAMES, help="a text file of words, one per line (default: names)")
    p.add_argument("--context", type=int, default=4, help="MLP context window in characters (default 4)")
    p.add_argument("--width", type=int, default=64, help="transformer width (default 64)")
    p.add_argument("--layers", type=int, default=2, help="transformer blocks (default 2)")
    p.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    p.add_argument("--dropout", type=float, default=0.1, help="transformer dropout (default 0.1)")
    p.add_argument("--limit", type=int, default=0,
                   help="use only the first N words after shuffling, for smoke runs (default 0: all)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    train_words, held_words = load_words(args.data, args.seed)
    if args.limit:
        train_words, held_words = train_words[:args.limit], held_words[:max(1, args.limit // 9)]
    vocab = Vocab(train_words + held_words)
    block = max(len(w) for w in train_words + held_words) + 1
    print(f"data: {C.relpath(args.data)}: {len(train_words)} train / {len(held_words)} held-out words, "
          f"{len(vocab)} symbols, longest {block - 1}")
    rng = np.random.default_rng(args.seed)
    bigram, probs = bigram_loss(train_words, held_words, vocab)
    print(f"bigram (add-one counts): held-out loss {bigram:.4f}")
    print("  samples:", " ".join(sample(lambda ids: probs[ids[-1] if ids else 0], vocab, 20, rng)))
    results: dict = {"bigram": bigram, "files": []}
    curves = {}
    kinds = ["mlp", "transformer"] if args.model == "both" else [args.model]
    for kind in kinds:
        epochs, batch, lr, wd = DEFAULTS[kind]
        epochs = args.epochs or epochs
        ag.manual_seed(args.seed)
        if kind == "mlp":
            model = MLP(len(vocab), args.context, 16, 128, args.seed)
            X, Y = windows(train_words, vocab, args.context)
            Xh, Yh = windows(held_words, vocab, args.context)
            loss_fn = F.cross_entropy
        else:
            model = Transformer(len(vocab), block, args.width, args.heads, args.layers, args.dropout, args.seed)
            X, Y = sequences(train_words, vocab, block)
            Xh, Yh = sequences(held_words, vocab, block)
            loss_fn = sequence_loss
        n_params = sum(q.size for q in model.parameters())
        losses, held = train(model, X, Y, Xh, Yh, loss_fn, epochs, batch, lr, wd, args.seed, kind,
                             not args.no_progress)
        model.eval()
        words = sample(model_sampler(model, kind, args.context if kind == "mlp" else block), vocab, 20, rng)
        first, last = np.mean(losses[:10]), np.mean(losses[-50:])
        print(f"{kind} ({n_params} parameters, {epochs} epochs, {len(losses)} steps): train loss "
              f"{first:.4f} -> {last:.4f}, held-out loss {held[0]:.4f} -> {held[-1]:.4f}")
        print("  samples:", " ".join(words))
        results[kind] = {"held_out": held[-1], "held_curve": held, "train_losses": losses, "samples": words,
                         "parameters": n_params}
        curves[f"{kind} train (per step)"] = losses
    if curves:
        results["files"].append(C.plot_curves(curves, args.out / "loss.png", "Character LM training loss",
                                              "loss (nats per character)"))
        held_curves = {f"{k} held-out": results[k]["held_curve"] for k in kinds}
        held_curves["bigram held-out"] = [bigram] * max(len(v) for v in held_curves.values())
        results["files"].append(C.plot_curves(held_curves, args.out / "held_out.png", "Held-out loss per epoch",
                                              "loss (nats per character)", xlabel="epoch"))
    for f in results["files"]:
        print(f"wrote {C.relpath(f)}")
    C.summary("char_lm", t0, bigram=bigram, **{f"{k}_held_out": results[k]["held_out"] for k in kinds})
    return results


if __name__ == "__main__":
    main()
