"""The local CV leaderboard as a table, CSV, JSON or Markdown, and as a plot of each experiment's folds.

    print(render(with_noise(store.leaderboard("lmsys"), runs_dir), "markdown"))
    plot_folds(with_noise(store.leaderboard("lmsys"), runs_dir), Path("cv.png"), "lmsys")

With the rows' noise (cv/noise.py): each experiment's CV standard error (`cv_se`, a bootstrap over its
out-of-fold rows), its paired difference from the leader of its data and folds (`diff`, `diff_se`), and
`vs_leader`: "leader", "tied" (the data cannot tell it from the leader: diff ± 1.96 SE holds 0) or
"worse"; empty where no noise was recorded (runs made before it was).

pandas, rich's table and matplotlib are imported where they are used: `submit --help` imports this module.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

FORMATS = ("table", "csv", "json", "markdown")
SECONDS = ("fit_s", "predict_s")  # shown to a tenth of a second, as in the table; scores to 4 decimals


def leaderboard_frame(rows: list[dict[str, Any]], *, folds_as_list: bool = False) -> pd.DataFrame:
    """One row per experiment; `folds`: the per-fold scores, as a list or (for CSV) one space-separated cell."""
    import pandas as pd

    return pd.DataFrame([{
        "rank": i, "experiment": r["id"], "recipe": r["recipe"], "head": r["head"], "metric": r["metric"],
        "cv_mean": r["cv_mean"], "cv_std": r["cv_std"], "cv_se": r.get("cv_se"), "diff": r.get("diff"),
        "diff_se": r.get("diff_se"), "vs_leader": vs_leader(r), "cv_no_tta": r["cv_no_tta"],
        "folds": list(r["fold_scores"]) if folds_as_list else " ".join(f"{s:.4f}" for s in r["fold_scores"]),
        **r["other_scores"],
        "public": r.get("public_score"), "fit_s": round(r["fit_s"], 2), "predict_s": round(r["predict_s"], 2),
        "n_train": r["n_train"], "date": r["created"], "learned_from": learned_from(r),
    } for i, r in enumerate(rows, start=1)])


def learned_from(row: dict[str, Any]) -> str:
    """What an experiment learnt from besides its labels: 'distill ID, pseudo ID' ('' for nothing)."""
    return ", ".join(f"{how} {source}" for how, source in (row.get("learned_from") or {}).items())


def _interval(row: dict[str, Any]) -> float:
    """Half the 95% interval of a row's CV: 1.96 bootstrap SE where recorded, else t over the folds."""
    from scipy import stats

    if not _missing(row.get("cv_se")):
        return 1.96 * float(row["cv_se"])
    scores = row["fold_scores"]
    n = len(scores)
    return stats.t.ppf(0.975, n - 1) * statistics.stdev(scores) / math.sqrt(n) if n > 1 else 0.0


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


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
    return "–" if _missing(value) else f"{value:.{digits}f}"


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
    from rich.table import Table

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


def _markdown_cell(column: str, value: Any) -> str:
    """A cell as the table shows it: scores to 4 decimals (0.0400, not 0.04), seconds to one, nothing for none."""
    if _missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:.1f}" if column in SECONDS else f"{value:.4f}"
    return str(value)


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    """csv, json or markdown text of the leaderboard (the rich table is drawn by the CLI). csv and json keep
    full precision; in json, `folds` is a list of numbers."""
    if fmt not in FORMATS or fmt == "table":
        raise ValueError(f"unknown format '{fmt}'; known: {', '.join(f for f in FORMATS if f != 'table')}")
    frame = leaderboard_frame(rows, folds_as_list=fmt == "json")
    if fmt == "csv":
        return frame.to_csv(index=False)
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    if fmt == "json":
        return json.dumps(records, indent=2, default=str)
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    return header + "".join("| " + " | ".join(_markdown_cell(c, v) for c, v in r.items()) + " |\n" for r in records)


def plot_folds(rows: list[dict[str, Any]], path: Path, competition: str) -> Path:
    """A PNG of each experiment's CV: its per-fold scores as points, their mean with a 95% interval (from the
    bootstrap SE where the run recorded its noise, else a t interval over the folds), best first, orange where
    the data cannot tell it from the leader, and its public score where one is recorded (`--sync`); written
    atomically. Needs no host: local CV alone."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt

    from submit.cv.io import atomic_write

    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * len(rows)))
    for y, row in enumerate(rows):
        scores = row["fold_scores"]
        near = vs_leader(row) in ("leader", "tied")
        ax.errorbar(row["cv_mean"], y, xerr=_interval(row), fmt="o", capsize=4,
                    color="tab:orange" if near else "tab:blue")
        ax.scatter(scores, [y] * len(scores), s=12, color="tab:gray", alpha=0.7, zorder=3)
        if not _missing(row.get("public_score")):
            ax.scatter([row["public_score"]], [y], marker="x", s=40, color="tab:red", zorder=4)
    ax.set_yticks(range(len(rows)), [r["id"] for r in rows])
    ax.invert_yaxis()  # best at the top, as in the table
    direction = "higher is better" if rows[0]["higher_is_better"] else "lower is better"
    ax.set_xlabel(f"{rows[0]['metric']} ({direction}): folds (grey), CV mean with 95% interval (orange: the "
                  "leader or tied with it), public (red x)")
    ax.set_title(f"{competition}: local CV per fold")
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return Path(path)
