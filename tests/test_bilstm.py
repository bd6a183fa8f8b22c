"""The Siamese BiLSTM head beyond the conformance suite: it learns, it needs torch only when used, its files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from submit.kernel.plugins import get_competition
from submit.models.bilstm import SiameseBilstm
from submit.models.registry import HEADS


@pytest.fixture(scope="module")
def wsdm():
    comp = get_competition("wsdm")
    data = comp.load(comp.sample_dir)
    return data.train, comp.targets(data, None)


def test_learns_the_sample_signal_better_than_chance(wsdm):
    X, y = wsdm
    # Better responses in the sample use markdown and the prompt's words: visible in the first 32 tokens.
    head = SiameseBilstm(epochs=4, max_len=32, learning_rate=5e-3, valid_fraction=0.0).fit(X.iloc[:400], y[:400])
    pred = head.predict(X.iloc[400:])
    accuracy = np.mean(pred.argmax(axis=1) == y[400:].argmax(axis=1))
    majority = max(y[400:].mean(axis=0))
    assert accuracy > majority + 0.05, (accuracy, majority)


def test_saved_files_are_safetensors_and_a_tokenizer(wsdm, tmp_path):
    X, y = wsdm
    SiameseBilstm(epochs=1).fit(X.iloc[:60], y[:60]).save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head.json", "model.safetensors", "tokenizer.json"]


def test_the_registry_works_without_torch_and_fit_says_how_to_install_it():
    code = """
import sys
sys.modules["torch"] = None  # as if PyTorch were not installed
from submit.models.registry import HEADS
cls = HEADS.get("bilstm")
assert cls.param_defaults()["layers"] == 3
import pandas as pd, numpy as np
X = pd.DataFrame({"prompt": ["p"], "response_a": ["a"], "response_b": ["b"]})
try:
    cls().fit(X, np.array([[1.0, 0.0]]))
except RuntimeError as err:
    print(err)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert "needs PyTorch: pip install torch==2.13.0" in out.stdout
    assert HEADS.get("bilstm") is SiameseBilstm
