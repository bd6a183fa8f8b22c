"""The training core shared by the LLM heads: load, fine-tune with the transformers Trainer, infer.

    class MyHead(LlmHead):
        def __init__(self, *, my_param: int = 1, **common):   # common: every LlmHead setting below
            super().__init__(**common)
            self.my_param = my_param
        def _fit(self, X, y, X_valid, y_valid):
            self._train(examples, kind="causal")               # or kind="classifier", num_labels=k

A subclass's settings and LlmHead's are one flat list of keyword parameters (the recipe's `params`):
`__init_subclass__` merges the two signatures, so `param_names`, `clone` and recipe checking see all.

Training: 4-bit nf4 with double quantisation plus LoRA (QLoRA), LoRA on full-precision weights, or full
fine-tuning; bf16 on a GPU that has it, else fp16 on a GPU, else fp32 on the CPU. Checkpoints go to the
fit context's `work_dir` (the runner gives each fold one), so a killed fold resumes from its last checkpoint;
a work dir left by different settings or data is cleared first. The adapter (or the whole model for
`full`) is saved as safetensors with the head.

Inference: rows sorted by token length, cut into batches padded only to their own longest row, no
gradient; tokens/s goes to `stats_`, which the runner records in scores.json.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from submit.models.base import Head, above, at_least, between, limits_of, one_of
from submit.models.llm import require_llm
from submit.models.llm.zoo import model_folder

QUANTIZATION = ("4bit-nf4", "lora", "full")
OPTIMIZERS = {"adamw": "adamw_torch", "paged_adamw_8bit": "paged_adamw_8bit"}
REPORTERS = ("none", "wandb", "mlflow")
CUTS = ("middle", "tail", "head")
MARKER = " [...] "  # stands where tokens were cut out of a text
ADAPTER_DIR = "adapter"  # inside the head's folder: adapter_model.safetensors + adapter_config.json
END_OF_TURN = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>")  # chat templates' turn ends


def device_and_dtype(dtype: str = "auto") -> tuple[str, Any]:
    """("cuda", bf16 or fp16) on a GPU, ("cpu", fp32) otherwise; `dtype` overrides the choice."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype != "auto":
        return device, getattr(torch, dtype)
    if device == "cuda":
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, torch.float32


def length_batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """Row indices in batches of similar length (longest first), so padding stays small."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


def proportional_budget(lengths: list[int], budget: int) -> list[int]:
    """Tokens each part may keep: all of them when they fit; else a part no longer than an equal share
    keeps everything (a short prompt is never wiped out) and the longer parts share the rest of `budget`
    in proportion to their lengths. One pass, no loop: the result never sums above a budget >= 0."""
    if budget < 0:
        raise ValueError(f"a budget of {budget} tokens: nothing fits")
    if sum(lengths) <= budget:
        return list(lengths)
    long = [i for i, n in enumerate(lengths) if n > budget / len(lengths)]
    room = budget - sum(n for i, n in enumerate(lengths) if i not in long)  # >= 0: short parts fit their shares
    total = sum(lengths[i] for i in long)
    return [room * n // total if i in long else n for i, n in enumerate(lengths)]


def cut_tokens(ids: list[int], keep: int, cut: str, marker: list[int]) -> list[int]:
    """ids cut to `keep` tokens, the marker counted in and standing where the removed tokens were."""
    if len(ids) <= keep:
        return ids
    room = max(keep - len(marker), 0)
    if cut == "tail":
        return ids[:room] + marker
    if cut == "head":
        return marker + (ids[len(ids) - room:] if room else [])
    first = room - room // 2
    return ids[:first] + marker + (ids[len(ids) - room // 2:] if room // 2 else [])


def _quiet() -> None:
    """transformers' per-load reports and progress bars would drown the harness's own progress."""
    import logging as std_logging
    import warnings

    from transformers.utils import logging

    # bitsandbytes' CPU backend would fetch a faster 4-bit kernel from the hub (`kernels`); offline it
    # warns at import and uses its own, slower path, which is what runs here anyway.
    std_logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(std_logging.ERROR)

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    # peft still calls the names transformers 5 renamed (activation_checkpointing); nothing for the user to do.
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)


class ExampleDataset:
    """A list of tokenised examples (dicts of lists) as the torch Dataset the Trainer reads."""

    def __init__(self, examples: list[dict[str, list[int]]]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.examples[i]


class LlmHead(Head):
    """Shared settings and machinery; subclasses build examples and read predictions."""

    limits = limits_of(quantization=one_of(*QUANTIZATION), lora_r=at_least(1), lora_alpha=above(0),
                       lora_dropout=between(0, 1, high_open=True), max_length=at_least(1), micro_batch_size=at_least(1),
                       grad_accum=at_least(1), optimizer=one_of(*OPTIMIZERS), learning_rate=above(0),
                       adam_beta1=between(0, 1, high_open=True), adam_beta2=between(0, 1, high_open=True),
                       weight_decay=at_least(0), warmup_ratio=between(0, 1), max_steps=at_least(0), epochs=at_least(0),
                       eval_steps=at_least(0), eval_fraction=between(0, 1, high_open=True),
                       early_stopping_patience=at_least(0), save_steps=at_least(1),
                       dtype=one_of("auto", "bfloat16", "float16", "float32"), inference_batch_size=at_least(1),
                       report_to=one_of(*REPORTERS), seed=at_least(0))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = inspect.signature(cls.__init__).parameters.values()
        inherited = inspect.signature(LlmHead.__init__).parameters.values()
        keyword = [p for p in own if p.kind == p.KEYWORD_ONLY]
        names = {p.name for p in keyword}
        keyword += [p for p in inherited if p.kind == p.KEYWORD_ONLY and p.name not in names]
        self_param = next(iter(inspect.signature(cls.__init__).parameters.values()))
        cls.__init__.__signature__ = inspect.Signature([self_param, *keyword])

    def __init__(self, *, model: str = "smollm2-135m", quantization: str = "4bit-nf4", lora_r: int = 16,
                 lora_alpha: int = 32, lora_dropout: float = 0.05, target_modules: str = "all-linear",
                 max_length: int = 1024, micro_batch_size: int = 4, grad_accum: int = 4,
                 optimizer: str = "adamw", learning_rate: float = 2e-4, adam_beta1: float = 0.9,
                 adam_beta2: float = 0.999, weight_decay: float = 0.0, warmup_ratio: float = 0.05,
                 max_steps: int = 0, epochs: float = 1.0, eval_steps: int = 0, eval_fraction: float = 0.1,
                 early_stopping_patience: int = 0, save_steps: int = 50, gradient_checkpointing: bool = True,
                 dtype: str = "auto", merge_adapter: bool = False, inference_batch_size: int = 16,
                 report_to: str = "none", seed: int = 0) -> None:
        self.model = model  # short name (models.llm.zoo), local folder or hub id
        self.quantization = quantization  # 4bit-nf4 (QLoRA) | lora (LoRA, full-precision base) | full
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.target_modules = target_modules  # "all-linear" or comma-separated names, e.g. "q_proj,v_proj"
        self.max_length = max_length  # tokens per example, prompt and answer together
        self.micro_batch_size = micro_batch_size  # examples per forward pass
        self.grad_accum = grad_accum  # micro batches per optimiser step: global batch = their product
        self.optimizer = optimizer  # adamw | paged_adamw_8bit (bitsandbytes; unpaged on the CPU)
        self.learning_rate = learning_rate  # peak of the cosine schedule
        self.adam_beta1 = adam_beta1
        self.adam_beta2 = adam_beta2
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio  # share of the steps spent warming up
        self.max_steps = max_steps  # optimiser steps; 0: `epochs` passes over the training rows
        self.epochs = epochs
        self.eval_steps = eval_steps  # 0: no evaluation; else eval loss on an inner holdout every N steps
        self.eval_fraction = eval_fraction  # share of the training rows held out for that evaluation
        self.early_stopping_patience = early_stopping_patience  # evaluations without improvement; 0: off
        self.save_steps = save_steps  # checkpoint every N steps (the work that a killed fold keeps)
        self.gradient_checkpointing = gradient_checkpointing  # non-reentrant: memory for compute
        self.dtype = dtype  # auto (bf16/fp16 on a GPU, fp32 on the CPU) | bfloat16 | float16 | float32
        self.merge_adapter = merge_adapter  # fold LoRA into the weights before inference (quantization: lora)
        self.inference_batch_size = inference_batch_size
        self.report_to = report_to  # none | wandb | mlflow (when installed; their offline modes work)
        self.seed = seed

    # --- checks ---------------------------------------------------------------------------------------
    def _combination_problems(self) -> list[str]:
        problems = []
        if self.report_to != "none" and importlib_missing(self.report_to):
            problems.append(f"report_to '{self.report_to}' but the package is not installed (pip install "
                            f"{self.report_to})")
        if self.merge_adapter and self.quantization != "lora":
            problems.append("merge_adapter needs quantization: lora (merging into 4-bit weights rounds them; "
                            "`full` has no adapter)")
        if self.max_steps <= 0 and self.epochs <= 0:
            problems.append("max_steps and epochs are both 0: nothing to train")
        return problems

    # --- loading --------------------------------------------------------------------------------------
    def _load_tokenizer(self, folder: Path) -> Any:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if tokenizer.chat_template is None:
            raise ValueError(f"{self.name}: the tokenizer of '{self.model}' has no chat template; use an "
                             f"instruction-tuned model or one whose tokenizer_config.json carries chat_template")
        return tokenizer

    def _load_model(self, kind: str, num_labels: int = 0, adapter: Path | None = None) -> tuple[Any, Any]:
        """(model, tokenizer): the base as `quantization` says, with a fresh or saved adapter on top."""
        _quiet()
        import torch
        from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, BitsAndBytesConfig

        folder = model_folder(self.model)
        device, dtype = device_and_dtype(self.dtype)
        tokenizer = self._load_tokenizer(folder)
        options: dict[str, Any] = {"dtype": dtype}
        if self.quantization == "4bit-nf4":
            options["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=dtype)
            options["device_map"] = {"": 0} if device == "cuda" else {"": "cpu"}
        if kind == "classifier":
            options |= {"num_labels": num_labels, "pad_token_id": tokenizer.pad_token_id}
            auto = AutoModelForSequenceClassification
        else:
            auto = AutoModelForCausalLM
        full_saved = adapter is not None and self.quantization == "full"
        torch.manual_seed(self.seed)  # a new classification layer and LoRA weights start the same every time
        model = auto.from_pretrained(adapter if full_saved else folder, **options)
        if "device_map" not in options:
            model.to(device)
        if self.quantization == "full":
            return model, tokenizer
        if adapter is not None:
            return PeftModel.from_pretrained(model, adapter, is_trainable=False), tokenizer
        if self.quantization == "4bit-nf4":
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=self.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False})
        targets = self.target_modules if self.target_modules == "all-linear" else \
            [t.strip() for t in self.target_modules.split(",") if t.strip()]
        config = LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                            target_modules=targets, task_type="SEQ_CLS" if kind == "classifier" else "CAUSAL_LM")
        return get_peft_model(model, config), tokenizer

    # --- training -------------------------------------------------------------------------------------
    def _work_dir_for(self, fingerprint: str, scratch: Path) -> Path:
        """The lent work dir, emptied first when it holds another configuration's checkpoints."""
        lent = self.context_.work_dir
        work = Path(lent) if lent is not None else scratch
        marker = work / "fit.json"
        if marker.exists() and json.loads(marker.read_text()).get("fingerprint") != fingerprint:
            shutil.rmtree(work)
        work.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"fingerprint": fingerprint, "head": self.name}))
        return work

    def _callbacks(self) -> list[Any]:
        """Extra Trainer callbacks (a hook for subclasses and tests)."""
        return []

    def _training_args(self, work: Path, evaluating: bool) -> Any:
        from transformers import TrainingArguments

        device, dtype = device_and_dtype(self.dtype)
        return TrainingArguments(
            output_dir=str(work / "checkpoints"), per_device_train_batch_size=self.micro_batch_size,
            per_device_eval_batch_size=self.micro_batch_size, gradient_accumulation_steps=self.grad_accum,
            learning_rate=self.learning_rate, lr_scheduler_type="cosine", warmup_steps=self.warmup_ratio,
            max_steps=self.max_steps if self.max_steps > 0 else -1, num_train_epochs=self.epochs,
            optim=OPTIMIZERS[self.optimizer], adam_beta1=self.adam_beta1, adam_beta2=self.adam_beta2,
            weight_decay=self.weight_decay, logging_steps=1, save_strategy="steps",
            save_steps=self.eval_steps if evaluating else self.save_steps,
            save_total_limit=2 if evaluating else 1, eval_strategy="steps" if evaluating else "no",
            eval_steps=self.eval_steps if evaluating else None, load_best_model_at_end=evaluating,
            metric_for_best_model="eval_loss" if evaluating else None, greater_is_better=False,
            activation_checkpointing=self.gradient_checkpointing,
            activation_checkpointing_kwargs={"use_reentrant": False}, bf16=dtype_name(dtype) == "bfloat16",
            fp16=dtype_name(dtype) == "float16", use_cpu=device == "cpu", report_to=self.report_to,
            seed=self.seed, data_seed=self.seed, disable_tqdm=True, remove_unused_columns=False,
            include_num_input_tokens_seen="non_padding", save_only_model=False,
        )

    def _split_eval(self, examples: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(training, evaluation) examples: a seeded share held out when evaluating, in their order."""
        rng = np.random.default_rng(self.seed)
        n_eval = round(len(examples) * self.eval_fraction) if self.eval_steps > 0 else 0
        order = rng.permutation(len(examples))
        return [examples[i] for i in sorted(order[n_eval:])], [examples[i] for i in sorted(order[:n_eval])]

    def _train(self, examples: list[dict[str, Any]], *, kind: str, num_labels: int = 0,
               compute_loss: Any = None) -> None:
        """Fine-tune on tokenised examples; leaves model_, tokenizer_ and the training part of stats_.
        `compute_loss`: the Trainer's compute_loss_func (None: the model's own loss)."""
        from submit.models.llm.curves import draw_curves
        from transformers import DataCollatorForSeq2Seq, DataCollatorWithPadding, PrinterCallback, Trainer
        from transformers.trainer_utils import get_last_checkpoint

        model, tokenizer = self._load_model(kind, num_labels)
        train_set, eval_set = self._split_eval(examples)
        fingerprint = hashlib.sha256(json.dumps([self.get_params(), kind, num_labels, train_set, eval_set],
                                                sort_keys=True, default=str).encode()).hexdigest()[:16]
        with tempfile.TemporaryDirectory() as scratch:
            work = self._work_dir_for(fingerprint, Path(scratch))
            args = self._training_args(work, evaluating=bool(eval_set))
            collator = (DataCollatorWithPadding(tokenizer) if kind == "classifier"
                        else DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100))
            trainer = Trainer(model=model, args=args, train_dataset=ExampleDataset(train_set),
                              eval_dataset=ExampleDataset(eval_set) if eval_set else None, data_collator=collator,
                              callbacks=self._all_callbacks(work, bool(eval_set)), compute_loss_func=compute_loss)
            trainer.remove_callback(PrinterCallback)  # the curves file and the harness's progress say it
            last = get_last_checkpoint(args.output_dir) if Path(args.output_dir).exists() else None
            self.resumed_from_ = Path(last).name if last else None
            start = time.perf_counter()
            trainer.train(resume_from_checkpoint=last)
            self._record_training(trainer, time.perf_counter() - start, last)
            draw_curves(work / "curves.jsonl", work / "curves.png")
        model.eval()
        self.model_, self.tokenizer_ = model, tokenizer

    def _all_callbacks(self, work: Path, evaluating: bool) -> list[Any]:
        from submit.models.llm.curves import CurvesCallback
        from transformers import EarlyStoppingCallback

        callbacks = [CurvesCallback(work / "curves.jsonl"), *self._callbacks()]
        if evaluating and self.early_stopping_patience > 0:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=self.early_stopping_patience))
        return callbacks

    def _record_training(self, trainer: Any, seconds: float, last: str | None) -> None:
        losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
        self.stats_ = {
            "train_steps": float(trainer.state.global_step),
            "train_tokens_per_s": trainer.state.num_input_tokens_seen / max(seconds, 1e-9),
            "train_loss_first": float(losses[0]) if losses else float("nan"),
            "train_loss_last": float(np.mean(losses[-5:])) if losses else float("nan"),
            "resumed_from_step": float(last.rsplit("-", 1)[-1]) if last else 0.0,
        }

    # --- inference ------------------------------------------------------------------------------------
    def _inference_model(self) -> Any:
        # Merged in place, the LoRA layers kept: inference skips their extra matmuls, and the adapter
        # (unchanged by a merge) can still be saved with the head and loaded onto the base again.
        if self.merge_adapter and not getattr(self, "merged_", False):
            self.model_.base_model.merge_adapter()
            self.merged_ = True
        return self.model_

    def _count_inference(self, tokens: int, seconds: float) -> None:
        stats = self.__dict__.setdefault("stats_", {})
        stats["infer_tokens"] = stats.get("infer_tokens", 0.0) + tokens
        stats["infer_s"] = stats.get("infer_s", 0.0) + seconds
        stats["infer_tokens_per_s"] = stats["infer_tokens"] / max(stats["infer_s"], 1e-9)

    def _generate(self, prompts: list[list[int]], *, max_new_tokens: int, do_sample: bool, temperature: float,
                  top_p: float, num_samples: int, stop: list[str], num_beams: int = 1,
                  repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0, seed: int | None = None
                  ) -> list[list[str]]:
        """num_samples completions per prompt (token ids), cut at the first stop string. Beam search with
        num_beams > 1; repetition_penalty (1: off) and no_repeat_ngram_size (0: off) against loops; `seed`
        (default: the head's) makes sampled completions repeatable."""
        import torch

        tok = self.tokenizer_
        model = self._inference_model()
        device = next(model.parameters()).device
        end_ids = {tok.eos_token_id} | {tok.convert_tokens_to_ids(t) for t in END_OF_TURN if t in tok.get_vocab()}
        options = {"max_new_tokens": max_new_tokens, "do_sample": do_sample, "num_return_sequences": num_samples,
                   "pad_token_id": tok.pad_token_id, "eos_token_id": sorted(end_ids)}
        if do_sample:
            options |= {"temperature": temperature, "top_p": top_p}
        if num_beams > 1:
            options["num_beams"] = num_beams
        if repetition_penalty != 1.0:
            options["repetition_penalty"] = repetition_penalty
        if no_repeat_ngram_size > 0:
            options["no_repeat_ngram_size"] = no_repeat_ngram_size
        if stop:
            options |= {"stop_strings": stop, "tokenizer": tok}
        out: list[list[str]] = [[] for _ in prompts]
        start, tokens = time.perf_counter(), 0
        tok.padding_side = "left"  # generation continues every row from its own last token
        torch.manual_seed(self.seed if seed is None else seed)  # sampled generations repeat with the seed
        with torch.inference_mode():
            for batch in length_batches([len(p) for p in prompts], self.inference_batch_size):
                padded = tok.pad({"input_ids": [prompts[i] for i in batch]}, return_tensors="pt").to(device)
                generated = model.generate(**padded, **options)[:, padded["input_ids"].shape[1]:]
                tokens += int(padded["attention_mask"].sum()) + int((generated != tok.pad_token_id).sum())
                texts = tok.batch_decode(generated, skip_special_tokens=True)
                for k, text in enumerate(texts):
                    for marker in stop:
                        text = text.split(marker)[0]
                    out[int(batch[k // num_samples])].append(text.strip())
        tok.padding_side = "right"
        self._count_inference(tokens, time.perf_counter() - start)
        return out

    def _answer_loss(self, examples: list[dict[str, list[int]]]) -> float:
        """Mean cross-entropy per answer token of tokenised examples (labels -100 on the prompt), no gradient."""
        import torch
        from transformers import DataCollatorForSeq2Seq

        collator = DataCollatorForSeq2Seq(self.tokenizer_, label_pad_token_id=-100)
        model = self._inference_model()
        device = next(model.parameters()).device
        total, tokens = 0.0, 0
        with torch.inference_mode():
            for batch in length_batches([len(e["input_ids"]) for e in examples], self.inference_batch_size):
                inputs = collator([examples[i] for i in batch]).to(device)
                logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
                labels = inputs["labels"][:, 1:]  # token t is predicted from the tokens before it
                total += float(torch.nn.functional.cross_entropy(
                    logits[:, :-1].float().transpose(1, 2), labels, ignore_index=-100, reduction="sum"))
                tokens += int((labels != -100).sum())
        return total / max(tokens, 1)

    # --- save / load ----------------------------------------------------------------------------------
    def _save_model(self, path: Path) -> None:
        self.model_.save_pretrained(path / ADAPTER_DIR, safe_serialization=True)
        self.tokenizer_.save_pretrained(path / ADAPTER_DIR)

    def _load_saved(self, path: Path, kind: str, num_labels: int = 0) -> None:
        require_llm()
        model, tokenizer = self._load_model(kind, num_labels, adapter=path / ADAPTER_DIR)
        model.eval()
        self.model_, self.tokenizer_ = model, tokenizer


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def importlib_missing(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is None
