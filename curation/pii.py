"""Presidio's analyzer and anonymizer, built to run offline and never download a model.

    found_text, counts = scrubber(("EMAIL_ADDRESS", "URL"), "en_core_web_lg", "en").scrub(text)

Presidio's default AnalyzerEngine loads (and, when missing, downloads) a spaCy model. Here the engine
gets its recognizers explicitly: the pattern recognizers always, with the no-op NLP engine (no model);
spaCy's NER only when `ner_model` is an installed package or a folder on disk. The e-mail recognizer
checks domains with tldextract, whose default extractor fetches the public suffix list over the network:
it gets an extractor that uses the list shipped inside tldextract instead.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PATTERN_ENTITIES = ["EMAIL_ADDRESS", "PHONE_NUMBER", "URL", "IP_ADDRESS", "CREDIT_CARD"]  # found by patterns
NAME_ENTITIES = ["PERSON", "LOCATION"]  # found only by a spaCy NER model


def ner_model_available(model: str) -> bool:
    """An installed model package (importable by its name) or a model folder; found without importing spaCy."""
    return Path(model).is_dir() or (model.isidentifier() and importlib.util.find_spec(model) is not None)


@dataclass
class Scrubber:
    analyzer: Any
    anonymizer: Any
    entities: list[str]  # what is looked for
    language: str
    names_checked: bool  # whether PERSON/LOCATION are looked for (a NER model is loaded)

    def scrub(self, text: str) -> tuple[str, Counter[str]]:
        if not self.entities:  # an empty list would mean "every entity" to Presidio
            return text, Counter()
        found = self.analyzer.analyze(text=text, language=self.language, entities=self.entities)
        if not found:
            return text, Counter()
        result = self.anonymizer.anonymize(text=text, analyzer_results=found)  # default: "<ENTITY_TYPE>"
        return result.text, Counter(item.entity_type for item in result.items)


@functools.cache
def scrubber(entities: tuple[str, ...], ner_model: str, language: str) -> Scrubber:
    """One engine per process and configuration (building one imports spaCy: about a second)."""
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
        UrlRecognizer,
    )
    from presidio_anonymizer import AnonymizerEngine

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)  # it warns per recognizer it skips
    suffixes = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())  # the bundled snapshot only

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return suffixes(pattern_text).fqdn != ""

    wanted_names = [e for e in entities if e in NAME_ENTITIES]
    names_checked = bool(wanted_names) and ner_model_available(ner_model)
    registry = RecognizerRegistry(supported_languages=[language])
    for recognizer in (OfflineEmailRecognizer, PhoneRecognizer, UrlRecognizer, IpRecognizer, CreditCardRecognizer):
        registry.add_recognizer(recognizer(supported_language=language))
    if names_checked:
        nlp_engine = SpacyNlpEngine(models=[{"lang_code": language, "model_name": ner_model}])
        registry.add_recognizer(SpacyRecognizer(supported_language=language, supported_entities=wanted_names))
    else:
        nlp_engine = NoOpNlpEngine(models=[{"lang_code": language, "model_name": "none"}])
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[language])
    looked_for = [e for e in entities if e not in NAME_ENTITIES or names_checked]
    return Scrubber(analyzer, AnonymizerEngine(), looked_for, language, names_checked)
