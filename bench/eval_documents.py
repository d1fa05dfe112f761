"""Document-level missing items as an analyst sees them: scope decided and references resolved.

    python bench/eval_documents.py [--splits /tmp/splits] [--scope auto|both]

The shared scorer (and bench/eval_halves.py) counts an item missing from a policy when no
passage carries its label, over all 21 items of both articles: it sees `warden extract
--passages` labels only, so the scope decision and deferrals of gdpr_transparency do not move
its figures. This script groups the GDPR-T-200 rows of each half by policy, runs
gdpr_transparency's `check` on them, and counts an item as reported missing only when its
status is `missing` (`not_applicable` and `deferred` are not reported missing). Gold: an item
is missing from a policy when none of its passages carries it (as the scorer reads it; the
gold has no notion of scope). Precision = reported missing that the gold has missing; recall
is over every gold-missing (policy, item), so an item set not applicable that the gold has
missing counts against recall. Also prints how many items went not applicable or deferred and
how many of those the gold has present. Reads ../shared at run time only.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

from warden_analysers.gdpr_transparency.analyser import check
from warden_analysers.gdpr_transparency.scope import parse_scope
from warden_analysers.policy_practices.analyser import _label
from warden_analysers.policy_practices.engine import default_labeller
from warden_analysers.policy_practices.sequence import LeadInTracker

from warden.schemas.practices import GDPR_ITEMS, LabelledPassage, LabelledPassages


def policies(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = collections.defaultdict(list)
    for row in rows:
        out[row["policy"]].append(row)
    return out


def labelled(policy: str, rows: list[dict]) -> LabelledPassages:
    labeller, tracker = default_labeller(), LeadInTracker()
    passages = []
    for index, row in enumerate(rows):
        context = tuple(row.get("context", []))
        lead = tracker.next(row["text"], context)
        hits = labeller.label(row["text"], context, lead)
        passages.append(
            LabelledPassage(
                id=row["id"],
                index=index,
                text=row["text"],
                headings=list(context),
                labels=[_label(hit, row["text"], list(context), lead) for hit in hits],
            )
        )
    return LabelledPassages(document_id=policy, document_name=policy, labeller="rules", passages=passages)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--splits", default="/tmp/splits")
    ap.add_argument("--scope", default="auto", help="auto (decided per notice) or both (every item)")
    a = ap.parse_args()
    override = parse_scope(a.scope)
    for half in ("tune", "heldback"):
        rows = [
            json.loads(line) for line in (Path(a.splits) / f"gdpr_t200_{half}.jsonl").open(encoding="utf-8")
        ]
        tp = fp = fn = 0
        moved: collections.Counter[str] = collections.Counter()
        scopes: collections.Counter[str] = collections.Counter()
        for policy, prows in policies(rows).items():
            gold = set().union(*(set(r["gold"]) for r in prows))
            report = check(labelled(policy, prows), override)
            scopes[report.scope] += 1
            for item in report.items:
                gold_missing = item.item not in gold
                reported = item.status == "missing"
                tp += gold_missing and reported
                fp += reported and not gold_missing
                fn += gold_missing and not reported
                if item.status in ("not_applicable", "deferred"):
                    moved[f"{item.status}, gold {'missing' if gold_missing else 'present'}"] += 1
        p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
        print(
            f"gdpr_t200  {half:8s}  reported-missing P {p:.3f} R {r:.3f}  (tp {tp} fp {fp} fn {fn}; "
            f"{len(GDPR_ITEMS)} items x {sum(scopes.values())} policies)\n"
            f"    scopes {dict(scopes)}  {dict(moved)}"
        )


if __name__ == "__main__":
    main()
