"""What a candidate cue would do to document-level completeness, before writing it as a rule.

    python bench/probe_cue.py LABEL REGEX [--splits /tmp/splits] [--ctx REGEX] [--half tune]
                              [--show N]

Runs the shipped labeller over one half of GDPR-T-200 (split files from bench/split_dev.py)
and takes the passages whose text matches REGEX (case-insensitive; with ``--ctx``, only those
whose headings or list lead-in match it). Prints how many carry LABEL in the gold, and, if
those passages were labelled LABEL, the document-level effect as the shared scorer counts it:
"doc gains" are policies whose gold has LABEL and no passage carries it yet (a false "missing"
removed, about +0.0016 of precision), "doc losses" are policies whose gold has LABEL nowhere
(a true "missing" lost, about -0.0019 of recall).

Until the third round of issue 18 the held-back half (``--half heldback``) printed counts
only; from the fourth round (the swap: the held-back half is read, the tune half checks) it
prints gains, losses and ``--show`` passages for either half. Reads ../shared at run time only.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

from warden_analysers.policy_practices.engine import default_labeller
from warden_analysers.policy_practices.sequence import LeadInTracker


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("label")
    ap.add_argument("regex")
    ap.add_argument("--splits", default="/tmp/splits")
    ap.add_argument("--ctx", help="regex one heading (or the lead-in) must match")
    ap.add_argument("--half", choices=("tune", "heldback"), default="tune")
    ap.add_argument("--show", type=int, default=0, help="print N matching passages")
    a = ap.parse_args()
    path = Path(a.splits) / f"gdpr_t200_{a.half}.jsonl"
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    text_re = re.compile(a.regex, re.IGNORECASE)
    ctx_re = re.compile(a.ctx, re.IGNORECASE) if a.ctx else None
    labeller, tracker = default_labeller(), LeadInTracker()
    gold_doc: dict[str, set[str]] = collections.defaultdict(set)
    pred_doc: dict[str, set[str]] = collections.defaultdict(set)
    matches: list[tuple[dict, set[str]]] = []
    for row in rows:
        context = tuple(row.get("context", []))
        lead = tracker.next(row["text"], context)
        labels = {hit.label for hit in labeller.label(row["text"], context, lead)}
        gold_doc[row["policy"]] |= set(row["gold"])
        pred_doc[row["policy"]] |= labels
        headings = [*context, lead] if lead else list(context)
        if text_re.search(row["text"]) and (ctx_re is None or any(ctx_re.search(h) for h in headings)):
            matches.append((row, labels))
    new = [(row, labels) for row, labels in matches if a.label not in labels]
    print(
        f"matches {len(matches)}, with gold {a.label}: {sum(a.label in r['gold'] for r, _ in matches)}; "
        f"not yet labelled {len(new)}, with gold: {sum(a.label in r['gold'] for r, _ in new)}"
    )
    policies = {row["policy"] for row, _ in new}
    gains = sorted(p for p in policies if a.label in gold_doc[p] and a.label not in pred_doc[p])
    losses = sorted(p for p in policies if a.label not in gold_doc[p] and a.label not in pred_doc[p])
    print(f"doc gains {len(gains)}, doc losses {len(losses)}")
    print(f"  gains: {gains}\n  losses: {losses}")
    for row, labels in new[: a.show]:
        mark = "Y" if a.label in row["gold"] else "N"
        print(f"[{mark}] {row['policy']} ctx={row['context'][-2:]} gold={row['gold']} now={sorted(labels)}")
        print("    " + row["text"][:300].replace("\n", " "))


if __name__ == "__main__":
    main()
