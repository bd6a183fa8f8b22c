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

from tests.test_llm import TINY, preference_sample


def loaded_for_two_gpus(folder, monkeypatch) -> LlmClassifier:
    """The head as `submit predict` loads it where two GPUs are visible: two CPU workers stand for them."""
    import submit.models.llm.devices as devices

    monkeypatch.setattr(devices, "visible_gpus", lambda: 2)
    loaded = LlmClassifier.load(folder)
    assert loaded.split_folder_ == folder and not hasattr(loaded, "model_")  # no copy in this process
    return loaded


def test_two_workers_give_the_rows_of_one_process_in_the_callers_order(tmp_path, monkeypatch):
    X, y, X_new = preference_sample(24)
    head = LlmClassifier(**{**TINY, "max_steps": 1, "inference_batch_size": 3}).fit(X, y)
    head.save(tmp_path / "m")
    loaded = loaded_for_two_gpus(tmp_path / "m", monkeypatch)
    rows = pd.concat([X_new, X.iloc[:9]], ignore_index=True)  # 17 rows of mixed lengths: 6 batches, dealt 3 + 3
    one = loaded.predict_in_workers(rows, workers=1)
    two = loaded.predict(rows)  # a worker per visible GPU: two
    np.testing.assert_array_equal(two, one)
    np.testing.assert_allclose(one, head.predict(rows), atol=1e-5)  # and the in-memory head agrees
    shuffled = rows.sample(frac=1.0, random_state=0)
    np.testing.assert_array_equal(loaded.predict_in_workers(shuffled, workers=2), one[shuffled.index.to_numpy()])


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
