"""The Experiment module (cv/experiment.py): the one owner of an experiment's folder, its fold files, record,
summary and uploads; experiments written before it existed still read."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from submit.cv.experiment import (
    PLAIN,
    ArtifactError,
    Experiment,
    FoldOutput,
    FoldResult,
    Record,
    Upload,
    damage,
    experiments,
    pack_fold,
    read_fold,
    write_fold,
)
from submit.cv.store import Store, rebuild_store
from submit.kernel.tasks import GENERATION, PREFERENCE

ROOT = Path(__file__).resolve().parents[1]


def test_a_fold_result_round_trips_through_its_file(tmp_path):
    valid = {PLAIN: np.array([[0.2, 0.8], [0.6, 0.4]]), "swap": np.array([[0.3, 0.7], [0.5, 0.5]])}
    result = FoldResult(np.array([3, 7]), valid, {PLAIN: np.array([[0.9, 0.1]])}, {"tokens_per_s": 12.5}, 1.25, 0.5)
    write_fold(FoldOutput(0, tmp_path / "folds" / "0", pack_fold(result, PREFERENCE.prediction), {"head.json": b"{}"}))
    back = read_fold(tmp_path / "folds" / "0", PREFERENCE.prediction)
    np.testing.assert_array_equal(back.valid_idx, [3, 7])
    assert back.valid.keys() == valid.keys() and back.test.keys() == {PLAIN}
    np.testing.assert_array_equal(back.valid["swap"], valid["swap"])
    assert (back.stats, back.fit_s, back.predict_s) == ({"tokens_per_s": 12.5}, 1.25, 0.5)
    assert damage(tmp_path / "folds" / "0") is None  # sealed as written


def test_a_text_fold_keeps_its_strings(tmp_path):
    texts = np.array(["a summary", "another, longer one"], dtype=object)
    result = FoldResult(np.array([0, 1]), {PLAIN: texts}, {})
    write_fold(FoldOutput(0, tmp_path, pack_fold(result, GENERATION.prediction), {}))
    np.testing.assert_array_equal(read_fold(tmp_path, GENERATION.prediction).valid[PLAIN], texts)


def test_a_fold_file_written_before_the_experiment_module_still_reads(tmp_path):
    """result.npz as the runner wrote it by hand before: the same keys, so old runs keep their folds."""
    np.savez(tmp_path / "result.npz", valid_idx=np.array([1, 2]), fit_s=np.array(0.5), predict_s=np.array(0.25),
             **{"stat__loss": np.array(0.7), "valid__plain": np.array([[1.0, 0.0], [0.0, 1.0]]),
                "test__plain": np.array([[0.5, 0.5]])})
    assert damage(tmp_path) is None  # no manifest yet: read whole, then sealed
    fold = read_fold(tmp_path, PREFERENCE.prediction)
    assert fold.stats == {"loss": 0.7} and fold.test[PLAIN].shape == (1, 2) and fold.fit_s == 0.5


def test_a_record_reads_back_from_a_summary_written_before_records_had_learned_from(tmp_path):
    exp = Experiment.at(tmp_path, "wsdm", "default-0123456789")
    exp.create()
    row = {"id": exp.id, "competition": "wsdm", "kind": "ensemble", "recipe": "ensemble", "head": "weighted",
           "metric": "accuracy", "higher_is_better": 1, "cv_mean": 0.6, "cv_std": 0.01, "cv_no_tta": None,
           "fold_scores": [0.6], "other_scores": {}, "fit_s": 1.0, "predict_s": 0.0, "n_train": 10,
           "fingerprint": "f", "folds_id": "k", "git_commit": None, "path": "/elsewhere", "created": "2026-01-01"}
    (exp.dir / "scores.json").write_text(json.dumps({"experiment": exp.id, "leaderboard": row}))
    record = exp.read_record()
    assert record.learned_from is None and record.path == str(exp.dir)  # where it is now, not where it was
    assert record.row() == {**row, "path": str(exp.dir), "learned_from": None}
    assert [e.id for e in experiments(tmp_path)] == [exp.id]


def a_record(exp: Experiment) -> Record:
    return Record(exp.id, "wsdm", "model", "x", "prior", "log_loss", 0, 0.69, 0.0, None, [0.69], {}, 1.0, 0.1, 5,
                  "f", "k", None, str(exp.dir), "2026-01-01 00:00:00")


def test_the_summary_holds_the_record_and_the_runs_details(tmp_path):
    exp = Experiment(tmp_path / "wsdm" / "x-1")
    exp.create()
    exp.write_summary(a_record(exp), decision={"threshold": 0.5})
    assert exp.read_summary("decision", "cv_mean")["higher_is_better"] is False
    assert exp.read_record() == a_record(exp)


def test_rebuild_records_the_whole_folders_and_names_the_others(tmp_path):
    whole, old, damaged = (Experiment.at(tmp_path, "wsdm", name) for name in ("a-1", "b-2", "c-3"))
    for exp in (whole, old, damaged):
        exp.create()
    whole.write_summary(a_record(whole))
    (old.dir / "scores.json").write_text(json.dumps({"experiment": old.id, "cv_mean": 0.7}))  # before rows were kept
    (damaged.dir / "scores.json").write_text('{"experiment": "c-3", "leaderboard": {"id": "c-3"}}')  # fields lost
    recorded, skipped, moved = rebuild_store(tmp_path)
    assert (recorded, moved) == (1, None)
    assert [s.split(":")[0] for s in skipped] == [str(old.dir / "scores.json"), str(damaged.dir / "scores.json")]
    assert all("submit wsdm --recipe" in s for s in skipped)  # what rewrites them
    assert [r["id"] for r in Store(tmp_path / "leaderboard.sqlite").leaderboard("wsdm")] == [whole.id]


def test_uploads_keep_their_order_and_take_the_hosts_verdict(tmp_path):
    exp = Experiment(tmp_path / "x-1")
    first = Upload("x-1", "wsdm", "s.csv", "2026-01-01 00:00:00", message="one", host_ref="42", status="pending")
    second = dataclasses.replace(first, message="two", host_ref=None, status="submitted")
    exp.record_upload(first)
    exp.record_upload(second)
    assert exp.update_upload("42", "complete", 0.7, None) and not exp.update_upload("43", "complete", 0.1, None)
    assert [(u.message, u.status, u.public_score) for u in exp.uploads()] == \
        [("one", "complete", 0.7), ("two", "submitted", None)]
    next((exp.dir / "uploads").glob("0000-*.json")).write_text("{not json")
    with pytest.raises(ArtifactError, match=r"0000-.*damaged"):
        exp.uploads()


def test_only_the_experiment_module_spells_the_fold_files():
    """The fold-file keys and the folds folder are spelled in cv/experiment.py alone (strings in the code, not
    prose in docstrings)."""
    spelled = []
    for folder in ("cv", "ensembles", "submit", "models"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "cv" / "experiment.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                        any(k in node.value for k in ("valid__", "test__", "stat__", "result.npz", "manifest.json")):
                    spelled.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert spelled == []
