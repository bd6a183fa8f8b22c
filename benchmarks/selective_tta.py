"""CV of a finished experiment under selective TTA budgets, from its stored per-view fold predictions.

    .venv/bin/python benchmarks/selective_tta.py wsdm runs/wsdm/bilstm-35abf015ea --data ../shared/data/wsdm

Each fold file keeps the plain and every view's prediction of every held-out row, and a head predicts a
row the same whatever else is in the batch (a conformance check), so the score with budget b is exactly
what `--set tta_budget=b` would give, without refitting. Prints a Markdown table: budget, share of extra
view predictions, CV.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from submit.cv.experiment import PLAIN, Experiment
from submit.cv.runner import fold_scores, tta_rows
from submit.kernel.plugins import get_competition

BUDGETS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("competition")
    parser.add_argument("experiment", type=Path, help="the experiment's folder under runs/")
    parser.add_argument("--data", type=Path, required=True, help="the data the experiment ran on")
    args = parser.parse_args()
    comp = get_competition(args.competition)
    experiment = Experiment(args.experiment)
    recipe = experiment.read_recipe()
    dataset = comp.load(args.data, **recipe["data"])
    y = comp.targets(dataset, recipe["embedder"])
    folds = [experiment.read_fold(k, comp.task.prediction) for k in range(recipe["folds"]["n_splits"])]
    assignment = np.zeros(len(y), dtype=int)
    for k, fold in enumerate(folds):
        assignment[fold.valid_idx] = k

    print(f"| tta_budget | rows given {', '.join(recipe['tta'])} | CV {comp.metric.name} |\n|---|---|---|")
    for budget in BUDGETS:
        oof = np.zeros((len(y), folds[0].valid[PLAIN].shape[1]))
        for fold in folds:
            plain = fold.valid[PLAIN]
            merged = plain.copy()
            rows = tta_rows(comp.task, plain, budget) if budget > 0 else np.arange(0)
            merged[rows] = comp.task.combine([plain[rows], *(fold.valid[v][rows] for v in recipe["tta"])])
            oof[fold.valid_idx] = merged
        scores = fold_scores(comp, y, oof, assignment, comp.fit_decision(y, oof))[comp.metric.name]
        print(f"| {budget:.1f} | {budget:.0%} | {np.mean(scores):.4f} |")


if __name__ == "__main__":
    main()
