"""Inference throughput of the LLM classifier: length-sorted dynamic batches against naive fixed padding.

    .venv/bin/python benchmarks/bench_llm_inference.py                          # SmolLM2-135M, 48 LMSYS rows
    .venv/bin/python benchmarks/bench_llm_inference.py --model tiny-llama --rows 200

The same rows (real LMSYS comparisons from ../shared/data/lmsys, else the bundled sample), laid out by the
classifier's chat template and cut to --max-length, go through the same model twice, without gradient:
- naive: batches in file order, every row padded to --max-length;
- dynamic: the head's own path (`LlmClassifier.predict`): rows sorted by length, each batch padded only
  to its longest row.
Throughput counts the real (non-padding) tokens only, so both runs do the same useful work; the two
predictions are checked to agree. Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from submit.kernel.plugins import get_competition
from submit.models.llm.classifier import LlmClassifier
from submit.models.llm.zoo import model_folder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "lmsys"


def naive(head: LlmClassifier, X) -> tuple[np.ndarray, float, int]:
    """Fixed batches in file order, each row padded to max_length."""
    ids, _ = head._encode_all(X, head.n_outputs_)
    model = head.model_
    out = np.zeros((len(ids), head.n_outputs_))
    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(ids), head.inference_batch_size):
            batch = ids[first:first + head.inference_batch_size]
            padded = head.tokenizer_.pad({"input_ids": batch}, padding="max_length", max_length=head.max_length,
                                         return_tensors="pt")
            logits = model(**padded).logits
            out[first:first + len(batch)] = torch.softmax(logits.float(), dim=-1).numpy()
    return out, time.perf_counter() - start, sum(len(i) for i in ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    comp = get_competition("lmsys")
    dataset = comp.load(DATA if DATA.exists() else comp.sample_dir, limit=args.rows)
    head = LlmClassifier(model=args.model, quantization="full", max_length=args.max_length,
                         inference_batch_size=args.batch_size)
    head.n_outputs_, head.fitted_ = 3, True
    head.model_, head.tokenizer_ = head._load_model("classifier", 3)  # an untrained class layer: speed only
    head.model_.eval()
    head.predict(dataset.train.iloc[:2])  # warm-up: first-call allocations are not what is compared
    head.stats_ = {}

    fixed, fixed_s, tokens = naive(head, dataset.train)
    dynamic = head.predict(dataset.train)
    dynamic_s = head.stats_["infer_s"]
    np.testing.assert_allclose(dynamic, fixed, atol=1e-4)  # the same answers, only the padding differs

    print(f"model {args.model} ({model_folder(args.model).name}), {len(dataset.train)} rows, {tokens} real tokens, "
          f"max_length {args.max_length}, batch {args.batch_size}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {'cuda' if torch.cuda.is_available() else 'cpu'}\n")
    print("| batching | seconds | real tokens/s |")
    print("|---|---|---|")
    print(f"| naive, fixed padding to {args.max_length} | {fixed_s:.1f} | {tokens / fixed_s:.0f} |")
    print(f"| length-sorted, dynamic padding | {dynamic_s:.1f} | {tokens / dynamic_s:.0f} |")
    print(f"\nratio (dynamic / naive): {fixed_s / dynamic_s:.2f}x")


if __name__ == "__main__":
    main()
