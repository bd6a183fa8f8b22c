"""A byte-level BPE tokenizer trained offline on given texts (any script, nothing out of vocabulary).

    tokenizer = train_byte_bpe(texts, vocab_size=8000, special_tokens=["<pad>", "<unk>"])

Needs the `tokenizers` package (the `st` extra), imported only when called.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def train_byte_bpe(texts: Iterable[str], vocab_size: int, special_tokens: list[str],
                   unk_token: str | None = None) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=unk_token))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer
