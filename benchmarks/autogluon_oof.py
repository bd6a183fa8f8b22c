"""AutoGluon-Tabular's out-of-fold predictions on a described competition's shared folds, for bench_tabular.py.

Run with the Python of a separate environment that has AutoGluon (it is not a dependency of the harness):

    python -m venv /tmp/ag && /tmp/ag/bin/pip install "autogluon.tabular[lightgbm]"
    /tmp/ag/bin/python benchmarks/autogluon_oof.py DATA_DIR FOLDS.parquet OUT.csv --time-limit 120

It reads DATA_DIR/competition.yaml and train.csv, fits `TabularPredictor(label).fit(train, time_limit=...)` on
each fold's training rows (one predictor per column for several targets, sharing the time limit) and writes
the held-out rows' predictions in the harness's arrays (regression values; class probabilities in the
description's class order; multilabel per-column probabilities). RMSLE targets are fitted as log1p, as the harness does.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from autogluon.tabular import TabularPredictor


def _label_text(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all() and (numbers == numbers.round()).all():
        return numbers.astype(np.int64).astype(str)
    return values.astype(str).str.strip()


def _fit_predict(train: pd.DataFrame, valid: pd.DataFrame, label: str, problem: str, time_limit: float
                 ) -> np.ndarray | pd.DataFrame:
    with tempfile.TemporaryDirectory() as folder:
        predictor = TabularPredictor(label, problem_type=problem, path=folder, verbosity=0)
        predictor.fit(train, time_limit=time_limit)
        if problem == "regression":
            return predictor.predict(valid).to_numpy()
        return predictor.predict_proba(valid)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("folds", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--time-limit", type=float, default=120)
    args = parser.parse_args()
    desc = yaml.safe_load((args.data / "competition.yaml").read_text())
    train = pd.read_csv(args.data / desc["files"]["train"])
    folds = pd.read_parquet(args.folds)["fold"].to_numpy()
    features = list(desc["features"])
    out = np.zeros((len(train), len(desc["classes"]) or len(desc["targets"])))
    limit = args.time_limit / len(desc["targets"])  # one predictor per target column share one fit's time
    for k in np.unique(folds):
        fit_rows, held = train[folds != k], train[folds == k][features]
        for j, target in enumerate(desc["targets"]):
            frame = fit_rows[[*features, target]].copy()
            if desc["task"] == "regression":
                if desc["metric"] == "rmsle":
                    frame[target] = np.log1p(frame[target].clip(lower=0))
                pred = _fit_predict(frame, held, target, "regression", limit)
                out[folds == k, j] = np.expm1(pred) if desc["metric"] == "rmsle" else pred
            elif desc["task"] == "multilabel":
                proba = _fit_predict(frame, held, target, "binary", limit)
                out[folds == k, j] = proba[1].to_numpy() if 1 in proba.columns else 0.0
            else:
                frame[target] = _label_text(frame[target])
                problem = "binary" if desc["task"] == "binary" else "multiclass"
                proba = _fit_predict(frame, held, target, problem, limit)
                proba.columns = [str(c) for c in proba.columns]
                out[folds == k] = proba.reindex(columns=desc["classes"], fill_value=0.0).to_numpy()
        print(f"fold {k + 1} done", flush=True)
    pd.DataFrame(out).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
