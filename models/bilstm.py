"""Siamese BiLSTM: one text encoder shared by the prompt and both responses, a small dense classifier on top.

    head = SiameseBilstm(embed_dim=64, hidden=64, max_len=256, epochs=8).fit(X_train, y_train)
    proba = head.predict(X_test)        # (n, 2) or (n, 3): p(A wins), p(B wins)[, p(tie)]
    head.save(folder); same = SiameseBilstm.load(folder)

The seed baseline for pair tasks: a byte-level BPE tokenizer trained on the training fold's texts (the
`tokenizers` package; nothing downloaded), a shared embedding, three bidirectional LSTM layers over packed
sequences (padding never enters the recurrence), mean and max pooling over the real tokens, then
[context, left, right, |left - right|, left * right] -> dense + ReLU -> softmax over the classes (two
classes make it a sigmoid of the logit difference). The columns are parameters, so any (context, left,
right) pair task fits; the defaults are the preference task's.

Early stopping watches a seeded share of the training fold's prompts, held out (the runner never passes
the scored fold). On CPU a seed gives the same weights; on CUDA, when present, it runs there. Saved as
model.safetensors and tokenizer.json: no pickles. The defaults are small so the tests stay fast; recipes
give the real sizes. PyTorch comes with the `st` extra; without it `fit` says how to install it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from submit.kernel.errors import HeadUnavailable
from submit.models.base import Head, above, at_least, between, held_out_mask, limits_of
from submit.models.bpe import train_byte_bpe

PAD, UNK = "[PAD]", "[UNK]"


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise HeadUnavailable("the bilstm head needs PyTorch: pip install torch==2.13.0, then "
                           "pip install -e '.[st]'") from None
    return torch


def _network(n_tokens: int, n_outputs: int, embed_dim: int, hidden: int, layers: int, dense: int,
             dropout: float) -> Any:
    """The Siamese network: built here so importing this module needs no torch."""
    torch = _torch()
    nn = torch.nn

    class Siamese(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(n_tokens, embed_dim, padding_idx=0)
            self.lstm = nn.LSTM(embed_dim, hidden, num_layers=layers, bidirectional=True, batch_first=True,
                                dropout=dropout if layers > 1 else 0.0)
            self.head = nn.Sequential(nn.Linear(5 * 4 * hidden, dense), nn.ReLU(), nn.Dropout(dropout),
                                      nn.Linear(dense, n_outputs))

        def encode(self, ids: Any, lengths: Any) -> Any:
            """(b, t) token ids, (b,) lengths -> (b, 4 * hidden): mean and max of the BiLSTM states."""
            packed = nn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths.cpu(), batch_first=True,
                                                       enforce_sorted=False)
            states, _ = self.lstm(packed)
            states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=ids.shape[1])
            mask = (torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]).unsqueeze(-1)
            mean = (states * mask).sum(dim=1) / lengths[:, None]
            peak = states.masked_fill(~mask, float("-inf")).max(dim=1).values
            return torch.cat([mean, peak], dim=1)

        def forward(self, context: Any, left: Any, right: Any) -> Any:
            c, a, b = (self.encode(*pair) for pair in (context, left, right))
            return self.head(torch.cat([c, a, b, (a - b).abs(), a * b], dim=1))

    return Siamese()


class SiameseBilstm(Head):
    name = "bilstm"
    tasks = frozenset({"preference"})
    soft_targets = True  # the loss is the targets' cross-entropy, soft or hard; rows weigh as given
    limits = limits_of(vocab_size=at_least(3), max_len=at_least(1), embed_dim=at_least(1), hidden=at_least(1),
                       layers=at_least(1), dense=at_least(1), dropout=between(0, 1, high_open=True), epochs=at_least(1),
                       batch_size=at_least(1), learning_rate=above(0), patience=at_least(0),
                       valid_fraction=between(0, 1, high_open=True), threads=at_least(1), seed=at_least(0))

    def __init__(self, *, vocab_size: int = 2000, max_len: int = 64, embed_dim: int = 16, hidden: int = 16,
                 layers: int = 3, dense: int = 32, dropout: float = 0.1, epochs: int = 3, batch_size: int = 32,
                 learning_rate: float = 3e-3, patience: int = 2, valid_fraction: float = 0.15,
                 context: str = "prompt", left: str = "response_a", right: str = "response_b",
                 device: str = "auto", threads: int = 1, seed: int = 0) -> None:
        self.vocab_size = vocab_size  # BPE vocabulary learned on the training fold (fewer when the text is small)
        self.max_len = max_len  # tokens kept per text (its start)
        self.embed_dim = embed_dim
        self.hidden = hidden  # LSTM units per direction
        self.layers = layers  # stacked bidirectional LSTM layers
        self.dense = dense  # units of the ReLU layer before the output
        self.dropout = dropout
        self.epochs = epochs  # the most; early stopping on the held-out prompts ends sooner
        self.batch_size = batch_size
        self.learning_rate = learning_rate  # Adam
        self.patience = patience  # epochs without a better held-out loss before stopping
        self.valid_fraction = valid_fraction  # share of training prompts held out for early stopping (0: none)
        self.context = context  # the columns of the pair: shared context, then the two sides compared
        self.left = left
        self.right = right
        self.device = device  # auto: CUDA when present, else CPU
        # CPU threads for torch (process-wide). One: on a busy 2-core machine two threads spin waiting for each
        # other and a step takes 20 times longer; raise it on a machine of your own.
        self.threads = threads
        self.seed = seed

    # --- text -> padded token ids -----------------------------------------------------------------------
    def _train_tokenizer(self, texts: list[str]) -> Any:
        return train_byte_bpe(texts, self.vocab_size, [PAD, UNK], unk_token=UNK)

    def _encode(self, texts: pd.Series) -> tuple[Any, Any]:
        torch = _torch()
        encoded = self.tokenizer_.encode_batch(texts.fillna("").astype(str).tolist())
        lengths = [max(1, min(len(e.ids), self.max_len)) for e in encoded]  # an empty text is one pad token
        ids = np.zeros((len(encoded), max(lengths, default=1)), dtype=np.int64)
        for row, e in enumerate(encoded):
            ids[row, :len(e.ids[:self.max_len])] = e.ids[:self.max_len]
        return torch.from_numpy(ids), torch.tensor(lengths, dtype=torch.int64)

    def _batches(self, X: pd.DataFrame, order: np.ndarray) -> Any:
        """Yields (context, left, right) tensors for consecutive slices of `order`, on the device."""
        for start in range(0, len(order), self.batch_size):
            part = X.iloc[order[start:start + self.batch_size]]
            yield tuple(tuple(t.to(self.device_) for t in self._encode(part[col]))
                        for col in (self.context, self.left, self.right))

    def _resolve_device(self, torch: Any) -> str:
        torch.set_num_threads(self.threads)
        if self.device != "auto":
            return self.device
        return "cuda" if torch.cuda.is_available() else "cpu"

    # --- fit / predict ----------------------------------------------------------------------------------
    def _fit(self, X, y, X_valid, y_valid, sample_weight=None) -> None:
        torch = _torch()
        self.device_ = self._resolve_device(torch)
        torch.manual_seed(self.seed)
        weights = np.ones(len(X)) if sample_weight is None else sample_weight
        if X_valid is None and self.valid_fraction > 0:
            held = held_out_mask(X, self.context, self.valid_fraction, self.seed)
            if held is not None:
                X, X_valid = X[~held].reset_index(drop=True), X[held].reset_index(drop=True)
                y, y_valid, weights = y[~held], y[held], weights[~held]
        texts = pd.concat([X[c] for c in (self.context, self.left, self.right)]).fillna("").astype(str)
        self.tokenizer_ = self._train_tokenizer(texts.tolist())
        self.network_ = self._build(y.shape[1]).to(self.device_)
        optimizer = torch.optim.Adam(self.network_.parameters(), lr=self.learning_rate)
        targets = torch.tensor(y, dtype=torch.float32)  # soft targets as they are: the loss is their cross-entropy
        row_weights = torch.tensor(weights, dtype=torch.float32)
        rng = np.random.default_rng(self.seed)

        best, best_state, waited = np.inf, None, 0
        for _ in range(self.epochs):
            self.network_.train()
            order = rng.permutation(len(X))
            for start, batch in zip(range(0, len(X), self.batch_size), self._batches(X, order), strict=True):
                rows = order[start:start + self.batch_size]
                per_row = -(targets[rows].to(self.device_) * torch.log_softmax(self.network_(*batch), dim=1)).sum(dim=1)
                weight = row_weights[rows].to(self.device_)
                loss = per_row.mean() if sample_weight is None else (per_row * weight).sum() / weight.sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if X_valid is None:
                continue
            # Early stopping on the held-out prompts' cross-entropy; the best epoch's weights are kept.
            proba = np.clip(self._predict(X_valid), 1e-7, 1.0)
            valid_loss = float(-np.mean(np.sum(y_valid * np.log(proba), axis=1)))
            if valid_loss < best:
                best, best_state, waited = valid_loss, copy.deepcopy(self.network_.state_dict()), 0
            else:
                waited += 1
                if waited >= self.patience:
                    break
        if best_state is not None:
            self.network_.load_state_dict(best_state)

    def _build(self, n_outputs: int) -> Any:
        return _network(self.tokenizer_.get_vocab_size(), n_outputs, self.embed_dim, self.hidden, self.layers,
                        self.dense, self.dropout)

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        torch = _torch()
        self.network_.eval()
        out = [np.zeros((0, self.n_outputs_))]
        with torch.no_grad():
            for batch in self._batches(X, np.arange(len(X))):
                out.append(torch.softmax(self.network_(*batch).double(), dim=1).cpu().numpy())
        return np.concatenate(out)

    # --- save / load (safetensors + tokenizer.json; the sizes are the params in head.json) ---------------
    def _save(self, path: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.detach().cpu().contiguous() for k, v in self.network_.state_dict().items()},
                  str(path / "model.safetensors"))
        self.tokenizer_.save(str(path / "tokenizer.json"))

    def _load(self, path: Path) -> None:
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        torch = _torch()
        self.device_ = self._resolve_device(torch)
        self.tokenizer_ = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.network_ = self._build(self.n_outputs_)
        self.network_.load_state_dict(load_file(str(path / "model.safetensors")))
        self.network_.to(self.device_)
