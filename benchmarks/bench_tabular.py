"""Described competitions measured: the default recipe against the notebook baseline (and AutoGluon) on the same
folds, and the cost of `submit init` and of the default head as rows grow.

    python benchmarks/tabular_datasets.py --out /tmp/tab                       # the five datasets
    python benchmarks/bench_tabular.py compare /tmp/tab --runs /tmp/tab-runs [--autogluon /tmp/ag/bin/python]
    python benchmarks/bench_tabular.py scale /tmp/scale --rows 10000 50000 200000

compare: for each folder holding train/test/sample_submission, `submit init` (with the metric of
tabular_datasets.METRICS), then `submit NAME --recipe R` for the default, linear and baseline recipes (5-fold CV on
the shared folds); with --autogluon, AutoGluon-Tabular on the same folds (benchmarks/autogluon_oof.py), its
out-of-fold predictions scored per fold as the harness scores its own (the same metric and decision step).
scale: a synthetic binary table of N rows x 20 columns (12 numbers, 6 categoricals, a date, one free-text column)
with a learnable signal; `submit init` and `submit NAME` timed at each N.

Each command runs in its own process: CPU seconds (user + system) and peak memory (max RSS) are that process's.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tabular_datasets import METRICS

SUBMIT = [sys.executable, "-m", "submit"]


def measured(command: list[str], env: dict[str, str]) -> tuple[str, float, float, float]:
    """(stdout+stderr, CPU s, wall s, peak MB) of one command in its own process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    text = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{text}")
    return text, usage.ru_utime + usage.ru_stime, time.perf_counter() - start, usage.ru_maxrss / 1024


def cv_of(text: str) -> tuple[float, float]:
    match = re.search(r"CV \S+: ([-\d.]+) ± ([\d.]+)", text)
    return float(match.group(1)), float(match.group(2))


def autogluon_cv(name: str, folder: Path, runs: Path, python: str, time_limit: float) -> tuple[float, float, float]:
    """AutoGluon's per-fold scores on the harness's folds: (mean, std, CPU s)."""
    from submit.kernel.plugins import get_competition

    comp = get_competition(name)
    dataset = comp.load(folder)
    folds_file = next((runs / name / "folds").glob("*.parquet"))
    out = runs / name / "autogluon_oof.csv"
    script = Path(__file__).resolve().parent / "autogluon_oof.py"
    _, cpu, _, _ = measured([python, str(script), str(folder), str(folds_file), str(out), "--time-limit",
                             str(time_limit)], dict(os.environ))
    oof = pd.read_csv(out).to_numpy()
    folds = pd.read_parquet(folds_file)["fold"].to_numpy()
    decided = comp.decide(oof, comp.fit_decision(dataset.y, oof))
    scores = [comp.metric(dataset.y[folds == k], decided[folds == k]) for k in np.unique(folds)]
    return float(np.mean(scores)), float(np.std(scores)), cpu


def compare(data: Path, runs: Path, autogluon: str | None, time_limit: float, recipes: list[str]) -> None:
    env = dict(os.environ)
    print("| dataset | rows | metric | " + " | ".join(recipes) + (" | AutoGluon" if autogluon else "") + " |")
    print("|---|---|---|" + "---|" * (len(recipes) + bool(autogluon)))
    for folder in sorted(p for p in data.iterdir() if (p / "train.csv").is_file()):
        name = folder.name
        measured([*SUBMIT, "init", name, "--data", str(folder), "--metric", METRICS.get(name, "rmse")], env)
        cells = []
        for recipe in recipes:
            text, cpu, _, peak = measured([*SUBMIT, "run", name, "--recipe", recipe, "--runs", str(runs)], env)
            mean, std = cv_of(text)
            cells.append(f"{mean:.4f} ± {std:.4f} ({cpu:.0f} CPU s, {peak:.0f} MB)")
        if autogluon:
            mean, std, cpu = autogluon_cv(name, folder, runs, autogluon, time_limit)
            cells.append(f"{mean:.4f} ± {std:.4f} ({cpu:.0f} CPU s)")
        rows = len(pd.read_csv(folder / "train.csv", usecols=[0]))
        print(f"| {name} | {rows:,} | {METRICS.get(name, 'rmse')} | " + " | ".join(cells) + " |", flush=True)


GOOD = ["quality", "great", "fast", "excellent", "love", "fits", "always", "cheap", "support", "again"]
BAD = ["late", "broken", "refund", "slow", "awful", "hate", "never", "return", "ok", "box"]
WORDS = np.array([*GOOD, *BAD, "price", "delivery", "colour", "size", "order"])


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    """n rows x 20 feature columns with a binary target driven by numbers, a category and the text."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": np.arange(1, n + 1)})
    numbers = rng.normal(size=(n, 12))
    for j in range(12):
        frame[f"num{j}"] = numbers[:, j].round(4)
    for j in range(6):
        frame[f"cat{j}"] = np.array([f"c{j}_{v}" for v in range(5 + 10 * j)])[rng.integers(0, 5 + 10 * j, n)]
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    frame["day"] = days.strftime("%Y-%m-%d")
    sentiment = rng.integers(0, 2, n)
    good, bad = np.array(GOOD), np.array(BAD)
    frame["review"] = [" ".join(rng.choice(good if s else bad, 6)) + " " + " ".join(rng.choice(WORDS, 10))
                       for s in sentiment]
    logit = numbers[:, 0] - numbers[:, 1] + 1.5 * sentiment - 0.75 + (frame["cat0"] == "c0_1") * 0.5
    frame["target"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def scale(root: Path, rows: list[int]) -> None:
    env = dict(os.environ)
    print("| rows | submit init: CPU s, peak MB | default recipe (5 folds): CPU s, wall s, peak MB | CV accuracy |")
    print("|---|---|---|---|")
    for n in rows:
        folder = root / f"synthetic-{n}"
        folder.mkdir(parents=True, exist_ok=True)
        frame = synthetic(n + n // 4)
        train, test = frame.iloc[:n], frame.iloc[n:].drop(columns="target")
        train.to_csv(folder / "train.csv", index=False)
        test.to_csv(folder / "test.csv", index=False)
        pd.DataFrame({"id": test["id"], "target": 0}).to_csv(folder / "sample_submission.csv", index=False)
        name = f"synthetic-{n}"
        _, init_cpu, _, init_peak = measured([*SUBMIT, "init", name, "--data", str(folder)], env)
        text, cpu, wall, peak = measured([*SUBMIT, "run", name, "--runs", str(root / "runs")], env)
        print(f"| {n:,} | {init_cpu:.1f}, {init_peak:.0f} | {cpu:.0f}, {wall:.0f}, {peak:.0f} | "
              f"{cv_of(text)[0]:.4f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare")
    c.add_argument("data", type=Path)
    c.add_argument("--runs", type=Path, default=Path("runs"))
    c.add_argument("--autogluon", help="the Python of an environment with autogluon.tabular")
    c.add_argument("--time-limit", type=float, default=120, help="AutoGluon's time_limit per fit, seconds")
    c.add_argument("--recipes", nargs="+", default=["default", "linear", "baseline"])
    s = sub.add_parser("scale")
    s.add_argument("root", type=Path)
    s.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    args = parser.parse_args()
    if args.command == "compare":
        compare(args.data, args.runs, args.autogluon, args.time_limit, args.recipes)
    else:
        scale(args.root, args.rows)


if __name__ == "__main__":
    main()
