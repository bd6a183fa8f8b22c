"""The LLM classifier across worker processes (models/llm/devices.py: one per GPU; here, on the CPU, two),
and its soft targets (a teacher's distributions, row weights) for distillation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("peft", reason="the LLM heads need the `llm` extra (pip install -e '.[llm]')")

from submit.cv.recipe import load_recipe
from submit.kernel.plugins import get_competition
from submit.models.llm.classifier import LlmClassifier, soft_cross_entropy
from submit.models.llm.devices import predict_on_devices

from tests.test_llm import TINY, preference_sample


def test_two_workers_give_the_rows_of_one_process_in_the_callers_order(tmp_path):
    X, y, X_new = preference_sample(24)
    head = LlmClassifier(**{**TINY, "max_steps": 1, "inference_batch_size": 3}).fit(X, y)
    head.save(tmp_path / "m")
    rows = pd.concat([X_new, X.iloc[:9]], ignore_index=True)  # 17 rows of mixed lengths: 6 batches, dealt 3 + 3
    one = predict_on_devices(tmp_path / "m", rows, workers=1)
    two = predict_on_devices(tmp_path / "m", rows, workers=2)
    np.testing.assert_array_equal(two, one)
    np.testing.assert_allclose(one, head.predict(rows), atol=1e-5)  # and the in-memory head's batching agrees
    shuffled = rows.sample(frac=1.0, random_state=0)
    np.testing.assert_array_equal(predict_on_devices(tmp_path / "m", shuffled, workers=2),
                                  one[shuffled.index.to_numpy()])


def test_a_head_loaded_where_two_gpus_are_visible_predicts_in_two_workers(tmp_path, monkeypatch):
    """The path `submit predict` takes on Kaggle's 2 x T4, here with two CPU workers standing for the GPUs."""
    import submit.models.llm.devices as devices

    X, y, X_new = preference_sample(16)
    head = LlmClassifier(**{**TINY, "max_steps": 1}).fit(X, y)
    head.save(tmp_path / "m")
    monkeypatch.setattr(devices, "visible_gpus", lambda: 2)
    loaded = LlmClassifier.load(tmp_path / "m")
    assert loaded.split_folder_ == tmp_path / "m" and not hasattr(loaded, "model_")  # no copy in this process
    np.testing.assert_allclose(loaded.predict(X_new), head.predict(X_new), atol=1e-5)


def test_soft_cross_entropy_is_the_weighted_cross_entropy_of_the_targets():
    import torch

    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    outputs = type("Out", (), {"logits": logits})()
    hard = torch.tensor([0, 2, 1, 1])
    one_hot = torch.nn.functional.one_hot(hard, 3).float()
    ones = torch.ones(4, 1)
    expected = torch.nn.functional.cross_entropy(logits, hard)
    assert torch.allclose(soft_cross_entropy(outputs, torch.cat([one_hot, ones], dim=1)), expected)
    weights = torch.tensor([[2.0], [0.0], [1.0], [1.0]])
    per_row = torch.nn.functional.cross_entropy(logits, hard, reduction="none")
    weighted = (per_row * weights[:, 0]).sum() / weights.sum()
    assert torch.allclose(soft_cross_entropy(outputs, torch.cat([one_hot, weights], dim=1)), weighted)


def test_the_classifier_learns_from_distributions_and_row_weights():
    X, y, X_new = preference_sample(16)
    soft = 0.6 * y + 0.4 * 0.5  # a teacher's distributions, as distillation blends them
    weights = np.linspace(0.5, 1.5, len(y))
    head = LlmClassifier(**{**TINY, "max_steps": 2}).fit(X, soft, sample_weight=weights)
    assert np.isfinite(head.stats_["train_loss_last"])
    pred = head.predict(X_new)
    assert pred.shape == (len(X_new), 2) and np.allclose(pred.sum(axis=1), 1)


@pytest.mark.parametrize("competition", ["wsdm", "lmsys"])
def test_the_distillation_recipe_names_a_teacher_and_an_llm_student(competition):
    comp = get_competition(competition)
    recipe = load_recipe(comp, "gemma2-9b-distill", ["distill_from=qwen2.5-14b-qlora-0123456789"])
    teacher = load_recipe(comp, "qwen2.5-14b-qlora")
    assert recipe.head == teacher.head == "llm-classifier" and recipe.distill_alpha == 0.5
    assert recipe.folds == teacher.folds  # a teacher must share the student's folds
