"""The local CV leaderboard as a table, CSV, JSON or Markdown.

    print(render(store.leaderboard("lmsys"), "markdown"))
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from rich.table import Table

FORMATS = ("table", "csv", "json", "markdown")


def leaderboard_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{
        "rank": i, "experiment": r["id"], "recipe": r["recipe"], "head": r["head"], "metric": r["metric"],
        "cv_mean": r["cv_mean"], "cv_std": r["cv_std"], "cv_no_tta": r["cv_no_tta"],
        "folds": " ".join(f"{s:.4f}" for s in r["fold_scores"]),
        **r["other_scores"],
        "public": r.get("public_score"), "fit_s": round(r["fit_s"], 2), "predict_s": round(r["predict_s"], 2),
        "n_train": r["n_train"], "date": r["created"],
    } for i, r in enumerate(rows, start=1)])


def _num(value: Any, digits: int = 4) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def rich_table(rows: list[dict[str, Any]], competition: str) -> Table:
    direction = "higher is better" if rows and rows[0]["higher_is_better"] else "lower is better"
    metric = rows[0]["metric"] if rows else ""
    table = Table(title=f"{competition}: local CV leaderboard ({metric}, {direction})")
    for name, justify in [("#", "right"), ("experiment", "left"), ("head", "left"), ("CV", "right"),
                          ("no TTA", "right"), ("per fold", "left"), ("public", "right"),
                          ("fit s", "right"), ("predict s", "right"), ("date", "left")]:
        table.add_column(name, justify=justify)
    for i, r in enumerate(rows, start=1):
        table.add_row(str(i), r["id"], r["head"], f"{r['cv_mean']:.4f} ± {r['cv_std']:.4f}", _num(r["cv_no_tta"]),
                      " ".join(f"{s:.3f}" for s in r["fold_scores"]), _num(r.get("public_score")),
                      f"{r['fit_s']:.1f}", f"{r['predict_s']:.1f}", r["created"])
    return table


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    """csv, json or markdown text of the leaderboard (the rich table is drawn by the CLI)."""
    frame = leaderboard_frame(rows)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return json.dumps(frame.to_dict(orient="records"), indent=2, default=str)
    if fmt == "markdown":
        header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
        rounded = frame.round(4)  # markdown is for reading; csv and json keep full precision
        cells = rounded.astype(object).where(rounded.notna(), "")
        return header + "".join("| " + " | ".join(map(str, row)) + " |\n" for row in cells.itertuples(index=False))
    raise ValueError(f"unknown format '{fmt}'; known: {', '.join(FORMATS)}")
