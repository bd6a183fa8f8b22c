"""How much of a CV score is noise: bootstrap replicates of an experiment's out-of-fold score, and the paired
difference of two experiments on the same resamples.

    se = record_noise(experiment, competition, y, decided_oof, dataset.groups, folds_id)   # <experiment>/noise.json
    rows = with_noise(store.leaderboard("wsdm"), runs_dir)      # adds cv_se, and diff, diff_se, tied vs the leader

The replicates resample the out-of-fold rows with replacement, B times, from a fixed seed: whole groups where
the folds are grouped (rows sharing a prompt or a source row are not independent, so they are drawn
together), single rows otherwise. Each replicate is scored by the competition's own metric on the OOF
predictions after its decision step, so a metric that is no mean of rows (micro-F1) is resampled as itself.
The resamples depend only on the data's units, B and the seed, so every experiment on the same data and
folds draws the same B resamples: the difference of two experiments' replicates, one by one, is the paired
bootstrap of their difference, with nothing loaded again when the leaderboard is drawn.

An experiment is *tied* with the leader (the best experiment on the same data and folds) when the interval
diff ± Z·SE of their paired difference holds 0: the data cannot tell them apart.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from submit.cv.experiment import Experiment
from submit.kernel.competition import Competition

N_BOOT = 200  # replicates: the SE to about 5% of itself
MIN_BOOT = 50  # fewer only when even these would be slow: the SE to about 10%
BUDGET_S = 20.0  # CPU seconds an experiment spends on its replicates before it settles for fewer
SEED = 0
Z = 1.96  # a 95% interval


@dataclass(frozen=True)
class Units:
    """The resampling units of the OOF rows: `codes[i]` is row i's unit (its group, or the row itself)."""

    codes: np.ndarray
    grouped: bool

    @property
    def n_units(self) -> int:
        return int(self.codes.max()) + 1 if len(self.codes) else 0


def resampling_units(groups: np.ndarray | None, n_rows: int) -> Units:
    """Rows sharing a group are one unit; without groups each row is its own."""
    if groups is None:
        return Units(np.arange(n_rows), grouped=False)
    _, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    return Units(codes.ravel(), grouped=True)


def resamples(units: Units, n_boot: int = N_BOOT, seed: int = SEED) -> Iterator[np.ndarray]:
    """B row-index arrays: units drawn with replacement as many times as there are units, each drawn unit
    bringing all its rows (a row appears as often as its unit was drawn). Drawn one after another from the
    seed, so the first k resamples are the same whatever B is."""
    rng = np.random.default_rng(seed)
    rows = np.arange(len(units.codes))
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, units.n_units, units.n_units), minlength=units.n_units)
        yield np.repeat(rows, counts[units.codes])


def bootstrap_scores(score: Callable[[np.ndarray], float], units: Units, n_boot: int = N_BOOT, seed: int = SEED,
                     budget_s: float | None = None) -> np.ndarray:
    """The score of each resample; `score(idx)` scores the OOF rows idx (repeats included). `budget_s`: stop
    drawing once that many CPU seconds are spent and MIN_BOOT are done (a slow corpus metric)."""
    start, out = time.process_time(), []
    for idx in resamples(units, n_boot, seed):
        out.append(score(idx))
        if budget_s is not None and len(out) >= MIN_BOOT and time.process_time() - start > budget_s:
            break
    return np.array(out, dtype=np.float64)


def noise_key(folds_id: str, units: Units, seed: int = SEED) -> str:
    """Names the resamples: two experiments with the same key drew the same resamples (the first k of them
    whatever their B), so their replicates pair up."""
    digest = hashlib.sha256(units.codes.astype(np.int64).tobytes()).hexdigest()[:10]
    return f"{folds_id}|{'groups' if units.grouped else 'rows'}-{digest}|s{seed}"


def record_noise(experiment: Experiment, competition: Competition, y: np.ndarray, decided: np.ndarray,
                 groups: np.ndarray | None, folds_id: str) -> float:
    """Resample the decided OOF predictions, score them by the competition's metric and write the experiment's
    noise.json; `groups`: the data's groups, used where the folds are grouped. Returns the CV's SE."""
    units = resampling_units(groups if folds_id.startswith("grouped-") else None, len(y))
    metric = competition.metric
    if metric.rows is not None:  # a sum of per-row statistics: each resample is a sum away
        stats = metric.rows(y, decided)
        scores = bootstrap_scores(lambda idx: metric.from_rows(stats[idx].sum(axis=0), len(idx)), units)
    else:
        scores = bootstrap_scores(lambda idx: metric(y[idx], decided[idx]), units, budget_s=BUDGET_S)
    experiment.write_noise({"key": noise_key(folds_id, units), "se": float(np.std(scores, ddof=1)),
                            "replicates": [float(s) for s in scores]})
    return float(np.std(scores, ddof=1))


def read_noise(folder: Path) -> dict[str, Any] | None:
    """An experiment's noise.json, or None where there is none (older runs) or it cannot be read."""
    try:
        payload = Experiment(Path(folder)).read_noise()
        return {"key": str(payload["key"]), "replicates": np.asarray(payload["replicates"], dtype=np.float64)}
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Comparison:
    diff: float  # this experiment's CV minus the leader's (in the metric's units; the sign as the metric's)
    se: float  # the standard error of that difference, over paired resamples
    tied: bool  # the interval diff ± Z·se holds 0


def compare(replicates: np.ndarray, leader: np.ndarray, diff: float) -> Comparison:
    """The paired difference from the leader: `diff` the point estimate (CV means), its SE from the replicates."""
    se = float(np.std(replicates - leader, ddof=1))
    return Comparison(diff, se, abs(diff) <= Z * se)


def _folder(row: dict[str, Any], runs_dir: Path | None) -> Path:
    beside = Experiment.at(runs_dir, row["competition"], row["id"]).dir if runs_dir is not None else None
    return beside if beside is not None and beside.is_dir() else Path(row["path"])


def with_noise(rows: list[dict[str, Any]], runs_dir: Path | None = None) -> list[dict[str, Any]]:
    """Leaderboard rows (best first) with `cv_se`, and against the leader of their data and folds `diff`,
    `diff_se`, `tied` (None where the experiment has no noise.json) and `leader` (that leader's id)."""
    out, leaders = [], {}
    for row in rows:
        noise = read_noise(_folder(row, runs_dir))
        added = {"cv_se": None, "diff": None, "diff_se": None, "tied": None, "leader": None}
        if noise is not None:
            added["cv_se"] = float(np.std(noise["replicates"], ddof=1))
            leader, theirs = leaders.setdefault(noise["key"], (row, noise["replicates"]))
            n = min(len(theirs), len(noise["replicates"]))  # the resamples both drew
            c = compare(noise["replicates"][:n], theirs[:n], row["cv_mean"] - leader["cv_mean"])
            added |= {"diff": c.diff, "diff_se": c.se, "tied": c.tied, "leader": leader["id"]}
        out.append({**row, **added})
    return out
