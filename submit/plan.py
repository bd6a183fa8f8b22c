"""`submit plan`: will an LLM recipe fit the host's GPUs, in memory and in the notebook's time? Asked before
any weight is loaded.

    submit plan wsdm --recipe gemma2-9b-qlora --hardware kaggle-t4x2
    submit plan wsdm --recipe gemma2-9b-qlora --set params.max_length=1024 --hardware a100-40
    submit plan lmsys --recipe my.yaml --hardware my-box --hardware-file my_gpus.yaml

    plan = plan_recipe(competition, recipe, hardware("kaggle-t4x2"))     # the same from Python

The arithmetic is models/llm/plan.py's; this module builds its workload from the competition (its host's
training and test rows, the notebook's limit) and the recipe (folds, views), prints it as tables, and
refuses (exit 2) a plan that does not fit unless --force. `preflight` runs the same plan before every LLM
recipe that `submit <competition>` runs: on a GPU it refuses what cannot fit that GPU; everywhere it
returns the plan, which the run records as plan.json beside scores.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from submit.app import app, out
from submit.kernel.errors import UserError
from submit.kernel.plugins import get_competition
from submit.models.llm.plan import (
    GIB,
    MARGIN_GIB,
    MARGIN_SHARE,
    Hardware,
    Plan,
    PlanError,
    Workload,
    architecture,
    hardware,
    hours,
    make_plan,
    suggest,
)

if TYPE_CHECKING:
    from submit.cv.recipe import Recipe
    from submit.kernel.competition import Competition

HOST_HARDWARE = {"kaggle": "kaggle-t4x2"}  # what a host's GPU notebook has, the default of --hardware


class PlanRefused(UserError, RuntimeError):
    """The plan does not fit; the message names the knobs that would make it."""


def is_llm(recipe: Recipe) -> bool:
    from submit.models.llm.core import LlmHead
    from submit.models.registry import HEADS

    return issubclass(HEADS.get(recipe.head), LlmHead)


def workload(competition: Competition, recipe: Recipe, *, train_rows: int | None = None,
             test_rows: int | None = None, row_tokens: int | None = None) -> Workload:
    """The recipe's demands on the host: its folds and views, the host's rows, the notebook's limit."""
    from submit.models.llm.classifier import LlmClassifier
    from submit.models.registry import HEADS

    classifier = issubclass(HEADS.get(recipe.head), LlmClassifier)
    return Workload(kind="classifier" if classifier else "causal", n_splits=recipe.folds.n_splits,
                    train_rows=train_rows if train_rows is not None else competition.host_train_rows or 0,
                    train_copies=1.0 + len(recipe.train_views),
                    test_rows=test_rows if test_rows is not None else competition.host_test_rows or 0,
                    tta_views=len(recipe.tta), tta_budget=recipe.tta_budget,
                    row_tokens=row_tokens if row_tokens is not None else competition.host_row_tokens,
                    limit_h=competition.notebook_limit_h)


def plan_recipe(competition: Competition, recipe: Recipe, gpus: Hardware, **rows: int | None) -> Plan:
    params = recipe.resolved()["params"]
    arch = architecture(params["model"])
    plan = make_plan(arch, gpus, params, workload(competition, recipe, **rows))
    plan.suggestions = suggest(arch, plan)
    return plan


def refusal(plan: Plan) -> str:
    knobs = "\n  ".join(plan.suggestions)
    if not any(line.endswith("(fits)") for line in plan.suggestions):
        knobs += "\n  no single knob is enough: combine them, or take larger hardware (--hardware)"
    return (f"the plan does not fit: {'; '.join(plan.problems())}. What would make it fit:\n  {knobs}\n"
            f"(--force runs it anyway)")


# --- printing --------------------------------------------------------------------------------------------
def _gib(value: float) -> str:
    return f"{value / GIB:.2f}"


def memory_table(plan: Plan) -> Table:
    p, gpus = plan.params, plan.hardware
    ckpt = "with" if p["gradient_checkpointing"] else "without"
    other = "without" if p["gradient_checkpointing"] else "with"
    notes = {
        "weights": f"{p['quantization']}; embeddings, norms and head unquantised ({plan.dtype} compute)",
        "lora": f"r={p['lora_r']} on {p['target_modules']}, fp32" if p["quantization"] != "full" else "none: full",
        "gradients": "one per trainable weight",
        "optimizer": p["optimizer"],
        "activations": f"{p['micro_batch_size']} x {p['max_length']} tokens, {ckpt} checkpointing "
                       f"({_gib(plan.activations_other)} GiB {other})",
        "margin": f"CUDA context {MARGIN_GIB:g} GiB + {MARGIN_SHARE:.0%} allocator",
    }
    table = Table(title=f"Peak memory per GPU: {plan.model} on {gpus.name}")
    for column, justify in (("part", "left"), ("GiB", "right"), ("what", "left")):
        table.add_column(column, justify=justify)
    for part, value in plan.memory.items():
        table.add_row(part, _gib(value), notes[part])
    verdict = "fits" if plan.fits_memory else "DOES NOT FIT"
    table.add_row("total", f"{plan.peak_gib:.2f}", f"of {gpus.memory_gib:g} GiB: {verdict}", style="bold")
    return table


def time_table(plan: Plan) -> Table:
    gpus, work = plan.hardware, plan.workload
    n = plan.parameters["matmul"] / 1e9
    limit = f"limit {work.limit_h:g} h: {'fits' if plan.fits_time else 'DOES NOT FIT'}" if work.limit_h else "no limit"
    table = Table(title=f"Time on {gpus.name} ({gpus.tflops:g} TFLOPS peak per GPU)")
    for column, justify in (("stage", "left"), ("time", "right"), ("from", "left")):
        table.add_column(column, justify=justify)
    table.add_row("training", hours(plan.train_s),
                  f"{work.n_splits} folds, {plan.train_tokens / 1e6:,.0f} M tokens x 6N (N={n:.2f} B) at "
                  f"{gpus.train_mfu:.0%} of one GPU")
    table.add_row("inference", hours(plan.infer_s),
                  f"{work.test_rows:,} rows x {work.test_passes:g} passes x {work.n_splits} fold heads, "
                  f"{plan.infer_tokens / 1e6:,.0f} M tokens x 2N at {gpus.infer_mfu:.0%} of {gpus.gpus} GPU(s); "
                  f"{limit}")
    return table


def show(plan: Plan) -> None:
    out.print(memory_table(plan))
    out.print(time_table(plan))
    tokens, counts = plan.workload.row_tokens, plan.parameters
    out.print(f"Parameters: {counts['total'] / 1e9:.2f} B, trainable {counts['trainable'] / 1e6:.1f} M. "
              f"A row: {min(tokens or plan.params['max_length'], plan.params['max_length']):,} tokens "
              f"({'the host data mean, capped at max_length' if tokens else 'max_length, an upper bound'}).",
              highlight=False)


def write_plan(folder: Path, plan: Plan, enforced: bool) -> Path:
    """plan.json in the experiment's folder, beside scores.json."""
    from submit.cv.experiment import Experiment

    return Experiment(Path(folder)).write_plan({**plan.to_dict(), "enforced": enforced})


# --- before a run ----------------------------------------------------------------------------------------
# A local GPU's throughput: the shipped profile of its kind, by a word of its name (else an A100's figures).
LOCAL_KINDS = {"t4": "kaggle-t4x2", "p100": "kaggle-p100", "a10g": "a10g-24", "a100": "a100-80", "h100": "h100-80",
               "h200": "h100-80"}


def local_hardware() -> Hardware | None:
    """This machine's GPUs as a profile (their count and memory as torch sees them, the throughput of the
    shipped profile of their kind), or None without a GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    kind = next((profile for word, profile in LOCAL_KINDS.items() if word in props.name.lower()), "a100-80")
    like = hardware(kind)
    return Hardware(name=f"local {props.name}", gpus=torch.cuda.device_count(), memory_gib=props.total_memory / GIB,
                    tflops=like.tflops, bf16=torch.cuda.is_bf16_supported(), train_mfu=like.train_mfu,
                    infer_mfu=like.infer_mfu, notebook="this machine")


def preflight(competition: Competition, recipe: Recipe, *, force: bool = False) -> tuple[Plan, bool] | None:
    """The plan of an LLM recipe before it runs: on this machine's GPU (refused, unless `force`, when it
    cannot fit), else on the host's notebook GPUs (recorded, not enforced). None for other heads, and where
    the model's config is not on this machine yet (a run allowed to download it fetches it itself)."""
    if not is_llm(recipe):
        return None
    local = local_hardware()
    gpus = local or hardware(HOST_HARDWARE.get(competition.host, "kaggle-t4x2"))
    try:
        plan = plan_recipe(competition, recipe, gpus)
    except PlanError:
        return None
    enforced = local is not None and not force
    if enforced and not plan.fits_memory:
        raise PlanRefused(refusal(plan))
    return plan, enforced


# --- the command -----------------------------------------------------------------------------------------
@app.command("plan")
def plan_command(
    competition: Annotated[str, typer.Argument(help="A competition name.")],
    recipe: Annotated[str, typer.Option(help="An LLM recipe of the competition, or a path to a YAML file.")],
    hardware_name: Annotated[str | None, typer.Option("--hardware", help="A hardware profile. Default: the host's "
                                                      "notebook GPUs (kaggle-t4x2 on Kaggle).")] = None,
    hardware_file: Annotated[Path | None, typer.Option(help="A YAML file of more profiles (shaped like "
                                                            "models/llm/hardware.yaml).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a recipe key: key=value.")] = None,
    train_rows: Annotated[int | None, typer.Option(help="Training rows. Default: the host's.")] = None,
    test_rows: Annotated[int | None, typer.Option(help="Test rows. Default: the host's hidden test set.")] = None,
    row_tokens: Annotated[int | None, typer.Option(help="A row's mean tokens. Default: the host data's mean, "
                                                        "else max_length.")] = None,
    force: Annotated[bool, typer.Option(help="Exit 0 even when the plan does not fit.")] = False,
) -> None:
    """Peak GPU memory by part, training and inference time, and whether they fit, before a weight is loaded.

    Examples: `submit plan wsdm --recipe gemma2-9b-qlora --hardware kaggle-t4x2`,
    `submit plan lmsys --recipe qwen2.5-14b-qlora --hardware a100-80 --set params.max_length=1024`.
    """
    from submit.cv.recipe import load_recipe

    comp = get_competition(competition)
    resolved = load_recipe(comp, recipe, list(set_ or []))
    if not is_llm(resolved):
        raise PlanRefused(f"recipe '{resolved.name}' uses head '{resolved.head}', not an LLM head: nothing to plan")
    gpus = hardware(hardware_name or HOST_HARDWARE.get(comp.host, "kaggle-t4x2"), hardware_file)
    plan = plan_recipe(comp, resolved, gpus, train_rows=train_rows, test_rows=test_rows, row_tokens=row_tokens)
    show(plan)
    if plan.problems() and not force:
        raise PlanRefused(refusal(plan))
    out.print("The plan fits." if not plan.problems() else "The plan does not fit (--force).")
