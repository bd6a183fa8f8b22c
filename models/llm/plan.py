"""Memory and time of an LLM head's recipe on a host's GPUs, worked out from the model's config alone.

    arch = architecture("google/gemma-2-9b-it")      # a shipped config, a local folder, or the local hub cache
    gpus = hardware("kaggle-t4x2")                   # models/llm/hardware.yaml, or your own file
    plan = make_plan(arch, gpus, params, Workload(n_splits=2, train_rows=48_439, test_rows=25_000))
    plan.memory["activations"], plan.peak_gib, plan.infer_s, plan.problems()

Nothing is loaded but a config.json: the plan runs before any weight is, on any machine.

Memory of one training process (one GPU), the parts as the heads load them (models/llm/core.py):
- weights: the decoder's linear layers in 4-bit nf4 with double quantisation (half a byte a weight, an
  8-bit absmax per 64 weights and an fp32 per 256 absmax), or at the compute dtype (lora, full). What
  bitsandbytes leaves unquantised (embeddings, norms, the output layer) is counted at fp32 under 4-bit:
  peft's prepare_model_for_kbit_training casts it up. Gemma's 256k-token embeddings are 3.7 GB so.
- LoRA: r x (in + out) per adapted linear layer, fp32 (peft keeps adapters in fp32); the classifier's
  score layer is trained whole. `full`: every weight is trainable.
- gradients: one per trainable weight, at its dtype.
- optimizer: AdamW keeps two states per trainable weight at its dtype; bitsandbytes' 8-bit AdamW two
  bytes, an fp32 absmax per 256 and two 256-entry maps per tensor (tensors under 4,096 weights stay fp32).
- activations: what the backward pass keeps, per token of a micro batch (ACT_PER_TOKEN below), for every
  layer, or with gradient checkpointing each layer's input plus one layer recomputed at a time.
- margin: the CUDA context and the allocator's fragmentation (MARGIN_GIB + MARGIN_SHARE of the rest).

Time: training FLOPs 2N (forward) + 2N (backward to the inputs; 4N when the weights are trained too) + 2N
(the forward again under checkpointing) per token, so 6N for QLoRA with checkpointing; inference 2N per
token; N the weights that do matmuls (not the embedding lookup). Divided by the GPU's peak times a stated
utilisation (hardware.yaml). Training runs on one GPU; inference splits the test rows over all of them.
Every fold's head predicts the test rows (the submission averages them), under each test-time view.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from submit.kernel.errors import UserError

HERE = Path(__file__).parent
HARDWARE_FILE = HERE / "hardware.yaml"
CONFIGS_DIR = HERE / "configs"
GIB = 1024**3
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)  # a 4-bit code, an 8-bit absmax per 64, an fp32 per 256 absmax
ADAM8_BLOCK, ADAM8_MIN, ADAM8_MAPS = 256, 4096, 2 * 256 * 4  # bitsandbytes' 8-bit optimizer layout
MARGIN_GIB, MARGIN_SHARE = 0.5, 0.10  # CUDA context + kernels; allocator fragmentation on the rest
# What the backward pass keeps per token of a layer, fitted to torch.profiler on CPU (fp32, LoRA on all linear
# layers; tests/test_plan.py holds them at other shapes): elements at the compute dtype per unit of the
# layer's widths; bytes per input feature of each adapted layer for its fp32 copy of the input (when the
# compute dtype is not fp32) and its dropout (the dropped-out input and the mask); without checkpointing,
# the embeddings' output and the final norm; and a causal LM's fp32 logits over the vocabulary with what
# the loss keeps of them: beside everything else without checkpointing; with it, at the start of the
# backward pass, before any layer is recomputed (so the larger of the two counts).
ACT_PER_TOKEN = {"hidden": 5.0, "attention": 1.0, "intermediate": 4.0, "lora_cast_bytes": 4.0,
                 "lora_dropout_bytes": 6.0, "outside_layers": 3.25, "logits": 1.85, "logits_checkpointed": 2.05}
HARDWARE_FIELDS = {"gpus": int, "memory_gib": float, "tflops": float, "bf16": bool, "train_mfu": float,
                   "infer_mfu": float}


class PlanError(UserError, ValueError):
    """An unknown hardware profile, a broken profile file, a model whose config is nowhere to be found."""


# --- hardware --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hardware:
    name: str
    gpus: int  # GPUs of the machine; training uses one, inference all
    memory_gib: float  # per GPU, as torch sees it
    tflops: float  # peak dense bf16/fp16 of one GPU
    bf16: bool  # without it the heads compute in fp16
    train_mfu: float  # share of the peak a training step reaches (assumed)
    infer_mfu: float  # share of the peak inference reaches (assumed)
    notebook: str = ""


def _profile(name: str, raw: Any, where: Path) -> Hardware:
    if not isinstance(raw, dict):
        raise PlanError(f"{where}: profile '{name}' is {raw!r}, expected a mapping of {', '.join(HARDWARE_FIELDS)}")
    missing = [key for key in HARDWARE_FIELDS if key not in raw]
    if missing:
        raise PlanError(f"{where}: profile '{name}' lacks {', '.join(missing)}")
    values = {}
    for key, kind in HARDWARE_FIELDS.items():
        value = raw[key]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (isinstance(value, bool) if kind is bool else number and value > 0):
            raise PlanError(f"{where}: profile '{name}': {key} is {value!r}, expected "
                            f"{'true or false' if kind is bool else 'a positive number'}")
        values[key] = kind(value)
    return Hardware(name=name, notebook=str(raw.get("notebook", "")), **values)


def hardware_profiles(extra: Path | None = None) -> dict[str, Hardware]:
    """The shipped profiles, then those of `extra` (a YAML file of the same shape), which win on a name."""
    profiles = {}
    for path in (HARDWARE_FILE, *([Path(extra)] if extra else [])):
        if not path.is_file():
            raise PlanError(f"{path}: hardware file not found")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise PlanError(f"{path}: not valid YAML ({err})") from None
        if not isinstance(raw, dict):
            raise PlanError(f"{path}: expected a mapping of profile names to profiles")
        profiles |= {str(name): _profile(str(name), value, path) for name, value in raw.items()}
    return profiles


def hardware(name: str, extra: Path | None = None) -> Hardware:
    profiles = hardware_profiles(extra)
    if name not in profiles:
        raise PlanError(f"unknown hardware '{name}'; known profiles: {', '.join(profiles)} "
                        f"(add one with --hardware-file, a YAML file shaped like {HARDWARE_FILE.name})")
    return profiles[name]


# --- the model's shape -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Architecture:
    source: str  # where the config came from
    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool  # the output layer shares the embeddings
    qkv_bias: bool
    fused: bool  # Phi-3/4: one qkv_proj and one gate_up_proj
    norms_per_layer: int  # Gemma 2/3: four, others two

    @classmethod
    def from_config(cls, config: dict[str, Any], source: str) -> Architecture:
        config = config.get("text_config") or config  # a multimodal config nests its language model
        model_type = str(config.get("model_type", ""))
        try:
            hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
            return cls(source=source, model_type=model_type, hidden=hidden, layers=int(config["num_hidden_layers"]),
                       heads=heads, kv_heads=int(config.get("num_key_value_heads") or heads),
                       head_dim=int(config.get("head_dim") or hidden // heads),
                       intermediate=int(config["intermediate_size"]), vocab=int(config["vocab_size"]),
                       tied=bool(config.get("tie_word_embeddings", model_type.startswith("gemma"))),
                       qkv_bias=bool(config.get("attention_bias", model_type == "qwen2")),
                       fused=model_type == "phi3", norms_per_layer=4 if model_type.startswith("gemma") else 2)
        except KeyError as err:
            raise PlanError(f"{source}: config lacks {err.args[0]}, expected a decoder's config.json") from None

    def linears(self) -> list[tuple[str, int, int]]:
        """(name, in, out) of one layer's linear modules, as peft names them."""
        h, q, kv, i = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim, self.intermediate
        if self.fused:
            return [("qkv_proj", h, q + 2 * kv), ("o_proj", q, h), ("gate_up_proj", h, 2 * i), ("down_proj", i, h)]
        return [("q_proj", h, q), ("k_proj", h, kv), ("v_proj", h, kv), ("o_proj", q, h), ("gate_proj", h, i),
                ("up_proj", h, i), ("down_proj", i, h)]

    @property
    def linear_params(self) -> int:
        """The decoder layers' linear weights (what 4-bit quantises), biases left out."""
        return self.layers * sum(n_in * n_out for _, n_in, n_out in self.linears())

    def small_params(self) -> int:
        """Norms and biases: never quantised, never adapted."""
        bias = (self.heads + 2 * self.kv_heads) * self.head_dim if self.qkv_bias else 0
        qk_norm = 2 * self.head_dim if self.model_type in ("gemma3_text", "gemma3", "qwen3") else 0
        return self.layers * (self.norms_per_layer * self.hidden + bias + qk_norm) + self.hidden

    def head_params(self, kind: str, num_labels: int) -> int:
        """The output layer: the classifier's score, or the causal LM's head when not tied to the embeddings."""
        if kind == "classifier":
            return self.hidden * num_labels
        return 0 if self.tied else self.vocab * self.hidden

    def params(self, kind: str, num_labels: int) -> int:
        return self.vocab * self.hidden + self.linear_params + self.small_params() + self.head_params(kind, num_labels)

    def matmul_params(self, kind: str, num_labels: int) -> int:
        """N of the FLOP count: weights multiplied per token (a causal LM's head too, tied or not)."""
        head = self.hidden * num_labels if kind == "classifier" else self.vocab * self.hidden
        return self.linear_params + head


def _shipped() -> dict[str, Path]:
    """Shipped configs by short name and by each hub id they stand for."""
    out = {}
    for path in sorted(CONFIGS_DIR.glob("*.json")):
        out[path.stem] = path
        for hub_id in json.loads(path.read_text())["_hub_ids"]:
            out[hub_id] = out[hub_id.lower()] = path
    return out


def _hub_cache_config(model: str) -> Path | None:
    if model.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(model, "config.json")
    return Path(found) if isinstance(found, str) else None


def _read_config(path: Path) -> dict[str, Any]:
    """A config.json with its model class's defaults filled in (AutoConfig) where transformers is installed;
    a shipped config states every field itself."""
    if path.parent != CONFIGS_DIR and importlib.util.find_spec("transformers") is not None:
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(path.parent, local_files_only=True).to_dict()
        except (OSError, ValueError, KeyError):  # a model type this transformers does not know: the file as is
            pass
    return json.loads(path.read_text())


def find_config(model: str) -> tuple[dict[str, Any], str]:
    """(config, where it came from) for a model named as the heads take it (models.llm.zoo): a local
    folder, a short name (its built folder in the cache, else a shipped config), a hub id (a shipped config,
    else the local hub cache). Never downloads."""
    from submit.models.cache import cache_dir
    from submit.models.llm.zoo import BUILDERS, model_folder

    looked = []
    path = Path(model).expanduser()
    candidates: list[Callable[[], Path | None]] = [
        lambda: path / "config.json",
        lambda: cache_dir() / "llm" / model / "config.json" if model in BUILDERS else None,
        lambda: _shipped().get(model) or _shipped().get(model.lower()),
        lambda: _hub_cache_config(model),
        lambda: model_folder(model) / "config.json" if model.startswith("tiny-") else None,  # seconds to build
    ]
    for candidate in candidates:
        found = candidate()
        if found is not None and found.is_file():
            return _read_config(found), str(found)
        if found is not None:
            looked.append(str(found))
    looked += [f"the shipped configs ({', '.join(p.stem for p in sorted(CONFIGS_DIR.glob('*.json')))})",
               "the local hub cache"]
    raise PlanError(f"no config.json for model '{model}' on this machine; looked in: {'; '.join(looked)}. Point the "
                    f"recipe at a local folder holding the model's config.json: --set params.model=/path/to/model")


def architecture(model: str) -> Architecture:
    config, source = find_config(model)
    return Architecture.from_config(config, source)


# --- memory ----------------------------------------------------------------------------------------------
def _targets(arch: Architecture, target_modules: str) -> list[tuple[str, int, int]]:
    if target_modules == "all-linear":
        return arch.linears()
    names = {t.strip() for t in target_modules.split(",") if t.strip()}
    return [linear for linear in arch.linears() if linear[0] in names]


def trainable_tensors(arch: Architecture, params: dict[str, Any], kind: str, num_labels: int) -> list[int]:
    """Sizes of the tensors the optimizer updates."""
    head = arch.head_params(kind, num_labels)
    if params["quantization"] == "full":
        per_layer = [n_in * n_out for _, n_in, n_out in arch.linears()] + [arch.hidden] * arch.norms_per_layer
        return [arch.vocab * arch.hidden, *per_layer * arch.layers, arch.hidden, *([head] if head else [])]
    r = params["lora_r"]
    adapters = [size for _, n_in, n_out in _targets(arch, params["target_modules"]) for size in (r * n_in, r * n_out)]
    return adapters * arch.layers + ([head] if kind == "classifier" else [])  # the score layer is trained whole


def weight_bytes(arch: Architecture, quantization: str, kind: str, num_labels: int, dtype_bytes: int) -> float:
    """The base model as loaded for training, adapters apart."""
    total = arch.params(kind, num_labels)
    if quantization != "4bit-nf4":
        return float(total * dtype_bytes)
    return arch.linear_params * NF4_BYTES + (total - arch.linear_params) * 4  # the rest cast to fp32 by peft


def optimizer_bytes(tensors: list[int], optimizer: str, state_bytes: int) -> float:
    if optimizer == "adamw":
        return 2.0 * sum(tensors) * state_bytes
    return float(sum(2 * n + 2 * 4 * math.ceil(n / ADAM8_BLOCK) + ADAM8_MAPS if n >= ADAM8_MIN else 8 * n
                     for n in tensors))


def activation_bytes(arch: Architecture, params: dict[str, Any], tokens: int, dtype_bytes: int,
                     checkpointing: bool, kind: str = "classifier") -> float:
    """What a training step keeps for its backward pass at `tokens` tokens per micro batch (batch x length):
    every layer's saved tensors, or under checkpointing every layer's input and one layer recomputed; a
    causal LM's logits besides."""
    units = ACT_PER_TOKEN
    layer = (units["hidden"] * arch.hidden + units["intermediate"] * arch.intermediate
             + units["attention"] * (arch.heads + 2 * arch.kv_heads) * arch.head_dim) * dtype_bytes
    if params["quantization"] != "full":
        per_feature = (units["lora_cast_bytes"] if dtype_bytes != 4 else 0.0) + \
            (units["lora_dropout_bytes"] if params["lora_dropout"] > 0 else 0.0)
        layer += per_feature * sum(n_in for _, n_in, _ in _targets(arch, params["target_modules"]))
    logits = units["logits_checkpointed" if checkpointing else "logits"] * arch.vocab * 4 if kind == "causal" else 0.0
    if checkpointing:
        kept = arch.layers * arch.hidden * dtype_bytes + max(layer, logits)
    else:
        kept = arch.layers * layer + units["outside_layers"] * arch.hidden * dtype_bytes + logits
    return float(tokens * kept)


# --- the plan --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """What the recipe asks of the hardware, beside the head's own settings."""

    kind: str = "classifier"  # classifier | causal
    num_labels: int = 3
    n_splits: int = 5  # fold heads: each is trained, and each predicts the test rows
    train_rows: int = 0  # the competition's training rows (each fold trains on (k-1)/k of them)
    train_copies: float = 1.0  # copies of a training row: 1 + the train views
    test_rows: int = 0
    tta_views: int = 0  # test-time views beside the plain one
    tta_budget: float = 1.0  # share of the rows given them
    row_tokens: int | None = None  # a row's mean tokens; None: max_length (an upper bound)
    limit_h: float | None = None  # the host notebook's limit on inference

    @property
    def test_passes(self) -> float:
        """Passes over a test row: the plain one and the views for their share of the rows."""
        return 1.0 + self.tta_views * self.tta_budget


@dataclass
class Plan:
    model: str
    hardware: Hardware
    params: dict[str, Any]
    workload: Workload
    dtype: str
    memory: dict[str, float]  # bytes per GPU, by part
    activations_other: float  # the activations with the other gradient_checkpointing setting
    parameters: dict[str, int]
    train_tokens: float
    infer_tokens: float
    train_s: float
    infer_s: float
    suggestions: list[str] = field(default_factory=list)

    @property
    def peak_gib(self) -> float:
        return sum(self.memory.values()) / GIB

    @property
    def fits_memory(self) -> bool:
        return self.peak_gib <= self.hardware.memory_gib

    @property
    def fits_time(self) -> bool:
        return self.workload.limit_h is None or self.infer_s <= self.workload.limit_h * 3600

    def problems(self) -> list[str]:
        out = []
        if not self.fits_memory:
            out.append(f"training needs {self.peak_gib:.1f} GiB per GPU; {self.hardware.name} has "
                       f"{self.hardware.memory_gib:g} GiB")
        if not self.fits_time:
            out.append(f"inference takes {hours(self.infer_s)} on {self.hardware.name}; the notebook limit is "
                       f"{self.workload.limit_h:g} h")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "hardware": asdict(self.hardware), "dtype": self.dtype,
                "workload": asdict(self.workload), "memory_bytes": self.memory, "peak_gib": self.peak_gib,
                "activations_other_bytes": self.activations_other, "parameters": self.parameters,
                "train_tokens": self.train_tokens, "infer_tokens": self.infer_tokens, "train_s": self.train_s,
                "infer_s": self.infer_s, "fits_memory": self.fits_memory, "fits_time": self.fits_time,
                "problems": self.problems(), "suggestions": self.suggestions}


def hours(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def compute_dtype(gpus: Hardware, dtype: str) -> tuple[str, int]:
    """The heads' choice (core.device_and_dtype) on that hardware: bf16 where it exists, else fp16."""
    name = dtype if dtype != "auto" else "bfloat16" if gpus.bf16 else "float16"
    return name, 4 if name == "float32" else 2


def _memory(arch: Architecture, params: dict[str, Any], work: Workload, dtype_bytes: int) -> tuple[dict, float]:
    tensors = trainable_tensors(arch, params, work.kind, work.num_labels)
    full = params["quantization"] == "full"
    state_bytes = dtype_bytes if full else 4  # adapters are fp32; full fine-tuning trains the weights as loaded
    tokens = params["micro_batch_size"] * params["max_length"]
    checkpointing = bool(params["gradient_checkpointing"])
    parts = {
        "weights": weight_bytes(arch, params["quantization"], work.kind, work.num_labels, dtype_bytes),
        "lora": 0.0 if full else float(sum(tensors) * 4),
        "gradients": float(sum(tensors) * state_bytes),
        "optimizer": optimizer_bytes(tensors, params["optimizer"], state_bytes),
        "activations": activation_bytes(arch, params, tokens, dtype_bytes, checkpointing, work.kind),
    }
    parts["margin"] = MARGIN_GIB * GIB + MARGIN_SHARE * sum(parts.values())
    return parts, activation_bytes(arch, params, tokens, dtype_bytes, not checkpointing, work.kind)


def make_plan(arch: Architecture, gpus: Hardware, params: dict[str, Any], work: Workload) -> Plan:
    """The plan of one recipe: `params` are the head's resolved parameters (defaults filled in)."""
    dtype, dtype_bytes = compute_dtype(gpus, params.get("dtype", "auto"))
    memory, other = _memory(arch, params, work, dtype_bytes)
    n = arch.matmul_params(work.kind, work.num_labels)
    row_tokens = min(work.row_tokens or params["max_length"], params["max_length"])
    if params.get("max_steps", 0) > 0:
        train_tokens = params["max_steps"] * params["micro_batch_size"] * params["grad_accum"] * row_tokens * \
            work.n_splits
    else:
        train_tokens = work.train_rows * (work.n_splits - 1) * work.train_copies * params["epochs"] * row_tokens
    backward = 4 if params["quantization"] == "full" else 2  # frozen weights: gradients of the inputs only
    flops_per_token = 2 + backward + (2 if params["gradient_checkpointing"] else 0)
    infer_tokens = work.test_rows * work.test_passes * row_tokens * work.n_splits
    trainable = sum(trainable_tensors(arch, params, work.kind, work.num_labels))
    return Plan(model=params["model"], hardware=gpus, params=params, workload=work, dtype=dtype, memory=memory,
                activations_other=other, train_tokens=train_tokens, infer_tokens=infer_tokens,
                parameters={"total": arch.params(work.kind, work.num_labels), "trainable": trainable, "matmul": n},
                train_s=flops_per_token * n * train_tokens / (gpus.tflops * 1e12 * gpus.train_mfu),
                infer_s=2 * n * infer_tokens / (gpus.gpus * gpus.tflops * 1e12 * gpus.infer_mfu))


# --- what would make it fit ------------------------------------------------------------------------------
def _memory_knobs(params: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(the --set text, params changes, workload changes) that lower the peak, from the strongest."""
    out = []
    if params["micro_batch_size"] > 1:
        out.append(("params.micro_batch_size=1 (and grad_accum up to keep the global batch)",
                    {"micro_batch_size": 1}, {}))
    if not params["gradient_checkpointing"]:
        out.append(("params.gradient_checkpointing=true", {"gradient_checkpointing": True}, {}))
    if params["quantization"] != "4bit-nf4":
        out.append(("params.quantization=4bit-nf4", {"quantization": "4bit-nf4"}, {}))
    if params["optimizer"] != "paged_adamw_8bit":
        out.append(("params.optimizer=paged_adamw_8bit", {"optimizer": "paged_adamw_8bit"}, {}))
    for length in (4096, 2048, 1024, 512):
        if params["max_length"] > length:
            out.append((f"params.max_length={length}", {"max_length": length}, {}))
    if params["quantization"] != "full" and params["lora_r"] > 8:
        out.append(("params.lora_r=8", {"lora_r": 8}, {}))
    return out


def _time_knobs(params: dict[str, Any], work: Workload) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    if work.tta_views:
        out.append((f"tta_budget={work.tta_budget / 2:g} (the test-time views for the less certain rows only)", {},
                    {"tta_budget": work.tta_budget / 2}))
        out.append(("tta=none", {}, {"tta_views": 0}))
    if work.n_splits > 2:
        out.append(("folds.n_splits=2 (fewer fold heads predict the test rows)", {}, {"n_splits": 2}))
    for length in (2048, 1536, 1024, 512):
        if params["max_length"] > length:
            out.append((f"params.max_length={length}", {"max_length": length}, {}))
    return out


def suggest(arch: Architecture, plan: Plan) -> list[str]:
    """Each knob that helps, tried alone, with what the plan becomes: the ones that fit first."""
    knobs = ([] if plan.fits_memory else _memory_knobs(plan.params)) + \
        ([] if plan.fits_time else _time_knobs(plan.params, plan.workload))
    lines = []
    for text, param_changes, work_changes in knobs:
        tried = make_plan(arch, plan.hardware, {**plan.params, **param_changes}, replace(plan.workload, **work_changes))
        verdict = "fits" if not tried.problems() else "not enough alone"
        lines.append((bool(tried.problems()), f"--set {text}: {tried.peak_gib:.1f} GiB, inference "
                                              f"{hours(tried.infer_s)} ({verdict})"))
    return [line for _, line in sorted(lines, key=lambda pair: pair[0])]
