"""The device check of the LLM heads: a QLoRA classifier trained and run on WSDM-shaped rows, its tokens/s and
peak GPU memory beside the planner's estimate, and a plain PyTorch loop doing the same steps for comparison.

    benchmarks/gpu_check.sh                    # on one NVIDIA GPU: Gemma-3-270M, 2,000 rows, under 8 minutes
    benchmarks/gpu_check.sh --cpu              # the same path with a tiny random model and 24 rows (CI)
    benchmarks/gpu_check.sh --out figures.json --rows 1000 --max-length 1024

The rows: LMSYS comparisons from ../shared/data/lmsys without the ties (WSDM's shape: A or B), repeated
(the A/B swap first, then again) up to --rows; the bundled LMSYS sample where the real rows are absent.
Training: LlmClassifier as the recipes run it (4-bit nf4 with double quantisation, LoRA r=16 on all
linear layers, 8-bit paged AdamW, gradient checkpointing), one epoch. Inference: the trained head on the
same rows. Then the plain loop: the same model loaded the same way, the same micro batches, forward,
backward and optimizer step by hand, no Trainer. Prints a Markdown table; --out writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from submit.kernel.plugins import get_competition
from submit.models.llm.classifier import LlmClassifier
from submit.models.llm.plan import GIB, Hardware, Workload, architecture, make_plan

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "lmsys"
CPU = {"model": "tiny-llama", "rows": 24, "max_length": 192, "micro_batch_size": 4}
GPU = {"model": "gemma3-270m", "rows": 2000, "max_length": 512, "micro_batch_size": 8}


def wsdm_rows(n: int) -> tuple[pd.DataFrame, np.ndarray]:
    """n LMSYS comparisons without ties as WSDM's two classes; swapped copies, then repeats, fill up to n."""
    comp = get_competition("lmsys")
    dataset = comp.load(DATA if DATA.exists() else comp.sample_dir)
    keep = dataset.y[:, 2] == 0
    X = dataset.train.loc[keep, ["prompt", "response_a", "response_b"]].reset_index(drop=True)
    y = dataset.y[keep][:, :2]
    swapped = X.rename(columns={"response_a": "response_b", "response_b": "response_a"})
    X, y = pd.concat([X, swapped], ignore_index=True), np.concatenate([y, y[:, ::-1]])
    take = np.arange(n) % len(X)
    return X.iloc[take].reset_index(drop=True), y[take]


def peak_gib() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / GIB if torch.cuda.is_available() else None


def reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def plain_loop(head: LlmClassifier, X: pd.DataFrame, y: np.ndarray, steps: int) -> float:
    """Tokens/s of `steps` micro batches by hand: forward, backward, 8-bit AdamW step, as the Trainer does."""
    import bitsandbytes
    import torch

    model, tokenizer = head._load_model("classifier", 2)
    model.train()
    if head.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    optimizer = bitsandbytes.optim.PagedAdamW8bit([p for p in model.parameters() if p.requires_grad],
                                                  lr=head.learning_rate)
    ids, _ = head._encode_all(X, 2)
    device, tokens = next(model.parameters()).device, 0
    start = time.perf_counter()
    for step in range(steps):
        rows = range(step * head.micro_batch_size, (step + 1) * head.micro_batch_size)
        batch = tokenizer.pad({"input_ids": [ids[i % len(ids)] for i in rows]}, return_tensors="pt").to(device)
        labels = torch.tensor([int(y[i % len(y)].argmax()) for i in rows], device=device)
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return tokens / (time.perf_counter() - start)


def planned(head: LlmClassifier, gpu: bool) -> dict[str, float]:
    """The planner's parts for this run (this GPU's dtype, or fp32 on the CPU), in GiB, margin apart."""
    import torch

    bf16 = gpu and torch.cuda.is_bf16_supported()
    here = Hardware(name="here", gpus=1, memory_gib=1e9, tflops=1, bf16=bf16, train_mfu=1, infer_mfu=1)
    params = {**head.get_params(), "dtype": "auto" if gpu else "float32"}
    plan = make_plan(architecture(head.model), here, params, Workload(kind="classifier", num_labels=2, n_splits=2))
    return {part: value / GIB for part, value in plan.memory.items() if part != "margin"}


def check(settings: dict[str, Any]) -> dict[str, Any]:
    import torch

    gpu = torch.cuda.is_available()
    X, y = wsdm_rows(settings["rows"])
    head = LlmClassifier(model=settings["model"], quantization="4bit-nf4", lora_r=16, target_modules="all-linear",
                         max_length=settings["max_length"], micro_batch_size=settings["micro_batch_size"],
                         grad_accum=1, optimizer="paged_adamw_8bit", epochs=1.0, gradient_checkpointing=True,
                         save_steps=10**6, inference_batch_size=2 * settings["micro_batch_size"])
    reset_peak()
    start = time.perf_counter()
    head.fit(X, y)
    train_s, train_peak = time.perf_counter() - start, peak_gib()
    probabilities = head.predict(X)
    loop_steps = min(int(head.stats_["train_steps"]), 50)
    del head.model_
    reset_peak()
    return {"device": torch.cuda.get_device_name(0) if gpu else "cpu", **settings,
            "train_s": train_s, "train_tokens_per_s": head.stats_["train_tokens_per_s"],
            "infer_tokens_per_s": head.stats_["infer_tokens_per_s"], "rows_cut": head.stats_["train_rows_cut"],
            "accuracy": float((probabilities.argmax(1) == y.argmax(1)).mean()),
            "peak_gib": train_peak, "planned_gib": planned(head, gpu),
            "plain_loop_tokens_per_s": plain_loop(head, X, y, loop_steps), "plain_loop_steps": loop_steps}


def markdown(figures: dict[str, Any]) -> str:
    plan = figures["planned_gib"]
    peak = "n/a (CPU)" if figures["peak_gib"] is None else f"{figures['peak_gib']:.2f}"
    rows = [("device", figures["device"]), ("model, rows, max_length", f"{figures['model']}, {figures['rows']}, "
                                                                         f"{figures['max_length']}"),
            ("training tokens/s (Trainer)", f"{figures['train_tokens_per_s']:,.0f}"),
            ("training tokens/s (plain loop)", f"{figures['plain_loop_tokens_per_s']:,.0f}"),
            ("inference tokens/s", f"{figures['infer_tokens_per_s']:,.0f}"),
            ("max_memory_allocated GiB", peak),
            ("planned GiB (no margin)", f"{sum(plan.values()):.2f} = " + " + ".join(
                f"{part} {value:.2f}" for part, value in plan.items())),
            ("training s", f"{figures['train_s']:.0f}")]
    return "| figure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="tiny sizes, for a machine without a GPU (CI)")
    parser.add_argument("--model")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    import torch

    settings = dict(CPU if args.cpu or not torch.cuda.is_available() else GPU)
    settings |= {k: v for k, v in {"model": args.model, "rows": args.rows, "max_length": args.max_length}.items()
                 if v is not None}
    figures = check(settings)
    print(markdown(figures))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
