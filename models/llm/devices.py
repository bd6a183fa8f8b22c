"""Rows split over the machine's GPUs: one worker process per GPU, each with its own copy of a saved head.

    head = LlmClassifier.load(folder)      # with more than one GPU visible: the folder, not the weights
    probabilities = head.predict(X_test)   # one worker per GPU, each with its copy of the model
    probabilities = head.predict_in_workers(X_test, workers=2)    # on a CPU: two worker processes

On Kaggle's 2 x T4 a 4-bit 9B model fits each GPU whole, so the fastest split is two copies, each
predicting half of the rows, not one model spread over both. The caller forms the batches exactly as one
process would (the classifier: rows sorted by token length, cut into inference_batch_size batches); they
are dealt to the workers in turn, so each batch is padded to the same shape and every row gets the same
numbers as in one process, in the caller's order. Each worker sees only its own GPU (CUDA_VISIBLE_DEVICES,
set before it imports torch) and loads the head from its folder.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def visible_gpus() -> int:
    """The GPUs this process may use (0 on a CPU machine)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _predict_batches(head_cls: Any, folder: str, X: pd.DataFrame, batches: list[np.ndarray], gpu: int | None
                     ) -> list[np.ndarray]:
    """In a worker: load the head on its one GPU (or the CPU) and predict each batch as it was formed."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # before torch is imported in this process
    head = head_cls.load(Path(folder))
    return [head.predict(X.iloc[batch]) for batch in batches]


def predict_on_devices(head_cls: Any, folder: Path, X: pd.DataFrame, batches: list[np.ndarray],
                       workers: int | None = None) -> np.ndarray:
    """Predictions of the head saved in `folder` (of class `head_cls`) for rows X, in X's order, from the
    row `batches` one process would predict; `workers` processes (default: one per visible GPU, at least one),
    worker k on GPU k when there are GPUs."""
    gpus = visible_gpus()
    workers = workers or max(gpus, 1)
    dealt = [part for part in (batches[k::workers] for k in range(workers)) if part]
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: CUDA cannot be forked
    with ProcessPoolExecutor(max_workers=max(len(dealt), 1), mp_context=context) as pool:
        futures = [pool.submit(_predict_batches, head_cls, str(folder), X, part, k % gpus if gpus else None)
                   for k, part in enumerate(dealt)]
        results = [future.result() for future in futures]
    out: np.ndarray | None = None
    for part, predictions in zip(dealt, results, strict=True):
        for batch, values in zip(part, predictions, strict=True):
            out = np.zeros((len(X), values.shape[1])) if out is None else out
            out[batch] = values
    return out if out is not None else np.zeros((0, 0))
