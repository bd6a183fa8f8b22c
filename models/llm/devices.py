"""A saved classifier's predictions with the rows split over the machine's GPUs: one worker process per GPU.

    probabilities = predict_on_devices(Path("runs/wsdm/<id>/folds/0/model"), X_test)   # one per visible GPU
    probabilities = predict_on_devices(folder, X_test, workers=2)    # on a CPU: two worker processes

On Kaggle's 2 x T4 a 4-bit 9B model fits each GPU whole, so the fastest split is two copies, each
predicting half of the rows, not one model spread over both. The parent forms the batches exactly as one
process would (rows sorted by token length, cut into inference_batch_size batches) and deals them to the
workers in turn, so each batch is padded to the same shape and every row gets the same numbers as in one
process, in the caller's order. Each worker sees only its own GPU (CUDA_VISIBLE_DEVICES, set before it
imports torch) and loads the head from its folder.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from submit.models.llm.classifier import LlmClassifier
from submit.models.llm.core import ADAPTER_DIR, length_batches


def visible_gpus() -> int:
    """The GPUs this process may use (0 on a CPU machine)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _batches(folder: Path, X: pd.DataFrame) -> list[np.ndarray]:
    """The row batches one process would predict, from the saved head's tokenizer alone (no weights)."""
    meta = json.loads((folder / "head.json").read_text())
    head = LlmClassifier(**meta["params"])
    head.tokenizer_ = head._load_tokenizer(folder / ADAPTER_DIR)
    ids, _ = head._encode_all(X, meta["n_outputs"])
    return list(length_batches([len(i) for i in ids], head.inference_batch_size))


def _predict_batches(folder: str, X: pd.DataFrame, batches: list[np.ndarray], gpu: int | None) -> list[np.ndarray]:
    """In a worker: load the head on its one GPU (or the CPU) and predict each batch as it was formed."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # before torch is imported in this process
    head = LlmClassifier.load(Path(folder))
    return [head.predict(X.iloc[batch]) for batch in batches]


def predict_on_devices(folder: Path, X: pd.DataFrame, workers: int | None = None) -> np.ndarray:
    """Predictions of the saved head in `folder` for rows X, in X's order; `workers` processes (default: one
    per visible GPU, at least one), worker k on GPU k when there are GPUs."""
    folder, X = Path(folder), X.reset_index(drop=True)
    gpus = visible_gpus()
    workers = workers or max(gpus, 1)
    batches = _batches(folder, X)
    dealt = [batches[k::workers] for k in range(workers)]
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: CUDA cannot be forked
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_predict_batches, str(folder), X, part, k % gpus if gpus else None)
                   for k, part in enumerate(dealt) if part]
        results = [future.result() for future in futures]
    out: np.ndarray | None = None
    for part, predictions in zip((p for p in dealt if p), results, strict=True):
        for batch, values in zip(part, predictions, strict=True):
            out = np.zeros((len(X), values.shape[1])) if out is None else out
            out[batch] = values
    return out if out is not None else np.zeros((0, 0))
