"""The curation report as rich tables, for the terminal.

    console.print(report_renderable(json.loads(Path(".../curation.json").read_text())))
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if v is not None and k != "entities")


def report_renderable(report: dict[str, Any]) -> RenderableType:
    """Steps with what each did, rows in and out, examples of each drop, and the notes."""
    rows_in, rows_out = report["rows_in"], report["rows_out"]
    steps = Table(title=f"Curation of {', '.join(report['columns'])}: {rows_in:,} training rows in, "
                        f"{rows_out:,} kept; {report['test_rows']:,} test rows transformed, never dropped",
                  title_justify="left")
    steps.add_column("step", no_wrap=True)
    steps.add_column("parameters", overflow="fold")
    steps.add_column("effect")
    for step in report["steps"]:
        name = step["name"]
        if step["kind"] == "filter":
            effect = f"dropped {report['dropped'][name]:,} training rows"
        elif name == "pii":
            found = report["pii_entities"]
            effect = "replaced " + ", ".join(f"{k} {v:,}" for k, v in found.items()) if found else "found nothing"
        else:
            effect = f"changed {report['changed_rows'][name]:,} rows"
        steps.add_row(name, _params(step["params"]), effect)
    parts: list[RenderableType] = [steps]

    shown = [(name, ex) for name, examples in report["examples"].items() for ex in examples]
    if shown:
        examples = Table(title="Examples of dropped rows", title_justify="left")
        for column in ("filter", "id", "value", "text (after the transforms)"):
            examples.add_column(column)
        for name, ex in shown:
            value = "" if ex["value"] is None else f"{ex['value']:.3g}"
            examples.add_row(name, ex["id"], value, Text(ex["text"]))
        parts.append(examples)
    for note in report["notes"]:
        parts.append(Text(f"note: {note}", style="yellow"))
    total = rows_in + report["test_rows"]
    parts.append(Text(f"{report['computed_rows']:,} of {total:,} rows curated now, the others read from the cache; "
                      f"{report['seconds']:.1f} s"))
    return Group(*parts)
