"""How the GDPR-T-200 gold treats notices built from one generator template, item by item.

    python bench/template_families.py [--family NAME=REGEX ...]

A family is the dev notices whose text matches REGEX (case-insensitive; a notice goes to the
first family it matches). For each family and item it prints how many notices the gold gives
the item, how many the shipped rules do, and the false "missing" / false "present" items
that follow. Where a family's notices carry the same sentences for an item, a rule decides
all of them alike, so the smaller of "gold has it" and "gold lacks it" is lost whatever the
rule says. Aggregates only. Reads ../shared at run time only.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path

from warden_analysers.policy_practices.engine import default_labeller
from warden_analysers.policy_practices.sequence import LeadInTracker

SHARED = Path(__file__).resolve().parents[2] / "shared"

FAMILIES = {
    # generated notices: the "disclose ... in the good faith belief" list and interpretation section
    "good-faith-list": r"good faith belief that such action is necessary to",
    # generated app notices: "For a better experience, while using our Service, I/we may require you"
    "better-experience": r"for a better experience,? while using our service",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", nargs="*", default=[], help="NAME=REGEX (replaces the defaults)")
    a = ap.parse_args()
    sys.path.insert(0, str(SHARED / "bin"))
    from labels import GDPR_ITEMS  # type: ignore[import-not-found]

    families = dict(f.split("=", 1) for f in a.family) if a.family else FAMILIES
    path = SHARED / "data" / "dev" / "gdpr_t200_dev.jsonl"
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    labeller, tracker = default_labeller(), LeadInTracker()
    gold: dict[str, set[str]] = collections.defaultdict(set)
    pred: dict[str, set[str]] = collections.defaultdict(set)
    text: dict[str, list[str]] = collections.defaultdict(list)
    for r in rows:
        ctx = tuple(r.get("context", []))
        hits = labeller.label(r["text"], ctx, tracker.next(r["text"], ctx))
        gold[r["policy"]] |= set(r["gold"])
        pred[r["policy"]] |= {h.label for h in hits} & set(GDPR_ITEMS)
        text[r["policy"]].append(r["text"])
    left = set(gold)
    for name, regex in families.items():
        pattern = re.compile(regex, re.IGNORECASE)
        docs = sorted(p for p in left if pattern.search("\n".join(text[p])))
        left -= set(docs)
        fm = sum(c in gold[d] and c not in pred[d] for d in docs for c in GDPR_ITEMS)
        fp = sum(c in pred[d] and c not in gold[d] for d in docs for c in GDPR_ITEMS)
        print(f"{name}: {len(docs)} notices, false 'missing' {fm}, false 'present' {fp}")
        for c in GDPR_ITEMS:
            g = sum(c in gold[d] for d in docs)
            p = sum(c in pred[d] for d in docs)
            both = sum(c in gold[d] and c in pred[d] for d in docs)
            if g != both or p != both:
                print(
                    f"  {c:26s} gold {g:3d}  rules {p:3d}"
                    f"  false 'missing' {g - both:3d}  false 'present' {p - both:3d}"
                )
    fm = sum(c in gold[d] and c not in pred[d] for d in left for c in GDPR_ITEMS)
    fp = sum(c in pred[d] and c not in gold[d] for d in left for c in GDPR_ITEMS)
    print(f"other notices: {len(left)}, false 'missing' {fm}, false 'present' {fp}")


if __name__ == "__main__":
    main()
