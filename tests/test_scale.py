"""What makes real competition sizes workable: stages a person can follow and a run records, a cache that keeps
finished chunks of an interrupted computation, rows spread over worker processes, a data fingerprint that
does not copy a wide label matrix into text. Speed itself is measured in benchmarks/bench_scale.py."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd

from competitions.base import Dataset


def test_fingerprint_of_a_wide_label_matrix_does_not_copy_it_into_text():
    y = np.zeros((2000, 600), dtype=np.float32)
    y[np.arange(2000), np.arange(2000) % 600] = 1.0
    frame = pd.DataFrame({"id": np.arange(2000).astype(str), "title": "a title"})
    data = Dataset(train=frame, test=frame.iloc[:0], y=y, sample_submission=None, stratify=y)
    tracemalloc.start()
    first = data.fingerprint()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3 * y.nbytes  # as text, each cell took 128 bytes: 32 times the matrix
    changed = y.copy()
    changed[5, 7] = 1.0
    assert Dataset(train=frame, test=frame.iloc[:0], y=changed, sample_submission=None).fingerprint() != first
    assert Dataset(train=frame, test=frame.iloc[:0], y=y.copy(), sample_submission=None).fingerprint() == first
