"""Value vocabularies for categories no validator exists for (GDPR Art. 9 special categories).

A value counts when, lower-cased, it is one of these terms, or a comma/semicolon list of them:
whole values only, so free text that merely mentions a word is not a hit. ``*_NAMED`` sets are
ambiguous on their own ('white', 'green', 'straight') and count only in a column whose name
already says what it holds.
"""

from __future__ import annotations

import re

__all__ = [
    "CONDITIONS",
    "ETHNICITY_NAMED",
    "GENDER_NAMED",
    "ORIENTATION",
    "ORIENTATION_NAMED",
    "POLITICAL_NAMED",
    "RELIGION",
    "in_vocabulary",
]

CONDITIONS = frozenset(
    {
        "diabetes", "type 1 diabetes", "type 2 diabetes", "asthma", "hypertension", "depression",
        "anxiety", "cancer", "breast cancer", "leukemia", "hiv", "aids", "hepatitis", "hepatitis b",
        "hepatitis c", "epilepsy", "schizophrenia", "bipolar disorder", "adhd", "autism", "dementia",
        "alzheimer's", "parkinson's", "multiple sclerosis", "copd", "arthritis",
        "rheumatoid arthritis", "migraine", "obesity", "covid-19", "tuberculosis", "pregnancy",
        "pregnant", "stroke", "heart disease", "coronary artery disease", "kidney disease",
        "chronic kidney disease", "celiac disease", "crohn's disease", "ptsd", "eating disorder",
        "anorexia", "bulimia", "penicillin allergy",
    }
)  # fmt: skip
RELIGION = frozenset(
    {
        "christian", "christianity", "catholic", "roman catholic", "protestant", "anglican",
        "orthodox", "evangelical", "methodist", "baptist", "lutheran", "mormon",
        "jehovah's witness", "muslim", "islam", "sunni", "shia", "jewish", "judaism", "hindu",
        "hinduism", "buddhist", "buddhism", "sikh", "sikhism", "jain", "atheist", "agnostic",
        "no religion",
    }
)  # fmt: skip
ORIENTATION = frozenset({"heterosexual", "homosexual", "bisexual", "lesbian", "asexual", "pansexual"})
ORIENTATION_NAMED = ORIENTATION | {"gay", "straight", "queer", "other", "prefer not to say"}
ETHNICITY_NAMED = frozenset(
    {
        "white", "white british", "white irish", "white other", "black", "black british",
        "black african", "black caribbean", "african american", "asian", "asian british",
        "indian", "pakistani", "bangladeshi", "chinese", "hispanic", "latino", "latina",
        "caucasian", "mixed", "mixed race", "arab", "roma", "pacific islander",
        "native american", "other", "prefer not to say",
    }
)  # fmt: skip
POLITICAL_NAMED = frozenset(
    {
        "conservative", "labour", "liberal", "liberal democrat", "democrat", "democratic",
        "republican", "green", "greens", "socialist", "social democrat", "communist",
        "libertarian", "independent", "reform", "snp", "cdu", "spd", "fdp", "afd", "die linke",
        "left", "right", "centre", "center", "far left", "far right",
    }
)  # fmt: skip
GENDER_NAMED = frozenset(
    {"m", "f", "male", "female", "man", "woman", "non-binary", "nonbinary", "x", "other", "diverse"}
)

_SPLIT = re.compile(r"\s*[,;|]\s*")


def in_vocabulary(value: str, terms: frozenset[str]) -> bool:
    """The whole value, or every item of a short list in it, is one of `terms`."""
    if len(value) > 200:
        return False
    lowered = value.strip().lower()
    if lowered in terms:
        return True
    if "," not in lowered and ";" not in lowered and "|" not in lowered:
        return False
    items = [item for item in _SPLIT.split(lowered) if item]
    return 1 < len(items) <= 8 and all(item in terms for item in items)
