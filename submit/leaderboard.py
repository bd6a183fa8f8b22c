"""The local CV leaderboard as a table, CSV, JSON or Markdown.

    print(render(with_noise(store.leaderboard("lmsys"), runs_dir), "markdown"))

With the rows' noise (cv/noise.py): each experiment's CV standard error (`cv_se`, a bootstrap over its
out-of-fold rows), its paired difference from the leader of its data and folds (`diff`, `diff_se`), and
`vs_leader`: "leader", "tied" (the data cannot tell it from the leader: diff ± 1.96 SE holds 0) or
"worse"; empty where no noise was recorded (runs made before it was).
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
        "cv_mean": r["cv_mean"], "cv_std": r["cv_std"], "cv_se": r.get("cv_se"), "diff": r.get("diff"),
        "diff_se": r.get("diff_se"), "vs_leader": vs_leader(r), "cv_no_tta": r["cv_no_tta"],
        "folds": " ".join(f"{s:.4f}" for s in r["fold_scores"]),
        **r["other_scores"],
        "public": r.get("public_score"), "fit_s": round(r["fit_s"], 2), "predict_s": round(r["predict_s"], 2),
        "n_train": r["n_train"], "date": r["created"], "learned_from": learned_from(r),
    } for i, r in enumerate(rows, start=1)])


def learned_from(row: dict[str, Any]) -> str:
    """What an experiment learnt from besides its labels: 'distill ID, pseudo ID' ('' for nothing)."""
    return ", ".join(f"{how} {source}" for how, source in (row.get("learned_from") or {}).items())


def vs_leader(row: dict[str, Any]) -> str:
    """'leader', 'tied' (within noise of the leader), 'worse', or '' where the row has no recorded noise."""
    if row.get("tied") is None:
        return ""
    return "leader" if row["leader"] == row["id"] else "tied" if row["tied"] else "worse"


def _vs_leader_cell(row: dict[str, Any]) -> str:
    mark = vs_leader(row)
    if mark in ("", "leader"):
        return mark or "–"
    return f"{row['diff']:+.4f} ± {row['diff_se']:.4f}" + (" ≈" if mark == "tied" else "")


def _num(value: Any, digits: int = 4) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}f}"


# The table's columns, in order; the first three are always shown, whole (the id is what predict, ensemble
# and upload take), and the others, in the order of PRIORITY, only while they fit the terminal's width.
_COLUMNS = (("#", "right"), ("experiment", "left"), ("head", "left"), ("CV", "right"), ("SE", "right"),
            ("vs leader", "right"), ("no TTA", "right"),
            ("per fold", "left"), ("public", "right"), ("learned from", "left"), ("fit s", "right"),
            ("predict s", "right"), ("date", "left"))
ESSENTIAL = ("#", "experiment", "CV")
PRIORITY = ("vs leader", "SE", "head", "learned from", "public", "no TTA", "date", "per fold", "fit s", "predict s")


def rich_table(rows: list[dict[str, Any]], competition: str, width: int | None = None) -> Table:
    """The leaderboard as a rich table; `width`: the terminal's, which decides the optional columns shown."""
    direction = "higher is better" if rows and rows[0]["higher_is_better"] else "lower is better"
    metric = rows[0]["metric"] if rows else ""
    cells = [{"#": str(i), "experiment": r["id"], "head": r["head"], "CV": f"{r['cv_mean']:.4f} ± {r['cv_std']:.4f}",
              "SE": _num(r.get("cv_se")), "vs leader": _vs_leader_cell(r), "no TTA": _num(r["cv_no_tta"]),
              "per fold": " ".join(f"{s:.3f}" for s in r["fold_scores"]),
              "public": _num(r.get("public_score")), "learned from": learned_from(r) or "–",
              "fit s": f"{r['fit_s']:.1f}",
              "predict s": f"{r['predict_s']:.1f}", "date": r["created"]} for i, r in enumerate(rows, start=1)]
    natural = {name: max([len(name), *(len(c[name]) for c in cells)]) for name, _ in _COLUMNS}
    shown, used = set(ESSENTIAL), 1 + sum(natural[n] + 3 for n in ESSENTIAL)  # each column: borders + padding
    for name in PRIORITY:
        if width is None or used + natural[name] + 3 <= width:
            shown.add(name)
            used += natural[name] + 3
    table = Table(title=f"{competition}: local CV leaderboard ({metric}, {direction})")
    columns = [(name, justify) for name, justify in _COLUMNS if name in shown]
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True, min_width=natural[name] if name in ESSENTIAL else None)
    for c in cells:
        table.add_row(*(c[name] for name, _ in columns))
    notes = []
    if "vs leader" in shown and any(vs_leader(r) == "tied" for r in rows):
        notes.append("≈: within noise of the leader (paired bootstrap, diff ± 1.96 SE holds 0)")
    if len(columns) < len(_COLUMNS):
        notes.append("more columns in a wider terminal, or with --format csv | json | markdown")
    table.caption = "\n".join(notes) or None
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
