"""The installed competitions, by name.

    from competitions.registry import get_competition, COMPETITIONS
    comp = get_competition("wsdm")          # an instance of competitions.wsdm.Wsdm
    COMPETITIONS.names()                    # built-ins plus plugins of the 'submit.competitions' group
"""

from __future__ import annotations

from competitions._registry import Registry
from competitions.base import Competition, check_competition_class

COMPETITIONS = Registry("competition", "submit.competitions", {
    "wsdm": "competitions.wsdm:Wsdm",
    "lmsys": "competitions.lmsys:Lmsys",
    "hansol": "competitions.hansol:Hansol",
    "law-tags": "competitions.law_tags:LawTags",
    "meta-review": "competitions.meta_review:MetaReview",
    "code-instruct": "competitions.code_instruct:CodeInstruct",
}, check=check_competition_class)


def get_competition(name: str) -> Competition:
    return COMPETITIONS.get(name)()
