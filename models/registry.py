"""The model heads, by name.

    from models.registry import HEADS
    head = HEADS.get("retrieval")(k=10)
"""

from __future__ import annotations

from competitions._registry import Registry
from models.base import check_head_class

HEADS = Registry("head", "submit.heads", {
    "prior": "models.baselines:Prior",
    "longer-wins": "models.baselines:LongerWins",
    "lgbm-pairwise": "models.lgbm_pairwise:LgbmPairwise",
    "linear-pairwise": "models.linear_pairwise:LinearPairwise",
    "retrieval": "models.retrieval:Retrieval",
    "lead": "models.lead:Lead",
    "tfidf-ovr": "models.tfidf_ovr:TfidfOvr",
    "ridge-map": "models.ridge_map:RidgeMap",
    "tag-rerank": "models.tag_rerank:TagRerank",
    "bilstm": "models.bilstm:SiameseBilstm",  # imports torch only when fitted or loaded
    "llm-classifier": "models.llm.classifier:LlmClassifier",
    "llm-generator": "models.llm.generator:LlmGenerator",
}, check=check_head_class)
