"""Fine-tuned language-model heads: one training core, a classifier and a generator.

    submit lmsys --recipe smollm2-qlora                    # LlmClassifier on SmolLM2-135M, 4-bit QLoRA
    submit hansol --recipe smollm2-generator               # LlmGenerator: answers written, then embedded
    submit lmsys --recipe smollm2-qlora --set params.model=/models/gemma-2-9b-it

- `zoo`: short model names (tiny-llama, tiny-gemma, smollm2-135m, gemma3-270m) -> a local folder.
- `core`: the shared head (`LlmHead`): loading with 4-bit nf4 / LoRA / full precision, the transformers
  Trainer with checkpoints that resume an interrupted fold, length-sorted dynamic-padding inference.
- `curves`: per-step loss, learning rate and eval loss as JSON lines and a PNG.
- `classifier` (preference) and `generator` (answer_embedding, tagging): the two heads.
- `plan`: peak GPU memory and time of a recipe on a hardware profile, from the model's config alone
  (`submit plan`); `hardware.yaml` and `configs/` are its data.
- `devices`: a saved head's rows split over the visible GPUs, one worker process each.

Everything heavy (torch, transformers, peft, bitsandbytes) is imported inside the functions that need
it, so the registry and `submit --help` work on the core install; `require_llm` says what to install.
"""

from __future__ import annotations

import importlib.util

from submit.kernel.errors import HeadUnavailable

LLM_PACKAGES = ("torch", "transformers", "peft", "accelerate", "bitsandbytes")


class LlmUnavailable(HeadUnavailable):
    """The LLM extra is not installed."""


def require_llm() -> None:
    """Raise a clear error naming the missing packages and the extra that brings them."""
    missing = [name for name in LLM_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise LlmUnavailable(f"the LLM heads need {', '.join(missing)}: install torch first, then the extra: "
                             f"pip install torch==2.13.0 && pip install -e '.[llm]'")
