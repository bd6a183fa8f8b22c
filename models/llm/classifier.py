"""A causal LM with a classification layer on its last token, for preference data (A wins, B wins[, tie]).

    head = LlmClassifier(model="smollm2-135m", quantization="4bit-nf4", max_steps=60, cut="middle")
    head.fit(X, y)                  # X: prompt, response_a, response_b; y one-hot (n, 2 or 3)
    probabilities = head.predict(X_test)

Each comparison is one user turn laid out with the model's chat template: an instruction, then the
prompt, response A and response B in tagged sections, then the assistant's turn opens; the class is
read from the last token (AutoModelForSequenceClassification). Training on both A/B orders and swap
TTA come from the recipe (`train_views: [swap]`, `tta: [swap]`), the runner's shared mechanism.

A saved head loaded where more than one GPU is visible predicts with the rows split over them, one worker
process per GPU (models/llm/devices.py): on Kaggle's 2 x T4, two copies of the model, each on half the rows.

Too long for `max_length`: each of the three parts is cut in proportion to its length, never silently:
the cut is marked in the text with " [...] " where the words were removed, `cut` says where (middle:
keep its start and end; tail: keep its start; head: keep its end), and the count of cut rows goes to
the experiment's record.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from submit.models.base import HeadSettingError, limits_of, one_of
from submit.models.llm import require_llm
from submit.models.llm.core import ADAPTER_DIR, CUTS, MARKER, LlmHead, cut_tokens, length_batches, proportional_budget

PARTS = ("prompt", "response_a", "response_b")


def soft_cross_entropy(outputs, labels, num_items_in_batch=None):
    """The rows' weighted cross-entropy against target distributions; labels: (rows, classes + 1), the last
    column each row's weight (the Trainer's compute_loss_func)."""
    import torch

    targets, weights = labels[:, :-1].float(), labels[:, -1].float()
    log_p = torch.log_softmax(outputs.logits.float(), dim=-1)
    return (weights * -(targets * log_p).sum(dim=-1)).sum() / weights.sum().clamp_min(1e-12)


class LlmClassifier(LlmHead):
    name = "llm-classifier"
    tasks = frozenset({"preference"})
    soft_targets = True  # a teacher's class distributions and row weights: soft_cross_entropy below
    limits = limits_of(cut=one_of(*CUTS))

    def __init__(self, *, cut: str = "middle", **common) -> None:
        super().__init__(**common)
        self.cut = cut  # where an over-long part loses tokens: middle | tail | head

    # --- layout ---------------------------------------------------------------------------------------
    def _instruction(self, n_classes: int) -> str:
        choices = "A, B or tie" if n_classes == 3 else "A or B"
        return f"Which response answers the prompt better? Reply {choices}."

    def _layout(self, parts: tuple[str, str, str], n_classes: int) -> str:
        prompt, a, b = parts
        content = (f"{self._instruction(n_classes)}\n\n<prompt>\n{prompt}\n</prompt>\n\n<response_a>\n{a}\n"
                   f"</response_a>\n\n<response_b>\n{b}\n</response_b>")
        return self.tokenizer_.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                   add_generation_prompt=True)

    def _encode(self, row: tuple[str, str, str], n_classes: int) -> tuple[list[int], bool]:
        """Token ids of one comparison within max_length, and whether any part was cut."""
        tok = self.tokenizer_
        ids = [tok(text, add_special_tokens=False)["input_ids"] for text in row]
        overhead = len(tok(self._layout(("",) * len(row), n_classes), add_special_tokens=False)["input_ids"])
        marker = tok(MARKER, add_special_tokens=False)["input_ids"]
        budget = self.max_length - overhead
        for _ in range(8):  # decoding and re-encoding a cut can shift a few tokens: tighten until it fits
            if budget < 0:
                break
            keep = proportional_budget([len(i) for i in ids], budget)
            cut = tuple(tok.decode(cut_tokens(i, k, self.cut, marker)) if len(i) > k else text
                        for i, k, text in zip(ids, keep, row, strict=True))
            encoded = tok(self._layout(cut, n_classes), add_special_tokens=False)["input_ids"]
            if len(encoded) <= self.max_length:
                return encoded, cut != tuple(row)
            budget -= len(encoded) - self.max_length
        raise HeadSettingError(f"{self.name}: max_length={self.max_length} leaves no room for the texts after the "
                               f"chat template's {overhead} tokens and the cut markers ({MARKER.strip()}); raise "
                               f"max_length, e.g. --set params.max_length={overhead + 256}")

    def _encode_all(self, X: pd.DataFrame, n_classes: int) -> tuple[list[list[int]], int]:
        rows = zip(*(X[c].fillna("").astype(str) for c in PARTS), strict=True)
        encoded = [self._encode(row, n_classes) for row in rows]
        return [ids for ids, _ in encoded], sum(cut for _, cut in encoded)

    # --- fit / predict --------------------------------------------------------------------------------
    def _fit(self, X, y, X_valid, y_valid, sample_weight: np.ndarray | None = None) -> None:
        require_llm()
        from submit.models.llm.zoo import model_folder

        self.tokenizer_ = self._load_tokenizer(model_folder(self.model))
        ids, n_cut = self._encode_all(X, y.shape[1])
        # Hard one-hot labels train on the model's own loss, as they always have; distributions (a teacher's)
        # and row weights (pseudo-labels) on their cross-entropy, the weight riding as the labels' last column.
        soft = sample_weight is not None or not np.isin(y, (0.0, 1.0)).all()
        if soft:
            weights = np.ones(len(y)) if sample_weight is None else sample_weight
            labels = [[*map(float, row), float(w)] for row, w in zip(y, weights, strict=True)]
        else:
            labels = [int(label) for label in y.argmax(axis=1)]
        examples = [{"input_ids": i, "attention_mask": [1] * len(i), "labels": label}
                    for i, label in zip(ids, labels, strict=True)]
        self._train(examples, kind="classifier", num_labels=y.shape[1],
                    compute_loss=soft_cross_entropy if soft else None)
        self.stats_["train_rows_cut"] = float(n_cut)

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        import torch

        if getattr(self, "split_folder_", None) is not None:
            return self.predict_in_workers(X)
        ids, n_cut = self._encode_all(X, self.n_outputs_)
        model = self._inference_model()
        device = next(model.parameters()).device
        out = np.zeros((len(X), self.n_outputs_))
        start, tokens = time.perf_counter(), 0
        with torch.inference_mode():
            for batch in length_batches([len(i) for i in ids], self.inference_batch_size):
                padded = self.tokenizer_.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
                logits = model(**{k: v.to(device) for k, v in padded.items()}).logits
                out[batch] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                tokens += int(padded["attention_mask"].sum())
        self._count_inference(tokens, time.perf_counter() - start)
        self.stats_["predict_rows_cut"] = self.stats_.get("predict_rows_cut", 0.0) + n_cut
        return out

    def _save(self, path: Path) -> None:
        self._save_model(path)

    def _load(self, path: Path) -> None:
        from submit.models.llm.devices import visible_gpus

        # With more than one GPU (Kaggle's 2 x T4) the saved head predicts in one worker per GPU, each loading
        # its own copy (models/llm/devices.py); this process keeps only the folder.
        if visible_gpus() > 1:
            self.split_folder_ = Path(path)
            self.tokenizer_ = self._load_tokenizer(Path(path) / ADAPTER_DIR)  # to form the batches here
            return
        self._load_saved(path, "classifier", self.n_outputs_)

    def predict_in_workers(self, X: pd.DataFrame, workers: int | None = None) -> np.ndarray:
        """Class probabilities of a head loaded from its folder, predicted by `workers` processes (default:
        one per visible GPU), each loading the head and predicting whole batches formed here exactly as one
        process forms them (length-sorted, inference_batch_size rows), so the rows come back identical and
        in X's order."""
        from submit.models.llm.devices import predict_on_devices

        folder = getattr(self, "split_folder_", None)
        if folder is None:
            raise ValueError(f"{self.name}: predict_in_workers needs a head loaded from its folder (Head.load)")
        X = X.reset_index(drop=True)
        ids, _ = self._encode_all(X, self.n_outputs_)
        batches = list(length_batches([len(i) for i in ids], self.inference_batch_size))
        return predict_on_devices(type(self), folder, X, batches, workers)
