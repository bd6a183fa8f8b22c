"""Code instructions (Evol-Instruct-Code style): an instruction -> the code (and prose) that carries it out.

    from submit.competitions.code_instruct import CodeInstruct
    data = CodeInstruct().load(Path("data/code-instruct"))        # or the real JSON-lines export, see below
    CodeInstruct().score(data.y[:5], predicted)                   # chrf, rougeLsum

Files in the host's layout: train.csv (id, instruction, output), test.csv (id, instruction),
sample_submission.csv (id, output); outputs are multi-line code in quoted cells (or .jsonl files). A
plain export with columns instruction and output (../shared/data/code_instruct/evol_instruct_code.jsonl)
loads as training rows only, for cross-validation:

    submit code-instruct --data ../shared/data/code_instruct --recipe retrieval

Scored with sacrebleu's corpus chrF (0-100; the leaderboard's) and rouge-score's ROUGE-Lsum F1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from submit.competitions._generation import TextToText, generation_task
from submit.kernel.text import CHRF, ROUGE_LSUM, chrf_similarity

N_SAMPLE_TRAIN, N_SAMPLE_TEST = 150, 30


class CodeInstruct(TextToText):
    name = "code-instruct"
    title = "Code instructions (Evol-Instruct-Code): instruction -> code"
    host = "local"
    task = generation_task(chrf_similarity)  # MBR selects by the leaderboard's metric
    metrics = (CHRF, ROUGE_LSUM)
    source_column, target_column = "instruction", "output"
    max_chars = 20_000  # real outputs run to about 6,700 characters

    def write_sample(self, out_dir: Path, seed: int = 0) -> None:
        """train.csv (150 instructions), test.csv (30) and sample_submission.csv; outputs are multi-line code."""
        rng = np.random.default_rng(seed)
        rows = [_task(rng, i) for i in range(N_SAMPLE_TRAIN + N_SAMPLE_TEST)]
        frame = pd.DataFrame(rows, columns=["id", "instruction", "output"])
        self.write_host_files(out_dir, frame.iloc[:N_SAMPLE_TRAIN],
                              frame.iloc[N_SAMPLE_TRAIN:][["id", "instruction"]], placeholder="pass")


# --- the synthetic sample ---------------------------------------------------------------------------------
# Templated tasks in three languages; the instruction names the operation, the function and its argument,
# and the output is the code that does it with those names. Similar instructions have similar code.

_PY_OPS = {  # phrase in the instruction: the body's expression over the argument
    "the sum of": "sum({arg})",
    "the largest value in": "max({arg})",
    "the smallest value in": "min({arg})",
    "the average of": "sum({arg}) / len({arg})",
    "the number of even values in": "sum(1 for x in {arg} if x % 2 == 0)",
    "a sorted copy of": "sorted({arg})",
    "the reverse of": "{arg}[::-1]",
    "the distinct values of": "list(dict.fromkeys({arg}))",
}
_JS_OPS = {
    "the sum of": "{arg}.reduce((a, b) => a + b, 0)",
    "the largest value in": "Math.max(...{arg})",
    "the number of even values in": "{arg}.filter((x) => x % 2 === 0).length",
    "the reverse of": "[...{arg}].reverse()",
}
_SQL_TABLES = {"employees": ("name", "salary", "department"), "orders": ("customer", "total", "status"),
               "products": ("title", "price", "category")}
_NAMES = ("compute", "solve", "process", "calc", "result_of", "helper")
_ARGS = ("numbers", "values", "items", "data", "scores")


def _python(rng: np.random.Generator, op: str, name: str, arg: str) -> tuple[str, str]:
    instruction = f"Write a Python function named {name} that takes a list called {arg} and returns {op} {arg}."
    if rng.random() < 0.3:
        instruction += "\nInclude a docstring."
        body = f'    """Return {op} {arg}."""\n    return {_PY_OPS[op].format(arg=arg)}'
    else:
        body = f"    return {_PY_OPS[op].format(arg=arg)}"
    return instruction, f"def {name}({arg}):\n{body}\n"


def _javascript(op: str, name: str, arg: str) -> tuple[str, str]:
    instruction = f"Create a JavaScript function {name} that returns {op} the array {arg}."
    return instruction, f"function {name}({arg}) {{\n  return {_JS_OPS[op].format(arg=arg)};\n}}\n"


def _sql(rng: np.random.Generator) -> tuple[str, str]:
    table = str(rng.choice(list(_SQL_TABLES)))
    label, number, group = _SQL_TABLES[table]
    limit = int(rng.integers(2, 9)) * 1000
    instruction = (f"Write an SQL query that selects the {label} of all {table} whose {number} is higher than "
                   f"{limit}, ordered by {group}.")
    return instruction, f"SELECT {label}\nFROM {table}\nWHERE {number} > {limit}\nORDER BY {group};\n"


def _task(rng: np.random.Generator, i: int) -> tuple[str, str, str]:
    u = rng.random()
    name, arg = str(rng.choice(_NAMES)), str(rng.choice(_ARGS))
    if u < 0.55:
        instruction, output = _python(rng, str(rng.choice(list(_PY_OPS))), name, arg)
    elif u < 0.8:
        instruction, output = _javascript(str(rng.choice(list(_JS_OPS))), name, arg)
    else:
        instruction, output = _sql(rng)
    return f"task-{i:04d}", instruction, output
