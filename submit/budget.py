"""How long things take: a code competition's notebook on the host (the predict time of a row, measured here,
times the host's test rows, times the hardware ratio the competition states (`notebook_hardware`); and whether
that passes the competition's time limit), and a recipe's CV run here, before it starts (run_estimate: what
presets plan with).

    estimate = notebook_estimate(competition, folder, dataset, source="data/lmsys")
    estimate.message()          # "about 1 h 10 min for 25,000 test rows on Kaggle (...); the limit is 9 h"
    estimate.over_limit
    run_estimate("ridge-map", n_rows=968, earlier=[(58.3, 968)])   # seconds of a cold 5-fold run

The measure: up to MEASURE_ROWS rows (the data's test rows, or its training rows where the test file is small:
the same kind of text) through every fold head and test-time view of the experiment, with an empty content
cache, so embedding is paid as the notebook pays it. CPU seconds of this process, not wall time: this
machine is shared. One row goes through first, so loading the heads and the encoder is not counted per row.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from submit.kernel.competition import AS_FAST_AS_HERE, Competition, Dataset
from submit.models.cache import using_cache_dir
from submit.predict import predict_experiment

MEASURE_ROWS = 200


@dataclass(frozen=True)
class NotebookEstimate:
    seconds_per_row: float  # CPU seconds here for one row: every fold and view, embedding included
    rows_measured: int
    source: str  # where the measured rows came from
    host: str
    host_rows: int
    ratio: float  # host seconds for a CPU second here: the competition's notebook_hardware
    limit_h: float | None
    hardware: str = AS_FAST_AS_HERE.why  # why that ratio

    @property
    def seconds(self) -> float:
        return self.seconds_per_row * self.host_rows * self.ratio

    @property
    def over_limit(self) -> bool:
        return self.limit_h is not None and self.seconds > self.limit_h * 3600

    def message(self) -> str:
        limit = f"; the limit is {self.limit_h:g} h" if self.limit_h is not None else ""
        return (f"about {_duration(self.seconds)} for {self.host_rows:,} test rows on {self.host.capitalize()} "
                f"({self.seconds_per_row:.3f} CPU s a row, measured here on {self.rows_measured} rows of "
                f"{self.source}, every fold and the embedding included; x {self.ratio:g}: "
                f"{self.hardware}; plus a few minutes to install and start){limit}")


# A cold 5-fold CV run of a head (embedding and features included), CPU seconds per 1,000 training rows on 2
# cores, measured on the real rows in ../shared/data (BENCHMARKS.md, "Defaults worth running"; the slowest
# recipe of each head): the estimate of a recipe that has not run on the competition yet. On a busy machine the
# wall time is longer. Heads not listed (bilstm, the LLM heads) take UNKNOWN_HEAD_S_PER_1K.
HEAD_SECONDS_PER_1K = {
    "lgbm-pairwise": 25.0, "linear-pairwise": 35.0, "ridge-map": 70.0, "retrieval": 30.0, "tfidf-ovr": 16.0,
    "tag-rerank": 65.0, "lead": 60.0, "longer-wins": 2.0, "prior": 1.0,
    # Described tables (submit init): the text-heavy ends of the five public datasets (skeptics-topic: about
    # 23 s a 1,000 rows with its nested TF-IDF models; 50,000 rows of 20 columns: 1.5).
    "tabular-lgbm": 25.0, "tfidf-linear": 10.0,
}
UNKNOWN_HEAD_S_PER_1K = 120.0
RUN_FIXED_S = 3.0  # any run: the folds file, the targets, the results and their noise


def run_estimate(head: str, n_rows: int, earlier: list[tuple[float, int]] = ()) -> float:
    """Seconds a cold CV run of a recipe takes on n_rows: from its own earlier runs on this competition
    ((seconds, training rows) each, scaled to n_rows; the slowest, as a run that reused folds was quicker
    than a cold one), else from its head's measured rate."""
    if earlier:
        return RUN_FIXED_S + max(seconds * n_rows / max(rows, 1) for seconds, rows in earlier)
    return RUN_FIXED_S + HEAD_SECONDS_PER_1K.get(head, UNKNOWN_HEAD_S_PER_1K) * n_rows / 1000


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{max(minutes, 1)} min"


def notebook_estimate(competition: Competition, folder: Path, dataset: Dataset, source: str,
                      measure_rows: int = MEASURE_ROWS) -> NotebookEstimate:
    """Time the experiment in `folder` on rows of `dataset` and scale it to the host's test size."""
    rows = dataset.test if len(dataset.test) >= measure_rows // 4 else dataset.train
    rows = rows.sample(min(len(rows), measure_rows + 1), random_state=0) if len(rows) > measure_rows else rows
    with tempfile.TemporaryDirectory(prefix="submit-budget-") as empty, using_cache_dir(Path(empty)):
        predict_experiment(competition, folder, rows.iloc[:1])  # loads the heads and the encoder
        timed = rows.iloc[1:] if len(rows) > 1 else rows
        start = time.process_time()
        predict_experiment(competition, folder, timed)
        cpu = time.process_time() - start
    hardware = competition.notebook_hardware
    return NotebookEstimate(cpu / len(timed), len(timed), source, competition.host,
                            competition.host_test_rows or len(dataset.test), hardware.ratio,
                            competition.notebook_limit_h, hardware.why)
