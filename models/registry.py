"""The model heads, by name.

    from submit.models.registry import HEADS
    head = HEADS.get("retrieval")(k=10)
"""

from __future__ import annotations

from submit.kernel.registry import Registry
from submit.models.base import check_head_class

HEADS = Registry("head", "submit.heads", {
    "prior": "submit.models.baselines:Prior",
    "longer-wins": "submit.models.baselines:LongerWins",
    "lgbm-pairwise": "submit.models.lgbm_pairwise:LgbmPairwise",
    "linear-pairwise": "submit.models.linear_pairwise:LinearPairwise",
    "retrieval": "submit.models.retrieval:Retrieval",
    "lead": "submit.models.lead:Lead",
    "tfidf-ovr": "submit.models.tfidf_ovr:TfidfOvr",
    "ridge-map": "submit.models.ridge_map:RidgeMap",
    "tag-rerank": "submit.models.tag_rerank:TagRerank",
    "bilstm": "submit.models.bilstm:SiameseBilstm",  # imports torch only when fitted or loaded
    "llm-classifier": "submit.models.llm.classifier:LlmClassifier",
    "llm-generator": "submit.models.llm.generator:LlmGenerator",
    "tabular-lgbm": "submit.models.tabular:TabularLgbm",
    "tfidf-linear": "submit.models.tabular_linear:TfidfLinear",
    "llm-text-classifier": "submit.models.tabular_llm:LlmTextClassifier",  # imports torch only when fitted
}, check=check_head_class)
